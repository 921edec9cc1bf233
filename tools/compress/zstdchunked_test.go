package compress

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"maps"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/stargz-snapshotter/estargz"
	"github.com/containerd/stargz-snapshotter/estargz/zstdchunked"
	"github.com/klauspost/compress/zstd"

	"github.com/rules-img/rules_img/tools/esgzverify"
)

func writeZstdChunked(t *testing.T, data []byte, o Options) ([]byte, Describer) {
	t.Helper()
	o.Algorithm, o.EStargz = Zstd, true
	var out bytes.Buffer
	w, err := NewWriter(&out, o)
	if err != nil {
		t.Fatal(err)
	}
	for rest := data; len(rest) > 0; { // odd-sized writes, as a tar writer makes them
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
		t.Fatalf("the zstd:chunked writer %T is no Describer", w)
	}
	return out.Bytes(), d
}

// unzstdCLI decompresses blob with the zstd command line tool, the
// reference implementation; ok is false when it is not installed.
func unzstdCLI(t *testing.T, blob []byte) (plain []byte, ok bool) {
	t.Helper()
	if _, err := exec.LookPath("zstd"); err != nil {
		return nil, false
	}
	cmd := exec.Command("zstd", "-d", "-c", "-q")
	cmd.Stdin = bytes.NewReader(blob)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("zstd -d: %v: %s", err, stderr.String())
	}
	return out, true
}

