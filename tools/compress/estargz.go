package compress

import (
	"bytes"
	"fmt"
	"hash"
	"io"
	"maps"
	"strconv"
	"sync"

	"github.com/containerd/stargz-snapshotter/estargz"
	"github.com/containerd/stargz-snapshotter/estargz/zstdchunked"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
)

// Annotations of a seekable layer's descriptor, as containerd's stargz
// snapshotter and containers/storage read them. The names are the
// estargz module's own.
const (
	// AnnotationTOCDigest is the digest of the layer's table of contents.
	AnnotationTOCDigest = estargz.TOCJSONDigestAnnotation
	// AnnotationUncompressedSize is the size of the uncompressed stream.
	AnnotationUncompressedSize = estargz.StoreUncompressedSizeAnnotation
	// AnnotationZstdChunkedManifestChecksum is the digest of a zstd:chunked
	// layer's compressed table of contents.
	AnnotationZstdChunkedManifestChecksum = zstdchunked.ManifestChecksumAnnotation
	// AnnotationZstdChunkedManifestPosition is where a zstd:chunked layer's
	// table of contents is: "offset:compressed size:size:type".
	AnnotationZstdChunkedManifestPosition = zstdchunked.ManifestPositionAnnotation
)

// Describer is implemented by writers that report the diff_id and the
// descriptor's annotations themselves: a seekable blob appends its table of
// contents, which eStargz puts in the uncompressed stream too. After Close,
// DiffID is the digest of the whole uncompressed stream and Annotations
// are the annotations of the layer's descriptor.
type Describer interface {
	DiffID() string
	Annotations() map[string]string
}

// estargzWriter turns the tar written to it into a seekable blob as it
// streams: eStargz (gzip) or zstd:chunked (zstd), the same layout in two
// compressions. The estargz package reads the tar from a pipe and decides
// the layout: where each member starts (at every regular file's content,
// and every 4 MiB inside one), the table of contents, the digests and the
// footer. The members themselves are compressed in parallel by
// parallelMembers, its Compressor. Memory holds the table of contents (a few
// hundred bytes per entry, as the format needs it at the end) and a few
// members in flight, never a whole large file.
type estargzWriter struct {
	pw     *io.PipeWriter
	done   chan error
	ew     *estargz.Writer
	m      *parallelMembers
	closed bool
	toc    string
}

func newEStargz(w io.Writer, o Options) (*estargzWriter, error) {
	var format memberFormat
	switch o.Algorithm {
	case Gzip:
		format = &gzipMembers{level: gzipLevel(o), toc: estargz.NewGzipCompressorWithLevel(gzipLevel(o))}
	case Zstd:
		format = &zstdMembers{level: zstdLevel(o), toc: &zstdchunked.Compressor{CompressionLevel: zstdLevel(o), Metadata: map[string]string{}}}
	default:
		return nil, fmt.Errorf("no seekable format for compression %q: use gzip (eStargz) or zstd (zstd:chunked)", o.Algorithm)
	}
	m := newParallelMembers(w, format, o.jobs())
	pr, pw := io.Pipe()
	// The estargz writer only ever writes placeholders (see parallelMembers).
	e := &estargzWriter{pw: pw, done: make(chan error, 1), ew: estargz.NewWriterWithCompressor(io.Discard, m), m: m}
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
		e.m.finish()
		return fmt.Errorf("%s: %w", e.m.format.name(), err)
	}
	toc, err := e.ew.Close()
	e.m.finish()
	if err != nil {
		return fmt.Errorf("%s: %w", e.m.format.name(), err)
	}
	e.toc = toc.String()
	return nil
}

// DiffID is the sha256 of the uncompressed stream. For eStargz that is the
// tar, then the table of contents, so it differs from the digest of the tar
// written; zstd:chunked keeps its table in a skippable frame, outside the
// stream.
func (e *estargzWriter) DiffID() string { return e.ew.DiffID() }

