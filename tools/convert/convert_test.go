package convert

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rules-img/rules_img/tools/blob"
)

// platformImage is a random image of two layers whose config names p.
func platformImage(t *testing.T, p v1.Platform) v1.Image {
	t.Helper()
	img, err := random.Image(64, 2)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return mutate.MediaType(img, types.OCIManifestSchema1)
}

func gzipTypes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = ocispec.MediaTypeImageLayerGzip
	}
	return out
}

func outputs(dir string, layers int) Outputs {
	out := Outputs{
		Manifest:   filepath.Join(dir, "manifest.json"),
		Config:     filepath.Join(dir, "config.json"),
		Descriptor: filepath.Join(dir, "descriptor.json"),
		Digest:     filepath.Join(dir, "digest"),
	}
	for i := range layers {
		out.LayerBlobs = append(out.LayerBlobs, filepath.Join(dir, "layer"+string(rune('0'+i))))
		out.LayerMetadata = append(out.LayerMetadata, filepath.Join(dir, "layer"+string(rune('0'+i))+".json"))
	}
	return out
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestSingleImageKeepsItsDigest(t *testing.T) {
	dir := t.TempDir()
	img := platformImage(t, v1.Platform{OS: "linux", Architecture: "amd64"})
	// As rules_oci and crane write it: index.json lists the manifest, without a platform.
	if _, err := layout.Write(dir, empty.Index); err != nil {
		t.Fatal(err)
	}
	p, _ := layout.FromPath(dir)
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	l, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.Read()
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Select("linux", "amd64", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := got.CheckLayers(gzipTypes(2)); err != nil {
		t.Fatal(err)
	}
	for _, link := range []bool{false, true} {
		outDir := t.TempDir()
		out := outputs(outDir, 2)
		if err := l.Write(got, out, link); err != nil {
			t.Fatal(err)
		}
		want, _ := img.Digest()
		if d := sha256File(t, out.Manifest); d != want.String() {
			t.Errorf("manifest digest %s, want the layout's %s", d, want)
		}
		digest, _ := os.ReadFile(out.Digest)
		if string(digest) != want.String() {
			t.Errorf("digest file %q, want %s", digest, want)
		}
		var desc ocispec.Descriptor
		data, _ := os.ReadFile(out.Descriptor)
		if err := json.Unmarshal(data, &desc); err != nil {
			t.Fatal(err)
		}
		if desc.Platform == nil || desc.Platform.OS != "linux" || desc.Platform.Architecture != "amd64" {
			t.Errorf("descriptor platform %+v, want linux/amd64 from the config", desc.Platform)
		}
		layers, _ := img.Layers()
		for i, layer := range layers {
			d, _ := layer.Digest()
			if got := sha256File(t, out.LayerBlobs[i]); got != d.String() {
				t.Errorf("layer %d blob has digest %s, want %s", i, got, d)
			}
			meta, err := blob.ReadLayerMetadata(out.LayerMetadata[i])
			if err != nil {
				t.Fatal(err)
			}
			diffID, _ := layer.DiffID()
			if meta.Digest != d.String() || meta.DiffID != diffID.String() {
				t.Errorf("layer %d metadata %+v, want digest %s diff_id %s", i, meta, d, diffID)
			}
		}
	}
}

func nestedIndexLayout(t *testing.T) (string, v1.ImageIndex) {
	t.Helper()
	amd := platformImage(t, v1.Platform{OS: "linux", Architecture: "amd64"})
	arm := platformImage(t, v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	dir := t.TempDir()
	if _, err := layout.Write(dir, empty.Index); err != nil {
		t.Fatal(err)
	}
	p, _ := layout.FromPath(dir)
	if err := p.AppendIndex(idx); err != nil {
		t.Fatal(err)
	}
	return dir, idx
}

func TestIndexKeepsTheLayoutsBytes(t *testing.T) {
	dir, idx := nestedIndexLayout(t)
	l, _ := Open(dir)
	c, err := l.Read()
	if err != nil {
		t.Fatal(err)
	}
	amd, err := c.Select("linux", "amd64", "")
	if err != nil {
		t.Fatal(err)
	}
	arm, err := c.Select("linux", "arm64", "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Index([]Image{amd, arm})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	raw, _ := idx.RawManifest()
	if res.Descriptor.Digest.String() != want.String() || !bytes.Equal(res.Index, raw) {
		t.Errorf("index %s, want the layout's own %s", res.Descriptor.Digest, want)
	}
	// Another order is another index.
	res, err = c.Index([]Image{arm, amd})
	if err != nil {
		t.Fatal(err)
	}
	if res.Descriptor.Digest.String() == want.String() {
		t.Error("the index in another order has the layout's digest")
	}
	var written ocispec.Index
	if err := json.Unmarshal(res.Index, &written); err != nil {
		t.Fatal(err)
	}
	if len(written.Manifests) != 2 || written.Manifests[0].Digest != arm.Descriptor.Digest || written.Manifests[0].Platform.Variant != "v8" {
		t.Errorf("new index lists %+v, want arm64/v8 then amd64", written.Manifests)
	}
}

func TestErrorsSayWhatToDo(t *testing.T) {
	dir, _ := nestedIndexLayout(t)
	l, _ := Open(dir)
	c, _ := l.Read()
	if _, err := c.Select("linux", "s390x", ""); err == nil || !strings.Contains(err.Error(), "no image for linux/s390x: it has linux/amd64, linux/arm64/v8") {
		t.Errorf("Select of a missing platform: %v", err)
	}
	amd, _ := c.Select("linux", "amd64", "")
	err := amd.CheckLayers(gzipTypes(1))
	if err == nil || !strings.Contains(err.Error(), "set layers = [GZIP_LAYER, GZIP_LAYER]") {
		t.Errorf("CheckLayers with one layer declared: %v", err)
	}
	if _, err := Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no oci-layout file") {
		t.Errorf("Open of an empty directory: %v", err)
	}
}

func TestTamperedBlobRefused(t *testing.T) {
	dir, _ := nestedIndexLayout(t)
	l, _ := Open(dir)
	c, _ := l.Read()
	amd, _ := c.Select("linux", "amd64", "")
	path, _ := l.blobPath(amd.Layers[0].Digest)
	data, _ := os.ReadFile(path)
	data[len(data)-1] ^= 1
	os.Chmod(path, 0o644)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := outputs(t.TempDir(), 2)
	if err := l.Write(amd, out, false); err == nil || !strings.Contains(err.Error(), "of digest") {
		t.Errorf("Write of a tampered layer: %v", err)
	}
	if _, err := os.Stat(out.LayerBlobs[0]); err == nil {
		t.Error("a tampered layer was written")
	}
	// A tampered manifest is found when the layout is read.
	mpath, _ := l.blobPath(amd.Descriptor.Digest)
	m, _ := os.ReadFile(mpath)
	m[len(m)-1] = ' '
	os.Chmod(mpath, 0o644)
	if err := os.WriteFile(mpath, m, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(); err == nil || !strings.Contains(err.Error(), "manifest "+amd.Descriptor.Digest.String()+": "+mpath+" has digest") {
		t.Errorf("Read with a tampered manifest: %v", err)
	}
}
