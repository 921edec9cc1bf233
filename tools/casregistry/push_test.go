package casregistry

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/rules-img/rules_img/tools/push"
)

// The cas_registry strategy writes manifests only, and the registry takes
// them because the cache has their blobs.
func TestCASRegistryStrategyWritesManifestsOnly(t *testing.T) {
	protocols(t, func(t *testing.T, f *fixture) {
		t.Setenv("DOCKER_CONFIG", t.TempDir())
		idx, err := random.Index(2048, 2, 2)
		if err != nil {
			t.Fatal(err)
		}
		im, _ := idx.IndexManifest()
		for _, d := range im.Manifests {
			img, _ := idx.Image(d.Digest)
			f.cache.putImage(t, img)
		}
		p, err := push.New(context.Background(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		target := push.Target{Registry: f.host, Repository: "e2e/multi", Tags: []string{"v1", "latest"}}
		ref, err := p.PutManifests(idx, target)
		if err != nil {
			t.Fatal(err)
		}
		if n := f.count.byVerb[http.MethodPost] + f.count.byVerb[http.MethodPatch]; n != 0 {
			t.Errorf("%d blob upload requests; want none", n)
		}
		pulled, err := remote.Index(f.ref(t, "e2e/multi:latest"))
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Index(pulled); err != nil {
			t.Error(err)
		}
		if d, _ := pulled.Digest(); d.String() != ref.DigestStr() {
			t.Errorf("pulled %s, pushed %s", d, ref)
		}

		// Blobs the cache lacks: the registry refuses, and nothing is tagged.
		lacking, _ := random.Image(512, 1)
		_, err = p.PutManifests(lacking, push.Target{Registry: f.host, Repository: "e2e/lacking", Tags: []string{"v1"}})
		if err == nil || !strings.Contains(err.Error(), "MANIFEST_BLOB_UNKNOWN") || !strings.Contains(err.Error(), "remote cache lacks") {
			t.Errorf("push of an image whose blobs the cache lacks: %v", err)
		}
		if _, err := remote.Head(f.ref(t, "e2e/lacking:v1")); err == nil {
			t.Error("the tag was written")
		}
	})
}
