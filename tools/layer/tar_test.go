package layer

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestParseInputs(t *testing.T) {
	const list = "file\t/app/bin/server\tbazel-out/k8/bin/server\n" +
		"\n" +
		"empty\t/app/__init__.py\n" +
		"symlink\t/usr/bin/server\t/app/bin/server\n" +
		"runfile\t/app/bin/server\tpkg/data.txt\tbazel-out/k8/bin/pkg/data.txt\n" +
		"runfile\t/app/bin/server\t../rules_python~/python/lib.py\texternal/rules_python~/python/lib.py\n" +
		"runfile\t/app/bin/server\tpkg/__init__.py\t\n" +
		"rootrunfile\t/app/bin/server\t_repo_mapping\tbazel-out/k8/bin/server.repo_mapping\n"
	for _, ws := range []string{"_main", "my_workspace"} {
		got, err := ParseInputs(strings.NewReader(list), ws)
		if err != nil {
			t.Fatalf("ParseInputs(ws=%s): %v", ws, err)
		}
		want := []Input{
			{Kind: KindFile, Path: "/app/bin/server", Source: "bazel-out/k8/bin/server"},
			{Kind: KindFile, Path: "/app/__init__.py"},
			{Kind: KindSymlink, Path: "/usr/bin/server", Target: "/app/bin/server"},
			{Kind: KindFile, Path: "/app/bin/server.runfiles/" + ws + "/pkg/data.txt", Source: "bazel-out/k8/bin/pkg/data.txt"},
			{Kind: KindFile, Path: "/app/bin/server.runfiles/rules_python~/python/lib.py", Source: "external/rules_python~/python/lib.py"},
			{Kind: KindFile, Path: "/app/bin/server.runfiles/" + ws + "/pkg/__init__.py"},
			{Kind: KindFile, Path: "/app/bin/server.runfiles/_repo_mapping", Source: "bazel-out/k8/bin/server.repo_mapping"},
		}
		if !slices.Equal(got, want) {
			t.Errorf("ParseInputs(ws=%s) =\n%+v\nwant\n%+v", ws, got, want)
		}
	}
}

func TestParseInputsErrors(t *testing.T) {
	for _, tc := range []struct {
		list string
		want []string
	}{
		{"file\t/a\n", []string{"input line 1", `"file\t/a"`}},
		{"file\t/a\tb\tc\n", []string{"input line 1"}},
		{"empty\t/a\tsrc\n", []string{"input line 1"}},
		{"symlink\t/a\n", []string{"input line 1"}},
		{"runfile\t/a\tb\n", []string{"input line 1"}},
		{"rootrunfile\t/a\n", []string{"input line 1"}},
		{"file\t/ok\tsrc\n\ndirectory\t/d\n", []string{"input line 3", "directory"}},
		{"file /a src\n", []string{"input line 1"}},
	} {
		_, err := ParseInputs(strings.NewReader(tc.list), "_main")
		if err == nil {
			t.Errorf("ParseInputs(%q) succeeded, want an error", tc.list)
			continue
		}
		for _, p := range tc.want {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("ParseInputs(%q) error %q does not contain %q", tc.list, err, p)
			}
		}
	}
}

// TestSortedWithParents checks that entries are in tree order (everything
// below a directory directly after it, names sorted bytewise), that every
// missing parent directory is created, and that each parent comes before
// its children, whatever the input order.
func TestSortedWithParents(t *testing.T) {
	src := t.TempDir()
	x := writeSource(t, src, "x", "x", 0o644)
	inputs := []Input{
		{Kind: KindFile, Path: "/z/y/x", Source: x},
		{Kind: KindSymlink, Path: "/m/link", Target: "/z/y/x"},
		{Kind: KindFile, Path: "/a/c/d"},
		{Kind: KindFile, Path: "/a-b", Source: x},
		{Kind: KindFile, Path: "/a.txt"},
		{Kind: KindFile, Path: "/a/b", Source: x},
		{Kind: KindFile, Path: "/a/c/a"},
	}
	want := []string{"a/", "a/b", "a/c/", "a/c/a", "a/c/d", "a-b", "a.txt", "m/", "m/link", "z/", "z/y/", "z/y/x"}

	// Every rotation of the inputs gives the same tar.
	var first []byte
	for r := range inputs {
		rotated := append(slices.Clone(inputs[r:]), inputs[:r]...)
		data := planTar(t, rotated, MetadataSpec{})
		got := readTar(t, data)
		if !slices.Equal(names(got), want) {
			t.Fatalf("rotation %d: entries %q, want %q", r, names(got), want)
		}
		if first == nil {
			first = data
		} else if !bytes.Equal(first, data) {
			t.Errorf("rotation %d of the inputs gives a different tar", r)
		}
		seen := map[string]bool{}
		for _, e := range got {
			p := strings.TrimSuffix(e.hdr.Name, "/")
			for _, dir := range parentDirs(p) {
				if !seen[dir] {
					t.Errorf("%s comes before its parent %s", p, dir)
				}
			}
			seen[p] = true
		}
		paths := make([]string, len(got))
		for i, e := range got {
			paths[i] = strings.TrimSuffix(e.hdr.Name, "/")
		}
		if !slices.IsSortedFunc(paths, comparePaths) {
			t.Errorf("paths are not in tree order: %q", paths)
		}
		for _, e := range got {
			isDir := strings.HasSuffix(e.hdr.Name, "/")
			if isDir != (e.hdr.Typeflag == tar.TypeDir) {
				t.Errorf("%s: typeflag %q does not match the trailing slash", e.hdr.Name, e.hdr.Typeflag)
			}
		}
	}
}