// Annotations records the TOC digest, the uncompressed size and what the
// format's own table of contents writer reports.
func (e *estargzWriter) Annotations() map[string]string {
	ann := map[string]string{
		AnnotationTOCDigest:        e.toc,
		AnnotationUncompressedSize: strconv.FormatInt(e.m.uncompressed, 10),
	}
	maps.Copy(ann, e.m.format.annotations())
	return ann
}

// annotationKeys lists the annotations that a blob written with o carries
// by itself; Annotations sets exactly these.
func (o Options) annotationKeys() []string {
	if !o.EStargz {
		return nil
	}
	keys := []string{AnnotationTOCDigest, AnnotationUncompressedSize}
	if o.Algorithm == Zstd {
		keys = append(keys, AnnotationZstdChunkedManifestChecksum, AnnotationZstdChunkedManifestPosition)
	}
	return keys
}

// memberFormat is the compression of a seekable blob's members and the
// estargz code that writes its table of contents and footer.
type memberFormat interface {
	name() string
	// compress appends data to out as a stream that decompresses on its
	// own. It runs on several goroutines at once.
	compress(out *bytes.Buffer, data []byte)
	WriteTOCAndFooter(w io.Writer, off int64, toc *estargz.JTOC, diffHash hash.Hash) (digest.Digest, error)
	// annotations are what WriteTOCAndFooter reports besides the TOC
	// digest.
	annotations() map[string]string
}

// gzipMembers is eStargz: each member a gzip stream.
type gzipMembers struct {
	level int
	toc   *estargz.GzipCompressor
	pool  sync.Pool // *gzip.Writer
}

func (*gzipMembers) name() string { return "estargz" }

func (g *gzipMembers) compress(out *bytes.Buffer, data []byte) {
	zw, ok := g.pool.Get().(*gzip.Writer)
	if ok {
		zw.Reset(out)
	} else {
		zw, _ = gzip.NewWriterLevel(out, g.level) // the level was validated
	}
	zw.Write(data) // a bytes.Buffer never fails
	zw.Close()
	g.pool.Put(zw)
}

func (g *gzipMembers) WriteTOCAndFooter(w io.Writer, off int64, toc *estargz.JTOC, diffHash hash.Hash) (digest.Digest, error) {
	return g.toc.WriteTOCAndFooter(w, off, toc, diffHash)
}

func (*gzipMembers) annotations() map[string]string { return nil }

// zstdMembers is zstd:chunked: each member a zstd frame, the table of
// contents in a skippable frame that zstd decoders pass over.
type zstdMembers struct {
	level zstd.EncoderLevel
	toc   *zstdchunked.Compressor // its Metadata receives the annotations
	pool  sync.Pool               // *zstd.Encoder
}

func (*zstdMembers) name() string { return "zstd:chunked" }

func (z *zstdMembers) compress(out *bytes.Buffer, data []byte) {
	zw, ok := z.pool.Get().(*zstd.Encoder)
	if ok {
		zw.Reset(out)
	} else {
		// The options of zstdchunked.Compressor, so that a member is the
		// frame it writes; one goroutine each, as members run in parallel.
		zw, _ = zstd.NewWriter(out, zstd.WithEncoderLevel(z.level), zstd.WithLowerEncoderMem(true), zstd.WithEncoderConcurrency(1)) // the level was validated
	}
	zw.Write(data) // a bytes.Buffer never fails
	zw.Close()
	z.pool.Put(zw)
}

func (z *zstdMembers) WriteTOCAndFooter(w io.Writer, off int64, toc *estargz.JTOC, diffHash hash.Hash) (digest.Digest, error) {
	return z.toc.WriteTOCAndFooter(w, off, toc, diffHash)
}

func (z *zstdMembers) annotations() map[string]string { return z.toc.Metadata }

