package pull

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/bazelbuild/buildtools/build"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/rules-img/rules_img/generator"
	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/lock"
	"github.com/rules-img/rules_img/tools/registry"
)

func isolate(t *testing.T) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("DOCKER_CONFIG", home)
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("XDG_RUNTIME_DIR", home)
	t.Setenv("REGISTRY_AUTH_FILE", "")
	t.Setenv("IMG_CREDENTIAL_HELPER", "")
}

func serve(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler = ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func platformImage(t *testing.T, p v1.Platform, layers int) v1.Image {
	t.Helper()
	img, err := random.Image(512, int64(layers))
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
	return img
}

var (
	amd64   = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64v8 = v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
)

// pushIndex writes an index of an amd64 image (2 layers) and an arm64/v8
// image (3 layers) and returns the images by platform and the index.
func pushIndex(t *testing.T, host, repo, tag string) (map[string]v1.Image, v1.ImageIndex) {
	t.Helper()
	images := map[string]v1.Image{}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for i, p := range []v1.Platform{amd64, arm64v8} {
		img := platformImage(t, p, 2+i)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
		images[lock.PlatformString(p)] = img
	}
	ref, err := name.NewTag(host + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	return images, idx
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// checkPlatformDir checks the files that Platform wrote for img.
func checkPlatformDir(t *testing.T, dir string, img v1.Image, platform v1.Platform, sources []string) {
	t.Helper()
	raw, _ := img.RawManifest()
	rawConfig, _ := img.RawConfigFile()
	m, _ := img.Manifest()
	cfg, _ := img.ConfigFile()
	d, _ := img.Digest()
	mt, _ := img.MediaType()

	want := []string{generator.ConfigFile, generator.DescriptorFile, generator.ManifestFile}
	for i := range m.Layers {
		want = append(want, generator.LayerFile(i))
	}
	sort.Strings(want)
	if got := listDir(t, dir); !reflect.DeepEqual(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, generator.ManifestFile)); !bytes.Equal(got, raw) {
		t.Errorf("manifest.json is not the manifest's bytes")
	}
	if got, _ := os.ReadFile(filepath.Join(dir, generator.ConfigFile)); !bytes.Equal(got, rawConfig) {
		t.Errorf("config.json is not the config's bytes")
	}
	var desc v1.Descriptor
	readJSON(t, filepath.Join(dir, generator.DescriptorFile), &desc)
	wantDesc := v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(raw)), Platform: &platform}
	if !reflect.DeepEqual(desc, wantDesc) {
		t.Errorf("descriptor.json = %+v (platform %+v)\nwant %+v (platform %+v)", desc, desc.Platform, wantDesc, wantDesc.Platform)
	}
	for i, l := range m.Layers {
		meta, err := blob.ReadLayerMetadata(filepath.Join(dir, generator.LayerFile(i)))
		if err != nil {
			t.Fatal(err)
		}
		wantMeta := blob.LayerMetadata{
			MediaType: string(l.MediaType),
			Digest:    l.Digest.String(),
			Size:      l.Size,
			DiffID:    cfg.RootFS.DiffIDs[i].String(),
			Sources:   sources,
		}
		if !reflect.DeepEqual(meta, wantMeta) {
			t.Errorf("layer %d = %+v\nwant %+v", i, meta, wantMeta)
		}
	}
}

func TestPlatform(t *testing.T) {
	isolate(t)
	mirror := serve(t, nil) // has nothing
	host := serve(t, nil)
	images, idx := pushIndex(t, host, "library/base", "v1")
	c := registry.New(context.Background())
	sources := registry.Sources([]string{mirror, host}, "library/base")
	wantSources := []string{mirror + "/library/base", host + "/library/base"}

	for _, p := range []v1.Platform{amd64, arm64v8} {
		name := lock.PlatformString(p)
		t.Run(name, func(t *testing.T) {
			img := images[name]
			d, _ := img.Digest()
			dir := filepath.Join(t.TempDir(), "out")
			if err := Platform(c, sources, d.String(), name, dir); err != nil {
				t.Fatal(err)
			}
			checkPlatformDir(t, dir, img, p, wantSources)
		})
	}

	t.Run("index digest", func(t *testing.T) {
		d, _ := idx.Digest()
		dir := filepath.Join(t.TempDir(), "out")
		err := Platform(c, sources, d.String(), "linux/amd64", dir)
		if err == nil || !strings.Contains(err.Error(), "is not an image manifest") {
			t.Errorf("index digest: %v", err)
		}
		if got := listDir(t, dir); len(got) != 0 {
			t.Errorf("files written: %v", got)
		}
	})

	t.Run("absent digest", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "out")
		err := Platform(c, sources, "sha256:"+strings.Repeat("0", 64), "linux/amd64", dir)
		if err == nil {
			t.Fatal("no error")
		}
		if got := listDir(t, dir); len(got) != 0 {
			t.Errorf("files written: %v", got)
		}
	})
}

