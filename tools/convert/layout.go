// Package convert reads an OCI image layout made by another tool (rules_oci,
// `crane pull --format=oci`, `skopeo copy ... oci:DIR`) and writes the
// files that rules_img's rules pass along: manifest, config, descriptor and
// one blob and metadata file per layer. The manifest and config keep their
// bytes, so the converted image has the layout's digest.
package convert

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rules-img/rules_img/tools/registry"
)

// Docker's media types, which a layout written by older tools may hold.
const (
	dockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	dockerConfig       = "application/vnd.docker.container.image.v1+json"
)

// maxDepth bounds how deep indexes may nest: a layout of an index of
// indexes is already rare.
const maxDepth = 8

// Layout is an OCI image layout directory.
type Layout struct {
	dir string
}

// Open checks that dir is an OCI image layout: an oci-layout file of
// version 1.0.0 and an index.json.
func Open(dir string) (Layout, error) {
	data, err := os.ReadFile(filepath.Join(dir, ocispec.ImageLayoutFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Layout{}, fmt.Errorf("%s is not an OCI image layout: it has no %s file (give the directory that holds oci-layout, index.json and blobs/)", dir, ocispec.ImageLayoutFile)
	}
	if err != nil {
		return Layout{}, err
	}
	var version ocispec.ImageLayout
	if err := json.Unmarshal(data, &version); err != nil {
		return Layout{}, fmt.Errorf("%s/%s: %w", dir, ocispec.ImageLayoutFile, err)
	}
	if version.Version != ocispec.ImageLayoutVersion {
		return Layout{}, fmt.Errorf("%s/%s: imageLayoutVersion %q is not %q", dir, ocispec.ImageLayoutFile, version.Version, ocispec.ImageLayoutVersion)
	}
	return Layout{dir: dir}, nil
}

// blobPath is where the layout keeps the blob of d.
func (l Layout) blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("digest %q: %w", d, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return "", fmt.Errorf("digest %s: only sha256 blobs are supported", d)
	}
	return filepath.Join(l.dir, ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded()), nil
}

// readBlob reads the blob of d, at most limit bytes, and checks its size and
// digest against d.
func (l Layout) readBlob(d ocispec.Descriptor, limit int64, what string) ([]byte, error) {
	path, err := l.blobPath(d.Digest)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if d.Size > limit {
		return nil, fmt.Errorf("%s %s: its descriptor declares %d bytes, more than the %d read", what, d.Digest, d.Size, limit)
	}
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s %s is missing from the layout (no %s)", what, d.Digest, path)
	}
	if err != nil {
		return nil, err
	}
	if info.Size() != d.Size {
		return nil, fmt.Errorf("%s %s: %s has %d bytes, its descriptor declares %d", what, d.Digest, path, info.Size(), d.Size)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if got := digest.FromBytes(data); got != d.Digest {
		return nil, fmt.Errorf("%s %s: %s has digest %s", what, d.Digest, path, got)
	}
	return data, nil
}

// Image is one image manifest of a layout.
type Image struct {
	// Descriptor is the manifest's descriptor, with the platform of the
	// config when the layout's descriptor gives none.
	Descriptor ocispec.Descriptor
	Manifest   []byte
	Config     []byte
	Layers     []ocispec.Descriptor
	DiffIDs    []digest.Digest
}