// parallelMembers is the estargz.Compressor of the writer. The estargz
// writer opens one member after the other and notes each member's offset in
// the blob as the count of bytes written so far; parallelMembers instead
// hands each finished member to a goroutine to compress, and writes the
// results in order to the real output. To the estargz writer, each member
// is one placeholder byte, so the offsets it notes are member numbers; when
// it writes the table of contents, parallelMembers turns them into the real
// offsets, then lets estargz's own code for the format write the table and
// the footer. A member depends only on its bytes and the level, so the blob
// is the same whatever the number of goroutines.
type parallelMembers struct {
	format       memberFormat
	out          io.Writer
	uncompressed int64

	order   chan *member  // members in blob order, to the writer goroutine
	written chan error    // the writer goroutine's result
	offsets []int64       // member number → offset in the blob, by the writer goroutine
	size    int64         // bytes written to out
	sem     chan struct{} // compressions running at once
	open    *member       // the member being written, if any
	once    sync.Once
	err     error // of the writer goroutine

	buffers sync.Pool // *bytes.Buffer
}

// maxMemberBuffer is how much of one member is held in memory. A member is
// at most one 4 MiB chunk of a file plus the headers that follow it; a
// longer run of headers (thousands of empty files or links) is compressed
// in 8 MiB parts, each a stream of its own, as it comes.
const maxMemberBuffer = 8 << 20

// member is one member: its compressed bytes arrive on pieces.
type member struct {
	c      *parallelMembers
	data   *bytes.Buffer
	pieces chan *bytes.Buffer
}

func newParallelMembers(out io.Writer, format memberFormat, jobs int) *parallelMembers {
	c := &parallelMembers{
		format:  format,
		out:     out,
		order:   make(chan *member, jobs),
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
func (c *parallelMembers) writeMembers() {
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
func (c *parallelMembers) finish() error {
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
func (c *parallelMembers) Writer(w io.Writer) (estargz.WriteFlushCloser, error) {
	m := &member{c: c, data: c.buffers.Get().(*bytes.Buffer), pieces: make(chan *bytes.Buffer, 4)}
	c.order <- m // blocks while too many members are in flight
	c.open = m
	return &memberWriter{m: m, count: w}, nil
}

// compress compresses the rest of a member on a goroutine of its own, and
// ends the member.
func (m *member) compress() {
	c := m.c
	c.sem <- struct{}{}
	go func() {
		defer func() { <-c.sem }()
		m.pieces <- c.compressed(m.data)
		c.buffers.Put(m.data)
		close(m.pieces)
	}()
}

// compressed returns data as one compressed stream and empties data.
func (c *parallelMembers) compressed(data *bytes.Buffer) *bytes.Buffer {
	out := c.buffers.Get().(*bytes.Buffer)
	c.format.compress(out, data.Bytes())
	data.Reset()
	return out
}

// memberWriter is what the estargz writer writes a member's bytes to.
type memberWriter struct {
	m     *member
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
func (c *parallelMembers) WriteTOCAndFooter(_ io.Writer, _ int64, toc *estargz.JTOC, diffHash hash.Hash) (digest.Digest, error) {
	if err := c.finish(); err != nil {
		return "", err
	}
	for _, e := range toc.Entries {
		if e.Offset < 0 || e.Offset >= int64(len(c.offsets)) {
			return "", fmt.Errorf("%s entry %s at member %d of %d", c.format.name(), e.Name, e.Offset, len(c.offsets))
		}
		e.Offset = c.offsets[e.Offset]
	}
	if diffHash != nil {
		diffHash = countingHash{diffHash, &c.uncompressed}
	}
	return c.format.WriteTOCAndFooter(c.out, c.size, toc, diffHash)
}

// countingHash counts the bytes of the table of contents, which eStargz
// writes into the diff_id hash as it compresses them (zstd:chunked writes
// none: its table is no part of the stream).
type countingHash struct {
	hash.Hash
	n *int64
}

func (h countingHash) Write(p []byte) (int, error) {
	*h.n += int64(len(p))
	return h.Hash.Write(p)
}
