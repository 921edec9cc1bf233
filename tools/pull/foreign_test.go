package pull

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/rules-img/rules_img/generator"
	"github.com/rules-img/rules_img/tools/lock"
	"github.com/rules-img/rules_img/tools/registry"
)

// blobGets records the blob GETs a registry answered.
type blobGets struct {
	mu   sync.Mutex
	gets []string
}

func (b *blobGets) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") {
			b.mu.Lock()
			b.gets = append(b.gets, r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:])
			b.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

// A foreign layer is never downloaded with the repository, by either
// downloader: the registry need not have it (go-containerregistry pushed
// the image without it), and the eager pull of the image works.
func TestEagerPullLeavesForeignLayersOut(t *testing.T) {
	isolate(t)
	var gets blobGets
	host := serve(t, gets.wrap)
	base, err := random.Image(200, 2)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := random.Layer(100, types.DockerForeignLayer)
	if err != nil {
		t.Fatal(err)
	}
	const url = "https://example.com/foreign.tar.gz"
	img, err := mutate.Append(base, mutate.Addendum{Layer: foreign, URLs: []string{url}, MediaType: types.DockerForeignLayer})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.NewTag(host + "/win/base:1")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	foreignDigest, _ := foreign.Digest()
	p := lock.Pull{Name: "win", Registries: []string{host}, Repository: "win/base", Tag: "1", Digest: digestOf(t, img), LayerHandling: lock.Eager}
	c := registry.New(context.Background())
	sources := registry.Sources(p.Registries, p.Repository)

	direct := t.TempDir()
	if err := Repo(FromRegistries(c, sources, direct), p, direct); err != nil {
		t.Fatalf("eager pull of an image with a foreign layer: %v", err)
	}
	viaBazel := t.TempDir()
	bazelDownloader(t, c, sources, viaBazel, func(f Fetcher) error { return Repo(f, p, viaBazel) })
	for _, g := range gets.gets {
		if g == foreignDigest.String() {
			t.Errorf("the foreign layer was asked of the registry")
		}
	}
	m, _ := img.Manifest()
	for _, repo := range []string{direct, viaBazel} {
		for i, l := range m.Layers {
			_, err := os.Stat(filepath.Join(repo, generator.BlobFile(l.Digest.String())))
			if foreignLayer := i == 2; foreignLayer != os.IsNotExist(err) {
				t.Errorf("layer %d (%s): in the repository: %v", i, l.MediaType, err == nil)
			}
		}
		f := checkRepoBUILD(t, repo)
		blobs := f.Rules("remote_blob")
		if len(blobs) != 1 || blobs[0].AttrString("digest") != foreignDigest.String() ||
			!reflect.DeepEqual(blobs[0].AttrStrings("sources"), []string{url, host + "/win/base"}) {
			t.Errorf("remote_blob targets %v: want the foreign layer's, from its url first", blobs)
		}
	}
}

// The lockfile's entry keeps the foreign layer's urls.
func TestForeignLayerURLsInTheEntry(t *testing.T) {
	raw := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("c", 64) + `","size":2},` +
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip","digest":"sha256:` + strings.Repeat("b", 64) +
		`","size":4,"urls":["https://example.com/b"]}]}`)
	entry, err := lock.ParsePlatform(raw, string(types.OCIManifestSchema1), "sha256:x")
	if err != nil {
		t.Fatal(err)
	}
	if l := entry.Layers[0]; !l.Foreign() || !reflect.DeepEqual(l.URLs, []string{"https://example.com/b"}) {
		t.Errorf("layer %+v", l)
	}
}
