package pull

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	unknown = v1.Platform{OS: "unknown", Architecture: "unknown"}
)

// pushIndex writes an index of an amd64 image (2 layers) and an arm64/v8
// image (3 layers), with an annotation on the index and on each entry,
// and with attestation an unknown/unknown entry after them. It returns the
// images by platform and the index.
func pushIndex(t *testing.T, host, repo, tag string, attestation bool) (map[string]v1.Image, v1.ImageIndex) {
	t.Helper()
	images := map[string]v1.Image{}
	idx := mutate.Annotations(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), map[string]string{"org.example.index": "yes"}).(v1.ImageIndex)
	platforms := []v1.Platform{amd64, arm64v8}
	if attestation {
		platforms = append(platforms, unknown)
	}
	for i, p := range platforms {
		img := platformImage(t, p, 2+i)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform:    &p,
			Annotations: map[string]string{"org.example.entry": lock.PlatformString(p)},
		}})
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

// tree lists the files under dir, relative to it, sorted.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			t.Fatal(err)
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func digestOf(t *testing.T, d interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func manifestFor(t *testing.T, img v1.Image, dir string, pl v1.Platform) Manifest {
	t.Helper()
	d, _ := img.Digest()
	mt, _ := img.MediaType()
	return Manifest{Dir: dir, Descriptor: v1.Descriptor{MediaType: mt, Digest: d, Platform: &pl}}
}

// checkPlatformFiles checks what Platforms wrote for img into repo: its
// manifest and config by digest, its layers when eager, and in dir its
// descriptor (with the platform pl) and layer metadata.
func checkPlatformFiles(t *testing.T, repo, dir string, img v1.Image, pl v1.Platform, sources []string, eager bool) {
	t.Helper()
	raw, _ := img.RawManifest()
	rawConfig, _ := img.RawConfigFile()
	m, _ := img.Manifest()
	cfg, _ := img.ConfigFile()
	d, _ := img.Digest()
	mt, _ := img.MediaType()

	if got, _ := os.ReadFile(filepath.Join(repo, generator.BlobFile(d.String()))); !bytes.Equal(got, raw) {
		t.Errorf("%s is not the manifest's bytes", generator.BlobFile(d.String()))
	}
	if got, _ := os.ReadFile(filepath.Join(repo, generator.BlobFile(m.Config.Digest.String()))); !bytes.Equal(got, rawConfig) {
		t.Errorf("the config is not the config's bytes")
	}
	var desc v1.Descriptor
	readJSON(t, filepath.Join(repo, dir, generator.DescriptorFile), &desc)
	wantDesc := v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(raw)), Platform: &pl}
	if !reflect.DeepEqual(desc, wantDesc) {
		t.Errorf("descriptor = %+v (platform %+v)\nwant %+v (platform %+v)", desc, desc.Platform, wantDesc, wantDesc.Platform)
	}
	layers, _ := img.Layers()
	for i, l := range m.Layers {
		meta, err := blob.ReadLayerMetadata(filepath.Join(repo, dir, generator.LayerFile(i)))
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
		got, err := os.ReadFile(filepath.Join(repo, generator.BlobFile(l.Digest.String())))
		if !eager {
			if err == nil {
				t.Errorf("layer %d was downloaded", i)
			}
			continue
		}
		rc, _ := layers[i].Compressed()
		want, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, want) {
			t.Errorf("layer %d: the blob is not the layer's bytes (%v)", i, err)
		}
	}
}

