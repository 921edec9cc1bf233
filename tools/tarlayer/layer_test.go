package tarlayer

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rules-img/rules_img/tools/compress"
	"github.com/rules-img/rules_img/tools/esgzverify"
)

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// writeArchive compresses data with a (gzip with Jobs 1: a stock gzip
// stream, as other tools write it) into a file in dir.
func writeArchive(t *testing.T, dir, name string, data []byte, a compress.Algorithm) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := compress.NewWriter(&buf, compress.Options{Algorithm: a, Level: compress.DefaultLevel, Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func decompressFile(t *testing.T, path string, a compress.Algorithm) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := compress.NewReader(f, a)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

var exts = map[compress.Algorithm]string{compress.None: ".tar", compress.Gzip: ".tar.gz", compress.Zstd: ".tar.zst"}

func sampleTar(t *testing.T) []byte {
	t.Helper()
	epoch := time.Unix(0, 0)
	return makeTar(t,
		entry{typ: tar.TypeDir, name: "./", mode: 0o755, modTime: epoch},
		entry{typ: tar.TypeReg, name: "./etc/a.conf", content: "same content", modTime: epoch},
		entry{typ: tar.TypeReg, name: "./etc/b.conf", content: "same content", modTime: epoch},
		entry{typ: tar.TypeReg, name: "./etc/c.conf", content: "same content", mode: 0o600, modTime: epoch},
		entry{typ: tar.TypeReg, name: "/opt/big", content: strings.Repeat("big file ", 100000), modTime: epoch},
		entry{typ: tar.TypeReg, name: "opt/empty", modTime: epoch},
		entry{typ: tar.TypeReg, name: "opt/empty2", modTime: epoch},
		entry{typ: tar.TypeLink, name: "opt/link", link: "./etc/a.conf", modTime: epoch},
		entry{typ: tar.TypeSymlink, name: "usr/bin/conf", link: "../../etc/a.conf", modTime: epoch},
		entry{typ: tar.TypeDir, name: "var/", mode: 0o700, modTime: epoch},
	)
}

func TestDescribeKeepsTheBlob(t *testing.T) {
	data := sampleTar(t)
	for a, ext := range exts {
		path := writeArchive(t, t.TempDir(), "layer"+ext, data, a)
		blobBytes, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		meta, err := Describe(Source{Path: path, Compression: a})
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		if meta.Digest != sha(blobBytes) || meta.Size != int64(len(blobBytes)) {
			t.Errorf("%s: %+v does not describe the file (%s, %d bytes)", a, meta, sha(blobBytes), len(blobBytes))
		}
		if meta.DiffID != sha(data) {
			t.Errorf("%s: diff_id %s, want %s", a, meta.DiffID, sha(data))
		}
		if meta.MediaType != a.MediaType() || meta.Annotations != nil {
			t.Errorf("%s: %+v", a, meta)
		}
		if err := meta.Validate(); err != nil {
			t.Error(err)
		}
	}
}

func TestDescribeCountsTrailingBytes(t *testing.T) {
	// Padding after the end-of-archive blocks (tar pads to 10 KiB records)
	// is part of the stream that runtimes hash.
	data := append(sampleTar(t), make([]byte, 8192)...)
	path := writeArchive(t, t.TempDir(), "padded.tar.gz", data, compress.Gzip)
	meta, err := Describe(Source{Path: path, Compression: compress.Gzip})
	if err != nil {
		t.Fatal(err)
	}
	if meta.DiffID != sha(data) {
		t.Errorf("diff_id %s, want %s", meta.DiffID, sha(data))
	}
}

func TestDescribeWrongCompression(t *testing.T) {
	dir := t.TempDir()
	data := sampleTar(t)
	for _, tc := range []struct {
		actual, named compress.Algorithm
		want          string
	}{
		{compress.None, compress.Gzip, "is an uncompressed tar, but its name says gzip-compressed: rename it to end in .tar"},
		{compress.Zstd, compress.Gzip, "is zstd-compressed, but its name says gzip-compressed: rename it to end in .tar.zst"},
		{compress.Gzip, compress.None, "is gzip-compressed, but its name says an uncompressed tar: rename it to end in .tar.gz"},
	} {
		path := writeArchive(t, dir, "x"+string(tc.actual), data, tc.actual)
		_, err := Describe(Source{Path: path, Compression: tc.named})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s named %s: %v", tc.actual, tc.named, err)
		}
	}
}

func TestMaliciousTarsWriteNothing(t *testing.T) {
	for _, tc := range maliciousTars {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := Source{Path: writeArchive(t, dir, "evil.tar.gz", makeTar(t, tc.entries...), compress.Gzip), Compression: compress.Gzip}
			_, err := Describe(src)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), src.Path) {
				t.Errorf("Describe: %v, want an error naming %s and saying %q", err, src.Path, tc.want)
			}
			out := filepath.Join(dir, "out.tar.zst")
			rw := Rewrite{Compression: compress.Options{Algorithm: compress.Zstd, Level: compress.DefaultLevel}, Deduplicate: true, ParentDirectories: true}
			_, err = rw.Write(src, out)
			if !IsEntryError(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Rewrite: %v, want %q", err, tc.want)
			}
			if _, statErr := os.Stat(out); !errors.Is(statErr, fs.ErrNotExist) {
				t.Errorf("Rewrite left %s behind", out)
			}
		})
	}
}

