package layer

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

// writeSource creates dir/rel with content and permission bits, creating
// parent directories, and returns its path.
func writeSource(t *testing.T, dir, rel, content string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	// WriteFile's perm is filtered by the umask; set it exactly.
	if err := os.Chmod(p, perm); err != nil {
		t.Fatal(err)
	}
	return p
}

// tarEntry is one header read back from a tar stream, with its content.
type tarEntry struct {
	hdr     *tar.Header
	content string
}

// readTar reads every entry of a tar stream, failing on any error.
func readTar(t *testing.T, data []byte) []tarEntry {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	var out []tarEntry
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading tar after %d entries: %v", len(out), err)
		}
		content, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading content of %s: %v", hdr.Name, err)
		}
		out = append(out, tarEntry{hdr, string(content)})
	}
}

// planTar plans inputs with meta and returns the tar stream.
func planTar(t *testing.T, inputs []Input, meta MetadataSpec) []byte {
	t.Helper()
	entries, err := Plan(inputs, meta)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	var buf bytes.Buffer
	if err := WriteTar(&buf, entries); err != nil {
		t.Fatalf("WriteTar: %v", err)
	}
	return buf.Bytes()
}

// planAndRead plans inputs, writes the tar and reads it back.
func planAndRead(t *testing.T, inputs []Input, meta MetadataSpec) []tarEntry {
	t.Helper()
	return readTar(t, planTar(t, inputs, meta))
}

// byName indexes entries by name without the trailing slash of directories.
func byName(t *testing.T, entries []tarEntry) map[string]tarEntry {
	t.Helper()
	m := map[string]tarEntry{}
	for _, e := range entries {
		name := strings.TrimSuffix(e.hdr.Name, "/")
		if _, dup := m[name]; dup {
			t.Fatalf("entry %q appears twice in the tar", name)
		}
		m[name] = e
	}
	return m
}

func names(entries []tarEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.hdr.Name
	}
	return out
}

var epoch = time.Unix(0, 0).UTC()

// wantEntry is the part of a tar header that the tests check.
type wantEntry struct {
	name     string // as in the tar: directories end in "/"
	typeflag byte
	mode     int64
	uid, gid int
	uname    string
	gname    string
	mtime    time.Time
	linkname string
	content  string
}

// checkEntries compares the whole tar, entry by entry, with want.
func checkEntries(t *testing.T, got []tarEntry, want []wantEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("tar has %d entries %q, want %d", len(got), names(got), len(want))
	}
	for i := 0; i < min(len(got), len(want)); i++ {
		g, w := got[i], want[i]
		h := g.hdr
		if h.Name != w.name {
			t.Errorf("entry %d: name %q, want %q", i, h.Name, w.name)
			continue
		}
		if h.Typeflag != w.typeflag {
			t.Errorf("%s: typeflag %q, want %q", w.name, h.Typeflag, w.typeflag)
		}
		if h.Mode != w.mode {
			t.Errorf("%s: mode %04o, want %04o", w.name, h.Mode, w.mode)
		}
		if h.Uid != w.uid || h.Gid != w.gid {
			t.Errorf("%s: uid/gid %d/%d, want %d/%d", w.name, h.Uid, h.Gid, w.uid, w.gid)
		}
		if h.Uname != w.uname || h.Gname != w.gname {
			t.Errorf("%s: uname/gname %q/%q, want %q/%q", w.name, h.Uname, h.Gname, w.uname, w.gname)
		}
		wm := w.mtime
		if wm.IsZero() {
			wm = epoch
		}
		if !h.ModTime.Equal(wm) {
			t.Errorf("%s: mtime %v, want %v", w.name, h.ModTime.UTC(), wm)
		}
		if !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: atime %v / ctime %v leaked into the header", w.name, h.AccessTime, h.ChangeTime)
		}
		if h.Linkname != w.linkname {
			t.Errorf("%s: linkname %q, want %q", w.name, h.Linkname, w.linkname)
		}
		if g.content != w.content {
			t.Errorf("%s: content %q, want %q", w.name, g.content, w.content)
		}
		if h.Size != int64(len(w.content)) {
			t.Errorf("%s: size %d, want %d", w.name, h.Size, len(w.content))
		}
		if len(h.PAXRecords) != 0 {
			for k := range h.PAXRecords {
				if k != "path" && k != "linkpath" {
					t.Errorf("%s: unexpected PAX record %q", w.name, k)
				}
			}
		}
	}
}

// wantErr fails unless err is non-nil and its message contains every part.
func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}
