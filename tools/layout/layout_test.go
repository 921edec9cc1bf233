package layout_test

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	gcrlayout "github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/compress"
	"github.com/rules-img/rules_img/tools/layer"
	"github.com/rules-img/rules_img/tools/layout"
	"github.com/rules-img/rules_img/tools/manifest"
)

// builtLayer is a layer blob on disk and its metadata.
type builtLayer struct {
	meta     blob.LayerMetadata
	metaPath string
	blobPath string
}

// buildLayer writes a real layer holding files (path → content).
func buildLayer(t *testing.T, dir, name string, alg compress.Algorithm, files map[string]string) builtLayer {
	t.Helper()
	var inputs []layer.Input
	for path, content := range files {
		src := filepath.Join(dir, name+"-src-"+strings.ReplaceAll(path, "/", "_"))
		if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, layer.Input{Kind: layer.KindFile, Path: path, Source: src})
	}
	entries, err := layer.Plan(inputs, layer.MetadataSpec{})
	if err != nil {
		t.Fatal(err)
	}
	l := builtLayer{blobPath: filepath.Join(dir, name+".blob"), metaPath: filepath.Join(dir, name+".layer.json")}
	l.meta, err = layer.Build(entries, compress.Options{Algorithm: alg, Level: compress.DefaultLevel, Jobs: 2}, l.blobPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := blob.WriteJSON(l.metaPath, l.meta); err != nil {
		t.Fatal(err)
	}
	return l
}

// buildImage writes a manifest and config for layers and returns the
// layout.Image for them, as the img tool's layout subcommand assembles it.
func buildImage(t *testing.T, dir, name string, platform manifest.Platform, layers ...builtLayer) layout.Image {
	t.Helper()
	r := manifest.Request{Platform: platform, Label: "//test:" + name, Config: manifest.ConfigSettings{Entrypoint: []string{"/app"}}}
	for _, l := range layers {
		r.Layers = append(r.Layers, l.metaPath)
	}
	res, err := manifest.Build(r)
	if err != nil {
		t.Fatal(err)
	}
	out := manifest.Outputs{
		Manifest:   filepath.Join(dir, name+".manifest.json"),
		Config:     filepath.Join(dir, name+".config.json"),
		Descriptor: filepath.Join(dir, name+".descriptor.json"),
	}
	if err := res.Write(out); err != nil {
		t.Fatal(err)
	}
	img := layout.Image{Manifest: out.Manifest, Config: out.Config, Blobs: map[v1.Hash]string{}}
	data, err := os.ReadFile(out.Descriptor)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &img.Descriptor); err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		h, err := v1.NewHash(l.meta.Digest)
		if err != nil {
			t.Fatal(err)
		}
		img.Blobs[h] = l.blobPath
	}
	return img
}

// readLayerFiles reads a layer's uncompressed tar into path → content.
func readLayerFiles(t *testing.T, l v1.Layer) map[string]string {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[hdr.Name] = string(data)
		}
	}
}

// writeAndRead writes img as a layout with a ref.name and reads its one
// image back with go-containerregistry, checking the index entry.
func writeAndRead(t *testing.T, img layout.Image) (v1.Image, string) {
	t.Helper()
	img.Descriptor.Annotations = map[string]string{layout.RefName: "example.com/app:latest"}
	dir := filepath.Join(t.TempDir(), "layout")
	if err := layout.Write(dir, []layout.Image{img}); err != nil {
		t.Fatal(err)
	}
	p, err := gcrlayout.FromPath(dir)
	if err != nil {
		t.Fatalf("FromPath: %v", err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("index lists %d manifests, want 1", len(im.Manifests))
	}
	d := im.Manifests[0]
	if got := d.Annotations[layout.RefName]; got != "example.com/app:latest" {
		t.Errorf("ref.name annotation %q, want example.com/app:latest (annotations %v)", got, d.Annotations)
	}
	if d.Digest != img.Descriptor.Digest || d.Size != img.Descriptor.Size || d.MediaType != types.OCIManifestSchema1 {
		t.Errorf("index descriptor %+v, want digest %s size %d", d, img.Descriptor.Digest, img.Descriptor.Size)
	}
	if d.Platform == nil || d.Platform.OS != "linux" || d.Platform.Architecture != "amd64" {
		t.Errorf("index descriptor platform %+v, want linux/amd64", d.Platform)
	}
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		t.Errorf("no oci-layout file: %v", err)
	}
	image, err := idx.Image(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return image, dir
}

type wantLayer struct {
	mediaType types.MediaType
	files     map[string]string
}

func checkLayers(t *testing.T, image v1.Image, want []wantLayer) {
	t.Helper()
	layers, err := image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != len(want) {
		t.Fatalf("image has %d layers, want %d", len(layers), len(want))
	}
	for i, l := range layers {
		mt, err := l.MediaType()
		if err != nil {
			t.Fatal(err)
		}
		if mt != want[i].mediaType {
			t.Errorf("layer %d media type %s, want %s", i, mt, want[i].mediaType)
		}
		if got := readLayerFiles(t, l); !mapsEqual(got, want[i].files) {
			t.Errorf("layer %d files %v, want %v", i, got, want[i].files)
		}
	}
	cf, err := image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/app"}) || cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("config %+v", cf)
	}
}

func TestWriteReadsBackWithGoContainerregistry(t *testing.T) {
	work := t.TempDir()
	base := buildLayer(t, work, "base", compress.Gzip, map[string]string{"/etc/os-release": "ID=test\n"})
	app := buildLayer(t, work, "app", compress.Gzip, map[string]string{"/app/run": "#!/bin/sh\n", "/app/data": "data"})
	image, _ := writeAndRead(t, buildImage(t, work, "image", manifest.Platform{OS: "linux", Architecture: "amd64"}, base, app))
	// validate.Image checks every digest, size and diff_id against the bytes.
	if err := validate.Image(image); err != nil {
		t.Fatalf("validate.Image: %v", err)
	}
	checkLayers(t, image, []wantLayer{
		{types.OCILayer, map[string]string{"etc/os-release": "ID=test\n"}},
		{types.OCILayer, map[string]string{"app/run": "#!/bin/sh\n", "app/data": "data"}},
	})
}