func readEntries(t *testing.T, data []byte) []*tar.Header {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	var out []*tar.Header
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
}

func TestRewrite(t *testing.T) {
	data := sampleTar(t)
	src := Source{Path: writeArchive(t, t.TempDir(), "in.tar.gz", data, compress.Gzip), Compression: compress.Gzip}
	for _, tc := range []struct {
		name  string
		rw    Rewrite
		names []string
		links map[string]string
	}{
		{
			name:  "recompress only",
			rw:    Rewrite{Compression: compress.Options{Algorithm: compress.Zstd, Level: compress.DefaultLevel}},
			names: []string{"./", "etc/a.conf", "etc/b.conf", "etc/c.conf", "opt/big", "opt/empty", "opt/empty2", "opt/link", "usr/bin/conf", "var/"},
			links: map[string]string{"opt/link": "etc/a.conf"},
		},
		{
			name:  "deduplicate and add parents",
			rw:    Rewrite{Compression: compress.Options{Algorithm: compress.None}, Deduplicate: true, ParentDirectories: true},
			names: []string{"./", "etc/", "etc/a.conf", "etc/b.conf", "etc/c.conf", "opt/", "opt/big", "opt/empty", "opt/empty2", "opt/link", "usr/", "usr/bin/", "usr/bin/conf", "var/"},
			// c.conf has other attributes; empty files stay files.
			links: map[string]string{"etc/b.conf": "etc/a.conf", "opt/link": "etc/a.conf"},
		},
		{
			name:  "gzip with pgzip",
			rw:    Rewrite{Compression: compress.Options{Algorithm: compress.Gzip, Level: 1, Jobs: 2}},
			names: []string{"./", "etc/a.conf", "etc/b.conf", "etc/c.conf", "opt/big", "opt/empty", "opt/empty2", "opt/link", "usr/bin/conf", "var/"},
			links: map[string]string{"opt/link": "etc/a.conf"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			meta, err := tc.rw.Write(src, out)
			if err != nil {
				t.Fatal(err)
			}
			blobBytes, _ := os.ReadFile(out)
			if meta.Digest != sha(blobBytes) || meta.Size != int64(len(blobBytes)) || meta.MediaType != tc.rw.Compression.Algorithm.MediaType() {
				t.Errorf("metadata %+v does not describe the blob", meta)
			}
			plain := decompressFile(t, out, tc.rw.Compression.Algorithm)
			if meta.DiffID != sha(plain) {
				t.Errorf("diff_id %s, stream is %s", meta.DiffID, sha(plain))
			}
			var names []string
			links := map[string]string{}
			for _, h := range readEntries(t, plain) {
				names = append(names, h.Name)
				if h.Typeflag == tar.TypeLink {
					links[h.Name] = h.Linkname
				}
				if h.Name == "var/" && h.Mode != 0o700 || h.Name == "usr/bin/conf" && h.Linkname != "../../etc/a.conf" {
					t.Errorf("%s lost its attributes: %+v", h.Name, h)
				}
			}
			if !slices.Equal(names, tc.names) {
				t.Errorf("entries %q, want %q", names, tc.names)
			}
			if len(links) != len(tc.links) {
				t.Errorf("hardlinks %v, want %v", links, tc.links)
			}
			for k, v := range tc.links {
				if links[k] != v {
					t.Errorf("hardlinks %v, want %v", links, tc.links)
				}
			}
			// The rewritten layer is itself a valid source.
			again, err := Describe(Source{Path: out, Compression: tc.rw.Compression.Algorithm})
			if err != nil || again.Digest != meta.Digest || again.DiffID != meta.DiffID {
				t.Errorf("Describe of the output: %+v, %v; Rewrite said %+v", again, err, meta)
			}
		})
	}
}

