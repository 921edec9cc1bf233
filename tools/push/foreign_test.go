package push

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/deploy"
)

// requests records the requests a server got, as "METHOD path".
type requests struct {
	mu   sync.Mutex
	list []string
}

func (r *requests) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.list = append(r.list, req.Method+" "+req.URL.Path+"?"+req.URL.RawQuery)
		r.mu.Unlock()
		next.ServeHTTP(w, req)
	})
}

func (r *requests) naming(s string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.list {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// An image on a pulled base with a foreign layer, as a push target's
// runfiles have it: the base's layers are shallow (metadata with the
// source registry), the foreign one's bytes are at its url only.
func foreignImage(t *testing.T, source string, urlServer *httptest.Server) (v1.Image, deploy.ManifestFiles, v1.Hash) {
	t.Helper()
	base, _ := random.Image(512, 1)
	foreign, _ := random.Layer(256, types.DockerForeignLayer)
	d, _ := foreign.Digest()
	img, err := mutate.Append(base, mutate.Addendum{Layer: foreign, MediaType: types.DockerForeignLayer,
		URLs: []string{urlServer.URL + "/" + d.Hex + ".tar.gz"}})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.NewTag(source + "/base/win:1")
	if err := remote.Write(ref, img); err != nil { // leaves the foreign layer out
		t.Fatal(err)
	}
	rc, _ := foreign.Compressed()
	data, _ := io.ReadAll(rc)
	urlServer.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/"+d.Hex+".tar.gz" {
			w.Write(data)
			return
		}
		http.NotFound(w, r)
	})
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	raw, _ := img.RawManifest()
	cfg, _ := img.RawConfigFile()
	files := deploy.ManifestFiles{Manifest: write("m.json", raw), Config: write("c.json", cfg), Descriptor: write("d.json", []byte("{}"))}
	layers, _ := img.Layers()
	for i, l := range layers {
		ld, _ := l.Digest()
		diff, _ := l.DiffID()
		size, _ := l.Size()
		mt, _ := l.MediaType()
		meta, _ := json.Marshal(blob.LayerMetadata{MediaType: string(mt), Digest: ld.String(), Size: size, DiffID: diff.String(),
			Sources: []string{source + "/base/win"}})
		files.Layers = append(files.Layers, deploy.LayerFiles{Metadata: write("l"+string(rune('0'+i))+".json", meta)})
	}
	return img, files, d
}

// A push leaves a foreign layer out, says so, and writes the manifest with
// its urls; a load (deploy's image, read whole) gets it from its url.
func TestForeignLayer(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	var src, dst, urls requests
	quiet := registry.Logger(log.New(io.Discard, "", 0))
	srcServer, dstServer := httptest.NewServer(src.wrap(registry.New(quiet))), httptest.NewServer(dst.wrap(registry.New(quiet)))
	defer srcServer.Close()
	defer dstServer.Close()
	source, dest := strings.TrimPrefix(srcServer.URL, "http://"), strings.TrimPrefix(dstServer.URL, "http://")
	urlServer := httptest.NewServer(nil)
	defer urlServer.Close()
	want, files, foreign := foreignImage(t, source, urlServer)
	inner := urlServer.Config.Handler
	urlServer.Config.Handler = urls.wrap(inner)

	var lines []string
	p, err := New(context.Background(), func(s string) { lines = append(lines, s) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	img, err := deploy.Image(files, deploy.Options{Remote: p.RemoteOptions(), Destination: dest})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := p.Push(img, Target{Registry: dest, Repository: "app", Tags: []string{"latest"}})
	if err != nil {
		t.Fatal(err)
	}
	if wantDigest, _ := want.Digest(); ref.DigestStr() != wantDigest.String() {
		t.Errorf("pushed %s, want %s", ref.DigestStr(), wantDigest)
	}
	for _, who := range []*requests{&src, &dst, &urls} {
		if got := who.naming(foreign.Hex); len(got) > 0 {
			t.Errorf("the push asked for the foreign layer: %v", got)
		}
	}
	said := strings.Join(lines, "\n")
	if !strings.Contains(said, "foreign  "+foreign.String()+" not uploaded") || !strings.Contains(said, urlServer.URL) {
		t.Errorf("the push does not name the foreign layer and its url:\n%s", said)
	}
	if p.Stats.Foreign != 1 || !strings.Contains(p.Stats.String(), "1 foreign layers not uploaded") {
		t.Errorf("stats %s", p.Stats.String())
	}
	if _, ok := p.Mounts.Where(foreign.String()); ok {
		t.Errorf("the foreign layer is remembered as pushed")
	}
	pushed, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	json.Unmarshal(pushed.Manifest, &m)
	if l := m.Layers[len(m.Layers)-1]; len(l.URLs) != 1 || !strings.HasPrefix(l.URLs[0], urlServer.URL) {
		t.Errorf("the pushed manifest's foreign layer %+v lacks its url", l)
	}

	// Read whole, as a load does: the foreign layer comes from its url.
	layers, _ := img.Layers()
	rc, err := layers[len(layers)-1].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || int64(len(data)) != m.Layers[len(m.Layers)-1].Size {
		t.Fatalf("reading the foreign layer: %v (%d bytes)", err, len(data))
	}
	if got := urls.naming(foreign.Hex); len(got) != 1 {
		t.Errorf("url GETs %v, want one", got)
	}
	// A url that serves other bytes fails the read.
	urlServer.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, len(data))) })
	rc, _ = layers[len(layers)-1].Compressed()
	if _, err := io.ReadAll(rc); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Errorf("wrong bytes at the url: %v", err)
	}
}