func TestDefaultAttributes(t *testing.T) {
	src := t.TempDir()
	var inputs []Input
	want := map[string]int64{}
	for _, tc := range []struct {
		perm os.FileMode
		want int64
	}{
		{0o755, 0o755},
		{0o700, 0o755},
		{0o711, 0o755},
		{0o744, 0o755},
		{0o100, 0o755},
		{0o701, 0o755},
		{0o644, 0o644},
		{0o600, 0o644},
		{0o400, 0o644},
		{0o666, 0o644},
		{0o644 | os.ModeSetuid | os.ModeSticky, 0o644}, // special bits on disk never leak
		{0o755 | os.ModeSetgid, 0o755},
	} {
		name := fmt.Sprintf("f%s", strings.ReplaceAll(tc.perm.String(), "-", "_"))
		p := writeSource(t, src, name, "content of "+name, tc.perm)
		inputs = append(inputs, Input{Kind: KindFile, Path: "/bin/" + name, Source: p})
		want["bin/"+name] = tc.want
	}
	inputs = append(inputs,
		Input{Kind: KindFile, Path: "/etc/empty"},
		Input{Kind: KindSymlink, Path: "/etc/link", Target: "empty"},
	)
	want["bin"], want["etc"], want["etc/empty"], want["etc/link"] = 0o755, 0o755, 0o644, 0o777

	got := byName(t, planAndRead(t, inputs, MetadataSpec{}))
	if len(got) != len(want) {
		t.Errorf("got %d entries, want %d", len(got), len(want))
	}
	for name, mode := range want {
		e, ok := got[name]
		if !ok {
			t.Errorf("%s is missing", name)
			continue
		}
		h := e.hdr
		if h.Mode != mode {
			t.Errorf("%s: mode %04o, want %04o", name, h.Mode, mode)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner %d:%d (%q:%q), want 0:0 with no names", name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if h.ModTime.Unix() != 0 || !h.ModTime.Equal(epoch) {
			t.Errorf("%s: mtime %v, want the Unix epoch", name, h.ModTime)
		}
	}
}