func TestPlatforms(t *testing.T) {
	isolate(t)
	mirror := serve(t, nil) // has nothing
	host := serve(t, nil)
	images, idx := pushIndex(t, host, "library/base", "v1", false)
	c := registry.New(context.Background())
	sources := registry.Sources([]string{mirror, host}, "library/base")
	wantSources := []string{mirror + "/library/base", host + "/library/base"}

	for _, eager := range []bool{false, true} {
		t.Run(fmt.Sprintf("eager=%v", eager), func(t *testing.T) {
			repo := t.TempDir()
			// The descriptor's platform is the index's word, not the config's.
			exact := v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8", OSFeatures: []string{"x"}}
			manifests := []Manifest{
				manifestFor(t, images["linux/amd64"], "linux_amd64", amd64),
				manifestFor(t, images["linux/arm64/v8"], "linux_arm64_v8", exact),
			}
			if err := Platforms(FromRegistries(c, sources, repo), repo, manifests, eager, wantSources); err != nil {
				t.Fatal(err)
			}
			checkPlatformFiles(t, repo, "linux_amd64", images["linux/amd64"], amd64, wantSources, eager)
			checkPlatformFiles(t, repo, "linux_arm64_v8", images["linux/arm64/v8"], exact, wantSources, eager)
			want := 2 * (2 + 1) // manifest and config, descriptor
			want += 2 + 3       // layer metadata
			if eager {
				want += 2 + 3
			}
			if got := tree(t, repo); len(got) != want {
				t.Errorf("%d files, want %d: %v", len(got), want, got)
			}
		})
	}

	t.Run("index digest", func(t *testing.T) {
		repo := t.TempDir()
		m := Manifest{Dir: ".", Descriptor: v1.Descriptor{Digest: mustDigest(t, idx), Platform: &amd64}}
		err := Platforms(FromRegistries(c, sources, repo), repo, []Manifest{m}, false, wantSources)
		if err == nil || !strings.Contains(err.Error(), "is not an image manifest") {
			t.Errorf("index digest: %v", err)
		}
		for _, f := range tree(t, repo) {
			if !strings.HasPrefix(f, "blobs/") {
				t.Errorf("written: %s", f)
			}
		}
	})

	t.Run("absent digest", func(t *testing.T) {
		repo := t.TempDir()
		m := Manifest{Dir: ".", Descriptor: v1.Descriptor{Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}, Platform: &amd64}}
		if err := Platforms(FromRegistries(c, sources, repo), repo, []Manifest{m}, false, wantSources); err == nil {
			t.Fatal("no error")
		}
		if got := tree(t, repo); len(got) != 0 {
			t.Errorf("files written: %v", got)
		}
	})
}

func mustDigest(t *testing.T, d interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
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

// tamperBlobs changes blobs: configs (JSON) and layers.
func tamperBlobs(next http.Handler) http.Handler {
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
		if len(body) > 0 {
			body[len(body)-1] ^= 1
		}
		w.Write(body)
	})
}

func TestPlatformsTampered(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(http.Handler) http.Handler
	}{
		{"manifest", tamperManifests},
		{"config", tamperBlobs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			host := serve(t, tc.wrap)
			images, _ := pushIndex(t, host, "library/base", "v1", false)
			c := registry.New(context.Background())
			repo := t.TempDir()
			m := manifestFor(t, images["linux/amd64"], ".", amd64)
			err := Platforms(FromRegistries(c, registry.Sources([]string{host}, "library/base"), repo), repo, []Manifest{m}, false, nil)
			if err == nil {
				t.Fatal("a registry that changes the bytes: no error")
			}
			if tc.name == "manifest" && !strings.Contains(err.Error(), m.Descriptor.Digest.String()) {
				t.Errorf("error %q does not name the digest", err)
			}
			for _, f := range tree(t, repo) {
				if !strings.HasPrefix(f, "blobs/") || strings.HasSuffix(f, ".tmp") {
					t.Errorf("written: %s", f)
				}
			}
		})
	}
}

