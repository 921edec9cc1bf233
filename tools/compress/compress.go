// Package compress turns a layer's uncompressed tar stream into its blob:
// gzip, zstd, eStargz (seekable gzip), zstd:chunked (seekable zstd) or no
// compression, each with the OCI media type that names it; and reads such
// blobs back.
package compress

import (
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
)

// Algorithm is a layer compression.
type Algorithm string

const (
	None Algorithm = "none"
	Gzip Algorithm = "gzip"
	Zstd Algorithm = "zstd"
)

// OCI layer media types.
const (
	MediaTypeTar     = "application/vnd.oci.image.layer.v1.tar"
	MediaTypeTarGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
	MediaTypeTarZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
)

// DefaultLevel asks for the default level: GzipDefaultLevel for gzip,
// zstd's SpeedDefault (level 2).
const DefaultLevel = -1

// GzipDefaultLevel is 6, the level of gzip(1), Go's compress/gzip, Docker
// and containerd, rather than klauspost's own default of 5: layer blobs are
// as small as users expect from other tools, and the throughput benchmark
// compares like with like against a gzip-6 baseline. Level 5 is about 5%
// faster and 1.4% larger on the benchmark corpus.
const GzipDefaultLevel = 6

// Options selects how a layer is compressed.
type Options struct {
	Algorithm Algorithm
	// Level is 0-9 for gzip and 1-4 for zstd; DefaultLevel picks the default.
	Level int
	// Jobs is the number of compression goroutines; 0 means one per CPU.
	// Gzip with Jobs == 1 uses a single stream; any other value uses pgzip,
	// whose output depends on its block size, never on the number of jobs,
	// so digests are the same on every machine. eStargz compresses its
	// members on Jobs goroutines, with the same bytes for every value, and
	// so does zstd:chunked.
	Jobs int
	// EStargz writes a seekable blob, with a table of contents that
	// lazy-pulling snapshotters read: eStargz with Gzip, zstd:chunked with
	// Zstd (the format of containers/storage, which the stargz snapshotter
	// reads too). It needs a compression.
	EStargz bool
}

// ParseAlgorithm checks a compression name.
func ParseAlgorithm(name string) (Algorithm, error) {
	switch a := Algorithm(name); a {
	case None, Gzip, Zstd:
		return a, nil
	}
	return "", fmt.Errorf("unknown compression %q: use gzip, zstd or none", name)
}

// MediaType is the OCI layer media type for the algorithm.
func (a Algorithm) MediaType() string {
	switch a {
	case Gzip:
		return MediaTypeTarGzip
	case Zstd:
		return MediaTypeTarZstd
	}
	return MediaTypeTar
}

// Validate checks the level against the algorithm's range.
func (o Options) Validate() error {
	if o.EStargz && o.Algorithm != Gzip && o.Algorithm != Zstd {
		return fmt.Errorf("a seekable layer (estargz) is compressed, but the compression is %q: use gzip (eStargz) or zstd (zstd:chunked), or disable estargz", o.Algorithm)
	}
	if o.Jobs < 0 {
		return fmt.Errorf("%d compression jobs: use 1 or more, or 0 for one per CPU", o.Jobs)
	}
	if o.Level == DefaultLevel {
		return nil
	}
	switch o.Algorithm {
	case Gzip:
		if o.Level < 0 || o.Level > 9 {
			return fmt.Errorf("gzip level %d is out of range: use 0 (store) to 9 (smallest)", o.Level)
		}
	case Zstd:
		if o.Level < 1 || o.Level > 4 {
			return fmt.Errorf("zstd level %d is out of range: use 1 (fastest) to 4 (smallest)", o.Level)
		}
	case None:
		return nil
	default:
		return fmt.Errorf("unknown compression %q: use gzip, zstd or none", o.Algorithm)
	}
	return nil
}

// CheckAnnotations validates o, then refuses, before anything is written,
// a user annotation whose key the writer for o sets itself (a seekable
// blob's TOC digest).
func (o Options) CheckAnnotations(user map[string]string) error {
	if err := o.Validate(); err != nil {
		return err
	}
	for _, k := range o.annotationKeys() {
		if _, ok := user[k]; ok {
			return fmt.Errorf("annotation %q is set by the %s writer itself: remove it, or use another key", k, o.seekableFormat())
		}
	}
	return nil
}

// seekableFormat names the format that EStargz writes, for messages.
func (o Options) seekableFormat() string {
	if o.Algorithm == Zstd {
		return "zstd:chunked"
	}
	return "eStargz"
}

func (o Options) jobs() int {
	if o.Jobs > 0 {
		return o.Jobs
	}
	return runtime.GOMAXPROCS(0)
}

// NewWriter returns a writer that compresses into w. Close flushes the
// compressed stream; it does not close w. With EStargz the writer is also a
// Describer: eStargz for gzip, zstd:chunked for zstd.
func NewWriter(w io.Writer, o Options) (io.WriteCloser, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.EStargz {
		return newEStargz(w, o) // gzip or zstd, as Validate checked
	}
	switch o.Algorithm {
	case None:
		return nopCloser{w}, nil
	case Gzip:
		return newGzip(w, o)
	case Zstd:
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstdLevel(o)), zstd.WithEncoderConcurrency(o.jobs()))
	}
	return nil, fmt.Errorf("unknown compression %q: use gzip, zstd or none", o.Algorithm)
}

func gzipLevel(o Options) int {
	if o.Level == DefaultLevel {
		return GzipDefaultLevel
	}
	return o.Level
}

func zstdLevel(o Options) zstd.EncoderLevel {
	if o.Level == DefaultLevel {
		return zstd.SpeedDefault
	}
	return zstd.EncoderLevel(o.Level)
}

func newGzip(w io.Writer, o Options) (io.WriteCloser, error) {
	level := gzipLevel(o)
	if o.Jobs == 1 {
		return gzip.NewWriterLevel(w, level)
	}
	zw, err := pgzip.NewWriterLevel(w, level)
	if err != nil {
		return nil, err
	}
	// pgzip writes uint32(ModTime.Unix()) even for the zero time, which puts
	// a bogus 2042 timestamp in every header; the epoch gives MTIME 0, "no
	// time stamp", as single-stream gzip writes.
	zw.ModTime = time.Unix(0, 0)
	// 1 MiB blocks, a few per core: enough work in flight to keep every
	// core busy while memory stays bounded.
	if err := zw.SetConcurrency(1<<20, 2*o.jobs()); err != nil {
		return nil, err
	}
	return zw, nil
}