func TestMetadataDefaultsAndPerPath(t *testing.T) {
	src := t.TempDir()
	exe := writeSource(t, src, "exe", "#!/bin/sh\n", 0o755)
	data := writeSource(t, src, "data", "data\n", 0o644)
	inputs := []Input{
		{Kind: KindFile, Path: "/app/bin/exe", Source: exe},
		{Kind: KindFile, Path: "/app/data", Source: data},
		{Kind: KindFile, Path: "/app/suid", Source: exe},
		{Kind: KindFile, Path: "/app/empty"},
		{Kind: KindSymlink, Path: "/app/link", Target: "data"},
		{Kind: KindSymlink, Path: "/app/link2", Target: "data"},
	}
	ts := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	meta := MetadataSpec{
		Default: FileMetadata{
			Mode:  ptr("0640"),
			UID:   ptr(1000),
			GID:   ptr(2000),
			Uname: ptr("app"),
			Gname: ptr("staff"),
			Mtime: ptr("2024-01-02T03:04:05Z"),
		},
		Paths: map[string]FileMetadata{
			"/app/suid":  {Mode: ptr("4755"), UID: ptr(0), Uname: ptr("root")},
			"app/bin":    {Mode: ptr("0700")}, // a created parent directory
			"/app/link2": {Mtime: ptr("86400"), GID: ptr(0), Gname: ptr("")},
			"/app/empty": {Mode: ptr("0000")},
		},
	}
	withOwner := func(e wantEntry) wantEntry {
		if e.uid == 0 && e.uname == "" {
			e.uid, e.uname = 1000, "app"
		}
		if e.gid == 0 && e.gname == "" {
			e.gid, e.gname = 2000, "staff"
		}
		if e.mtime.IsZero() {
			e.mtime = ts
		}
		return e
	}
	want := []wantEntry{
		// The default mode is for files: directories stay searchable.
		withOwner(wantEntry{name: "app/", typeflag: tar.TypeDir, mode: 0o755}),
		withOwner(wantEntry{name: "app/bin/", typeflag: tar.TypeDir, mode: 0o700}),
		// The default mode wins over the executable bit of the source.
		withOwner(wantEntry{name: "app/bin/exe", typeflag: tar.TypeReg, mode: 0o640, content: "#!/bin/sh\n"}),
		withOwner(wantEntry{name: "app/data", typeflag: tar.TypeReg, mode: 0o640, content: "data\n"}),
		withOwner(wantEntry{name: "app/empty", typeflag: tar.TypeReg, mode: 0o000}),
		// Symlinks keep 0777 under a default mode.
		withOwner(wantEntry{name: "app/link", typeflag: tar.TypeSymlink, mode: 0o777, linkname: "data"}),
		{name: "app/link2", typeflag: tar.TypeSymlink, mode: 0o777, linkname: "data", uid: 1000, uname: "app", gid: 0, gname: "", mtime: time.Unix(86400, 0)},
		// Different attributes from app/bin/exe, same source: no hardlink.
		{name: "app/suid", typeflag: tar.TypeReg, mode: 0o4755, uid: 0, uname: "root", gid: 2000, gname: "staff", mtime: ts, content: "#!/bin/sh\n"},
	}
	checkEntries(t, planAndRead(t, inputs, meta), want)
}

func TestPerPathModeOnDirectoryAndSymlink(t *testing.T) {
	inputs := []Input{
		{Kind: KindFile, Path: "/d/f"},
		{Kind: KindSymlink, Path: "/d/l", Target: "f"},
	}
	meta := MetadataSpec{Paths: map[string]FileMetadata{
		"/d":   {Mode: ptr("1777")},
		"/d/l": {Mode: ptr("0755")},
	}}
	checkEntries(t, planAndRead(t, inputs, meta), []wantEntry{
		{name: "d/", typeflag: tar.TypeDir, mode: 0o1777},
		{name: "d/f", typeflag: tar.TypeReg, mode: 0o644},
		{name: "d/l", typeflag: tar.TypeSymlink, mode: 0o755, linkname: "f"},
	})
}