func TestIndex(t *testing.T) {
	isolate(t)
	host := serve(t, nil)
	images, idx := pushIndex(t, host, "library/base", "v1", true)
	c := registry.New(context.Background())
	sources := registry.Sources([]string{host}, "library/base")
	rawIndex, _ := idx.RawManifest()
	amd, arm, att := digestOf(t, images["linux/amd64"]), digestOf(t, images["linux/arm64/v8"]), digestOf(t, images["unknown/unknown"])

	t.Run("whole", func(t *testing.T) {
		repo := t.TempDir()
		if err := Index(FromRegistries(c, sources, repo), repo, digestOf(t, idx), []string{amd, arm, att}); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(filepath.Join(repo, generator.IndexFile)); !bytes.Equal(got, rawIndex) {
			t.Errorf("index.json is not the source index's bytes")
		}
		var desc v1.Descriptor
		readJSON(t, filepath.Join(repo, generator.DescriptorFile), &desc)
		if desc.Digest.String() != digestOf(t, idx) || desc.Size != int64(len(rawIndex)) || desc.MediaType != types.OCIImageIndex {
			t.Errorf("descriptor %+v", desc)
		}
	})

	t.Run("some left out", func(t *testing.T) {
		repo := t.TempDir()
		// The order of the argument does not matter: the index's does.
		if err := Index(FromRegistries(c, sources, repo), repo, digestOf(t, idx), []string{arm, amd}); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(repo, generator.IndexFile))
		if err != nil {
			t.Fatal(err)
		}
		var got, source v1.IndexManifest
		json.Unmarshal(data, &got)
		json.Unmarshal(rawIndex, &source)
		want := source
		want.Manifests = source.Manifests[:2]
		if !reflect.DeepEqual(got, want) {
			t.Errorf("index.json = %s\nwant the source's first two entries, annotations kept", data)
		}
		var desc v1.Descriptor
		readJSON(t, filepath.Join(repo, generator.DescriptorFile), &desc)
		h, size, _ := v1.SHA256(bytes.NewReader(data))
		if desc.Digest != h || desc.Size != size || desc.MediaType != types.OCIImageIndex {
			t.Errorf("descriptor %+v does not describe index.json", desc)
		}
	})

	t.Run("a manifest it does not list", func(t *testing.T) {
		repo := t.TempDir()
		err := Index(FromRegistries(c, sources, repo), repo, digestOf(t, idx), []string{amd, "sha256:" + strings.Repeat("0", 64)})
		if err == nil || !strings.Contains(err.Error(), "does not list the manifest sha256:000") {
			t.Errorf("error %v", err)
		}
	})
}

// checkRepoBUILD parses the BUILD file and checks that every file it names
// exists and every label names a target of the file.
func checkRepoBUILD(t *testing.T, repo string) *build.File {
	t.Helper()
	content, err := os.ReadFile(filepath.Join(repo, "BUILD.bazel"))
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
	targets := map[string]bool{}
	for _, r := range f.Rules("") {
		targets[":"+r.Name()] = true
	}
	for _, r := range f.Rules("") {
		var names []string
		for _, attr := range []string{"manifest", "config", "descriptor", "index", "actual"} {
			if v := r.AttrString(attr); v != "" {
				names = append(names, v)
			}
		}
		for _, attr := range []string{"layers", "blobs", "manifests"} {
			names = append(names, r.AttrStrings(attr)...)
		}
		for _, n := range names {
			if strings.HasPrefix(n, ":") {
				if !targets[n] {
					t.Errorf("%s names %s, which is not a target", r.Name(), n)
				}
			} else if _, err := os.Stat(filepath.Join(repo, n)); err != nil {
				t.Errorf("%s names %s: %v", r.Name(), n, err)
			}
		}
	}
	return f
}

