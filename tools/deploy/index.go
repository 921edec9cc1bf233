package deploy

import (
	"encoding/json"
	"fmt"

	"github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Taggable opens what the spec describes: an image, or an index of images.
func (s Spec) Taggable(o Options) (remote.Taggable, error) {
	if s.Index == "" {
		if len(s.Manifests) != 1 {
			return nil, fmt.Errorf("a spec without an index has %d manifests, want 1", len(s.Manifests))
		}
		return Image(s.Manifests[0], o)
	}
	return Index(s, o)
}

// Index builds a v1.ImageIndex from the spec's index file and manifests.
func Index(s Spec, o Options) (v1.ImageIndex, error) {
	raw, err := o.read(s.Index)
	if err != nil {
		return nil, err
	}
	var parsed v1.IndexManifest
	if err := json.Unmarshal(raw, &parsed); err != nil {
		return nil, fmt.Errorf("index %s: %w", s.Index, err)
	}
	idx := &index{raw: raw, parsed: parsed, images: map[v1.Hash]v1.Image{}}
	for _, m := range s.Manifests {
		img, err := Image(m, o)
		if err != nil {
			return nil, err
		}
		h, err := img.Digest()
		if err != nil {
			return nil, err
		}
		idx.images[h] = img
	}
	for _, d := range parsed.Manifests {
		if _, ok := idx.images[d.Digest]; !ok {
			return nil, fmt.Errorf("index %s lists %s, which the spec does not provide", s.Index, d.Digest)
		}
	}
	return idx, nil
}

type index struct {
	raw    []byte
	parsed v1.IndexManifest
	images map[v1.Hash]v1.Image
}

func (i *index) MediaType() (types.MediaType, error)       { return i.parsed.MediaType, nil }
func (i *index) Digest() (v1.Hash, error)                  { return partial.Digest(i) }
func (i *index) Size() (int64, error)                      { return int64(len(i.raw)), nil }
func (i *index) IndexManifest() (*v1.IndexManifest, error) { return &i.parsed, nil }
func (i *index) RawManifest() ([]byte, error)              { return i.raw, nil }

func (i *index) Image(h v1.Hash) (v1.Image, error) {
	if img, ok := i.images[h]; ok {
		return img, nil
	}
	return nil, fmt.Errorf("index has no image %s", h)
}

func (i *index) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return nil, fmt.Errorf("index %s: nested indexes are not supported", h)
}
