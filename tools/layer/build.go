package layer

import (
	"io"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/compress"
)

// Build writes the planned entries as a layer blob at blobPath, in one
// pass (see compress.WriteBlob).
func Build(entries []Entry, opts compress.Options, blobPath string) (blob.LayerMetadata, error) {
	return compress.WriteBlob(blobPath, opts, func(w io.Writer) error { return WriteTar(w, entries) })
}

// BuildLayout is Build for a streaming layout: memory stays flat whatever
// the number and size of the files.
func BuildLayout(l *Layout, opts compress.Options, blobPath string) (blob.LayerMetadata, error) {
	return compress.WriteBlob(blobPath, opts, func(w io.Writer) error { return WriteLayout(w, l) })
}

// MemoryLimit is the Go heap limit (runtime/debug.SetMemoryLimit) that the
// img tool sets for a layer action. Everything streams, but the garbage
// collector lets the heap grow to twice what is live by default; this keeps
// a layer action's peak RSS under 128 MiB whatever the layer's size.
const MemoryLimit = 96 << 20