func TestHardlinks(t *testing.T) {
	src := t.TempDir()
	same1 := writeSource(t, src, "same1", "identical bytes", 0o644)
	same2 := writeSource(t, src, "same2", "identical bytes", 0o644)
	same3 := writeSource(t, src, "same3", "identical bytes", 0o644)
	other := writeSource(t, src, "other", "different bytes", 0o644) // same size
	exec := writeSource(t, src, "exec", "identical bytes", 0o755)
	writeSource(t, src, "tree/inner", "identical bytes", 0o644)
	tree := filepath.Join(src, "tree")

	for _, tc := range []struct {
		name   string
		inputs []Input
		meta   MetadataSpec
		// links maps each path that must be a hardlink to its target;
		// every other file must be a regular file with its content.
		links map[string]string
	}{
		{
			name: "identical contents",
			inputs: []Input{
				{Kind: KindFile, Path: "/b", Source: same2},
				{Kind: KindFile, Path: "/a", Source: same1},
			},
			links: map[string]string{"b": "a"},
		},
		{
			name: "first in sort order is the target, whatever the input order",
			inputs: []Input{
				{Kind: KindFile, Path: "/z/c", Source: same1},
				{Kind: KindFile, Path: "/y", Source: same2},
				{Kind: KindFile, Path: "/x/a", Source: same3},
			},
			links: map[string]string{"y": "x/a", "z/c": "x/a"},
		},
		{
			name: "same source placed twice",
			inputs: []Input{
				{Kind: KindFile, Path: "/one", Source: same1},
				{Kind: KindFile, Path: "/two", Source: same1},
				{Kind: KindFile, Path: "/three", Source: same1},
			},
			links: map[string]string{"two": "one", "three": "one"},
		},
		{
			name: "same size, different content",
			inputs: []Input{
				{Kind: KindFile, Path: "/a", Source: same1},
				{Kind: KindFile, Path: "/b", Source: other},
			},
		},
		{
			name: "different mode from the executable bit",
			inputs: []Input{
				{Kind: KindFile, Path: "/a", Source: same1},
				{Kind: KindFile, Path: "/b", Source: exec},
			},
		},
		{
			name: "different per-path mode",
			inputs: []Input{
				{Kind: KindFile, Path: "/a", Source: same1},
				{Kind: KindFile, Path: "/b", Source: same1},
				{Kind: KindFile, Path: "/c", Source: same2},
			},
			meta:  MetadataSpec{Paths: map[string]FileMetadata{"/a": {Mode: ptr("0600")}}},
			links: map[string]string{"c": "b"},
		},
		{
			name: "different uid, gid, names or mtime",
			inputs: []Input{
				{Kind: KindFile, Path: "/a", Source: same1},
				{Kind: KindFile, Path: "/b", Source: same1},
				{Kind: KindFile, Path: "/c", Source: same2},
				{Kind: KindFile, Path: "/d", Source: same3},
				{Kind: KindFile, Path: "/e", Source: same1},
				{Kind: KindFile, Path: "/f", Source: same1},
			},
			meta: MetadataSpec{Paths: map[string]FileMetadata{
				"/b": {UID: ptr(1)},
				"/c": {GID: ptr(1)},
				"/d": {Uname: ptr("x")},
				"/e": {Gname: ptr("x")},
				"/f": {Mtime: ptr("1")},
			}},
		},
		{
			name: "equal attributes set through metadata",
			inputs: []Input{
				{Kind: KindFile, Path: "/a", Source: same1},
				{Kind: KindFile, Path: "/b", Source: same2},
			},
			meta: MetadataSpec{Paths: map[string]FileMetadata{
				"/a": {UID: ptr(7), Mode: ptr("0600")},
				"/b": {UID: ptr(7), Mode: ptr("0600")},
			}},
			links: map[string]string{"b": "a"},
		},
		{
			name: "file inside a tree",
			inputs: []Input{
				{Kind: KindFile, Path: "/t", Source: tree},
				{Kind: KindFile, Path: "/u", Source: same1},
			},
			links: map[string]string{"u": "t/inner"},
		},
		{
			name: "empty files stay regular",
			inputs: []Input{
				{Kind: KindFile, Path: "/a"},
				{Kind: KindFile, Path: "/b"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := planAndRead(t, tc.inputs, tc.meta)
			for _, e := range got {
				h := e.hdr
				if h.Typeflag == tar.TypeDir {
					continue
				}
				target, isLink := tc.links[h.Name]
				switch {
				case isLink && h.Typeflag != tar.TypeLink:
					t.Errorf("%s: typeflag %q, want a hardlink to %s", h.Name, h.Typeflag, target)
				case isLink && (h.Linkname != target || h.Size != 0 || e.content != ""):
					t.Errorf("%s: hardlink to %q with size %d, want a hardlink to %q with size 0", h.Name, h.Linkname, h.Size, target)
				case !isLink && h.Typeflag != tar.TypeReg:
					t.Errorf("%s: typeflag %q (link to %q), want a regular file", h.Name, h.Typeflag, h.Linkname)
				case !isLink && h.Size != int64(len(e.content)):
					t.Errorf("%s: size %d but %d bytes of content", h.Name, h.Size, len(e.content))
				}
			}
			// A hardlink must point at a regular file earlier in the stream.
			regular := map[string]bool{}
			for _, e := range got {
				switch e.hdr.Typeflag {
				case tar.TypeReg:
					regular[e.hdr.Name] = true
				case tar.TypeLink:
					if !regular[e.hdr.Linkname] {
						t.Errorf("%s links to %s, which is not an earlier regular file", e.hdr.Name, e.hdr.Linkname)
					}
				}
			}
		})
	}
}

func TestLongNames(t *testing.T) {
	src := t.TempDir()
	f := writeSource(t, src, "f", "long", 0o644)
	g := writeSource(t, src, "g", "long", 0o644) // a hardlink to f's copy
	h := writeSource(t, src, "h", "other", 0o644)

	component := func(c byte, n int) string { return strings.Repeat(string(c), n) }
	// 101-255 characters, splittable into a USTAR prefix and name.
	splittable := component('a', 90) + "/" + component('b', 60)
	// One component longer than 100: only PAX can hold it.
	longBase := "dir/" + component('c', 150)
	// More than 255 characters: PAX whatever the slashes.
	veryLong := component('d', 100) + "/" + component('e', 100) + "/" + component('f', 100)
	// A directory with a long name, so the trailing slash is past 100.
	longDir := component('g', 120)
	longTarget := "/" + component('t', 300)

	inputs := []Input{
		{Kind: KindFile, Path: "/" + splittable, Source: f},
		{Kind: KindFile, Path: "/" + longBase, Source: h},
		{Kind: KindFile, Path: "/" + veryLong, Source: g},
		{Kind: KindFile, Path: "/" + longDir + "/x"},
		{Kind: KindSymlink, Path: "/" + veryLong + "-link", Target: longTarget},
	}
	got := byName(t, planAndRead(t, inputs, MetadataSpec{}))
	for _, tc := range []struct {
		name     string
		typeflag byte
		linkname string
		content  string
		mustPAX  bool
	}{
		{splittable, tar.TypeReg, "", "long", false},
		{longBase, tar.TypeReg, "", "other", true},
		{veryLong, tar.TypeLink, splittable, "", true},
		{longDir, tar.TypeDir, "", "", true},
		{veryLong + "-link", tar.TypeSymlink, longTarget, "", true},
	} {
		e, ok := got[tc.name]
		if !ok {
			t.Errorf("%d-character name %s... is missing; got %d entries", len(tc.name), tc.name[:10], len(got))
			continue
		}
		if e.hdr.Typeflag != tc.typeflag || e.hdr.Linkname != tc.linkname || e.content != tc.content {
			t.Errorf("%d-character name: typeflag %q linkname %q content %q, want %q %q %q",
				len(tc.name), e.hdr.Typeflag, e.hdr.Linkname, e.content, tc.typeflag, tc.linkname, tc.content)
		}
		if tc.mustPAX && e.hdr.Format&tar.FormatPAX == 0 {
			t.Errorf("%d-character name read back with format %v, want PAX", len(tc.name), e.hdr.Format)
		}
	}
	if len(longBase) <= 100 || len(veryLong) <= 255 || len(splittable) <= 100 {
		t.Fatal("test names are not long enough")
	}
}

func TestSymlinks(t *testing.T) {
	inputs := []Input{
		{Kind: KindSymlink, Path: "/usr/bin/python", Target: "/usr/bin/python3.12"},
		{Kind: KindSymlink, Path: "/usr/lib/rel", Target: "../share/x"},
		{Kind: KindSymlink, Path: "/dangling", Target: "does/not/exist"},
		{Kind: KindSymlink, Path: "/dir-link", Target: "usr"},
		// The same symlink twice is not a conflict.
		{Kind: KindSymlink, Path: "/usr/lib/rel", Target: "../share/x"},
	}
	checkEntries(t, planAndRead(t, inputs, MetadataSpec{}), []wantEntry{
		{name: "dangling", typeflag: tar.TypeSymlink, mode: 0o777, linkname: "does/not/exist"},
		{name: "dir-link", typeflag: tar.TypeSymlink, mode: 0o777, linkname: "usr"},
		{name: "usr/", typeflag: tar.TypeDir, mode: 0o755},
		{name: "usr/bin/", typeflag: tar.TypeDir, mode: 0o755},
		{name: "usr/bin/python", typeflag: tar.TypeSymlink, mode: 0o777, linkname: "/usr/bin/python3.12"},
		{name: "usr/lib/", typeflag: tar.TypeDir, mode: 0o755},
		{name: "usr/lib/rel", typeflag: tar.TypeSymlink, mode: 0o777, linkname: "../share/x"},
	})
}

func TestTreeSource(t *testing.T) {
	src := t.TempDir()
	tree := filepath.Join(src, "tree")
	writeSource(t, src, "tree/a.txt", "a", 0o644)
	writeSource(t, src, "tree/bin/run", "#!/bin/sh", 0o755)
	writeSource(t, src, "tree/sub/deeper/z.txt", "z", 0o600)
	for _, d := range []string{"tree/empty", "tree/sub/empty2/empty3"} {
		if err := os.MkdirAll(filepath.Join(src, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// Bazel may stage tree contents as symlinks: they are followed.
	outside := writeSource(t, src, "outside/file", "outside", 0o644)
	writeSource(t, src, "outside/dir/inner", "inner", 0o644)
	if err := os.Symlink(outside, filepath.Join(tree, "linked-file")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(src, "outside", "dir"), filepath.Join(tree, "linked-dir")); err != nil {
		t.Fatal(err)
	}
	// A second tree that fills the same directory without overlapping files.
	writeSource(t, src, "tree2/sub/other.txt", "other", 0o644)

	inputs := []Input{
		{Kind: KindFile, Path: "/opt/tree", Source: tree},
		{Kind: KindFile, Path: "/opt/tree", Source: filepath.Join(src, "tree2")},
	}
	dir := func(name string) wantEntry { return wantEntry{name: name, typeflag: tar.TypeDir, mode: 0o755} }
	file := func(name, content string, mode int64) wantEntry {
		return wantEntry{name: name, typeflag: tar.TypeReg, mode: mode, content: content}
	}
	checkEntries(t, planAndRead(t, inputs, MetadataSpec{}), []wantEntry{
		dir("opt/"),
		dir("opt/tree/"),
		file("opt/tree/a.txt", "a", 0o644),
		dir("opt/tree/bin/"),
		file("opt/tree/bin/run", "#!/bin/sh", 0o755),
		dir("opt/tree/empty/"),
		dir("opt/tree/linked-dir/"),
		file("opt/tree/linked-dir/inner", "inner", 0o644),
		file("opt/tree/linked-file", "outside", 0o644),
		dir("opt/tree/sub/"),
		dir("opt/tree/sub/deeper/"),
		file("opt/tree/sub/deeper/z.txt", "z", 0o644),
		dir("opt/tree/sub/empty2/"),
		dir("opt/tree/sub/empty2/empty3/"),
		file("opt/tree/sub/other.txt", "other", 0o644),
	})
}

// TestTreeSourceThroughSymlink places a tree whose source path is itself a
// symlink to the directory, as a sandbox or an output staged by another
// tool may give it.
func TestTreeSourceThroughSymlink(t *testing.T) {
	src := t.TempDir()
	writeSource(t, src, "real/a.txt", "a", 0o644)
	writeSource(t, src, "real/sub/b.txt", "b", 0o755)
	if err := os.Mkdir(filepath.Join(src, "real", "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(src, "link")
	if err := os.Symlink(filepath.Join(src, "real"), link); err != nil {
		t.Fatal(err)
	}
	want := []wantEntry{
		{name: "t/", typeflag: tar.TypeDir, mode: 0o755},
		{name: "t/a.txt", typeflag: tar.TypeReg, mode: 0o644, content: "a"},
		{name: "t/empty/", typeflag: tar.TypeDir, mode: 0o755},
		{name: "t/sub/", typeflag: tar.TypeDir, mode: 0o755},
		{name: "t/sub/b.txt", typeflag: tar.TypeReg, mode: 0o755, content: "b"},
	}
	viaLink := planTar(t, []Input{{Kind: KindFile, Path: "/t", Source: link}}, MetadataSpec{})
	checkEntries(t, readTar(t, viaLink), want)
	direct := planTar(t, []Input{{Kind: KindFile, Path: "/t", Source: filepath.Join(src, "real")}}, MetadataSpec{})
	if !bytes.Equal(viaLink, direct) {
		t.Error("a tree given through a symlink gives a different tar than the directory itself")
	}
}

func TestTreeSourceSymlinkCycle(t *testing.T) {
	src := t.TempDir()
	writeSource(t, src, "tree/sub/a.txt", "a", 0o644)
	if err := os.Symlink(filepath.Join(src, "tree"), filepath.Join(src, "tree", "sub", "loop")); err != nil {
		t.Fatal(err)
	}
	_, err := Plan([]Input{{Kind: KindFile, Path: "/t", Source: filepath.Join(src, "tree")}}, MetadataSpec{})
	wantErr(t, err, "t/sub/loop", "symlink cycle")
}

func TestRunfiles(t *testing.T) {
	src := t.TempDir()
	server := writeSource(t, src, "bin/server", "ELF", 0o755)
	data := writeSource(t, src, "bin/pkg/data.txt", "data", 0o644)
	lib := writeSource(t, src, "external/rules_foo+/lib/x.py", "lib", 0o644)
	mapping := writeSource(t, src, "bin/server.repo_mapping", "mapping", 0o644)
	list := strings.Join([]string{
		"file\t/app/bin/server\t" + server,
		"runfile\t/app/bin/server\tpkg/data.txt\t" + data,
		"runfile\t/app/bin/server\t../rules_foo+/lib/x.py\t" + lib,
		"runfile\t/app/bin/server\tpkg/__init__.py\t",
		"rootrunfile\t/app/bin/server\t_repo_mapping\t" + mapping,
		// The same runfile twice (two deps that share it) is not a conflict.
		"runfile\t/app/bin/server\tpkg/data.txt\t" + data,
		// A second binary gets its own runfiles tree.
		"runfile\t/app/bin/other\tpkg/data.txt\t" + data,
	}, "\n")
	for _, ws := range []string{"_main", "my_ws"} {
		t.Run(ws, func(t *testing.T) {
			inputs, err := ParseInputs(strings.NewReader(list), ws)
			if err != nil {
				t.Fatal(err)
			}
			dir := func(name string) wantEntry { return wantEntry{name: name, typeflag: tar.TypeDir, mode: 0o755} }
			want := []wantEntry{
				dir("app/"),
				dir("app/bin/"),
				dir("app/bin/other.runfiles/"),
				dir("app/bin/other.runfiles/" + ws + "/"),
				dir("app/bin/other.runfiles/" + ws + "/pkg/"),
				{name: "app/bin/other.runfiles/" + ws + "/pkg/data.txt", typeflag: tar.TypeReg, mode: 0o644, content: "data"},
				{name: "app/bin/server", typeflag: tar.TypeReg, mode: 0o755, content: "ELF"},
				dir("app/bin/server.runfiles/"),
				{name: "app/bin/server.runfiles/_repo_mapping", typeflag: tar.TypeReg, mode: 0o644, content: "mapping"},
				dir("app/bin/server.runfiles/" + ws + "/"),
				dir("app/bin/server.runfiles/" + ws + "/pkg/"),
				{name: "app/bin/server.runfiles/" + ws + "/pkg/__init__.py", typeflag: tar.TypeReg, mode: 0o644},
				{name: "app/bin/server.runfiles/" + ws + "/pkg/data.txt", typeflag: tar.TypeLink, mode: 0o644,
					linkname: "app/bin/other.runfiles/" + ws + "/pkg/data.txt"},
				dir("app/bin/server.runfiles/rules_foo+/"),
				dir("app/bin/server.runfiles/rules_foo+/lib/"),
				{name: "app/bin/server.runfiles/rules_foo+/lib/x.py", typeflag: tar.TypeReg, mode: 0o644, content: "lib"},
			}
			sort.Slice(want, func(i, j int) bool {
				return strings.TrimSuffix(want[i].name, "/") < strings.TrimSuffix(want[j].name, "/")
			})
			checkEntries(t, planAndRead(t, inputs, MetadataSpec{}), want)
		})
	}
}

// TestFullRoundTrip reads back every header and every byte of a layer that
// uses each kind of entry.
func TestFullRoundTrip(t *testing.T) {
	src := t.TempDir()
	big := strings.Repeat("0123456789abcdef", 20000) + "tail" // larger than the copy buffer
	bigPath := writeSource(t, src, "big", big, 0o644)
	exe := writeSource(t, src, "exe", "#!/bin/sh\necho hi\n", 0o755)
	dup := writeSource(t, src, "dup", "#!/bin/sh\necho hi\n", 0o755)
	writeSource(t, src, "tree/conf.d/a.conf", "a=1\n", 0o644)
	if err := os.MkdirAll(filepath.Join(src, "tree", "cache"), 0o755); err != nil {
		t.Fatal(err)
	}
	inputs := []Input{
		{Kind: KindFile, Path: "/usr/local/bin/tool", Source: exe},
		{Kind: KindFile, Path: "/usr/local/bin/tool-copy", Source: dup},
		{Kind: KindFile, Path: "/var/big.bin", Source: bigPath},
		{Kind: KindFile, Path: "/etc/app", Source: filepath.Join(src, "tree")},
		{Kind: KindFile, Path: "/var/log/.keep"},
		{Kind: KindSymlink, Path: "/usr/bin/tool", Target: "../local/bin/tool"},
	}
	meta := MetadataSpec{
		Default: FileMetadata{UID: ptr(65532), GID: ptr(65532), Uname: ptr("nonroot"), Gname: ptr("nonroot")},
		Paths: map[string]FileMetadata{
			"/var/log": {Mode: ptr("0750"), Mtime: ptr("2000-01-01T00:00:00Z")},
		},
	}
	nr := func(e wantEntry) wantEntry {
		e.uid, e.gid, e.uname, e.gname = 65532, 65532, "nonroot", "nonroot"
		return e
	}
	dir := func(name string) wantEntry { return nr(wantEntry{name: name, typeflag: tar.TypeDir, mode: 0o755}) }
	checkEntries(t, planAndRead(t, inputs, meta), []wantEntry{
		dir("etc/"),
		dir("etc/app/"),
		dir("etc/app/cache/"),
		dir("etc/app/conf.d/"),
		nr(wantEntry{name: "etc/app/conf.d/a.conf", typeflag: tar.TypeReg, mode: 0o644, content: "a=1\n"}),
		dir("usr/"),
		dir("usr/bin/"),
		nr(wantEntry{name: "usr/bin/tool", typeflag: tar.TypeSymlink, mode: 0o777, linkname: "../local/bin/tool"}),
		dir("usr/local/"),
		dir("usr/local/bin/"),
		nr(wantEntry{name: "usr/local/bin/tool", typeflag: tar.TypeReg, mode: 0o755, content: "#!/bin/sh\necho hi\n"}),
		nr(wantEntry{name: "usr/local/bin/tool-copy", typeflag: tar.TypeLink, mode: 0o755, linkname: "usr/local/bin/tool"}),
		dir("var/"),
		nr(wantEntry{name: "var/big.bin", typeflag: tar.TypeReg, mode: 0o644, content: big}),
		nr(wantEntry{name: "var/log/", typeflag: tar.TypeDir, mode: 0o750, mtime: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)}),
		nr(wantEntry{name: "var/log/.keep", typeflag: tar.TypeReg, mode: 0o644}),
	})
}

// TestWriteTarSourceChanged checks the errors for sources that change
// between planning and writing.
func TestWriteTarSourceChanged(t *testing.T) {
	src := t.TempDir()
	shrink := writeSource(t, src, "shrink", "0123456789", 0o644)
	gone := writeSource(t, src, "gone", "abc", 0o644)
	grow := writeSource(t, src, "grow", "abc", 0o644)

	plan := func(path, source string) []Entry {
		entries, err := Plan([]Input{{Kind: KindFile, Path: path, Source: source}}, MetadataSpec{})
		if err != nil {
			t.Fatal(err)
		}
		return entries
	}

	entries := plan("/app/shrink", shrink)
	if err := os.WriteFile(shrink, []byte("0123"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantErr(t, WriteTar(&bytes.Buffer{}, entries), "/app/shrink", "shrank from 10 to 4 bytes")

	entries = plan("/app/gone", gone)
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	wantErr(t, WriteTar(&bytes.Buffer{}, entries), "/app/gone", gone)

	// A file that grew fails too: its header already promised the old size.
	entries = plan("/app/grow", grow)
	if err := os.WriteFile(grow, []byte("abcdef"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantErr(t, WriteTar(&bytes.Buffer{}, entries), "/app/grow", "grew beyond 3 bytes")
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindFile: "file", KindDir: "directory", KindSymlink: "symlink", Kind(9): "kind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}

// TestLayerFromTarPolicy: image_layer refuses what layer_from_tar refuses
// (tarlayer.Checker), named by path.
func TestLayerFromTarPolicy(t *testing.T) {
	for _, tc := range []struct {
		inputs []Input
		want   string
	}{
		{[]Input{{Kind: KindSymlink, Path: "/a/b/c/d/link", Target: "../../../../../etc"}}, `symlink to "../../../../../etc" leaves the image root`},
		{[]Input{{Kind: KindSymlink, Path: "/link", Target: "../../../../etc"}}, "leaves the image root"},
		{[]Input{{Kind: KindSymlink, Path: "/x", Target: "y/.."}, {Kind: KindSymlink, Path: "/y", Target: ".."}}, "leaves the image root"},
		{[]Input{{Kind: KindFile, Path: "/a/.wh.."}}, `".wh.." would white out`},
		{[]Input{{Kind: KindFile, Path: "/a/.wh..."}}, `".wh..." would white out ".."`},
	} {
		l, err := NewLayout(tc.inputs, MetadataSpec{})
		if err == nil {
			err = WriteLayout(io.Discard, l)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.inputs, err, tc.want)
		}
	}
}
