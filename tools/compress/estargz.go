package compress

import (
	"bytes"
	"fmt"
	"hash"
	"io"
	"strconv"
	"sync"

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
// streams. The estargz package reads the tar from a pipe and decides the
// layout: where each gzip member starts (at every regular file's content,
// and every 4 MiB inside one), the table of contents, the digests and the
// footer. The members themselves are compressed in parallel by
// parallelGzip, its Compressor. Memory holds the table of contents (a few
// hundred bytes per entry, as the format needs it at the end) and a few
// members in flight, never a whole large file.
type estargzWriter struct {
	pw     *io.PipeWriter
	done   chan error
	ew     *estargz.Writer
	gz     *parallelGzip
	closed bool
	toc    string
}

func newEStargz(w io.Writer, o Options) (*estargzWriter, error) {
	gz := newParallelGzip(w, gzipLevel(o), o.jobs())
	pr, pw := io.Pipe()
	// The estargz writer only ever writes placeholders (see parallelGzip).
	e := &estargzWriter{pw: pw, done: make(chan error, 1), ew: estargz.NewWriterWithCompressor(io.Discard, gz), gz: gz}
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
		e.gz.finish()
		return fmt.Errorf("estargz: %w", err)
	}
	toc, err := e.ew.Close()
	e.gz.finish()
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

// parallelGzip is the estargz.Compressor of the writer. The estargz writer
// opens one gzip member after the other and notes each member's offset in
// the blob as the count of bytes written so far; parallelGzip instead hands
// each finished member to a goroutine to compress, and writes the results
// in order to the real output. To the estargz writer, each member is one
// placeholder byte, so the offsets it notes are member numbers; when it
// writes the table of contents, parallelGzip turns them into the real
// offsets, then lets estargz's own code write the table and the footer.
// A gzip member depends only on its bytes and the level, so the blob is the
// same whatever the number of goroutines.
type parallelGzip struct {
	level        int
	out          io.Writer
	toc          *estargz.GzipCompressor
	uncompressed int64

	order   chan *gzMember // members in blob order, to the writer goroutine
	written chan error     // the writer goroutine's result
	offsets []int64        // member number → offset in the blob, by the writer goroutine
	size    int64          // bytes written to out
	sem     chan struct{}  // compressions running at once
	open    *gzMember      // the member being written, if any
	once    sync.Once
	err     error // of the writer goroutine

	gzips   sync.Pool // *gzip.Writer
	buffers sync.Pool // *bytes.Buffer
}

// maxMemberBuffer is how much of one member is held in memory. A member is
// at most one 4 MiB chunk of a file plus the headers that follow it; a
// longer run of headers (thousands of empty files or links) is compressed
// in 8 MiB parts, each a gzip stream of its own, as it comes.
const maxMemberBuffer = 8 << 20

// gzMember is one gzip member: its compressed bytes arrive on pieces.
type gzMember struct {
	c      *parallelGzip
	data   *bytes.Buffer
	pieces chan *bytes.Buffer
}

func newParallelGzip(out io.Writer, level, jobs int) *parallelGzip {
	c := &parallelGzip{
		level:   level,
		out:     out,
		toc:     estargz.NewGzipCompressorWithLevel(level),
		order:   make(chan *gzMember, jobs),
		written: make(chan error, 1),
		sem:     make(chan struct{}, jobs),
	}
	// Room for a whole 4 MiB chunk and some headers from the start: a
	// buffer that doubles as it grows would end up twice that.
	c.buffers.New = func() any { return bytes.NewBuffer(make([]byte, 0, 4<<20+256<<10)) }
	go c.writeMembers()
	return c
}

// writeMembers writes the members in order as their pieces arrive, noting
// where each starts.
func (c *parallelGzip) writeMembers() {
	var err error
	for m := range c.order {
		c.offsets = append(c.offsets, c.size)
		for piece := range m.pieces {
			if err == nil {
				var n int
				n, err = c.out.Write(piece.Bytes())
				c.size += int64(n)
			}
			piece.Reset()
			c.buffers.Put(piece)
		}
	}
	c.written <- err
}

// finish ends the writer goroutine and returns its error. It may run more
// than once, and after an error: a member left open is ended.
func (c *parallelGzip) finish() error {
	c.once.Do(func() {
		if c.open != nil {
			c.open.compress()
		}
		close(c.order)
		c.err = <-c.written
	})
	return c.err
}

// Writer opens the next member. w is the estargz writer's counter.
func (c *parallelGzip) Writer(w io.Writer) (estargz.WriteFlushCloser, error) {
	m := &gzMember{c: c, data: c.buffers.Get().(*bytes.Buffer), pieces: make(chan *bytes.Buffer, 4)}
	c.order <- m // blocks while too many members are in flight
	c.open = m
	return &memberWriter{m: m, count: w}, nil
}

func (c *parallelGzip) gzipWriter(w io.Writer) *gzip.Writer {
	if zw, ok := c.gzips.Get().(*gzip.Writer); ok {
		zw.Reset(w)
		return zw
	}
	zw, _ := gzip.NewWriterLevel(w, c.level) // the level was validated
	return zw
}

// compress compresses the rest of a member on a goroutine of its own, and
// ends the member.
func (m *gzMember) compress() {
	c := m.c
	c.sem <- struct{}{}
	go func() {
		defer func() { <-c.sem }()
		m.pieces <- c.compressed(m.data)
		c.buffers.Put(m.data)
		close(m.pieces)
	}()
}

// compressed returns data as one gzip stream and empties data.
func (c *parallelGzip) compressed(data *bytes.Buffer) *bytes.Buffer {
	out := c.buffers.Get().(*bytes.Buffer)
	zw, ok := c.gzips.Get().(*gzip.Writer)
	if ok {
		zw.Reset(out)
	} else {
		zw, _ = gzip.NewWriterLevel(out, c.level) // the level was validated
	}
	zw.Write(data.Bytes()) // a bytes.Buffer never fails
	zw.Close()
	c.gzips.Put(zw)
	data.Reset()
	return out
}

// memberWriter is what the estargz writer writes a member's bytes to.
type memberWriter struct {
	m     *gzMember
	count io.Writer
}

func (w *memberWriter) Write(p []byte) (int, error) {
	m := w.m
	n := len(p)
	m.c.uncompressed += int64(n)
	for len(p) > 0 {
		if m.data.Len() == maxMemberBuffer {
			m.pieces <- m.c.compressed(m.data)
		}
		k := min(maxMemberBuffer-m.data.Len(), len(p))
		m.data.Write(p[:k])
		p = p[k:]
	}
	return n, nil
}

// Flush is a no-op: the estargz writer flushes before it reads the offset,
// which is a member number here.
func (w *memberWriter) Flush() error { return nil }

func (w *memberWriter) Close() error {
	w.m.compress()
	w.m.c.open = nil
	_, err := w.count.Write([]byte{0}) // the placeholder
	return err
}

// WriteTOCAndFooter waits for every member to be written, turns the member
// numbers in the table of contents into offsets, and writes the table and
// the footer with estargz's own code, after the members.
func (c *parallelGzip) WriteTOCAndFooter(_ io.Writer, _ int64, toc *estargz.JTOC, diffHash hash.Hash) (digest.Digest, error) {
	if err := c.finish(); err != nil {
		return "", err
	}
	for _, e := range toc.Entries {
		if e.Offset < 0 || e.Offset >= int64(len(c.offsets)) {
			return "", fmt.Errorf("estargz entry %s at member %d of %d", e.Name, e.Offset, len(c.offsets))
		}
		e.Offset = c.offsets[e.Offset]
	}
	if diffHash != nil {
		diffHash = countingHash{diffHash, &c.uncompressed}
	}
	return c.toc.WriteTOCAndFooter(c.out, c.size, toc, diffHash)
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