// TestWriteZstdAndUncompressedLayers covers the layer types that
// validate.Image cannot check (it gunzips every layer): its fast mode checks
// the manifest, config and blob presence, and the digests and diff_ids are
// checked here against the blobs in the layout.
func TestWriteZstdAndUncompressedLayers(t *testing.T) {
	work := t.TempDir()
	gz := buildLayer(t, work, "base", compress.Gzip, map[string]string{"/etc/os-release": "ID=test\n"})
	zst := buildLayer(t, work, "app", compress.Zstd, map[string]string{"/app/run": "#!/bin/sh\n", "/app/data": "data"})
	raw := buildLayer(t, work, "raw", compress.None, map[string]string{"/raw": "uncompressed"})
	image, dir := writeAndRead(t, buildImage(t, work, "image", manifest.Platform{OS: "linux", Architecture: "amd64"}, gz, zst, raw))
	if err := validate.Image(image, validate.Fast); err != nil {
		t.Fatalf("validate.Image(Fast): %v", err)
	}
	checkLayers(t, image, []wantLayer{
		{types.OCILayer, map[string]string{"etc/os-release": "ID=test\n"}},
		{types.OCILayerZStd, map[string]string{"app/run": "#!/bin/sh\n", "app/data": "data"}},
		{types.OCIUncompressedLayer, map[string]string{"raw": "uncompressed"}},
	})
	cf, err := image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		digest, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(filepath.Join(dir, "blobs", digest.Algorithm, digest.Hex))
		if err != nil {
			t.Fatalf("layer %d blob: %v", i, err)
		}
		h, size, err := v1.SHA256(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := l.Size(); h != digest || size != want {
			t.Errorf("layer %d blob hashes to %s (%d bytes), manifest says %s (%d bytes)", i, h, size, digest, want)
		}
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		diffID, _, err := v1.SHA256(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if diffID != cf.RootFS.DiffIDs[i] {
			t.Errorf("layer %d decompresses to %s, config diff_id %s", i, diffID, cf.RootFS.DiffIDs[i])
		}
	}
}

func TestWriteSeveralImages(t *testing.T) {
	work := t.TempDir()
	shared := buildLayer(t, work, "shared", compress.Gzip, map[string]string{"/shared": "s"})
	amd := buildLayer(t, work, "amd", compress.Gzip, map[string]string{"/arch": "amd64"})
	arm := buildLayer(t, work, "arm", compress.Gzip, map[string]string{"/arch": "arm64"})
	images := []layout.Image{
		buildImage(t, work, "amd64", manifest.Platform{OS: "linux", Architecture: "amd64"}, shared, amd),
		buildImage(t, work, "arm64", manifest.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, shared, arm),
	}
	images[0].Descriptor.Annotations = map[string]string{layout.RefName: "amd"}
	images[1].Descriptor.Annotations = map[string]string{layout.RefName: "arm"}
	dir := t.TempDir()
	if err := layout.Write(dir, images); err != nil {
		t.Fatal(err)
	}
	idx, err := gcrlayout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("validate.Index: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, d := range im.Manifests {
		refs = append(refs, d.Annotations[layout.RefName]+"="+d.Platform.Architecture+d.Platform.Variant)
	}
	if !slices.Equal(refs, []string{"amd=amd64", "arm=arm64v8"}) {
		t.Errorf("index lists %q, want amd=amd64 then arm=arm64v8", refs)
	}
}

func TestWriteMissingLayerBlob(t *testing.T) {
	work := t.TempDir()
	a := buildLayer(t, work, "a", compress.Gzip, map[string]string{"/a": "a"})
	b := buildLayer(t, work, "b", compress.Zstd, map[string]string{"/b": "b"})
	img := buildImage(t, work, "image", manifest.Platform{OS: "linux", Architecture: "amd64"}, a, b)
	hb, _ := v1.NewHash(b.meta.Digest)
	delete(img.Blobs, hb)

	err := layout.Write(t.TempDir(), []layout.Image{img})
	if err == nil {
		t.Fatal("Write succeeded without the blob of a layer")
	}
	if !strings.Contains(err.Error(), b.meta.Digest) {
		t.Errorf("error %q does not name the missing layer %s", err, b.meta.Digest)
	}
}

func TestWriteErrors(t *testing.T) {
	work := t.TempDir()
	a := buildLayer(t, work, "a", compress.Gzip, map[string]string{"/a": "a"})
	for _, tc := range []struct {
		name   string
		change func(img *layout.Image)
		want   string
	}{
		{"layer blob file missing", func(img *layout.Image) {
			for h := range img.Blobs {
				img.Blobs[h] = filepath.Join(work, "gone.blob")
			}
		}, "gone.blob"},
		{"manifest missing", func(img *layout.Image) { img.Manifest = filepath.Join(work, "gone.manifest.json") }, "gone.manifest.json"},
		{"config missing", func(img *layout.Image) { img.Config = filepath.Join(work, "gone.config.json") }, "gone.config.json"},
		{"manifest not JSON", func(img *layout.Image) { img.Manifest = a.blobPath }, a.blobPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := buildImage(t, work, "image", manifest.Platform{OS: "linux", Architecture: "amd64"}, a)
			tc.change(&img)
			err := layout.Write(t.TempDir(), []layout.Image{img})
			if err == nil {
				t.Fatal("Write succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
