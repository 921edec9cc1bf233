package tarlayer

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// entry is one tar entry of a test archive.
type entry struct {
	typ      byte
	name     string
	link     string
	content  string
	mode     int64
	major    int64
	modTime  time.Time
	uid      int
	paxAttrs map[string]string
}

func file(name, content string) entry { return entry{typ: tar.TypeReg, name: name, content: content} }
func dir(name string) entry           { return entry{typ: tar.TypeDir, name: name} }
func symlinkTo(name, target string) entry {
	return entry{typ: tar.TypeSymlink, name: name, link: target}
}
func hardlink(name, target string) entry { return entry{typ: tar.TypeLink, name: name, link: target} }

// makeTar writes entries as a tar stream, exactly as given.
func makeTar(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{
			Typeflag: e.typ, Name: e.name, Linkname: e.link, Mode: mode, Size: int64(len(e.content)),
			Devmajor: e.major, ModTime: e.modTime, Uid: e.uid, PAXRecords: e.paxAttrs,
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("writing %s: %v", e.name, err)
		}
		if _, err := tw.Write([]byte(e.content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readChecked reads the whole tar through the checking Reader.
func readChecked(data []byte, allowDevices bool) ([]string, error) {
	r := NewReader(bytes.NewReader(data), allowDevices)
	var names []string
	for {
		h, err := r.Next()
		if err == io.EOF {
			return names, nil
		}
		if err != nil {
			return names, err
		}
		names = append(names, h.Name)
		if _, err := io.Copy(io.Discard, r); err != nil {
			return names, err
		}
	}
}

// maliciousTars are archives the layer must refuse: the entry to name and
// what the message must say.
var maliciousTars = []struct {
	name    string
	entries []entry
	entry   string // the entry the error names
	want    string
}{
	{"dotdot", []entry{file("../evil", "x")}, "../evil", "contains '..'"},
	{"dotdot inside", []entry{dir("a/"), file("a/../../evil", "x")}, "a/../../evil", "contains '..'"},
	{"dotdot that stays inside", []entry{dir("a/"), file("a/../b", "x")}, "a/../b", "contains '..'"},
	{"absolute dotdot", []entry{file("/../etc/passwd", "x")}, "/../etc/passwd", "the absolute path leaves the image root"},
	{"hardlink to a missing entry", []entry{hardlink("link", "missing")}, "link", `hardlink to "missing", which no earlier entry of the tar holds`},
	{"hardlink before its target", []entry{hardlink("link", "f"), file("f", "x")}, "link", "which no earlier entry"},
	{"hardlink to a directory", []entry{dir("d/"), hardlink("link", "d")}, "link", `hardlink to the directory "d"`},
	{"hardlink outside", []entry{hardlink("link", "../../etc/shadow")}, "link", `hardlink target "../../etc/shadow": the path contains '..'`},
	{"hardlink with no target", []entry{hardlink("link", "")}, "link", "empty target"},
	{"symlink out of the root", []entry{dir("a/"), symlinkTo("a/link", "../../etc")}, "a/link", `symlink to "../../etc" leaves the image root`},
	{"symlink to the root's parent", []entry{symlinkTo("up", "..")}, "up", "leaves the image root"},
	{"symlink out through a symlink", []entry{dir("d/"), symlinkTo("d/x", ".."), symlinkTo("e", "d/x/..")}, "e", "leaves the image root"},
	{"symlink out through an absolute symlink", []entry{symlinkTo("r", "/"), symlinkTo("s", "r/..")}, "s", "leaves the image root"},
	{"symlink out through a later symlink", []entry{symlinkTo("e", "d/x/.."), dir("d/"), symlinkTo("d/x", "..")}, "e", "leaves the image root"},
	{"absolute symlink above the root", []entry{symlinkTo("up", "/../../..")}, "up", "leaves the image root"},
	{"symlink loop", []entry{symlinkTo("a", "b/c"), symlinkTo("b", "a")}, "a", "does not resolve within 40 links"},
	{"symlink with no target", []entry{symlinkTo("s", "")}, "s", "empty target"},
	{"entry below a symlink", []entry{symlinkTo("etc", "/host-etc"), file("etc/passwd", "root::0:0")}, "etc/passwd", `below the symlink "/etc"`},
	{"entry below an absolute symlink", []entry{symlinkTo("/a", "/tmp"), dir("/a/b/"), file("/a/b/c", "x")}, "/a/b/", `below the symlink "/a"`},
	{"character device", []entry{{typ: tar.TypeChar, name: "dev/null", major: 1}}, "dev/null", "character device (1, 0); allow devices (allow_devices = True)"},
	{"block device", []entry{{typ: tar.TypeBlock, name: "dev/sda", major: 8}}, "dev/sda", "block device (8, 0)"},
	{"duplicate file", []entry{file("f", "a"), file("./f", "b")}, "./f", "a second entry for /f (the first is a file)"},
	{"file over a directory", []entry{dir("d/"), file("d", "b")}, "d", "a second entry for /d (the first is a directory)"},
	{"file as the root", []entry{file(".", "x")}, ".", "a file cannot be the image root"},
	{"contiguous file type", []entry{{typ: tar.TypeCont, name: "c"}}, "c", `tar entry type "7"`},
	{"volume label", []entry{{typ: 'V', name: "vol"}}, "vol", `tar entry type "V"`},
	{"empty name", []entry{file("", "x")}, "", "the name is empty"},
	{"whiteout of the directory", []entry{dir("a/"), file("a/.wh..", "")}, "a/.wh..", `".wh.." would white out "."`},
	{"whiteout of the parent", []entry{dir("a/"), file("a/.wh...", "")}, "a/.wh...", `".wh..." would white out ".."`},
	{"whiteout of the parent as a directory", []entry{dir(".wh.../")}, ".wh.../", "would white out"},
}

func TestReaderRefusesMaliciousTars(t *testing.T) {
	for _, tc := range maliciousTars {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readChecked(makeTar(t, tc.entries...), false)
			var ee *EntryError
			if !errors.As(err, &ee) {
				t.Fatalf("got %v, want an EntryError", err)
			}
			if ee.Name != tc.entry {
				t.Errorf("the error names %q, want %q: %v", ee.Name, tc.entry, err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "entry ") {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if !IsEntryError(err) {
				t.Errorf("IsEntryError(%v) = false", err)
			}
		})
	}
}

func TestReaderAcceptsSafeTars(t *testing.T) {
	for _, tc := range []struct {
		name         string
		entries      []entry
		allowDevices bool
	}{
		{"root entry and duplicate directories", []entry{dir("./"), dir("usr/"), dir("./usr/"), file("./usr/x", "x")}, false},
		{"absolute names", []entry{dir("/usr/"), file("/usr/bin", "x"), hardlink("/usr/bin2", "/usr/bin")}, false},
		{"absolute symlinks stay inside", []entry{symlinkTo("bin/sh", "/bin/busybox"), symlinkTo("r", "/"), symlinkTo("etc", "/usr/../etc")}, false},
		{"relative symlinks that stay inside", []entry{dir("a/b/"), symlinkTo("a/b/l", "../../c"), symlinkTo("a/m", "./b/../b")}, false},
		{"a symlink to a symlink", []entry{symlinkTo("x", "y"), symlinkTo("y", "z/w")}, false},
		{"self link", []entry{symlinkTo("self", "self")}, false},
		{"symlink through a symlink that stays inside", []entry{dir("d/"), symlinkTo("d/x", ".."), symlinkTo("e", "d/x/etc")}, false},
		{"hardlink to a hardlink and a symlink", []entry{file("f", "x"), hardlink("g", "f"), hardlink("h", "./g"), symlinkTo("s", "f"), hardlink("t", "s")}, false},
		{"fifo", []entry{{typ: tar.TypeFifo, name: "run/fifo"}}, false},
		{"devices when allowed", []entry{{typ: tar.TypeChar, name: "dev/null", major: 1}, {typ: tar.TypeBlock, name: "dev/sda", major: 8}}, true},
		{"whiteouts", []entry{file("etc/.wh.passwd", ""), file("var/.wh..wh..opq", "")}, false},
		{"dots in names", []entry{file("..x", "x"), file("a/...", "x"), file("a/.../..b", "y")}, false},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			names, err := readChecked(makeTar(t, tc.entries...), tc.allowDevices)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if len(names) != len(tc.entries) {
				t.Errorf("read %d entries, want %d", len(names), len(tc.entries))
			}
		})
	}
}

func TestReaderErrorsAreSticky(t *testing.T) {
	data := makeTar(t, file("../x", "x"), file("y", "y"))
	r := NewReader(bytes.NewReader(data), false)
	_, first := r.Next()
	_, second := r.Next()
	if first == nil || first != second {
		t.Errorf("Next after an error = %v, then %v; want the same error", first, second)
	}
}

func TestReaderBrokenTars(t *testing.T) {
	good := makeTar(t, file("a", strings.Repeat("x", 3000)), file("b", "b"))
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", good[:1200], `reading entry "a": unexpected EOF`},
		{"garbage", bytes.Repeat([]byte("garbage!"), 200), "reading the tar after 0 entries"},
	} {
		_, err := readChecked(tc.data, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"a": "a", "./a": "a", "/a": "a", "a/": "a", "a//b/./c/": "a/b/c", ".": ".", "./": ".", "/": ".", "//": ".",
	} {
		if got, err := CleanName(in); err != nil || got != want {
			t.Errorf("CleanName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "..", "a/..", "/../a", "a/../b"} {
		if got, err := CleanName(in); err == nil {
			t.Errorf("CleanName(%q) = %q, want an error", in, got)
		}
	}
}

// FuzzReader feeds arbitrary bytes to the checking reader. It must never
// panic, and whatever it accepts must be safe by a simpler, independent
// check. The seeds are the test tables. Run it with
//
//	go test ./tools/tarlayer -run '^$' -fuzz FuzzReader -fuzztime 5m
func FuzzReader(f *testing.F) {
	for _, tc := range maliciousTars {
		f.Add(makeTar(f, tc.entries...))
	}
	f.Add(makeTar(f, dir("./"), file("usr/bin/x", "x"), hardlink("usr/bin/y", "usr/bin/x"), symlinkTo("bin", "usr/bin"), symlinkTo("lib", "../usr/lib")))
	f.Add(makeTar(f, file(strings.Repeat("long/", 40)+"name", "x"), symlinkTo("s", strings.Repeat("../", 3)+"x")))
	f.Add(paxSparseTar(f))
	f.Add(gnuSparseTar(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), false)
		symlinks := map[string]string{}
		for {
			h, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
			if h.Typeflag == tar.TypeXGlobalHeader {
				continue
			}
			// Reading an accepted entry ends soon: no made-up holes.
			if n, _ := io.CopyN(io.Discard, r, int64(len(data))+1); n > int64(len(data)) {
				t.Fatalf("entry %q gives more bytes than the tar has", h.Name)
			}
			for _, part := range strings.Split(h.Name, "/") {
				if part == ".." {
					t.Fatalf("accepted %q", h.Name)
				}
			}
			if h.Typeflag == tar.TypeChar || h.Typeflag == tar.TypeBlock {
				t.Fatalf("accepted the device %q", h.Name)
			}
			if h.Typeflag == tar.TypeSymlink {
				clean, _ := CleanName(h.Name)
				symlinks[clean] = h.Linkname
			}
		}
		// Lexically, from its directory, no accepted symlink climbs above
		// the root. With several symlinks, one may lead deeper before the
		// other climbs: following them is the reader's job alone.
		if len(symlinks) > 1 {
			return
		}
		for p, target := range symlinks {
			if strings.HasPrefix(target, "/") {
				continue
			}
			depth := strings.Count(p, "/")
			for _, part := range strings.Split(target, "/") {
				switch part {
				case "", ".":
				case "..":
					depth--
				default:
					depth++
				}
				if depth < 0 {
					t.Fatalf("accepted the symlink %s -> %s", p, target)
				}
			}
		}
	})
}
