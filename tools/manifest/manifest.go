package manifest

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rules-img/rules_img/tools/blob"
)

// Outputs are the files the manifest action writes.
type Outputs struct {
	Manifest   string
	Config     string
	Descriptor string
	// Digest, if set, receives the manifest's digest, "sha256:...".
	Digest string
}

// Result holds the serialized config and manifest and the manifest's
// descriptor, platform included.
type Result struct {
	Config     []byte
	Manifest   []byte
	Descriptor ocispec.Descriptor
}

// Build computes the config and the manifest for r.
func Build(r Request) (Result, error) {
	var res Result
	if err := r.Validate(); err != nil {
		return res, err
	}
	layers := make([]blob.LayerMetadata, len(r.Layers))
	for i, path := range r.Layers {
		m, err := blob.ReadLayerMetadata(path)
		if err != nil {
			return res, err
		}
		layers[i] = m
	}
	base, err := readBaseManifest(r.BaseManifest)
	if err != nil {
		return res, err
	}
	cfg, err := buildConfig(r, layers)
	if err != nil {
		return res, err
	}
	if res.Config, err = json.Marshal(cfg); err != nil {
		return res, err
	}
	if err := checkLayerCount(cfg, base, layers); err != nil {
		return res, err
	}

	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{
			MediaType: ocispec.MediaTypeImageConfig,
			Digest:    sha256Digest(res.Config),
			Size:      int64(len(res.Config)),
		},
		Layers:      ociLayers(base.Layers),
		Annotations: r.Annotations,
	}
	for _, l := range layers {
		m.Layers = append(m.Layers, ocispec.Descriptor{
			MediaType:   l.MediaType,
			Digest:      digest.Digest(l.Digest),
			Size:        l.Size,
			Annotations: l.Annotations,
		})
	}
	if len(m.Annotations) == 0 {
		m.Annotations = nil
	}
	if res.Manifest, err = json.Marshal(m); err != nil {
		return res, err
	}
	res.Descriptor = ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest,
		Digest:    sha256Digest(res.Manifest),
		Size:      int64(len(res.Manifest)),
		Platform: &ocispec.Platform{
			OS:           r.Platform.OS,
			Architecture: r.Platform.Architecture,
			Variant:      r.Platform.Variant,
			OSVersion:    r.Platform.OSVersion,
			OSFeatures:   r.Platform.OSFeatures,
		},
	}
	return res, nil
}

// Write stores the result; each file is written whole or not at all.
func (res Result) Write(out Outputs) error {
	if err := blob.WriteFileAtomic(out.Config, res.Config); err != nil {
		return err
	}
	if err := blob.WriteFileAtomic(out.Manifest, res.Manifest); err != nil {
		return err
	}
	if out.Digest != "" {
		if err := blob.WriteFileAtomic(out.Digest, []byte(res.Descriptor.Digest)); err != nil {
			return err
		}
	}
	return blob.WriteJSON(out.Descriptor, res.Descriptor)
}

// ociLayerTypes maps the layer media types of Docker's image format to the
// OCI ones of the same bytes. The manifest written is an OCI manifest, and
// an OCI manifest carries only OCI media types: umoci, and some registries,
// refuse a mix. The digests stay the same.
var ociLayerTypes = map[string]string{
	"application/vnd.docker.image.rootfs.diff.tar":              ocispec.MediaTypeImageLayer,
	"application/vnd.docker.image.rootfs.diff.tar.gzip":         ocispec.MediaTypeImageLayerGzip,
	"application/vnd.docker.image.rootfs.diff.tar.zstd":         ocispec.MediaTypeImageLayerZstd,
	"application/vnd.docker.image.rootfs.foreign.diff.tar":      ocispec.MediaTypeImageLayerNonDistributable,     //nolint:staticcheck // the OCI type of these bytes
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": ocispec.MediaTypeImageLayerNonDistributableGzip, //nolint:staticcheck // the OCI type of these bytes
}

// OCILayerType is the OCI media type of a layer's bytes: mediaType itself,
// unless it is one of Docker's layer types.
func OCILayerType(mediaType string) string {
	if oci, ok := ociLayerTypes[mediaType]; ok {
		return oci
	}
	return mediaType
}

// ociLayers gives a base's layer descriptors with OCI media types.
func ociLayers(layers []ocispec.Descriptor) []ocispec.Descriptor {
	out := make([]ocispec.Descriptor, len(layers))
	for i, l := range layers {
		l.MediaType = OCILayerType(l.MediaType)
		out[i] = l
	}
	return out
}

// dockerManifestV2 is the Docker image manifest's media type, which a base
// pulled from a registry may have.
const dockerManifestV2 = "application/vnd.docker.distribution.manifest.v2+json"

func readBaseManifest(path string) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	if path == "" {
		return m, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("base manifest %s: %w", path, err)
	}
	if m.SchemaVersion != 2 {
		return m, fmt.Errorf("base manifest %s: schemaVersion %d is not 2 (a schema 1 manifest?)", path, m.SchemaVersion)
	}
	// An index has schemaVersion 2 as well; without these checks it would
	// pass for a manifest with no layers.
	switch m.MediaType {
	case "", ocispec.MediaTypeImageManifest, dockerManifestV2:
	default:
		return m, fmt.Errorf("base manifest %s: mediaType %q is not an image manifest (an index? use the manifest of one platform)", path, m.MediaType)
	}
	if m.Config.Digest == "" {
		return m, fmt.Errorf("base manifest %s has no config: it is not an image manifest (an index? use the manifest of one platform)", path)
	}
	return m, nil
}

// checkLayerCount catches a base whose config and manifest disagree, which
// every runtime would reject later with a less helpful message.
func checkLayerCount(cfg jsonObject, base ocispec.Manifest, layers []blob.LayerMetadata) error {
	diffIDs, _ := object(cfg, "rootfs")["diff_ids"].([]any)
	if want := len(base.Layers) + len(layers); len(diffIDs) != want {
		return fmt.Errorf("the config lists %d diff_ids but the manifest has %d layers: the base image's config and manifest do not match", len(diffIDs), want)
	}
	return nil
}

func sha256Digest(data []byte) digest.Digest {
	return digest.NewDigestFromBytes(digest.SHA256, sha256Sum(data))
}

func sha256Sum(data []byte) []byte {
	sum := sha256.Sum256(data)
	return sum[:]
}