// TestZstdChunkedFromOutside reads a zstd:chunked blob with other code than
// the writer's: the zstd tool and klauspost's decoder for the stream, the
// estargz package's reader for the table of contents, and the footer and
// annotations as containers/storage reads them.
func TestZstdChunkedFromOutside(t *testing.T) {
	in := testTar(t)
	blob, d := writeZstdChunked(t, in, Options{Level: DefaultLevel})
	ann := d.Annotations()

	// The stream is the tar, byte for byte: the table of contents is in a
	// skippable frame. So the diff_id is the tar's digest.
	if d.DiffID() != sha256Digest(in) {
		t.Errorf("DiffID() = %s, the tar is %s", d.DiffID(), sha256Digest(in))
	}
	if plain, ok := unzstdCLI(t, blob); !ok {
		t.Log("no zstd tool on PATH: checked with klauspost's decoder only")
	} else if !bytes.Equal(plain, in) || sha256Digest(plain) != d.DiffID() {
		t.Errorf("zstd -d gives %s, want the tar (%s)", short(plain), short(in))
	}
	zr, err := zstd.NewReader(bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	zr.Close()
	if err != nil || !bytes.Equal(plain, in) {
		t.Errorf("klauspost's decoder gives %s, %v; want the tar", short(plain), err)
	}
	if got := ann[AnnotationUncompressedSize]; got != strconv.Itoa(len(in)) {
		t.Errorf("uncompressed-size annotation %q, the tar has %d bytes", got, len(in))
	}

	// The estargz reader finds the table of contents and every file.
	r, err := estargz.Open(io.NewSectionReader(bytes.NewReader(blob), 0, int64(len(blob))), estargz.WithDecompressors(new(zstdchunked.Decompressor)))
	if err != nil {
		t.Fatalf("estargz.Open with the zstdchunked decompressor: %v", err)
	}
	if got := r.TOCDigest().String(); got != ann[AnnotationTOCDigest] {
		t.Errorf("the reader's TOC digest %s, annotation %s", got, ann[AnnotationTOCDigest])
	}
	for name, typ := range map[string]string{"app": "dir", "app/big": "reg", "app/empty": "reg", "app/small": "reg", "app/small-link": "reg", "app/sym": "symlink"} {
		e, ok := r.Lookup(name)
		if !ok || e.Type != typ {
			t.Errorf("TOC entry %s: %+v, %v; want a %s", name, e, ok, typ)
		}
	}
	f, err := r.OpenFile("app/small")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(io.NewSectionReader(f, 0, 6)); string(got) != "small\n" {
		t.Errorf("app/small through the TOC reads %q", got)
	}
	res, err := esgzverify.Verify(io.NewSectionReader(bytes.NewReader(blob), 0, int64(len(blob))), ann[AnnotationTOCDigest])
	if err != nil {
		t.Fatalf("the verifier rejects the blob: %v", err)
	}
	if res.Files != 3 || res.Chunks != 5 || res.DiffID != d.DiffID() {
		t.Errorf("verified %+v; want 3 files, 5 chunks, diff_id %s", res, d.DiffID())
	}

	// containers/storage finds the table of contents through the
	// annotations: offset:compressed size:size:type, and its digest.
	pos := strings.Split(ann[AnnotationZstdChunkedManifestPosition], ":")
	if len(pos) != 4 || pos[3] != "1" {
		t.Fatalf("manifest-position %q, want offset:size:uncompressed size:1", ann[AnnotationZstdChunkedManifestPosition])
	}
	off, _ := strconv.Atoi(pos[0])
	size, _ := strconv.Atoi(pos[1])
	if off < 8 || off+size > len(blob) {
		t.Fatalf("manifest-position %q is outside the blob of %d bytes", ann[AnnotationZstdChunkedManifestPosition], len(blob))
	}
	if magic := binary.LittleEndian.Uint32(blob[off-8:]); magic != 0x184d2a50 {
		t.Errorf("no skippable frame before the table of contents: magic %#x", magic)
	}
	if got := sha256Digest(blob[off : off+size]); got != ann[AnnotationZstdChunkedManifestChecksum] {
		t.Errorf("manifest-checksum %s, the bytes at the position hash to %s", ann[AnnotationZstdChunkedManifestChecksum], got)
	}
	if !bytes.HasSuffix(blob, []byte("GnUlInUx")) {
		t.Errorf("the blob does not end in the zstd:chunked footer magic")
	}
}

func TestZstdChunkedDeterministic(t *testing.T) {
	in := testTar(t)
	first, _ := writeZstdChunked(t, in, Options{Level: DefaultLevel, Jobs: 1})
	for _, jobs := range []int{1, 2, 5, 0} {
		again, _ := writeZstdChunked(t, in, Options{Level: DefaultLevel, Jobs: jobs})
		if !bytes.Equal(again, first) {
			t.Errorf("%d jobs: blob %s, with 1 job %s", jobs, short(again), short(first))
		}
	}
	other, _ := writeZstdChunked(t, in, Options{Level: 4})
	if bytes.Equal(other, first) {
		t.Errorf("level 4 gives the bytes of the default level: the level is not used")
	}
}

// noFlushZstd is zstdchunked.Compressor without the flush that the estargz
// writer asks for before it ends a member (an empty block, which
// parallelMembers leaves out).
type noFlushZstd struct{ *zstdchunked.Compressor }

func (c noFlushZstd) Writer(w io.Writer) (estargz.WriteFlushCloser, error) {
	zw, err := c.Compressor.Writer(w)
	return noFlushWriter{zw}, err
}

type noFlushWriter struct{ estargz.WriteFlushCloser }

func (noFlushWriter) Flush() error { return nil }

// TestZstdChunkedParallelMatchesSequential checks that the parallel writer
// gives, byte for byte, what the estargz package writes with its own
// zstdchunked.Compressor on one goroutine, annotations included; and that a
// run of headers longer than one member buffer passes the verifier.
func TestZstdChunkedParallelMatchesSequential(t *testing.T) {
	in := testTar(t)
	var want bytes.Buffer
	meta := map[string]string{}
	sw := estargz.NewWriterWithCompressor(&want, noFlushZstd{&zstdchunked.Compressor{CompressionLevel: zstd.SpeedDefault, Metadata: meta}})
	if err := sw.AppendTarLossLess(bytes.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	wantTOC, err := sw.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, jobs := range []int{1, 3} {
		got, d := writeZstdChunked(t, in, Options{Level: DefaultLevel, Jobs: jobs})
		ann := d.Annotations()
		if !bytes.Equal(got, want.Bytes()) || ann[AnnotationTOCDigest] != wantTOC.String() {
			t.Errorf("%d jobs: blob %s (TOC %s), the estargz package writes %s (TOC %s)", jobs, short(got), ann[AnnotationTOCDigest], short(want.Bytes()), wantTOC)
		}
		for k, v := range meta {
			if ann[k] != v {
				t.Errorf("%d jobs: annotation %s = %q, the estargz package reports %q", jobs, k, ann[k], v)
			}
		}
		if d.DiffID() != sw.DiffID() {
			t.Errorf("%d jobs: DiffID() %s, the estargz package's %s", jobs, d.DiffID(), sw.DiffID())
		}
	}
	many := manyEmptyFiles(t, 40000)
	got, d := writeZstdChunked(t, many, Options{Level: DefaultLevel, Jobs: 2})
	if _, err := esgzverify.Verify(io.NewSectionReader(bytes.NewReader(got), 0, int64(len(got))), d.Annotations()[AnnotationTOCDigest]); err != nil {
		t.Errorf("many empty files: %v", err)
	}
	if d.DiffID() != sha256Digest(many) {
		t.Errorf("many empty files: DiffID() %s, the tar is %s", d.DiffID(), sha256Digest(many))
	}
}

func TestZstdChunkedEmptyTar(t *testing.T) {
	in := make([]byte, 1024) // the end-of-archive blocks alone
	blob, d := writeZstdChunked(t, in, Options{Level: DefaultLevel})
	res, err := esgzverify.Verify(io.NewSectionReader(bytes.NewReader(blob), 0, int64(len(blob))), d.Annotations()[AnnotationTOCDigest])
	if err != nil {
		t.Fatalf("an empty zstd:chunked layer fails verification: %v", err)
	}
	if res.DiffID != d.DiffID() || d.DiffID() != sha256Digest(in) {
		t.Errorf("DiffID() = %s, blob decompresses to %s, tar is %s", d.DiffID(), res.DiffID, sha256Digest(in))
	}
}

// TestZstdChunkedReadsAsZstd checks that a zstd:chunked blob is an ordinary
// zstd layer to Detect and NewReader, as img tar-layer reads its sources.
func TestZstdChunkedReadsAsZstd(t *testing.T) {
	in := testTar(t)
	blob, _ := writeZstdChunked(t, in, Options{Level: DefaultLevel})
	br := bufio.NewReader(bytes.NewReader(blob))
	a, err := Detect(br)
	if err != nil || a != Zstd {
		t.Fatalf("Detect() = %q, %v; want zstd", a, err)
	}
	zr, err := NewReader(br, a)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	plain, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(plain, in) {
		t.Errorf("NewReader gives %s, %v; want the tar", short(plain), err)
	}
}

// TestSeekableAnnotations checks the annotation names against the ones the
// snapshotter and containers/storage read, that annotationKeys lists what
// the writers set, and that CheckAnnotations refuses exactly those.
func TestSeekableAnnotations(t *testing.T) {
	for got, want := range map[string]string{
		AnnotationTOCDigest:                   "containerd.io/snapshot/stargz/toc.digest",
		AnnotationUncompressedSize:            "io.containers.estargz.uncompressed-size",
		AnnotationZstdChunkedManifestChecksum: "io.containers.zstd-chunked.manifest-checksum",
		AnnotationZstdChunkedManifestPosition: "io.containers.zstd-chunked.manifest-position",
	} {
		if got != want {
			t.Errorf("annotation %q, want %q", got, want)
		}
	}
	in := testTar(t)
	for _, a := range []Algorithm{Gzip, Zstd} {
		o := Options{Algorithm: a, Level: DefaultLevel, EStargz: true}
		var out bytes.Buffer
		w, err := NewWriter(&out, o)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(in)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		set := slices.Sorted(maps.Keys(w.(Describer).Annotations()))
		if keys := slices.Sorted(slices.Values(o.annotationKeys())); !slices.Equal(set, keys) {
			t.Errorf("%s: the writer sets %q, annotationKeys says %q", a, set, keys)
		}
		for _, k := range set {
			err := o.CheckAnnotations(map[string]string{"org.example": "x", k: "mine"})
			if err == nil || !strings.Contains(err.Error(), strconv.Quote(k)) {
				t.Errorf("%s: CheckAnnotations with %s = %v, want an error naming it", a, k, err)
			}
		}
		if err := o.CheckAnnotations(map[string]string{"org.example": "x"}); err != nil {
			t.Errorf("%s: CheckAnnotations refuses a key of the user's own: %v", a, err)
		}
	}
	if err := (Options{Algorithm: Zstd, Level: DefaultLevel}).CheckAnnotations(map[string]string{AnnotationTOCDigest: "x"}); err != nil {
		t.Errorf("plain zstd sets no annotations, but CheckAnnotations says %v", err)
	}
}
