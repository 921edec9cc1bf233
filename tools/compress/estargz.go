package compress

import (
	"fmt"
	"hash"
	"io"
	"strconv"

	"github.com/containerd/stargz-snapshotter/estargz"
	"github.com/klauspost/compress/gzip"
	digest "github.com/opencontainers/go-digest"
)

// Annotations of an eStargz layer descriptor, as containerd's stargz
// snapshotter and containers/storage read them.
const (
	// AnnotationTOCDigest is the digest of the layer's table of contents.
	AnnotationTOCDigest = "containerd.io/snapshot/stargz/toc.digest"
	// AnnotationUncompressedSize is the size of the uncompressed stream.
	AnnotationUncompressedSize = "io.containers.estargz.uncompressed-size"
)

// Describer is implemented by writers whose blob does not decompress to
// exactly the tar written to them: eStargz appends its table of contents.
// After Close, DiffID is the digest of the whole uncompressed stream and
// Annotations are the annotations of the layer's descriptor.
type Describer interface {
	DiffID() string
	Annotations() map[string]string
}

// estargzWriter turns the tar written to it into an eStargz blob as it
// streams: the estargz package reads the tar from a pipe, one goroutine,
// and writes each regular file as gzip members of its own, then the table of
// contents and the footer. Memory holds the table of contents (a few
// hundred bytes per entry) and one gzip state, never a whole file.
type estargzWriter struct {
	pw     *io.PipeWriter
	done   chan error
	ew     *estargz.Writer
	gz     *countingGzip
	closed bool
	toc    string
}

func newEStargz(w io.Writer, o Options) (*estargzWriter, error) {
	level := gzip.DefaultCompression
	if o.Level != DefaultLevel {
		level = o.Level
	}
	gz := &countingGzip{level: level, toc: estargz.NewGzipCompressorWithLevel(level)}
	pr, pw := io.Pipe()
	e := &estargzWriter{pw: pw, done: make(chan error, 1), ew: estargz.NewWriterWithCompressor(w, gz), gz: gz}
	go func() {
		// Lossless: the tar's bytes stay as they were written, headers and
		// end-of-archive blocks included; the table of contents follows
		// them, so plain tar readers never see it as a file.
		err := e.ew.AppendTarLossLess(pr)
		pr.CloseWithError(err) // unblocks a writer when AppendTar stops early
		e.done <- err
	}()
	return e, nil
}

func (e *estargzWriter) Write(p []byte) (int, error) { return e.pw.Write(p) }

// Close ends the tar, then writes the table of contents and the footer.
func (e *estargzWriter) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	e.pw.Close()
	if err := <-e.done; err != nil {
		return fmt.Errorf("estargz: %w", err)
	}
	toc, err := e.ew.Close()
	if err != nil {
		return fmt.Errorf("estargz: %w", err)
	}
	e.toc = toc.String()
	return nil
}

// DiffID is the sha256 of the uncompressed eStargz stream: the tar, then
// the table of contents. It differs from the digest of the tar written.
func (e *estargzWriter) DiffID() string { return e.ew.DiffID() }

// Annotations records the TOC digest and the uncompressed size.
func (e *estargzWriter) Annotations() map[string]string {
	return map[string]string{
		AnnotationTOCDigest:        e.toc,
		AnnotationUncompressedSize: strconv.FormatInt(e.gz.uncompressed, 10),
	}
}

// countingGzip is the estargz.Compressor of the writer: klauspost's gzip,
// which is faster than the standard library's, for the members of the
// files, and estargz's own code for the table of contents and the footer.
// It counts the uncompressed bytes of both, and reuses one gzip state for
// the many members (one or more per regular file).
type countingGzip struct {
	level        int
	toc          *estargz.GzipCompressor
	uncompressed int64
	free         *gzip.Writer
}

func (c *countingGzip) Writer(w io.Writer) (estargz.WriteFlushCloser, error) {
	zw := c.free
	c.free = nil
	if zw == nil {
		var err error
		if zw, err = gzip.NewWriterLevel(w, c.level); err != nil {
			return nil, err
		}
	} else {
		zw.Reset(w)
	}
	return &member{zw: zw, c: c}, nil
}

func (c *countingGzip) WriteTOCAndFooter(w io.Writer, off int64, toc *estargz.JTOC, diffHash hash.Hash) (digest.Digest, error) {
	if diffHash != nil {
		diffHash = countingHash{diffHash, &c.uncompressed}
	}
	return c.toc.WriteTOCAndFooter(w, off, toc, diffHash)
}

// member is one gzip member; Close hands its state back for the next.
type member struct {
	zw *gzip.Writer
	c  *countingGzip
}

func (m *member) Write(p []byte) (int, error) {
	n, err := m.zw.Write(p)
	m.c.uncompressed += int64(n)
	return n, err
}

func (m *member) Flush() error { return m.zw.Flush() }

func (m *member) Close() error {
	err := m.zw.Close()
	if err == nil {
		m.c.free = m.zw
	}
	return err
}

// countingHash counts the bytes of the table of contents, which estargz
// writes into the diff_id hash as it compresses them.
type countingHash struct {
	hash.Hash
	n *int64
}

func (h countingHash) Write(p []byte) (int, error) {
	*h.n += int64(len(p))
	return h.Hash.Write(p)
}
