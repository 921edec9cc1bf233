package layout_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	gcrlayout "github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rules-img/rules_img/tools/compress"
	"github.com/rules-img/rules_img/tools/index"
	"github.com/rules-img/rules_img/tools/layout"
	"github.com/rules-img/rules_img/tools/manifest"
)

// buildIndex writes two images that share a layer and their index.
func buildIndex(t *testing.T, work string) layout.Index {
	t.Helper()
	shared := buildLayer(t, work, "shared", compress.Gzip, map[string]string{"/shared": "s"})
	// gzip only: validate.Image cannot read zstd layers in full.
	amd := buildLayer(t, work, "amd", compress.Gzip, map[string]string{"/arch": "amd64"})
	arm := buildLayer(t, work, "arm", compress.Gzip, map[string]string{"/arch": "arm64"})
	images := []layout.Image{
		buildImage(t, work, "amd64", manifest.Platform{OS: "linux", Architecture: "amd64"}, shared, amd),
		buildImage(t, work, "arm64", manifest.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, shared, arm),
	}
	var ms []index.Manifest
	for _, img := range images {
		ms = append(ms, index.Manifest{Name: img.Manifest, Descriptor: ocispec.Descriptor{
			MediaType: string(img.Descriptor.MediaType),
			Digest:    digest.Digest(img.Descriptor.Digest.String()),
			Size:      img.Descriptor.Size,
			Platform:  &ocispec.Platform{OS: img.Descriptor.Platform.OS, Architecture: img.Descriptor.Platform.Architecture, Variant: img.Descriptor.Platform.Variant},
		}})
	}
	res, err := index.Build(ms, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := index.Outputs{Index: filepath.Join(work, "index.json"), Descriptor: filepath.Join(work, "index.descriptor.json")}
	if err := res.Write(out); err != nil {
		t.Fatal(err)
	}
	h, err := v1.NewHash(string(res.Descriptor.Digest))
	if err != nil {
		t.Fatal(err)
	}
	return layout.Index{
		Descriptor: v1.Descriptor{MediaType: types.OCIImageIndex, Digest: h, Size: res.Descriptor.Size},
		Index:      out.Index,
		Images:     images,
	}
}

func TestWriteIndex(t *testing.T) {
	idx := buildIndex(t, t.TempDir())
	dir := t.TempDir()
	if err := layout.WriteIndex(dir, "app:v1", idx); err != nil {
		t.Fatal(err)
	}
	top, err := gcrlayout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(top); err != nil {
		t.Fatalf("validate.Index: %v", err)
	}
	im, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, d := range im.Manifests {
		refs = append(refs, string(d.MediaType)+" "+d.Annotations[layout.RefName])
	}
	want := []string{
		"application/vnd.oci.image.index.v1+json app:v1",
		"application/vnd.oci.image.manifest.v1+json app:v1-linux-amd64",
		"application/vnd.oci.image.manifest.v1+json app:v1-linux-arm64-v8",
	}
	if !slices.Equal(refs, want) {
		t.Errorf("index.json lists %q, want %q", refs, want)
	}
	if im.Manifests[0].Digest != idx.Descriptor.Digest {
		t.Errorf("index.json names %s, the index is %s", im.Manifests[0].Digest, idx.Descriptor.Digest)
	}
	// The nested index is ours, byte for byte, and every platform of it
	// resolves to a valid image.
	nested, err := top.ImageIndex(idx.Descriptor.Digest)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := nested.RawManifest()
	if want, _ := os.ReadFile(idx.Index); string(raw) != string(want) {
		t.Errorf("the index blob differs from the index file")
	}
	for i, img := range idx.Images {
		got, err := nested.Image(img.Descriptor.Digest)
		if err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
		if err := validate.Image(got); err != nil {
			t.Errorf("image %d: %v", i, err)
		}
		if im.Manifests[i+1].Platform == nil || im.Manifests[i+1].Platform.Architecture != img.Descriptor.Platform.Architecture {
			t.Errorf("index.json entry %d has platform %+v", i+1, im.Manifests[i+1].Platform)
		}
	}
	// Blobs: two manifests, two configs, three layers (one shared), the index.
	blobs, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) != 8 {
		t.Errorf("layout holds %d blobs, want 8", len(blobs))
	}
}

func TestWriteIndexErrors(t *testing.T) {
	work := t.TempDir()
	idx := buildIndex(t, work)
	missing := idx
	missing.Images = idx.Images[:1]
	err := layout.WriteIndex(t.TempDir(), "latest", missing)
	if err == nil || !strings.Contains(err.Error(), idx.Images[1].Descriptor.Digest.String()) {
		t.Errorf("missing image: %v", err)
	}
	wrong := idx
	wrong.Descriptor.Digest = idx.Images[0].Descriptor.Digest
	if err := layout.WriteIndex(t.TempDir(), "latest", wrong); err == nil || !strings.Contains(err.Error(), "does not match its descriptor") {
		t.Errorf("wrong digest: %v", err)
	}
	if got := layout.PlatformRef("x", nil); got != "x" {
		t.Errorf("PlatformRef(nil) = %q", got)
	}
}
