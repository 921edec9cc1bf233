// Package layout writes an OCI image layout directory for images, or an
// image index, that exist as manifests, configs and layer blobs on disk.
package layout

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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
	// AllowMissing leaves out the layers Blobs lacks (layers of shallow
	// bases) instead of failing: a layout for tools that fetch them.
	AllowMissing bool
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

// Index names the files of an image index and of its images.
type Index struct {
	// Descriptor is the index's descriptor.
	Descriptor v1.Descriptor
	// Index is the index JSON.
	Index string
	// Images holds the files of each manifest the index lists.
	Images []Image
}

// WriteIndex creates an OCI image layout at dir holding the index, every
// blob of every image it lists, and an index.json that names the index
// name and each image name-os-arch[-variant] (PlatformRef). Tools that
// choose a platform within an index (skopeo, crane, containerd) take name;
// tools that unpack exactly one manifest per name (umoci) take the others.
func WriteIndex(dir, name string, idx Index) error {
	data, err := os.ReadFile(idx.Index)
	if err != nil {
		return err
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != idx.Descriptor.Digest.Hex {
		return fmt.Errorf("index %s does not match its descriptor's digest %s", idx.Index, idx.Descriptor.Digest)
	}
	var im v1.IndexManifest
	if err := json.Unmarshal(data, &im); err != nil {
		return fmt.Errorf("index %s: %w", idx.Index, err)
	}
	images := map[v1.Hash]Image{}
	for _, img := range idx.Images {
		images[img.Descriptor.Digest] = img
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	for _, d := range im.Manifests {
		img, ok := images[d.Digest]
		if !ok {
			return fmt.Errorf("the index lists the manifest %s, but its files are not available to the layout action", d.Digest)
		}
		if err := writeImage(p, img); err != nil {
			return err
		}
	}
	if err := p.WriteBlob(idx.Descriptor.Digest, io.NopCloser(bytes.NewReader(data))); err != nil {
		return err
	}
	top := idx.Descriptor
	top.Annotations = map[string]string{RefName: name}
	if err := p.AppendDescriptor(top); err != nil {
		return err
	}
	used := map[string]int{}
	for _, d := range im.Manifests {
		// Several manifests may share a platform: later ones get -2, -3...
		ref := PlatformRef(name, d.Platform)
		if used[ref]++; used[ref] > 1 {
			ref = fmt.Sprintf("%s-%d", ref, used[ref])
		}
		d.Annotations = map[string]string{RefName: ref}
		if err := p.AppendDescriptor(d); err != nil {
			return err
		}
	}
	return nil
}

// PlatformRef is the name of one platform's manifest in the layout of an
// index: name-os-arch[-variant], for example latest-linux-arm64-v8.
func PlatformRef(name string, p *v1.Platform) string {
	if p == nil {
		return name
	}
	ref := name + "-" + p.OS + "-" + p.Architecture
	if p.Variant != "" {
		ref += "-" + p.Variant
	}
	return ref
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
		if !ok && img.AllowMissing {
			continue
		}
		if !ok {
			return fmt.Errorf("layer %s has no blob in the build (a layer of a base pulled with layer_handling = \"shallow\"?): "+
				"pull the base with layer_handling = \"lazy\" or \"eager\", or build with "+
				"--@rules_img//img/settings:shallow_oci_layout=i_know_what_i_am_doing for a layout without it", l.Digest)
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
