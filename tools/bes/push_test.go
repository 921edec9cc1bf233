package bes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/cas"
	"github.com/rules-img/rules_img/tools/cas/castest"
	"github.com/rules-img/rules_img/tools/deploy"
)

// builtTarget puts what a Bazel build with a remote cache leaves there for
// a push target with the bes strategy, and returns the target as the
// server finds it in the build's events.
func builtTarget(t *testing.T, cache *castest.Cache, img v1.Image, registryHost string, withLayers bool) Target {
	t.Helper()
	files := Files{}
	put := func(short string, data []byte) string {
		path := "bazel-out/k8-fastbuild/bin/" + short
		cache.Add(data)
		files[path] = file{path: path, digest: cas.Of(data)}
		return path
	}
	raw, _ := img.RawManifest()
	cfg, _ := img.RawConfigFile()
	m := deploy.ManifestFiles{Manifest: put("app.manifest.json", raw), Config: put("app.config.json", cfg), Descriptor: put("app.descriptor.json", []byte("{}"))}
	layers, _ := img.Layers()
	for i, l := range layers {
		d, _ := l.Digest()
		diff, _ := l.DiffID()
		size, _ := l.Size()
		mt, _ := l.MediaType()
		if withLayers {
			rc, _ := l.Compressed()
			data, _ := io.ReadAll(rc)
			cache.Add(data)
		}
		meta, _ := json.Marshal(blob.LayerMetadata{MediaType: string(mt), Digest: d.String(), Size: size, DiffID: diff.String()})
		m.Layers = append(m.Layers, deploy.LayerFiles{Metadata: put(fmt.Sprintf("l%d.layer.json", i), meta)})
	}
	spec, _ := json.Marshal(deploy.Spec{Manifests: []deploy.ManifestFiles{m}})
	config, _ := json.Marshal(map[string]any{
		"label": "//:push", "registry": registryHost, "repository": "e2e/app",
		"tags": []string{}, "tags_file": "push.tags.txt", "strategy": "bes",
	})
	return Target{
		Label:  "//:push",
		Spec:   put("push.bes.deploy.json", spec),
		Config: put("push.bes.push.json", config),
		Tags:   put("push.bes.tags.txt", []byte("latest\nv1\n")),
		Files:  files,
	}
}

func TestCachePusher(t *testing.T) {
	host, cache, store := pushFixture(t)
	img, _ := random.Image(2048, 2)
	target := builtTarget(t, cache, img, "registry.invalid:5000", true)

	ref, err := CachePusher{Cache: store, Registry: host, Allow: allow(t, host+"/e2e")}.Push(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if !strings.Contains(ref, "e2e/app@"+want.String()) || !strings.Contains(ref, "e2e/app:v1") {
		t.Errorf("pushed %s", ref)
	}
	r, _ := name.ParseReference(host + "/e2e/app:v1")
	pulled, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(pulled); err != nil {
		t.Error(err)
	}

	// A layer the cache lacks: an error naming the target and the digest,
	// and no tag.
	other, _ := random.Image(1024, 1)
	target = builtTarget(t, cache, other, host, false)
	_, err = CachePusher{Cache: store, NotFoundWait: -1, Allow: allow(t, host)}.Push(context.Background(), target)
	layers, _ := other.Layers()
	ld, _ := layers[0].Digest()
	if err == nil || !strings.Contains(err.Error(), "//:push") || !strings.Contains(err.Error(), ld.String()) {
		t.Errorf("a layer missing from the cache: %v", err)
	}
	if err != nil && strings.Count(err.Error(), "//:push:") != 1 {
		t.Errorf("the label is not given once: %v", err)
	}
	d, _ := other.Digest()
	if _, err := remote.Head(r.Context().Digest(d.String())); err == nil {
		t.Error("the image was pushed without its layer")
	}

	// A file the build did not report.
	delete(target.Files, target.Config)
	if _, err := (CachePusher{Cache: store, Allow: allow(t, host)}).Push(context.Background(), target); err == nil || !strings.Contains(err.Error(), "reported no file") ||
		!strings.HasPrefix(err.Error(), "//:push: ") {
		t.Errorf("no push settings: %v", err)
	}
}

// Bazel may report a build finished before its asynchronous uploads are
// done: a push waits for blobs that come later, for a bounded time.
func TestCachePusherWaitsForUploads(t *testing.T) {
	host, cache, store := pushFixture(t)
	img, _ := random.Image(1024, 1)
	target := builtTarget(t, cache, img, host, false)
	layers, _ := img.Layers()
	rc, _ := layers[0].Compressed()
	blob, _ := io.ReadAll(rc)

	// Never uploaded: the push gives up after NotFoundWait.
	start := time.Now()
	_, err := CachePusher{Cache: store, NotFoundWait: 600 * time.Millisecond, Allow: allow(t, host)}.Push(context.Background(), target)
	if !errors.Is(err, cas.ErrNotFound) || time.Since(start) < 250*time.Millisecond || time.Since(start) > 30*time.Second {
		t.Fatalf("a blob that never comes: %v after %v", err, time.Since(start))
	}

	// Uploaded a moment after the build finished: the push succeeds.
	go func() {
		time.Sleep(400 * time.Millisecond)
		cache.Add(blob)
	}()
	ref, err := CachePusher{Cache: store, NotFoundWait: 30 * time.Second, Allow: allow(t, host)}.Push(context.Background(), target)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	if !strings.Contains(ref, d.String()) {
		t.Errorf("pushed %s, want %s", ref, d)
	}
	r, _ := name.ParseReference(host + "/e2e/app@" + d.String())
	pulled, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(pulled); err != nil {
		t.Error(err)
	}
}

// pushFixture gives a push test an in-memory registry (its host), a cache
// and a store that reads that cache, and an empty Docker config.
func pushFixture(t *testing.T) (string, *castest.Cache, cas.Store) {
	t.Helper()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	reg := httptest.NewServer(registry.New())
	t.Cleanup(reg.Close)
	cache := castest.New()
	store, err := cas.Dial(context.Background(), cas.Config{URL: cache.ServeHTTP(t)})
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(reg.URL, "http://"), cache, store
}
