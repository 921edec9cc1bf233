package compress

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

var magics = []struct {
	prefix []byte
	alg    Algorithm
	name   string // for compressions a layer cannot have
}{
	{[]byte{0x1f, 0x8b}, Gzip, ""},
	{[]byte{0x28, 0xb5, 0x2f, 0xfd}, Zstd, ""},
	{[]byte{0xfd, '7', 'z', 'X', 'Z', 0x00}, "", "xz"},
	{[]byte("BZh"), "", "bzip2"},
}

// Detect tells the compression of the stream from its first bytes, without
// consuming them. Anything that is neither gzip nor zstd is taken for an
// uncompressed tar, which reading it as a tar then checks.
func Detect(r *bufio.Reader) (Algorithm, error) {
	head, err := r.Peek(6)
	if err != nil && err != io.EOF {
		return "", err
	}
	for _, m := range magics {
		if bytes.HasPrefix(head, m.prefix) {
			if m.name != "" {
				return "", fmt.Errorf("the stream is %s-compressed; layers are gzip, zstd or uncompressed: decompress it first", m.name)
			}
			return m.alg, nil
		}
	}
	return None, nil
}

// NewReader decompresses r, which is compressed with a. Gzip streams of
// several members (eStargz, pgzip of other tools) are read whole.
func NewReader(r io.Reader, a Algorithm) (io.ReadCloser, error) {
	switch a {
	case None:
		return io.NopCloser(r), nil
	case Gzip:
		return gzip.NewReader(r)
	case Zstd:
		// Decoding with one goroutine and a bounded window keeps memory
		// flat whatever the stream claims.
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<27))
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	}
	return nil, fmt.Errorf("unknown compression %q: use gzip, zstd or none", a)
}

// ErrStop, returned by a WalkTar callback, ends the walk without error.
var ErrStop = errors.New("stop walking the layer")

// WalkTar calls fn with each entry of a layer blob (gzip, zstd or
// uncompressed), in the archive's order; r reads the entry's bytes. Global
// PAX headers are no entries. Errors name the blob.
func WalkTar(blobPath string, fn func(h *tar.Header, r io.Reader) error) error {
	f, err := os.Open(blobPath)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	alg, err := Detect(br)
	if err != nil {
		return fmt.Errorf("%s: %w", blobPath, err)
	}
	zr, err := NewReader(br, alg)
	if err != nil {
		return fmt.Errorf("%s: %w", blobPath, err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", blobPath, err)
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		if err := fn(h, tr); err == ErrStop {
			return nil
		} else if err != nil {
			return fmt.Errorf("%s: %s: %w", blobPath, h.Name, err)
		}
	}
}
