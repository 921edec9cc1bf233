package compress

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/rules-img/rules_img/tools/blob"
)

// chunkSize is the largest write to the blob file: 64 KiB writes cost far
// less kernel time than 1 MiB ones.
const chunkSize = 64 << 10

// handoffSize is the unit in which the uncompressed stream goes from the
// tar writer to the compressor: large enough that handing over (a channel
// operation, often a goroutine wake-up) costs little per byte.
const handoffSize = 256 << 10

// chunksInFlight bounds the memory between the two stages.
const chunksInFlight = 8

// WriteBlob writes a layer blob at path in one pass, as a pipeline of two
// goroutines: write's uncompressed stream and its diff_id hash on one, the
// compressor, the digest hash and the file on the other (and on the
// compressor's own goroutines), handing 256 KiB chunks from one to the
// other; the file is written 64 KiB at a time. A single zstd or gzip stream then uses a second core too. On error
// the blob is removed, so nothing half-written stays behind. A seekable
// compressor (eStargz, zstd:chunked) reports the diff_id and the
// annotations itself: an eStargz blob decompresses to more than the tar.
func WriteBlob(path string, opts Options, write func(io.Writer) error) (meta blob.LayerMetadata, err error) {
	f, err := os.Create(path)
	if err != nil {
		return meta, err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	out := bufio.NewWriterSize(splitWriter{f}, chunkSize)
	// Uncompressed, the blob is the tar: its digest is the diff_id, hashed
	// once.
	var compressed *blob.DigestWriter
	var cw io.WriteCloser = nopCloser{out}
	if opts.Algorithm != None || opts.EStargz {
		compressed = blob.NewDigestWriter(out)
		if cw, err = NewWriter(compressed, opts); err != nil {
			return meta, err
		}
	} else if err = opts.Validate(); err != nil {
		return meta, err
	}
	describer, _ := cw.(Describer)
	p := newPipe(describer == nil)
	produced := make(chan error, 1)
	go func() {
		err := write(p)
		if err == nil {
			err = p.flush()
		}
		close(p.full)
		produced <- err
	}()
	consumeErr := p.consume(cw)
	if err := <-produced; err != nil && !errors.Is(err, errStopped) {
		cw.Close()
		return meta, err
	}
	if consumeErr != nil {
		cw.Close()
		return meta, fmt.Errorf("compressing: %w", consumeErr)
	}
	if err := cw.Close(); err != nil {
		return meta, fmt.Errorf("compressing: %w", err)
	}
	if err := out.Flush(); err != nil {
		return meta, err
	}
	meta = blob.LayerMetadata{MediaType: opts.Algorithm.MediaType()}
	if describer != nil {
		meta.DiffID, meta.Annotations = describer.DiffID(), describer.Annotations()
	} else {
		meta.DiffID = "sha256:" + hex.EncodeToString(p.hash.Sum(nil))
	}
	if compressed != nil {
		meta.Digest, meta.Size = compressed.Digest(), compressed.Size()
	} else {
		meta.Digest, meta.Size = meta.DiffID, p.size
	}
	return meta, nil
}

var errStopped = errors.New("the compressor stopped")

// splitWriter writes to a file in pieces of at most chunkSize: a
// bufio.Writer passes writes larger than its buffer on whole.
type splitWriter struct{ w io.Writer }

func (s splitWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k, err := s.w.Write(p[:min(len(p), chunkSize)])
		n += k
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

// pipe hands the stream written to it over to consume in chunks, hashing
// each chunk on the writer's side.
type pipe struct {
	full, free chan []byte
	stop       chan struct{} // closed when consume fails
	cur        []byte
	hash       hash.Hash // nil: the compressor hashes by itself
	size       int64
}

func newPipe(hashed bool) *pipe {
	p := &pipe{full: make(chan []byte, chunksInFlight), free: make(chan []byte, chunksInFlight), stop: make(chan struct{})}
	for range chunksInFlight {
		p.free <- make([]byte, 0, handoffSize)
	}
	if hashed {
		p.hash = sha256.New()
	}
	return p
}

func (p *pipe) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if p.cur == nil {
			select {
			case p.cur = <-p.free:
			case <-p.stop:
				return n, errStopped
			}
		}
		c := copy(p.cur[len(p.cur):cap(p.cur)], b)
		p.cur = p.cur[:len(p.cur)+c]
		b, n = b[c:], n+c
		if len(p.cur) == cap(p.cur) {
			if err := p.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// flush hands the current chunk over.
func (p *pipe) flush() error {
	if len(p.cur) == 0 {
		return nil
	}
	if p.hash != nil {
		p.hash.Write(p.cur)
	}
	p.size += int64(len(p.cur))
	select {
	case p.full <- p.cur:
		p.cur = nil
		return nil
	case <-p.stop:
		return errStopped
	}
}

// consume writes every chunk to w until the writer side closes p.full. On
// a write error it stops the writer side and drains what is left.
func (p *pipe) consume(w io.Writer) error {
	var err error
	for c := range p.full {
		if err == nil {
			if _, err = w.Write(c); err != nil {
				close(p.stop)
			}
		}
		p.free <- c[:0]
	}
	return err
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
