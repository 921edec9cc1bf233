package compress

import (
	"archive/tar"
	"bytes"
	"fmt"
	"hash"
	"io"
	"testing"
	"time"

	"github.com/containerd/stargz-snapshotter/estargz"
	"github.com/klauspost/compress/gzip"
	digest "github.com/opencontainers/go-digest"

	"github.com/rules-img/rules_img/tools/esgzverify"
)

// sequentialGzip is the plain estargz.Compressor: each member compressed in
// turn, straight into the blob, as the estargz package does by itself.
type sequentialGzip struct {
	level int
	toc   *estargz.GzipCompressor
}

func (s sequentialGzip) Writer(w io.Writer) (estargz.WriteFlushCloser, error) {
	zw, err := gzip.NewWriterLevel(w, s.level)
	return noFlush{zw}, err
}

// noFlush skips the sync flush that the estargz writer asks for before it
// ends a member: an empty deflate block, which parallelGzip leaves out.
type noFlush struct{ *gzip.Writer }

func (noFlush) Flush() error { return nil }

func (s sequentialGzip) WriteTOCAndFooter(w io.Writer, off int64, toc *estargz.JTOC, h hash.Hash) (digest.Digest, error) {
	return s.toc.WriteTOCAndFooter(w, off, toc, h)
}

// TestEStargzParallelMatchesSequential checks that compressing members in
// parallel gives, byte for byte, the blob the estargz package writes with
// the same gzip compressor on one goroutine, whatever the number of jobs;
// and that a run of headers longer than one member buffer passes the
// verifier.
func TestEStargzParallelMatchesSequential(t *testing.T) {
	for name, in := range map[string][]byte{"mixed": testTar(t), "many empty files": manyEmptyFiles(t, 40000)} {
		var want bytes.Buffer
		sw := estargz.NewWriterWithCompressor(&want, sequentialGzip{GzipDefaultLevel, estargz.NewGzipCompressorWithLevel(GzipDefaultLevel)})
		if err := sw.AppendTarLossLess(bytes.NewReader(in)); err != nil {
			t.Fatal(err)
		}
		wantTOC, err := sw.Close()
		if err != nil {
			t.Fatal(err)
		}
		jobs := []int{1, 2, 5}
		if name != "mixed" {
			jobs = []int{2}
		}
		for _, jobs := range jobs {
			var out bytes.Buffer
			w, err := NewWriter(&out, Options{Algorithm: Gzip, Level: DefaultLevel, Jobs: jobs, EStargz: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(w, bytes.NewReader(in)); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			toc := w.(Describer).Annotations()[AnnotationTOCDigest]
			if name == "mixed" && (!bytes.Equal(out.Bytes(), want.Bytes()) || toc != wantTOC.String()) {
				t.Errorf("%s, %d jobs: blob %s (TOC %s), the estargz package writes %s (TOC %s)", name, jobs, short(out.Bytes()), toc, short(want.Bytes()), wantTOC)
			}
			if _, err := esgzverify.Verify(io.NewSectionReader(bytes.NewReader(out.Bytes()), 0, int64(out.Len())), toc); err != nil {
				t.Errorf("%s, %d jobs: %v", name, jobs, err)
			}
		}
	}
}

// manyEmptyFiles is a tar of one file with content, then n empty files:
// more than maxMemberBuffer of headers in one member.
func manyEmptyFiles(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: "a", Mode: 0o644, Size: 3, ModTime: time.Unix(0, 0)}
	tw.WriteHeader(hdr)
	tw.Write([]byte("abc"))
	for i := range n {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("e/%06d", i), Mode: 0o644, ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) < 2*maxMemberBuffer {
		t.Fatalf("the tar is only %d bytes", buf.Len())
	}
	return buf.Bytes()
}
