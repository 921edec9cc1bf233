package load

import (
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// WriteTarball writes the selected image as a docker-save tarball (what
// `docker load` and `podman load` read), tagged with names, to w.
func WriteTarball(w io.Writer, sel Selection, names []string, p *progress, stats *Stats) error {
	pi, err := single(sel, "a docker-save tarball")
	if err != nil {
		return err
	}
	refs := map[name.Reference]v1.Image{}
	for _, n := range names {
		tag, err := name.NewTag(Familiar(n))
		if err != nil {
			return fmt.Errorf("image name %s: %w", n, err)
		}
		refs[tag] = pi.Image
	}
	size, err := tarball.CalculateSize(refs)
	if err != nil {
		return err
	}
	layers, err := pi.Image.Layers()
	if err != nil {
		return err
	}
	blobs := int64(len(uniqueLayers(layers))) + 1
	p.total += size
	p.logf("streaming %d blobs (%s)", blobs, humanBytes(size))
	cw := &countingWriter{w: w, p: p}
	if err := tarball.MultiRefWrite(refs, cw); err != nil {
		return err
	}
	addInt(&stats.Written, blobs)
	addInt(&stats.Bytes, cw.n)
	addInt(&stats.Names, int64(len(names)))
	return nil
}

func uniqueLayers(layers []v1.Layer) map[v1.Hash]bool {
	seen := map[v1.Hash]bool{}
	for _, l := range layers {
		if d, err := l.Digest(); err == nil {
			seen[d] = true
		}
	}
	return seen
}

// countingWriter reports the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
	p *progress
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.p.add(int64(n))
	return n, err
}