// Platform is what tells images apart: os/architecture[/variant].
func (img Image) Platform() string {
	p := img.Descriptor.Platform
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// layoutIndex is an image index of the layout other than index.json: its
// descriptor and the digests of the manifests it lists, in order.
type layoutIndex struct {
	descriptor ocispec.Descriptor
	raw        []byte
	manifests  []digest.Digest
}

// Contents is what a layout holds: its images, and the indexes that list them.
type Contents struct {
	Images  []Image
	indexes []layoutIndex
}

// Read finds every image of the layout, through nested indexes, in the
// order of index.json. Manifests that are no images (signatures,
// attestations, other artifacts) are left out.
func (l Layout) Read() (Contents, error) {
	data, err := os.ReadFile(filepath.Join(l.dir, ocispec.ImageIndexFile))
	if err != nil {
		return Contents{}, fmt.Errorf("%s is not an OCI image layout: %w", l.dir, err)
	}
	var top ocispec.Index
	if err := json.Unmarshal(data, &top); err != nil {
		return Contents{}, fmt.Errorf("%s/%s: %w", l.dir, ocispec.ImageIndexFile, err)
	}
	var c Contents
	seen := map[digest.Digest]bool{}
	if err := l.walk(top.Manifests, nil, 0, seen, &c); err != nil {
		return Contents{}, err
	}
	if len(c.Images) == 0 {
		return Contents{}, fmt.Errorf("%s holds no image manifest (its index.json lists %d descriptors, none of an image)", l.dir, len(top.Manifests))
	}
	return c, nil
}

func (l Layout) walk(descriptors []ocispec.Descriptor, parent *ocispec.Platform, depth int, seen map[digest.Digest]bool, c *Contents) error {
	if depth > maxDepth {
		return fmt.Errorf("%s: indexes nest more than %d deep", l.dir, maxDepth)
	}
	for _, d := range descriptors {
		if seen[d.Digest] {
			continue
		}
		seen[d.Digest] = true
		if d.Platform == nil {
			d.Platform = parent
		}
		switch d.MediaType {
		case ocispec.MediaTypeImageIndex, dockerManifestList:
			raw, err := l.readBlob(d, registry.MaxManifestSize, "index")
			if err != nil {
				return err
			}
			var idx ocispec.Index
			if err := json.Unmarshal(raw, &idx); err != nil {
				return fmt.Errorf("index %s: %w", d.Digest, err)
			}
			found := layoutIndex{descriptor: d, raw: raw}
			for _, m := range idx.Manifests {
				found.manifests = append(found.manifests, m.Digest)
			}
			c.indexes = append(c.indexes, found)
			if err := l.walk(idx.Manifests, d.Platform, depth+1, seen, c); err != nil {
				return err
			}
		case ocispec.MediaTypeImageManifest, dockerManifest:
			img, ok, err := l.image(d)
			if err != nil {
				return err
			}
			if ok {
				c.Images = append(c.Images, img)
			}
		}
	}
	return nil
}

// image reads the manifest d and its config. ok is false for a manifest
// that is no image: one whose config is not an image config.
func (l Layout) image(d ocispec.Descriptor) (img Image, ok bool, err error) {
	raw, err := l.readBlob(d, registry.MaxManifestSize, "manifest")
	if err != nil {
		return Image{}, false, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return Image{}, false, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	if m.Config.MediaType != ocispec.MediaTypeImageConfig && m.Config.MediaType != dockerConfig {
		return Image{}, false, nil
	}
	config, err := l.readBlob(m.Config, registry.MaxConfigSize, "config")
	if err != nil {
		return Image{}, false, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(config, &cfg); err != nil {
		return Image{}, false, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return Image{}, false, fmt.Errorf("manifest %s lists %d layers, its config %d diff_ids", d.Digest, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	if d.Platform == nil || d.Platform.OS == "" {
		d.Platform = &ocispec.Platform{
			OS:           cfg.OS,
			Architecture: cfg.Architecture,
			Variant:      cfg.Variant,
			OSVersion:    cfg.OSVersion,
			OSFeatures:   cfg.OSFeatures,
		}
	}
	if d.Platform.OS == "" || d.Platform.Architecture == "" {
		return Image{}, false, fmt.Errorf("manifest %s: neither its descriptor nor its config names an os and architecture", d.Digest)
	}
	// The descriptor the rules pass along is the manifest's own: the
	// layout's ref.name annotations name it in this layout only.
	d.Annotations = nil
	return Image{Descriptor: d, Manifest: raw, Config: config, Layers: m.Layers, DiffIDs: cfg.RootFS.DiffIDs}, true, nil
}

// Select picks the image for os/architecture[/variant]: the first that
// matches. A variant left empty on either side matches any.
func (c Contents) Select(os, architecture, variant string) (Image, error) {
	for _, img := range c.Images {
		p := img.Descriptor.Platform
		if p.OS != os || p.Architecture != architecture {
			continue
		}
		if variant == "" || p.Variant == "" || variant == p.Variant {
			return img, nil
		}
	}
	want := os + "/" + architecture
	if variant != "" {
		want += "/" + variant
	}
	found := make([]string, len(c.Images))
	for i, img := range c.Images {
		found[i] = img.Platform()
	}
	return Image{}, fmt.Errorf("the layout has no image for %s: it has %s", want, strings.Join(found, ", "))
}