func TestRewriteEStargz(t *testing.T) {
	src := Source{Path: writeArchive(t, t.TempDir(), "in.tar.zst", sampleTar(t), compress.Zstd), Compression: compress.Zstd}
	out := filepath.Join(t.TempDir(), "out.tar.gz")
	rw := Rewrite{Compression: compress.Options{Algorithm: compress.Gzip, Level: compress.DefaultLevel, EStargz: true}, Deduplicate: true}
	meta, err := rw.Write(src, out)
	if err != nil {
		t.Fatal(err)
	}
	res, err := esgzverify.File(out, meta.Annotations[compress.AnnotationTOCDigest])
	if err != nil {
		t.Fatalf("the estargz verifier rejects the layer: %v", err)
	}
	if res.DiffID != meta.DiffID || meta.Annotations[compress.AnnotationUncompressedSize] != strconv.FormatInt(res.Size, 10) {
		t.Errorf("metadata %+v, verifier says diff_id %s, %d bytes", meta, res.DiffID, res.Size)
	}
	if meta.MediaType != compress.MediaTypeTarGzip {
		t.Errorf("media type %s", meta.MediaType)
	}
}

func TestRewriteDeterministic(t *testing.T) {
	src := Source{Path: writeArchive(t, t.TempDir(), "in.tar", sampleTar(t), compress.None), Compression: compress.None}
	rw := Rewrite{Compression: compress.Options{Algorithm: compress.Gzip, Level: compress.DefaultLevel, Jobs: 2}, Deduplicate: true, ParentDirectories: true}
	a, err := rw.Write(src, filepath.Join(t.TempDir(), "a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := rw.Write(src, filepath.Join(t.TempDir(), "b"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != b.Digest || a.DiffID != b.DiffID {
		t.Errorf("two rewrites differ: %+v and %+v", a, b)
	}
}

func TestRewriteBadOptions(t *testing.T) {
	src := Source{Path: writeArchive(t, t.TempDir(), "in.tar", sampleTar(t), compress.None), Compression: compress.None}
	out := filepath.Join(t.TempDir(), "out")
	_, err := Rewrite{Compression: compress.Options{Algorithm: compress.None, Level: compress.DefaultLevel, EStargz: true}}.Write(src, out)
	if err == nil || !strings.Contains(err.Error(), "use gzip (eStargz) or zstd (zstd:chunked)") {
		t.Errorf("none + estargz: %v", err)
	}
	if _, statErr := os.Stat(out); !errors.Is(statErr, fs.ErrNotExist) {
		t.Errorf("%s left behind", out)
	}
}

// TestRewriteZstdChunked recompresses a gzip tar as zstd:chunked: the blob
// decompresses to the rewritten tar, which the diff_id names, and passes
// the verifier; the result reads back as an ordinary zstd layer.
func TestRewriteZstdChunked(t *testing.T) {
	src := Source{Path: writeArchive(t, t.TempDir(), "in.tar.gz", sampleTar(t), compress.Gzip), Compression: compress.Gzip}
	out := filepath.Join(t.TempDir(), "out.tar.zst")
	rw := Rewrite{Compression: compress.Options{Algorithm: compress.Zstd, Level: compress.DefaultLevel, EStargz: true}, Deduplicate: true, ParentDirectories: true}
	meta, err := rw.Write(src, out)
	if err != nil {
		t.Fatal(err)
	}
	if meta.MediaType != compress.MediaTypeTarZstd {
		t.Errorf("media type %s", meta.MediaType)
	}
	plain := decompressFile(t, out, compress.Zstd)
	if sha(plain) != meta.DiffID {
		t.Errorf("diff_id %s, the blob decompresses to %s", meta.DiffID, sha(plain))
	}
	res, err := esgzverify.File(out, meta.Annotations[compress.AnnotationTOCDigest])
	if err != nil {
		t.Fatalf("the verifier rejects the layer: %v", err)
	}
	if res.DiffID != meta.DiffID || meta.Annotations[compress.AnnotationUncompressedSize] != strconv.Itoa(len(plain)) {
		t.Errorf("metadata %+v, verifier says diff_id %s, %d bytes", meta, res.DiffID, res.Size)
	}
	for _, k := range []string{compress.AnnotationZstdChunkedManifestChecksum, compress.AnnotationZstdChunkedManifestPosition} {
		if meta.Annotations[k] == "" {
			t.Errorf("annotation %s missing: %v", k, meta.Annotations)
		}
	}
	// Hardlinks and parent directories as for any other compression.
	byName := map[string]*tar.Header{}
	for _, h := range readEntries(t, plain) {
		byName[h.Name] = h
	}
	if h := byName["etc/b.conf"]; h == nil || h.Typeflag != tar.TypeLink || byName["usr/"] == nil {
		t.Errorf("rewritten entries: %v", slices.Sorted(maps.Keys(byName)))
	}
	again, err := Describe(Source{Path: out, Compression: compress.Zstd})
	if err != nil || again.DiffID != meta.DiffID || again.Digest != meta.Digest {
		t.Errorf("Describe of the zstd:chunked blob: %+v, %v; want diff_id %s", again, err, meta.DiffID)
	}
}

// TestRewriteDedupPAXRecords checks that equal files whose PAX records
// differ, in any dialect, stay files of their own.
func TestRewriteDedupPAXRecords(t *testing.T) {
	epoch := time.Unix(0, 0)
	reg := func(name string, pax map[string]string) entry {
		return entry{typ: tar.TypeReg, name: name, content: "same", modTime: epoch, paxAttrs: pax}
	}
	data := makeTar(t,
		reg("a", map[string]string{"LIBARCHIVE.xattr.user.x": "MQ"}),
		reg("b", map[string]string{"LIBARCHIVE.xattr.user.x": "Mg"}),
		reg("c", map[string]string{"LIBARCHIVE.xattr.user.x": "MQ"}),
		reg("d", map[string]string{"SCHILY.acl.access": "user::rw-"}),
		reg("e", nil),
	)
	src := Source{Path: writeArchive(t, t.TempDir(), "in.tar", data, compress.None), Compression: compress.None}
	out := filepath.Join(t.TempDir(), "out.tar")
	if _, err := (Rewrite{Compression: compress.Options{Algorithm: compress.None}, Deduplicate: true}).Write(src, out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range readEntries(t, got) {
		link := ""
		if h.Typeflag == tar.TypeLink {
			link = h.Linkname
		}
		if want := map[string]string{"c": "a"}[h.Name]; link != want {
			t.Errorf("%s: hardlink to %q, want %q", h.Name, link, want)
		}
	}
}
