package deploy

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/rules-img/rules_img/tools/blob"
)

// writeImage lays out a random image as Bazel would: files under
// root/_main/pkg, and a spec of short paths.
func writeImage(t *testing.T, root string) (v1.Image, Spec) {
	t.Helper()
	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "_main", "pkg")
	os.MkdirAll(dir, 0o755)
	write := func(name string, data []byte) string {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		return "pkg/" + name
	}
	raw, _ := img.RawManifest()
	cfg, _ := img.RawConfigFile()
	files := ManifestFiles{Manifest: write("m.json", raw), Config: write("c.json", cfg), Descriptor: write("d.json", []byte("{}"))}
	layers, _ := img.Layers()
	for i, l := range layers {
		d, _ := l.Digest()
		diff, _ := l.DiffID()
		size, _ := l.Size()
		mt, _ := l.MediaType()
		rc, _ := l.Compressed()
		data, _ := io.ReadAll(rc)
		meta, _ := json.Marshal(blob.LayerMetadata{MediaType: string(mt), Digest: d.String(), Size: size, DiffID: diff.String()})
		files.Layers = append(files.Layers, LayerFiles{
			Metadata: write("l"+string(rune('0'+i))+".json", meta),
			Blob:     write("l"+string(rune('0'+i))+".tar.gz", data),
		})
	}
	return img, Spec{WorkspaceName: "_main", Manifests: []ManifestFiles{files}}
}

func TestImageFromFiles(t *testing.T) {
	root := t.TempDir()
	want, spec := writeImage(t, root)
	data, _ := json.Marshal(spec)
	specPath := filepath.Join(t.TempDir(), "spec.json")
	os.WriteFile(specPath, data, 0o644)
	resolved, err := ReadSpec(specPath, root)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resolved.Manifests[0].Manifest, filepath.Join(root, "_main")) {
		t.Errorf("manifest path %s is not under the runfiles root", resolved.Manifests[0].Manifest)
	}
	tg, err := resolved.Taggable(Options{})
	if err != nil {
		t.Fatal(err)
	}
	img := tg.(v1.Image)
	if err := validate.Image(img); err != nil {
		t.Errorf("validate.Image: %v", err)
	}
	got, _ := img.Digest()
	wantDigest, _ := want.Digest()
	if got != wantDigest {
		t.Errorf("digest %s, want %s", got, wantDigest)
	}
}

func TestImageRejectsMismatchedMetadata(t *testing.T) {
	root := t.TempDir()
	_, spec := writeImage(t, root)
	data, _ := json.Marshal(spec)
	specPath := filepath.Join(t.TempDir(), "spec.json")
	os.WriteFile(specPath, data, 0o644)
	resolved, _ := ReadSpec(specPath, root)
	m := resolved.Manifests[0]
	m.Layers[0], m.Layers[1] = m.Layers[1], m.Layers[0]
	if _, err := Image(m, Options{}); err == nil || !strings.Contains(err.Error(), "the manifest has") {
		t.Errorf("swapped layer metadata: %v, want an error", err)
	}
	m.Layers = m.Layers[:1]
	if _, err := Image(m, Options{}); err == nil || !strings.Contains(err.Error(), "has 2 layers, the spec 1") {
		t.Errorf("missing layer: %v, want an error", err)
	}
}

func TestShallowLayerNeedsASource(t *testing.T) {
	root := t.TempDir()
	_, spec := writeImage(t, root)
	r := resolver{root: root, workspace: "_main"}
	m := spec.Manifests[0]
	m.Manifest, m.Config = r.path(m.Manifest), r.path(m.Config)
	for i := range m.Layers {
		m.Layers[i] = LayerFiles{Metadata: r.path(m.Layers[i].Metadata)}
	}
	if _, err := Image(m, Options{}); err == nil || !strings.Contains(err.Error(), "neither a blob nor a registry") {
		t.Errorf("shallow layer without sources: %v", err)
	}
}

func TestRunfilesPaths(t *testing.T) {
	r := resolver{root: "/rf", workspace: "_main"}
	for in, want := range map[string]string{
		"pkg/a.json":          "/rf/_main/pkg/a.json",
		"../other~repo/b.bin": "/rf/other~repo/b.bin",
		"":                    "",
	} {
		if got := r.path(in); got != want {
			t.Errorf("path(%q) = %q, want %q", in, got, want)
		}
	}
}
