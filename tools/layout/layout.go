// Package layout writes an OCI image layout directory for images that exist
// as a manifest, a config and layer blobs on disk.
package layout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// Annotations that name an image in an index.json.
const (
	// RefName is what the OCI spec defines, and what umoci and skopeo read.
	RefName = "org.opencontainers.image.ref.name"
	// ContainerdName is what `ctr images import` and `docker load` read.
	ContainerdName = "io.containerd.image.name"
)

// Image names the files of one image.
type Image struct {
	// Descriptor is the manifest's descriptor, platform included.
	Descriptor v1.Descriptor
	Manifest   string
	Config     string
	// Blobs maps each layer digest of the manifest to the file holding it.
	Blobs map[v1.Hash]string
}

// Write creates an OCI image layout at dir holding every blob of the images,
// with each image's descriptor in index.json.
func Write(dir string, images []Image) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	for _, img := range images {
		if err := writeImage(p, img); err != nil {
			return err
		}
		if err := p.AppendDescriptor(img.Descriptor); err != nil {
			return err
		}
	}
	return nil
}

func writeImage(p layout.Path, img Image) error {
	manifest, err := os.ReadFile(img.Manifest)
	if err != nil {
		return err
	}
	var m v1.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return fmt.Errorf("manifest %s: %w", img.Manifest, err)
	}
	if err := p.WriteBlob(img.Descriptor.Digest, io.NopCloser(bytes.NewReader(manifest))); err != nil {
		return err
	}
	if err := writeFile(p, m.Config.Digest, img.Config); err != nil {
		return err
	}
	for _, l := range m.Layers {
		path, ok := img.Blobs[l.Digest]
		if !ok {
			return fmt.Errorf("the blob of layer %s is not available to the layout action", l.Digest)
		}
		if err := writeFile(p, l.Digest, path); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(p layout.Path, digest v1.Hash, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return p.WriteBlob(digest, f) // closes f
}
