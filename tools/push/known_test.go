package push

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// requestLog is a registry that records each request as "METHOD path".
type requestLog struct {
	mu    sync.Mutex
	lines []string
}

func (r *requestLog) serve(t *testing.T) string {
	t.Helper()
	next := registry.New()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.lines = append(r.lines, req.Method+" "+req.URL.Path+"?"+req.URL.RawQuery)
		r.mu.Unlock()
		if d := req.URL.Query().Get("mount"); req.Method == http.MethodPost && d != "" {
			// go-containerregistry's registry keeps blobs across
			// repositories and never mounts: answer as distribution does.
			head := httptest.NewRecorder()
			next.ServeHTTP(head, httptest.NewRequest(http.MethodHead, "/v2/"+req.URL.Query().Get("from")+"/blobs/"+d, nil))
			if head.Code == http.StatusOK {
				w.Header().Set("Location", strings.TrimSuffix(req.URL.Path, "uploads/")+d)
				w.WriteHeader(http.StatusCreated)
				return
			}
		}
		next.ServeHTTP(w, req)
	}))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// take returns the requests so far that contain all of parts, and forgets all.
func (r *requestLog) take(parts ...string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.lines {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			out = append(out, l)
		}
	}
	r.lines = nil
	return out
}

func blobHeads(log *requestLog) []string { return log.take("HEAD ", "/blobs/sha256:") }

// checkOnlyNewAsked checks the requests of a push over a tag whose
// manifest lacked only layer: one HEAD, of that layer, and one PATCH, of
// its upload; the config went up in a POST and a PUT, and the manifests
// with no HEAD before them. It forgets the requests.
func checkOnlyNewAsked(t *testing.T, log *requestLog, layer v1.Hash) {
	t.Helper()
	log.mu.Lock()
	all := append([]string(nil), log.lines...)
	log.mu.Unlock()
	if heads := log.take("HEAD "); len(heads) != 1 || !strings.Contains(heads[0], "/blobs/"+layer.String()) {
		t.Errorf("HEADs = %v, want only the new layer's, %s; all requests: %v", heads, layer, all)
	}
	patches := 0
	for _, l := range all {
		if strings.HasPrefix(l, "PATCH ") {
			patches++
		}
	}
	if patches != 1 {
		t.Errorf("%d PATCH requests, want 1 (the new layer's upload); all requests: %v", patches, all)
	}
}

// A push to a tag that names an earlier image asks only about the blobs
// that image did not have.
func TestRepushAsksOnlyAboutNewBlobs(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	var log requestLog
	host := log.serve(t)
	target := Target{Registry: host, Repository: "a/b", Tags: []string{"latest"}}
	first, _ := random.Image(256, 3)
	p, _ := New(context.Background(), nil, nil)
	if _, err := p.Push(first, target); err != nil {
		t.Fatal(err)
	}
	log.take()

	extra, _ := random.Layer(256, types.OCILayer)
	second, _ := mutate.AppendLayers(first, extra)
	p2, _ := New(context.Background(), nil, nil)
	if _, err := p2.Push(second, target); err != nil {
		t.Fatal(err)
	}
	newLayer, _ := extra.Digest()
	checkOnlyNewAsked(t, &log, newLayer)
	if p2.Stats.Known != 3 || p2.Stats.Uploaded != 2 {
		t.Errorf("stats: %s; want 3 blobs known from the tag, 2 uploaded", p2.Stats.String())
	}
	if err := validateRemote(host + "/a/b:latest"); err != nil {
		t.Error(err)
	}

	// The same image again: one read of the tag, nothing written.
	p3, _ := New(context.Background(), nil, nil)
	if _, err := p3.Push(second, target); err != nil {
		t.Fatal(err)
	}
	if writes := log.take("P"); len(writes) != 0 { // POST, PUT, PATCH
		t.Errorf("an unchanged push wrote %v", writes)
	}
}

