package compress

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/rules-img/rules_img/tools/blob"
)

// outputBufferSize batches small writes into 64 KiB writes to the blob.
const outputBufferSize = 64 << 10

// WriteBlob writes a layer blob at path in one pass: write's uncompressed
// stream → diff_id hash → compressor → digest hash → file. On error the blob
// is removed, so nothing half-written stays behind. An eStargz compressor
// reports the diff_id and the annotations itself: its blob decompresses to
// more than the tar.
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
	out := bufio.NewWriterSize(f, outputBufferSize)
	compressed := blob.NewDigestWriter(out)
	cw, err := NewWriter(compressed, opts)
	if err != nil {
		return meta, err
	}
	uncompressed := blob.NewDigestWriter(cw)
	if err := write(uncompressed); err != nil {
		cw.Close()
		return meta, err
	}
	if err := cw.Close(); err != nil {
		return meta, fmt.Errorf("compressing: %w", err)
	}
	if err := out.Flush(); err != nil {
		return meta, err
	}
	meta = blob.LayerMetadata{
		MediaType: opts.Algorithm.MediaType(),
		Digest:    compressed.Digest(),
		Size:      compressed.Size(),
		DiffID:    uncompressed.Digest(),
	}
	if d, ok := cw.(Describer); ok {
		meta.DiffID, meta.Annotations = d.DiffID(), d.Annotations()
	}
	return meta, nil
}