// tamperManifests serves a changed body for manifests requested by digest,
// with the headers of the real one.
func tamperManifests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "/manifests/sha256:") || r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		body := rec.Body.Bytes()
		if rec.Code == http.StatusOK {
			body = append(body, '\n')
		}
		w.Write(body)
	})
}

// tamperConfigs changes config blobs only (blobs that are JSON).
func tamperConfigs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "/blobs/sha256:") || r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		body := rec.Body.Bytes()
		if bytes.HasPrefix(body, []byte("{")) {
			body = bytes.Replace(body, []byte(`"amd64"`), []byte(`"arm64"`), 1)
		}
		w.Write(body)
	})
}

func TestPlatformTampered(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(http.Handler) http.Handler
	}{
		{"manifest", tamperManifests},
		{"config", tamperConfigs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			host := serve(t, tc.wrap)
			images, _ := pushIndex(t, host, "library/base", "v1")
			d, _ := images["linux/amd64"].Digest()
			c := registry.New(context.Background())
			parent := t.TempDir()
			dir := filepath.Join(parent, "out")
			err := Platform(c, registry.Sources([]string{host}, "library/base"), d.String(), "linux/amd64", dir)
			if err == nil {
				t.Fatal("a registry that changes the bytes: no error")
			}
			t.Logf("error: %v", err)
			if tc.name == "manifest" && !strings.Contains(err.Error(), d.String()) {
				t.Errorf("error %q does not name the digest", err)
			}
			if got := listDir(t, dir); len(got) != 0 {
				t.Errorf("files written: %v", got)
			}
			if got := listDir(t, parent); len(got) != 0 {
				t.Errorf("left in the parent folder: %v", got)
			}
		})
	}
}

func TestRepo(t *testing.T) {
	isolate(t)
	host := serve(t, nil)
	images, _ := pushIndex(t, host, "library/base", "v1")
	c := registry.New(context.Background())
	p := lock.Pull{Name: "base", Registries: []string{host}, Repository: "library/base", Tag: "v1"}
	dir := t.TempDir()
	if err := Repo(c, p, dir); err != nil {
		t.Fatal(err)
	}
	if got, want := listDir(t, dir), []string{"BUILD.bazel", "linux_amd64", "linux_arm64_v8"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("repo has %v, want %v", got, want)
	}
	sources := []string{host + "/library/base"}
	checkPlatformDir(t, filepath.Join(dir, "linux_amd64"), images["linux/amd64"], amd64, sources)
	checkPlatformDir(t, filepath.Join(dir, "linux_arm64_v8"), images["linux/arm64/v8"], arm64v8, sources)

	content, err := os.ReadFile(filepath.Join(dir, "BUILD.bazel"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := build.ParseBuild("BUILD.bazel", content)
	if err != nil {
		t.Fatalf("BUILD.bazel does not parse: %v\n%s", err, content)
	}
	if formatted := build.Format(f); !bytes.Equal(formatted, content) {
		t.Errorf("BUILD.bazel is not formatted:\n%s", content)
	}
	// Every file that the BUILD file names exists, and every layer blob
	// has a remote_blob target.
	targets := map[string]bool{}
	for _, r := range f.Rules("") {
		targets[":"+r.Name()] = true
	}
	pulled := f.Rules("pulled_image")
	if len(pulled) != 2 {
		t.Fatalf("%d pulled_image targets", len(pulled))
	}
	for _, r := range pulled {
		var files []string
		for _, attr := range []string{"manifest", "config", "descriptor"} {
			files = append(files, r.AttrString(attr))
		}
		files = append(files, r.AttrStrings("layers")...)
		for _, file := range files {
			if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
				t.Errorf("%s names %s: %v", r.Name(), file, err)
			}
		}
		blobs := r.AttrStrings("blobs")
		if len(blobs) != len(r.AttrStrings("layers")) {
			t.Errorf("%s: %d blobs for %d layers", r.Name(), len(blobs), len(r.AttrStrings("layers")))
		}
		for _, b := range blobs {
			if !targets[b] {
				t.Errorf("%s names blob %s, which is not a target", r.Name(), b)
			}
		}
	}
	if got := len(f.Rules("remote_blob")); got != 5 {
		t.Errorf("%d remote_blob targets, want 5 (2 + 3 layers)", got)
	}
	for _, r := range f.Rules("remote_blob") {
		if got := r.AttrStrings("sources"); !reflect.DeepEqual(got, sources) {
			t.Errorf("%s sources %v", r.Name(), got)
		}
	}
	for _, want := range []string{":base", ":is_linux_amd64", ":linux_amd64", ":linux_arm64_v8"} {
		if !targets[want] {
			t.Errorf("no target %s", want)
		}
	}

	// A pull that cannot resolve writes nothing.
	empty := t.TempDir()
	bad := p
	bad.Tag = "v2"
	if err := Repo(c, bad, empty); err == nil {
		t.Error("missing tag: no error")
	}
	if got := listDir(t, empty); len(got) != 0 {
		t.Errorf("files written: %v", got)
	}
}
