package listing

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func TestFromHeader(t *testing.T) {
	for _, tc := range []struct {
		h    tar.Header
		want Entry
	}{
		{tar.Header{Name: "./usr/bin/", Typeflag: tar.TypeDir, Mode: 0o40755}, Entry{Path: "usr/bin", Type: Dir, Mode: 0o755}},
		{tar.Header{Name: "/app/x", Typeflag: tar.TypeReg, Mode: 0o4755, Uid: 7, Gid: 8, Size: 3}, Entry{Path: "app/x", Type: File, Mode: 0o4755, UID: 7, GID: 8, Size: 3}},
		{tar.Header{Name: "a/link", Typeflag: tar.TypeSymlink, Mode: 0o777, Linkname: "../b"}, Entry{Path: "a/link", Type: Symlink, Mode: 0o777, Link: "../b"}},
		{tar.Header{Name: "a/hard", Typeflag: tar.TypeLink, Linkname: "./app/x"}, Entry{Path: "a/hard", Type: Hardlink, Link: "app/x"}},
		{tar.Header{Name: "etc/.wh.passwd", Typeflag: tar.TypeReg}, Entry{Path: "etc/passwd", Type: Whiteout}},
		{tar.Header{Name: "var/cache/.wh..wh..opq", Typeflag: tar.TypeReg}, Entry{Path: "var/cache", Type: Opaque}},
		{tar.Header{Name: ".wh..wh..opq", Typeflag: tar.TypeReg}, Entry{Path: ".", Type: Opaque}},
		{tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0o666}, Entry{Path: "dev/null", Type: Device, Mode: 0o666}},
	} {
		if got := FromHeader(&tc.h); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.h.Name, got, tc.want)
		}
	}
}

// A zstd blob is listed as a gzip one would be; the listing round-trips.
func TestWriteRead(t *testing.T) {
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	tw.WriteHeader(&tar.Header{Name: "a/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "a/f", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2})
	tw.Write([]byte("hi"))
	tw.Close()
	var blob bytes.Buffer
	zw, _ := zstd.NewWriter(&blob)
	zw.Write(tarball.Bytes())
	zw.Close()
	dir := t.TempDir()
	in := filepath.Join(dir, "layer.tar.zst")
	os.WriteFile(in, blob.Bytes(), 0o644)
	out := filepath.Join(dir, "listing.jsonl")
	if err := Write(in, out); err != nil {
		t.Fatal(err)
	}
	got, err := Read(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{{Path: "a", Type: Dir, Mode: 0o755}, {Path: "a/f", Type: File, Mode: 0o644, Size: 2}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%+v, want %+v", got, want)
	}
	// A blob that is not a tar leaves nothing behind.
	os.WriteFile(in, []byte("not a tar, not compressed, long enough to be read as a tar header block..."), 0o644)
	if err := Write(in, filepath.Join(dir, "bad.jsonl")); err == nil {
		t.Errorf("not a tar: no error")
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.jsonl")); err == nil {
		t.Errorf("not a tar: listing written")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(m) > 0 {
		t.Errorf("left behind: %v", m)
	}
}
