package push

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/cas"
	"github.com/rules-img/rules_img/tools/cas/castest"
	"github.com/rules-img/rules_img/tools/deploy"
)

// lazySpec writes an image's metadata as a lazy push target's runfiles hold
// it (no blob files), puts its layer blobs in cache, and returns its spec.
func lazySpec(t *testing.T, img v1.Image, cache *castest.Cache) deploy.Spec {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	raw, _ := img.RawManifest()
	cfg, _ := img.RawConfigFile()
	files := deploy.ManifestFiles{Manifest: write("m.json", raw), Config: write("c.json", cfg), Descriptor: write("d.json", []byte("{}"))}
	layers, _ := img.Layers()
	for i, l := range layers {
		d, _ := l.Digest()
		diff, _ := l.DiffID()
		size, _ := l.Size()
		mt, _ := l.MediaType()
		rc, _ := l.Compressed()
		data, _ := io.ReadAll(rc)
		cache.Add(data)
		meta, _ := json.Marshal(blob.LayerMetadata{MediaType: string(mt), Digest: d.String(), Size: size, DiffID: diff.String()})
		files.Layers = append(files.Layers, deploy.LayerFiles{
			Metadata: write(fmt.Sprintf("l%d.json", i), meta),
			// The blob path is in the spec, but the file is not there.
			Blob: filepath.Join(dir, fmt.Sprintf("absent%d.tar.gz", i)),
		})
	}
	return deploy.Spec{Manifests: []deploy.ManifestFiles{files}}
}

func tagsOf(t *testing.T, repo string) []string {
	t.Helper()
	r, _ := name.NewRepository(repo)
	tags, err := remote.List(r)
	if err != nil && !strings.Contains(err.Error(), "NAME_UNKNOWN") {
		t.Fatal(err)
	}
	return tags
}

func TestLazyPushStreamsOnlyWhatTheRegistryLacks(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	host := newRegistry(t)
	cache := castest.New()
	img, _ := random.Image(4096, 3)
	spec := lazySpec(t, img, cache)
	store, err := cas.Dial(context.Background(), cas.Config{URL: cache.ServeGRPC(t)})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := New(context.Background(), nil, nil)
	ref, err := p.Run(Job{Label: "//app:push", Spec: spec, Target: Target{Registry: host, Repository: "app", Tags: []string{"v1"}}, Cache: store})
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(pulled); err != nil {
		t.Errorf("pushed image does not validate: %v", err)
	}
	if cache.Reads != 3 || p.Stats.FromCache != 3 {
		t.Errorf("read %d blobs from the cache (stats: %s), want 3", cache.Reads, p.Stats.String())
	}

	// Pushed again, elsewhere in the registry: every blob is there or is
	// mounted, and the cache is not even dialled (its address is dead).
	p2, _ := New(context.Background(), nil, nil)
	p2.Mounts = p.Mounts
	dead := cas.Lazy(context.Background(), cas.Config{URL: "grpc://" + deadAddress(t)})
	for _, repo := range []string{"app", "other"} {
		if _, err := p2.Run(Job{Label: "//app:push", Spec: spec, Target: Target{Registry: host, Repository: repo}, Cache: dead}); err != nil {
			t.Fatalf("push to %s with every blob in the registry: %v", repo, err)
		}
	}
	if p2.Stats.Uploaded != 0 {
		t.Errorf("second pushes uploaded %d blobs", p2.Stats.Uploaded)
	}
}

func TestLazyPushMissingBlobWritesNothing(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	host := newRegistry(t)
	cache := castest.New()
	img, _ := random.Image(2048, 2)
	spec := lazySpec(t, img, cache)
	layers, _ := img.Layers()
	gone, _ := layers[1].Digest()
	cache.Delete(gone.Hex)
	p, _ := New(context.Background(), nil, nil)
	_, err := p.Run(Job{Label: "//app:push", Spec: spec, Target: Target{Registry: host, Repository: "app", Tags: []string{"v1"}},
		Cache: cas.Lazy(context.Background(), cas.Config{URL: cache.ServeHTTP(t)})})
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), gone.String()) || !strings.Contains(err.Error(), "//app:push") {
		t.Fatalf("err = %v, want one naming %s and //app:push", err, gone)
	}
	if tags := tagsOf(t, host+"/app"); len(tags) != 0 {
		t.Errorf("tags written: %v", tags)
	}
	if p.Stats.Uploaded != 0 {
		t.Errorf("uploaded %d blobs before failing", p.Stats.Uploaded)
	}
}

func TestLazyPushCorruptBlobFails(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	host := newRegistry(t)
	cache := castest.New()
	img, _ := random.Image(2048, 1)
	spec := lazySpec(t, img, cache)
	layers, _ := img.Layers()
	bad, _ := layers[0].Digest()
	cache.Corrupt = bad.Hex
	p, _ := New(context.Background(), nil, nil)
	_, err := p.Run(Job{Label: "//app:push", Spec: spec, Target: Target{Registry: host, Repository: "app", Tags: []string{"v1"}},
		Cache: cas.Lazy(context.Background(), cas.Config{URL: cache.ServeGRPC(t)})})
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("err = %v, want a digest mismatch", err)
	}
	if tags := tagsOf(t, host+"/app"); len(tags) != 0 {
		t.Errorf("tags written: %v", tags)
	}
}