func TestRepo(t *testing.T) {
	isolate(t)
	host := serve(t, nil)
	images, idx := pushIndex(t, host, "library/base", "v1", false)
	c := registry.New(context.Background())
	sources := []string{host + "/library/base"}
	pull := lock.Pull{Name: "base", Registries: []string{host}, Repository: "library/base", Tag: "v1", Digest: digestOf(t, idx), LayerHandling: lock.Lazy}
	rawIndex, _ := idx.RawManifest()

	t.Run("every platform", func(t *testing.T) {
		repo := t.TempDir()
		if err := Repo(FromRegistries(c, registry.Sources(pull.Registries, pull.Repository), repo), pull, repo); err != nil {
			t.Fatal(err)
		}
		checkPlatformFiles(t, repo, "linux_amd64", images["linux/amd64"], amd64, sources, false)
		checkPlatformFiles(t, repo, "linux_arm64_v8", images["linux/arm64/v8"], arm64v8, sources, false)
		if got, _ := os.ReadFile(filepath.Join(repo, generator.IndexFile)); !bytes.Equal(got, rawIndex) {
			t.Errorf("every manifest was pulled, but index.json is not the source's bytes")
		}
		f := checkRepoBUILD(t, repo)
		if got := len(f.Rules("remote_blob")); got != 5 {
			t.Errorf("%d remote_blob targets, want 5 (2 + 3 layers)", got)
		}
		for _, r := range f.Rules("remote_blob") {
			if got := r.AttrStrings("sources"); !reflect.DeepEqual(got, sources) {
				t.Errorf("%s sources %v", r.Name(), got)
			}
		}
		index := f.Rules("pulled_index")
		if len(index) != 1 || !reflect.DeepEqual(index[0].AttrStrings("manifests"), []string{":linux_amd64", ":linux_arm64_v8"}) {
			t.Errorf("pulled_index %v", index)
		}
	})

	t.Run("one platform, eager", func(t *testing.T) {
		repo := t.TempDir()
		p := pull
		p.Platforms = []string{"linux/arm64"}
		p.LayerHandling = lock.Eager
		if err := Repo(FromRegistries(c, registry.Sources(p.Registries, p.Repository), repo), p, repo); err != nil {
			t.Fatal(err)
		}
		checkPlatformFiles(t, repo, "linux_arm64", images["linux/arm64/v8"], arm64v8, sources, true)
		var index v1.IndexManifest
		readJSON(t, filepath.Join(repo, generator.IndexFile), &index)
		if len(index.Manifests) != 1 || index.Manifests[0].Digest.String() != digestOf(t, images["linux/arm64/v8"]) {
			t.Errorf("index.json lists %+v", index.Manifests)
		}
		f := checkRepoBUILD(t, repo)
		if len(f.Rules("remote_blob")) != 0 {
			t.Errorf("an eager pull has remote_blob targets")
		}
	})

	t.Run("single manifest, shallow", func(t *testing.T) {
		img := images["linux/amd64"]
		ref, _ := name.NewTag(host + "/tools/single:v1")
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		repo := t.TempDir()
		p := lock.Pull{Name: "single", Registries: []string{host}, Repository: "tools/single", Digest: digestOf(t, img), LayerHandling: lock.Shallow}
		if err := Repo(FromRegistries(c, registry.Sources(p.Registries, p.Repository), repo), p, repo); err != nil {
			t.Fatal(err)
		}
		checkPlatformFiles(t, repo, "linux_amd64", img, amd64, []string{host + "/tools/single"}, false)
		if _, err := os.Stat(filepath.Join(repo, generator.IndexFile)); err == nil {
			t.Errorf("a single manifest has an index.json")
		}
		f := checkRepoBUILD(t, repo)
		if len(f.Rules("pulled_index")) != 0 || len(f.Rules("remote_blob")) != 0 {
			t.Errorf("BUILD:\n%s", build.Format(f))
		}
	})

	t.Run("a platform the image lacks", func(t *testing.T) {
		repo := t.TempDir()
		p := pull
		p.Platforms = []string{"linux/s390x"}
		err := Repo(FromRegistries(c, registry.Sources(p.Registries, p.Repository), repo), p, repo)
		if err == nil || !strings.Contains(err.Error(), "no platform linux/s390x") {
			t.Errorf("error %v", err)
		}
		if _, err := os.Stat(filepath.Join(repo, "BUILD.bazel")); err == nil {
			t.Errorf("BUILD.bazel written")
		}
	})
}