// A blob that a push of the same run put in another repository is mounted
// with no HEAD before; a push to a tag the repository lacks asks nothing.
func TestMountWithoutAsking(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	var log requestLog
	host := log.serve(t)
	img, _ := random.Image(256, 3)
	p, _ := New(context.Background(), nil, nil)
	if _, err := p.Push(img, Target{Registry: host, Repository: "one"}); err != nil {
		t.Fatal(err)
	}
	log.take()
	layers, _ := img.Layers()
	var mountable []v1.Layer
	for _, l := range layers {
		d, _ := l.Digest()
		ref, ok := p.Mounts.Where(d.String())
		if !ok {
			t.Fatalf("Mounts does not know layer %s", d)
		}
		mountable = append(mountable, &remote.MountableLayer{Layer: l, Reference: ref})
	}
	again, _ := mutate.AppendLayers(empty.Image, mountable...)
	if _, err := p.Push(again, Target{Registry: host, Repository: "two", Tags: []string{"v1"}}); err != nil {
		t.Fatal(err)
	}
	// The tag was new (404): the config and manifest are not asked about
	// either.
	if heads := log.take("HEAD "); len(heads) != 0 {
		t.Errorf("HEADs = %v, want none", heads)
	}
	if p.Stats.Mounted != 3 {
		t.Errorf("stats: %s; want 3 mounted", p.Stats.String())
	}
	if err := validateRemote(host + "/two:v1"); err != nil {
		t.Error(err)
	}
}

// validateRemote reads the image at ref back and checks every digest.
func validateRemote(ref string) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	img, err := remote.Image(r)
	if err != nil {
		return err
	}
	return validate.Image(img)
}

// An index pushed over an earlier one asks only about what is new in it:
// its unchanged image is skipped whole, and the blobs of the changed
// image's predecessor are known.
func TestRepushOfAnIndex(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	var log requestLog
	host := log.serve(t)
	target := Target{Registry: host, Repository: "idx", Tags: []string{"v1"}}
	same, _ := random.Image(256, 2)
	old, _ := random.Image(256, 2)
	first := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: same, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: old, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	p, _ := New(context.Background(), nil, nil)
	if _, err := p.Push(first, target); err != nil {
		t.Fatal(err)
	}
	log.take()

	extra, _ := random.Layer(256, types.OCILayer)
	changed, _ := mutate.AppendLayers(old, extra)
	second := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: same, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: changed, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	p2, _ := New(context.Background(), nil, nil)
	if _, err := p2.Push(second, target); err != nil {
		t.Fatal(err)
	}
	newLayer, _ := extra.Digest()
	checkOnlyNewAsked(t, &log, newLayer)
	ref, _ := name.ParseReference(host + "/idx:v1")
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := idx.Digest(); d != mustDigest(t, second) {
		t.Errorf("the tag names %s, want the new index", d)
	}
	for _, img := range []v1.Image{same, changed} {
		d, _ := img.Digest()
		if err := validateRemote(host + "/idx@" + d.String()); err != nil {
			t.Errorf("image %s of the index: %v", d, err)
		}
	}
}

func mustDigest(t *testing.T, idx v1.ImageIndex) v1.Hash {
	t.Helper()
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Of the earlier index's images, the push reads only as many as can save
// requests: once one layer alone is unknown, a read would cost as much as
// the HEAD it could spare.
func TestRepushReadsOnlyTheChildrenItNeeds(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	var log requestLog
	host := log.serve(t)
	target := Target{Registry: host, Repository: "two", Tags: []string{"v1"}}
	base, _ := random.Image(256, 3)
	platforms := []string{"amd64", "arm64"}
	index := func(extra v1.Layer) v1.ImageIndex {
		var adds []mutate.IndexAddendum
		for _, arch := range platforms {
			img, _ := mutate.AppendLayers(base, extra)
			cf, _ := img.ConfigFile()
			cf = cf.DeepCopy()
			cf.OS, cf.Architecture = "linux", arch
			img, _ = mutate.ConfigFile(img, cf)
			adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
		}
		return mutate.AppendManifests(empty.Index, adds...)
	}
	app1, _ := random.Layer(256, types.OCILayer)
	p, _ := New(context.Background(), nil, nil)
	if _, err := p.Push(index(app1), target); err != nil {
		t.Fatal(err)
	}
	log.take()

	app2, _ := random.Layer(256, types.OCILayer)
	second := index(app2)
	p2, _ := New(context.Background(), nil, nil)
	if _, err := p2.Push(second, target); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	all := append([]string(nil), log.lines...)
	log.mu.Unlock()
	if gets := log.take("GET ", "/manifests/sha256:"); len(gets) != 1 {
		t.Errorf("GETs of the earlier images = %v, want one; all requests: %v", gets, all)
	}
	if err := validateRemoteIndex(host+"/two:v1", 2); err != nil {
		t.Error(err)
	}
}

// validateRemoteIndex reads the index at ref back, checks it has n
// images and every digest of them.
func validateRemoteIndex(ref string, n int) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	idx, err := remote.Index(r)
	if err != nil {
		return err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	if len(m.Manifests) != n {
		return fmt.Errorf("%s has %d images, want %d", ref, len(m.Manifests), n)
	}
	return validate.Index(idx)
}