func TestRegistryDown(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	cache := castest.New()
	img, _ := random.Image(1024, 1)
	spec := lazySpec(t, img, cache)
	p, _ := New(context.Background(), nil, nil)
	host := deadAddress(t)
	_, err := p.Run(Job{Label: "//app:push", Spec: spec, Target: Target{Registry: host, Repository: "app"},
		Cache: cas.Lazy(context.Background(), cas.Config{URL: cache.ServeHTTP(t)})})
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), "not reachable") || !strings.Contains(err.Error(), host) {
		t.Fatalf("err = %v, want 'registry %s is not reachable'", err, host)
	}
}

func TestCacheDown(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	host := newRegistry(t)
	img, _ := random.Image(1024, 1)
	spec := lazySpec(t, img, castest.New())
	for _, scheme := range []string{"grpc", "http"} {
		p, _ := New(context.Background(), nil, nil)
		url := scheme + "://" + deadAddress(t)
		_, err := p.Run(Job{Label: "//app:push", Spec: spec, Target: Target{Registry: host, Repository: "app"},
			Cache: cas.Lazy(context.Background(), cas.Config{URL: url})})
		t.Log(err)
		if err == nil || !strings.Contains(err.Error(), "remote cache") || !strings.Contains(err.Error(), "not reachable") {
			t.Errorf("%s: err = %v, want 'remote cache ... not reachable'", scheme, err)
		}
	}
}

func deadAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Run names the target once, whatever the strategy.
func TestErrorsNameTheTargetOnce(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	cache := castest.New()
	img, _ := random.Image(1024, 1)
	spec := lazySpec(t, img, cache)
	host := deadAddress(t)
	for _, manifestsOnly := range []bool{false, true} {
		p, _ := New(context.Background(), nil, nil)
		_, err := p.Run(Job{Label: "//app:push", Spec: spec, Target: Target{Registry: host, Repository: "app"},
			Cache: cas.Lazy(context.Background(), cas.Config{URL: cache.ServeHTTP(t)}), ManifestsOnly: manifestsOnly})
		if err == nil || strings.Count(err.Error(), "//app:push:") != 1 {
			t.Errorf("ManifestsOnly=%v: err = %v, want the label once", manifestsOnly, err)
		}
	}
}

// --strategy=eager on a target built lazy: refused before anything is
// written, saying how to build it.
func TestEagerPushOfALazyBuild(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	host := newRegistry(t)
	img, _ := random.Image(1024, 2)
	spec := lazySpec(t, img, castest.New())
	p, _ := New(context.Background(), nil, nil)
	_, err := p.Run(Job{Label: "//app:push", Spec: spec, Target: Target{Registry: host, Repository: "app", Tags: []string{"v1"}}})
	if err == nil || !strings.Contains(err.Error(), "push_strategy=eager") || !strings.Contains(err.Error(), "absent0.tar.gz") ||
		!strings.HasPrefix(err.Error(), "//app:push: ") {
		t.Errorf("err = %v, want the absent blob and push_strategy=eager", err)
	}
	if tags := tagsOf(t, host+"/app"); len(tags) != 0 {
		t.Errorf("tags %v were written", tags)
	}
}

// A cas_registry push of an image on a pulled base whose layer is not in
// the cache (shallow): refused before any PUT, naming the base layer and
// the lazy strategy. A base layer the cache has goes through.
func TestManifestsOnlyRefusesBaseLayersNotInTheCache(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	host := newRegistry(t)
	cache := castest.New()
	img, _ := random.Image(1024, 2)
	spec := lazySpec(t, img, cache)
	// The first layer comes from a base image's registry.
	base := newRegistry(t) + "/base"
	layers, _ := img.Layers()
	d, _ := layers[0].Digest()
	diff, _ := layers[0].DiffID()
	size, _ := layers[0].Size()
	meta, _ := json.Marshal(blob.LayerMetadata{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: d.String(), Size: size, DiffID: diff.String(),
		Sources: []string{base}})
	if err := os.WriteFile(spec.Manifests[0].Layers[0].Metadata, meta, 0o644); err != nil {
		t.Fatal(err)
	}
	store := cas.Lazy(context.Background(), cas.Config{URL: cache.ServeHTTP(t)})
	push := func(repo string) error {
		p, _ := New(context.Background(), nil, nil)
		_, err := p.Run(Job{Label: "//app:push", Spec: spec, Target: Target{Registry: host, Repository: repo, Tags: []string{"v1"}},
			Cache: store, ManifestsOnly: true})
		return err
	}
	if err := push("cached"); err != nil {
		t.Errorf("a base layer in the cache: %v", err)
	}

	cache.Delete(d.Hex)
	err := push("shallow")
	if err == nil || !strings.Contains(err.Error(), d.String()) || !strings.Contains(err.Error(), base) ||
		!strings.Contains(err.Error(), "push_strategy=lazy") || !strings.HasPrefix(err.Error(), "//app:push: ") {
		t.Errorf("err = %v, want the base layer, its registry and the lazy strategy", err)
	}
	if tags := tagsOf(t, host+"/shallow"); len(tags) != 0 {
		t.Errorf("tags %v were written", tags)
	}
}
