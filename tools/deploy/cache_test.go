package deploy

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/rules-img/rules_img/tools/cas"
	"github.com/rules-img/rules_img/tools/cas/castest"
)

// A server (the BES push) reads the spec's files from where it keeps them
// and the layer blobs from the cache: no file of the runfiles is opened.
func TestImageFromCacheWithOwnReader(t *testing.T) {
	root := t.TempDir()
	want, spec := writeImage(t, root)
	files := map[string][]byte{}
	cache := castest.New()
	r := resolver{root: root, workspace: "_main"}
	m := spec.Manifests[0]
	for _, short := range []string{m.Manifest, m.Config} {
		files[short], _ = os.ReadFile(r.path(short))
	}
	for _, l := range m.Layers {
		files[l.Metadata], _ = os.ReadFile(r.path(l.Metadata))
		data, _ := os.ReadFile(r.path(l.Blob))
		cache.Add(data)
	}
	os.RemoveAll(filepath.Join(root, "_main"))
	data, _ := json.Marshal(spec)
	parsed, err := ParseSpec(data, "spec.json")
	if err != nil {
		t.Fatal(err)
	}
	store, err := cas.Dial(context.Background(), cas.Config{URL: cache.ServeGRPC(t)})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := parsed.Taggable(Options{Cache: store, ReadFile: func(p string) ([]byte, error) {
		if b, ok := files[p]; ok {
			return b, nil
		}
		return nil, os.ErrNotExist
	}})
	if err != nil {
		t.Fatal(err)
	}
	img := tg.(v1.Image)
	layers, _ := img.Layers()
	for _, l := range layers {
		if _, ok := l.(*CacheLayer); !ok {
			t.Errorf("layer %T is not a CacheLayer", l)
		}
	}
	if err := validate.Image(img); err != nil {
		t.Errorf("validate.Image: %v", err)
	}
	got, _ := img.Digest()
	wantDigest, _ := want.Digest()
	if got != wantDigest {
		t.Errorf("digest %s, want %s", got, wantDigest)
	}
}
