package compress

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/rules-img/rules_img/tools/esgzverify"
)

// testTar is a layer tar with every kind of entry, a file of several 4 MiB
// eStargz chunks among them.
func testTar(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	big := testData(9<<20 + 7)
	for _, e := range []struct {
		hdr     tar.Header
		content []byte
	}{
		{tar.Header{Typeflag: tar.TypeDir, Name: "app/", Mode: 0o755}, nil},
		{tar.Header{Typeflag: tar.TypeReg, Name: "app/big", Mode: 0o644}, big},
		{tar.Header{Typeflag: tar.TypeReg, Name: "app/empty", Mode: 0o644}, nil},
		{tar.Header{Typeflag: tar.TypeReg, Name: "app/small", Mode: 0o755, Uid: 1000, Uname: "app"}, []byte("small\n")},
		{tar.Header{Typeflag: tar.TypeLink, Name: "app/small-link", Linkname: "app/small"}, nil},
		{tar.Header{Typeflag: tar.TypeSymlink, Name: "app/sym", Linkname: "/app/small", Mode: 0o777}, nil},
	} {
		e.hdr.ModTime = epoch
		e.hdr.Size = int64(len(e.content))
		if err := tw.WriteHeader(&e.hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.content); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeEStargz(t *testing.T, data []byte, level int) ([]byte, Describer) {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, Options{Algorithm: Gzip, Level: level, EStargz: true})
	if err != nil {
		t.Fatal(err)
	}
	// Odd-sized writes, as a tar writer makes them.
	for rest := data; len(rest) > 0; {
		n := min(777, len(rest))
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	d, ok := w.(Describer)
	if !ok {
		t.Fatalf("the eStargz writer %T is no Describer", w)
	}
	return out.Bytes(), d
}

func TestEStargzPassesTheVerifier(t *testing.T) {
	in := testTar(t)
	for _, level := range []int{DefaultLevel, 1} {
		blob, d := writeEStargz(t, in, level)
		ann := d.Annotations()
		toc := ann[AnnotationTOCDigest]
		res, err := esgzverify.Verify(io.NewSectionReader(bytes.NewReader(blob), 0, int64(len(blob))), toc)
		if err != nil {
			t.Fatalf("level %d: the estargz verifier rejects the blob: %v", level, err)
		}
		// The hardlink counts as a file of its own.
		if res.Files != 3 || res.Chunks != 5 {
			t.Errorf("level %d: verified %d files, %d chunks; want 3 files (big, small, small-link), 5 chunks (3 + 1 + 1)", level, res.Files, res.Chunks)
		}
		// The diff_id is the digest of the whole uncompressed stream, TOC
		// included, not of the tar written.
		if d.DiffID() != res.DiffID {
			t.Errorf("level %d: DiffID() = %s, the blob decompresses to %s", level, d.DiffID(), res.DiffID)
		}
		if d.DiffID() == sha256Digest(in) {
			t.Errorf("level %d: DiffID() is the digest of the input tar", level)
		}
		if got := ann[AnnotationUncompressedSize]; got != strconv.FormatInt(res.Size, 10) {
			t.Errorf("level %d: uncompressed-size annotation %s, stream has %d bytes", level, got, res.Size)
		}
		// Lossless: the stream starts with the tar exactly as written, and
		// the TOC follows its end-of-archive blocks.
		plain := gunzipAll(t, blob)
		if !bytes.HasPrefix(plain, in) {
			t.Errorf("level %d: the uncompressed stream does not start with the input tar", level)
		}
		tr := tar.NewReader(bytes.NewReader(plain))
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(hdr.Name, "stargz.index.json") {
				t.Errorf("level %d: a tar reader sees the TOC as the file %s", level, hdr.Name)
			}
		}
	}
}

func TestEStargzDeterministic(t *testing.T) {
	in := testTar(t)
	a, _ := writeEStargz(t, in, DefaultLevel)
	b, _ := writeEStargz(t, in, DefaultLevel)
	if !bytes.Equal(a, b) {
		t.Errorf("two eStargz blobs of the same tar differ: %s and %s", short(a), short(b))
	}
}

func TestEStargzEmptyTar(t *testing.T) {
	var buf bytes.Buffer
	if err := tar.NewWriter(&buf).Close(); err != nil {
		t.Fatal(err)
	}
	blob, d := writeEStargz(t, buf.Bytes(), DefaultLevel)
	res, err := esgzverify.Verify(io.NewSectionReader(bytes.NewReader(blob), 0, int64(len(blob))), d.Annotations()[AnnotationTOCDigest])
	if err != nil {
		t.Fatalf("an empty eStargz layer fails verification: %v", err)
	}
	if res.DiffID != d.DiffID() {
		t.Errorf("DiffID() = %s, blob decompresses to %s", d.DiffID(), res.DiffID)
	}
}

func TestEStargzRejectsNonTar(t *testing.T) {
	var out bytes.Buffer
	w, err := NewWriter(&out, Options{Algorithm: Gzip, Level: DefaultLevel, EStargz: true})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(bytes.Repeat([]byte("not a tar header "), 100))
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "estargz") {
		t.Errorf("Close() = %v, want an estargz error", err)
	}
}