// bazelDownloader plays the repository rule with downloader = "bazel": it
// runs fill until nothing is missing, downloading what it names from the
// registry, and returns the number of runs.
func bazelDownloader(t *testing.T, c *registry.Client, sources []registry.Source, repo string, fill func(Fetcher) error) int {
	t.Helper()
	for round := 1; round <= 6; round++ {
		err := fill(Downloaded(repo))
		var missing *MissingError
		if !errors.As(err, &missing) {
			if err != nil {
				t.Fatal(err)
			}
			return round
		}
		for _, n := range missing.Needs {
			if n.Path != generator.BlobFile(n.Digest) {
				t.Errorf("need %+v: path", n)
			}
			if err := FromRegistries(c, sources, repo).Fetch(n.Kind, []lock.Descriptor{{Digest: n.Digest, Size: n.Size}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Fatal("still missing files after 6 runs")
	return 0
}

// With Bazel's downloader the repository is the same, file for file, as
// with the img tool's.
func TestDownloadedIsTheSame(t *testing.T) {
	isolate(t)
	host := serve(t, nil)
	_, idx := pushIndex(t, host, "library/base", "v1", true)
	c := registry.New(context.Background())
	p := lock.Pull{Name: "base", Registries: []string{host}, Repository: "library/base", Tag: "v1", Digest: digestOf(t, idx), LayerHandling: lock.Eager}
	sources := registry.Sources(p.Registries, p.Repository)

	direct := t.TempDir()
	if err := Repo(FromRegistries(c, sources, direct), p, direct); err != nil {
		t.Fatal(err)
	}
	viaBazel := t.TempDir()
	runs := bazelDownloader(t, c, sources, viaBazel, func(f Fetcher) error { return Repo(f, p, viaBazel) })
	// The index, its manifests, their configs, the layers, then the files.
	if runs != 5 {
		t.Errorf("%d runs, want 5", runs)
	}
	want, got := tree(t, direct), tree(t, viaBazel)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("files %v\nwant %v", got, want)
	}
	for _, f := range want {
		a, _ := os.ReadFile(filepath.Join(direct, f))
		b, _ := os.ReadFile(filepath.Join(viaBazel, f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs", f)
		}
	}
}

// The fetches that the images extension plans.
func TestFetch(t *testing.T) {
	isolate(t)
	host := serve(t, nil)
	images, idx := pushIndex(t, host, "library/base", "v1", true)
	c := registry.New(context.Background())
	sources := registry.Sources([]string{host}, "library/base")
	amd := images["linux/amd64"]
	mt, _ := amd.MediaType()
	pl := lock.FromV1Platform(amd64)

	for _, downloader := range []string{lock.ImgTool, lock.Bazel} {
		t.Run(downloader, func(t *testing.T) {
			manifest := generator.Fetch{
				Kind: generator.FetchManifest, Registries: []string{host}, Repository: "library/base", Downloader: downloader,
				Digest: digestOf(t, amd), MediaType: string(mt), Platform: &pl, Layers: true,
			}
			index := generator.Fetch{
				Kind: generator.FetchIndex, Registries: []string{host}, Repository: "library/base", Downloader: downloader,
				Digest: digestOf(t, idx), Manifests: []string{digestOf(t, amd)},
			}
			for _, spec := range []generator.Fetch{manifest, index} {
				repo := t.TempDir()
				fill := func(f Fetcher) error { return Fetch(f, repo, spec) }
				if downloader == lock.ImgTool {
					if err := fill(FromRegistries(c, sources, repo)); err != nil {
						t.Fatal(err)
					}
				} else {
					bazelDownloader(t, c, sources, repo, fill)
				}
				if spec.Kind == generator.FetchManifest {
					checkPlatformFiles(t, repo, ".", amd, amd64, []string{host + "/library/base"}, true)
					continue
				}
				var got v1.IndexManifest
				readJSON(t, filepath.Join(repo, generator.IndexFile), &got)
				if len(got.Manifests) != 1 || got.Manifests[0].Digest.String() != digestOf(t, amd) {
					t.Errorf("index.json lists %+v", got.Manifests)
				}
			}
		})
	}
	if err := Fetch(FromRegistries(c, sources, t.TempDir()), t.TempDir(), generator.Fetch{Kind: "other"}); err == nil {
		t.Error("unknown kind: no error")
	}
}

// Bazel's downloader checks only a file's digest: the img tool reads no
// more of it than its descriptor declares.
func TestReadVerifiedBounded(t *testing.T) {
	repo := t.TempDir()
	data := []byte(`{"schemaVersion":2}`)
	sum := sha256.Sum256(data)
	d := "sha256:" + hex.EncodeToString(sum[:])
	path := filepath.Join(repo, generator.BlobFile(d))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := readVerified(repo, d, int64(len(data))); err != nil || !bytes.Equal(got, data) {
		t.Errorf("declared size: %q, %v", got, err)
	}
	_, err := readVerified(repo, d, int64(len(data))-1)
	if err == nil || !strings.Contains(err.Error(), "more than the 18 bytes") || !strings.Contains(err.Error(), d) {
		t.Errorf("more than declared: %v", err)
	}
	if _, err := (dirReader(repo)).Manifest(d, 5); err == nil {
		t.Errorf("dirReader read past the declared size")
	}
}
