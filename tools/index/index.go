// Package index writes an OCI image index from the descriptors of its
// manifests. It never reads a manifest, a config or a layer: a descriptor
// carries the digest, size, media type and platform the index needs.
package index

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rules-img/rules_img/tools/blob"
)

// Manifest is one manifest of the index: its descriptor, and a name for
// messages (the Bazel target that built it).
type Manifest struct {
	Descriptor ocispec.Descriptor
	Name       string
}

// ReadDescriptor reads a descriptor file written by the manifest action.
func ReadDescriptor(path string) (ocispec.Descriptor, error) {
	var d ocispec.Descriptor
	data, err := os.ReadFile(path)
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return d, fmt.Errorf("descriptor %s: %w", path, err)
	}
	return d, nil
}

// Result is the serialized index and its descriptor.
type Result struct {
	Index      []byte
	Descriptor ocispec.Descriptor
}

// Build makes the index of manifests, in their order. Every manifest needs
// a platform. Several may have the same one, as OCI allows (a runtime takes
// the first that matches); the same manifest twice is refused.
func Build(manifests []Manifest, annotations map[string]string) (Result, error) {
	var res Result
	if len(manifests) == 0 {
		return res, fmt.Errorf("an index needs at least one manifest")
	}
	idx := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: make([]ocispec.Descriptor, 0, len(manifests)),
	}
	if len(annotations) > 0 {
		idx.Annotations = annotations
	}
	seen := map[string]string{}
	for _, m := range manifests {
		d := m.Descriptor
		if err := check(d); err != nil {
			return res, fmt.Errorf("%s: %w", m.Name, err)
		}
		if prev, ok := seen[string(d.Digest)]; ok {
			return res, fmt.Errorf("%s and %s are the same manifest %s: list it once", prev, m.Name, d.Digest)
		}
		seen[string(d.Digest)] = m.Name
		idx.Manifests = append(idx.Manifests, d)
	}
	data, err := json.Marshal(idx)
	if err != nil {
		return res, err
	}
	sum := sha256.Sum256(data)
	res.Index = data
	res.Descriptor = ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageIndex,
		Digest:    digest.NewDigestFromBytes(digest.SHA256, sum[:]),
		Size:      int64(len(data)),
	}
	return res, nil
}

func check(d ocispec.Descriptor) error {
	switch d.MediaType {
	case ocispec.MediaTypeImageManifest, "application/vnd.docker.distribution.manifest.v2+json":
	default:
		return fmt.Errorf("descriptor media type %q is not an image manifest", d.MediaType)
	}
	if err := blob.ValidateDigest(string(d.Digest)); err != nil {
		return fmt.Errorf("descriptor: %w", err)
	}
	if d.Size <= 0 {
		return fmt.Errorf("descriptor size %d is not positive", d.Size)
	}
	if d.Platform == nil || d.Platform.OS == "" || d.Platform.Architecture == "" {
		return fmt.Errorf("descriptor %s has no platform (os and architecture)", d.Digest)
	}
	return nil
}

// PlatformString is os/architecture[/variant][:os.version], with features
// if any: what tells two manifests of an index apart.
func PlatformString(p *ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	if p.OSVersion != "" {
		s += ":" + p.OSVersion
	}
	if len(p.OSFeatures) > 0 {
		s += "+" + strings.Join(p.OSFeatures, ",")
	}
	return s
}

// Outputs are the files the index action writes; Digest is optional.
type Outputs struct {
	Index      string
	Descriptor string
	Digest     string
}

// Write stores the result; each file is written whole or not at all.
func (res Result) Write(out Outputs) error {
	if err := blob.WriteFileAtomic(out.Index, res.Index); err != nil {
		return err
	}
	if out.Digest != "" {
		if err := blob.WriteFileAtomic(out.Digest, []byte(res.Descriptor.Digest)); err != nil {
			return err
		}
	}
	return blob.WriteJSON(out.Descriptor, res.Descriptor)
}