func TestSeekableNeedsCompression(t *testing.T) {
	o := Options{Algorithm: None, Level: DefaultLevel, EStargz: true}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), `the compression is "none": use gzip (eStargz) or zstd (zstd:chunked)`) {
		t.Errorf("none + estargz: Validate() = %v", err)
	}
	for _, a := range []Algorithm{Gzip, Zstd} {
		if err := (Options{Algorithm: a, Level: DefaultLevel, EStargz: true}).Validate(); err != nil {
			t.Errorf("%s + estargz: Validate() = %v", a, err)
		}
	}
	if err := (Options{Algorithm: Zstd, Level: 5, EStargz: true}).Validate(); err == nil || !strings.Contains(err.Error(), "zstd level 5") {
		t.Errorf("zstd:chunked at level 5: Validate() = %v, want the zstd range", err)
	}
	if err := (Options{Algorithm: Gzip, Level: DefaultLevel, Jobs: -1}).Validate(); err == nil {
		t.Errorf("Jobs -1 passes Validate")
	}
}

func TestDetect(t *testing.T) {
	data := testTar(t)[:4096]
	for _, tc := range []struct {
		name    string
		blob    []byte
		want    Algorithm
		wantErr string
	}{
		{"tar", data, None, ""},
		{"gzip", compressBytes(t, data, Options{Algorithm: Gzip, Level: DefaultLevel, Jobs: 1}, 0), Gzip, ""},
		{"pgzip", compressBytes(t, data, Options{Algorithm: Gzip, Level: DefaultLevel, Jobs: 2}, 0), Gzip, ""},
		{"zstd", compressBytes(t, data, Options{Algorithm: Zstd, Level: DefaultLevel}, 0), Zstd, ""},
		{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0, 1, 2}, "", "xz-compressed"},
		{"bzip2", []byte("BZh91AY&SY"), "", "bzip2-compressed"},
		{"empty", nil, None, ""},
		{"one byte", []byte{0x1f}, None, ""},
	} {
		br := bufio.NewReader(bytes.NewReader(tc.blob))
		got, err := Detect(br)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: Detect() = %q, %v; want an error containing %q", tc.name, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: Detect() = %q, %v; want %q", tc.name, got, err, tc.want)
			continue
		}
		// Detect consumes nothing: the reader decompresses from the start.
		zr, err := NewReader(br, got)
		if err != nil {
			t.Fatalf("%s: NewReader: %v", tc.name, err)
		}
		plain, err := io.ReadAll(zr)
		zr.Close()
		if err != nil {
			t.Fatalf("%s: reading: %v", tc.name, err)
		}
		if len(tc.blob) > 1 && !bytes.Equal(plain, data) {
			t.Errorf("%s: decompressed to %s, want %s", tc.name, short(plain), short(data))
		}
	}
	if _, err := NewReader(bytes.NewReader(nil), "lz4"); err == nil {
		t.Errorf("NewReader(lz4) succeeded")
	}
}

// gunzipAll decompresses every member of a gzip stream.
func gunzipAll(t *testing.T, blob []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
