package casregistry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// pushImage pushes a random image to repo:v1 and returns its descriptor,
// the subject of the artifacts of these tests.
func (f *fixture) pushImage(t *testing.T, repo string) v1.Descriptor {
	t.Helper()
	img := randomImage(t)
	f.cache.putImage(t, img)
	if err := remote.Write(f.ref(t, repo+":v1"), img); err != nil {
		t.Fatal(err)
	}
	d, err := partial.Descriptor(img)
	if err != nil {
		t.Fatal(err)
	}
	return *d
}

// artifact is an OCI image manifest whose subject is subject, with a
// config of configType and one layer, both in the cache; its bytes
// differ with note.
type artifact struct {
	artifactType, configType, note string
	annotations                    map[string]string
}

func (a artifact) manifest(t *testing.T, f *fixture, subject v1.Descriptor) []byte {
	t.Helper()
	config := []byte(`{"note":"` + a.note + `"}`)
	layer := []byte("the layer of " + a.note)
	f.cache.put(config)
	f.cache.put(layer)
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  a.artifactType,
		Config:        descriptorOf(t, types.MediaType(a.configType), config),
		Layers:        []v1.Descriptor{descriptorOf(t, "application/vnd.example.data", layer)},
		Annotations:   a.annotations,
		Subject:       &subject,
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func descriptorOf(t *testing.T, mediaType types.MediaType, b []byte) v1.Descriptor {
	t.Helper()
	h, n, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return v1.Descriptor{MediaType: mediaType, Digest: h, Size: n}
}

// putReferrer pushes raw to repo by digest and returns the descriptor
// that the referrers list should hold for it.
func (f *fixture) putReferrer(t *testing.T, repo string, mediaType types.MediaType, raw []byte) v1.Descriptor {
	t.Helper()
	d := descriptorOf(t, mediaType, raw)
	resp := f.do(t, http.MethodPut, "/v2/"+repo+"/manifests/"+d.Digest.String(), string(mediaType), raw)
	if resp.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("PUT %s: %d %s", d.Digest, resp.StatusCode, body)
	}
	var m struct {
		ArtifactType string
		Config       struct{ MediaType string }
		Annotations  map[string]string
		Subject      struct{ Digest string }
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("OCI-Subject"); got != m.Subject.Digest {
		t.Errorf("PUT %s: OCI-Subject %q, want %q", d.Digest, got, m.Subject.Digest)
	}
	d.ArtifactType = m.ArtifactType
	if d.ArtifactType == "" {
		d.ArtifactType = m.Config.MediaType
	}
	d.Annotations = m.Annotations
	return d
}

// referrers is GET /v2/<repo>/referrers/<digest><query>, checked for the
// spec's status and Content-Type.
func (f *fixture) referrers(t *testing.T, repo, digest, query string) (*http.Response, []v1.Descriptor) {
	t.Helper()
	resp := f.do(t, http.MethodGet, "/v2/"+repo+"/referrers/"+digest+query, "", nil)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != string(types.OCIImageIndex) {
		t.Fatalf("GET referrers of %s in %s: %d, Content-Type %q: %s", digest, repo, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if len(body) > maxManifestSize {
		t.Errorf("GET referrers of %s: %d bytes, more than %d", digest, len(body), maxManifestSize)
	}
	var index struct {
		SchemaVersion int
		MediaType     string
		Manifests     []v1.Descriptor
	}
	if err := json.Unmarshal(body, &index); err != nil {
		t.Fatalf("GET referrers of %s: %v: %s", digest, err, body)
	}
	if index.SchemaVersion != 2 || index.MediaType != string(types.OCIImageIndex) || index.Manifests == nil {
		t.Errorf("GET referrers of %s: not an OCI image index with a manifests list: %s", digest, body)
	}
	return resp, index.Manifests
}

func wantDescriptors(t *testing.T, what string, got []v1.Descriptor, want ...v1.Descriptor) {
	t.Helper()
	if want == nil {
		want = []v1.Descriptor{}
	}
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("%s:\n%s\nwant\n%s", what, g, w)
	}
}

// byDigest orders descriptors as the referrers list does.
func byDigest(ds ...v1.Descriptor) []v1.Descriptor {
	out := append([]v1.Descriptor(nil), ds...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].Digest.Hex < out[i].Digest.Hex {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestReferrers(t *testing.T) {
	f := newFixture(t, "http")
	subject := f.pushImage(t, "app")

	// One artifact with an artifactType, one with only its config's media
	// type, and an index with a subject.
	sig := f.putReferrer(t, "app", types.OCIManifestSchema1, artifact{
		artifactType: "application/vnd.example.signature",
		configType:   "application/vnd.oci.empty.v1+json",
		note:         "signature",
		annotations:  map[string]string{"org.opencontainers.image.created": "2026-12-03T00:00:00Z", "org.example.note": "<a> & <b>"},
	}.manifest(t, f, subject))
	sbom := f.putReferrer(t, "app", types.OCIManifestSchema1, artifact{
		configType: "application/vnd.example.sbom.config+json",
		note:       "sbom",
	}.manifest(t, f, subject))
	if sbom.ArtifactType != "application/vnd.example.sbom.config+json" {
		t.Fatalf("the test's sbom: artifactType %q", sbom.ArtifactType)
	}
	list, _ := json.Marshal(v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		ArtifactType:  "application/vnd.example.list",
		Manifests:     []v1.Descriptor{},
		Subject:       &subject,
		Annotations:   map[string]string{"org.example.kind": "list"},
	})
	index := f.putReferrer(t, "app", types.OCIImageIndex, list)
	all := byDigest(sig, sbom, index)

	resp, got := f.referrers(t, "app", subject.Digest.String(), "")
	wantDescriptors(t, "the referrers", got, all...)
	if h := resp.Header.Get("OCI-Filters-Applied"); h != "" {
		t.Errorf("OCI-Filters-Applied without a filter: %q", h)
	}
	resp, got = f.referrers(t, "app", subject.Digest.String(), "?artifactType=application/vnd.example.signature")
	wantDescriptors(t, "the referrers of artifactType signature", got, sig)
	if h := resp.Header.Get("OCI-Filters-Applied"); h != "artifactType" {
		t.Errorf("OCI-Filters-Applied: %q, want artifactType", h)
	}
	_, got = f.referrers(t, "app", subject.Digest.String(), "?artifactType=application/vnd.example.sbom.config%2Bjson")
	wantDescriptors(t, "the referrers of artifactType sbom", got, sbom)
	_, got = f.referrers(t, "app", subject.Digest.String(), "?artifactType=application/vnd.example.none")
	wantDescriptors(t, "the referrers of an artifactType that none has", got)

	// A push of a listed manifest again (here by tag) lists it once.
	raw := artifact{configType: "application/vnd.example.sbom.config+json", note: "sbom"}.manifest(t, f, subject)
	if resp := f.do(t, http.MethodPut, "/v2/app/manifests/sbom", string(types.OCIManifestSchema1), raw); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT again by tag: %d", resp.StatusCode)
	}
	_, got = f.referrers(t, "app", subject.Digest.String(), "")
	wantDescriptors(t, "the referrers after a second push", got, all...)

	// The list is what the directory holds: a new server lists it, and a
	// manifest gone from the directory is gone from the list.
	again := &fixture{srv: httptest.NewServer(New(f.dir, f.store, nil))}
	defer again.srv.Close()
	_, got = again.referrers(t, "app", subject.Digest.String(), "")
	wantDescriptors(t, "the referrers after a restart", got, all...)
	if err := os.Remove(filepath.Join(f.dir, "repositories", "app", "_manifests", "revisions", "sha256", sig.Digest.Hex)); err != nil {
		t.Fatal(err)
	}
	_, got = again.referrers(t, "app", subject.Digest.String(), "")
	wantDescriptors(t, "the referrers after the signature left the directory", got, byDigest(sbom, index)...)
}

// go-containerregistry, a client we did not write, reads the list, and
// pushes an artifact without the referrers tag of the spec's fallback.
func TestReferrersThroughGoContainerregistry(t *testing.T) {
	f := newFixture(t, "http")
	subject := f.pushImage(t, "app")
	sbom := f.putReferrer(t, "app", types.OCIManifestSchema1, artifact{
		configType: "application/vnd.example.sbom.config+json",
		note:       "sbom",
	}.manifest(t, f, subject))

	// An artifact pushed by remote.Write: it asks the referrers API, and
	// since the registry keeps the list, tags nothing.
	sig, ok := mutate.Subject(mutate.ConfigMediaType(empty.Image, "application/vnd.example.signature.config+json"), subject).(v1.Image)
	if !ok {
		t.Fatal("mutate.Subject of an image is not an image")
	}
	f.cache.putImage(t, sig)
	sigDigest, _ := sig.Digest()
	repo := f.ref(t, "app").Context()
	if err := remote.Write(repo.Digest(sigDigest.String()), sig); err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(repo)
	if err != nil || strings.Join(tags, ",") != "v1" {
		t.Errorf("tags after an artifact's push: %v (%v), want only v1", tags, err)
	}

	idx, err := remote.Referrers(repo.Digest(subject.Digest.String()), remote.WithReferrersTagFallback(false))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	sigDesc, _ := partial.Descriptor(sig)
	sigDesc.ArtifactType = "application/vnd.example.signature.config+json"
	wantDescriptors(t, "remote.Referrers", im.Manifests, byDigest(sbom, *sigDesc)...)

	idx, err = remote.Referrers(repo.Digest(subject.Digest.String()), remote.WithFilter("artifactType", sbom.ArtifactType))
	if err != nil {
		t.Fatal(err)
	}
	im, _ = idx.IndexManifest()
	wantDescriptors(t, "remote.Referrers with a filter", im.Manifests, sbom)
}

func TestReferrersEmptyAndInvalid(t *testing.T) {
	f := newFixture(t, "http")
	subject := f.pushImage(t, "app")
	unknown := "sha256:" + strings.Repeat("a", 64)
	for _, c := range []struct{ repo, digest string }{
		{"app", unknown},
		{"app", subject.Digest.String()},
		{"nothere", subject.Digest.String()},
		// No manifest here has a sha512 subject.
		{"app", "sha512:" + strings.Repeat("a", 128)},
	} {
		_, got := f.referrers(t, c.repo, c.digest, "")
		wantDescriptors(t, "the referrers of "+c.digest+" in "+c.repo, got)
	}
	for _, digest := range []string{"sha256:xyz", "nodigest", "sha256:" + strings.Repeat("A", 64), "sha512:abc", "SHA256:" + strings.Repeat("a", 64)} {
		wantError(t, f.do(t, http.MethodGet, "/v2/app/referrers/"+digest, "", nil), http.StatusBadRequest, "DIGEST_INVALID")
	}
	wantError(t, f.do(t, http.MethodDelete, "/v2/app/referrers/"+unknown, "", nil), http.StatusMethodNotAllowed, "UNSUPPORTED")

	// A subject that is not a sha256 digest: no list could hold it.
	raw := artifact{configType: "application/vnd.oci.empty.v1+json", note: "sha512"}.manifest(t, f, v1.Descriptor{
		MediaType: types.OCIManifestSchema1,
		Digest:    v1.Hash{Algorithm: "sha512", Hex: strings.Repeat("a", 128)},
		Size:      10,
	})
	wantError(t, f.do(t, http.MethodPut, "/v2/app/manifests/sig", string(types.OCIManifestSchema1), raw), http.StatusBadRequest, "MANIFEST_INVALID")
}

// The referrers of a subject in one repository are that repository's:
// an artifact pushed to another repository, of the same image, is not
// listed.
func TestReferrersPerRepository(t *testing.T) {
	f := newFixture(t, "http")
	subject := f.pushImage(t, "team/a")
	if err := remote.Write(f.ref(t, "team/b:v1"), mustImage(t, f, "team/a:v1")); err != nil {
		t.Fatal(err)
	}
	inA := f.putReferrer(t, "team/a", types.OCIManifestSchema1, artifact{configType: "application/vnd.example.a", note: "a"}.manifest(t, f, subject))
	inB := f.putReferrer(t, "team/b", types.OCIManifestSchema1, artifact{configType: "application/vnd.example.b", note: "b"}.manifest(t, f, subject))
	_, got := f.referrers(t, "team/a", subject.Digest.String(), "")
	wantDescriptors(t, "the referrers in team/a", got, inA)
	_, got = f.referrers(t, "team/b", subject.Digest.String(), "")
	wantDescriptors(t, "the referrers in team/b", got, inB)
	_, got = f.referrers(t, "team", subject.Digest.String(), "")
	wantDescriptors(t, "the referrers in team", got)
}

func mustImage(t *testing.T, f *fixture, ref string) v1.Image {
	t.Helper()
	img, err := remote.Image(f.ref(t, ref))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// A subject's list is bounded in manifests and in bytes: past either, a
// push with that subject is refused, and the list answered stays within
// the manifest size limit.
func TestReferrersAreBounded(t *testing.T) {
	f := newFixture(t, "http", func(s *Server) { s.maxReferrers = 3 })
	subject := f.pushImage(t, "app")
	var listed []v1.Descriptor
	var raws [][]byte
	for i := range 4 {
		raw := artifact{configType: "application/vnd.example.config", note: fmt.Sprint(i)}.manifest(t, f, subject)
		raws = append(raws, raw)
		if i < 3 {
			listed = append(listed, f.putReferrer(t, "app", types.OCIManifestSchema1, raw))
		}
	}
	wantError(t, f.do(t, http.MethodPut, "/v2/app/manifests/fourth", string(types.OCIManifestSchema1), raws[3]), http.StatusForbidden, "DENIED")
	if resp := f.do(t, http.MethodGet, "/v2/app/manifests/fourth", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the refused manifest was tagged: %d", resp.StatusCode)
	}
	// A listed manifest may be pushed again, and another subject (one the
	// repository does not have, as the spec allows) has room.
	f.putReferrer(t, "app", types.OCIManifestSchema1, raws[0])
	other := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}, Size: 100}
	_, got := f.referrers(t, "app", subject.Digest.String(), "")
	wantDescriptors(t, "the referrers at the bound", got, byDigest(listed...)...)

	// In bytes: two manifests whose annotations take 2.5 MiB each do not
	// fit in one answer; the first fits.
	big := func(note string) []byte {
		return artifact{
			configType:  "application/vnd.example.config",
			note:        note,
			annotations: map[string]string{"org.example.big": strings.Repeat("x", 5<<19)},
		}.manifest(t, f, other)
	}
	first := f.putReferrer(t, "app", types.OCIManifestSchema1, big("big 1"))
	wantError(t, f.do(t, http.MethodPut, "/v2/app/manifests/big2", string(types.OCIManifestSchema1), big("big 2")), http.StatusForbidden, "DENIED")
	_, got = f.referrers(t, "app", other.Digest.String(), "")
	wantDescriptors(t, "the referrers at the byte bound", got, first)
}

// A referrers list needs the read rights of a manifest.
func TestReferrersNeedReadCredentials(t *testing.T) {
	f := newFixture(t, "http", WithAuth(testAuth(t), true))
	alice := remote.WithAuth(&authn.Basic{Username: "alice", Password: "wonderland"})
	img := randomImage(t)
	f.cache.putImage(t, img)
	ref := f.ref(t, "app:v1")
	if err := remote.Write(ref, img, alice); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	path := "/v2/app/referrers/" + d.String()
	wantError(t, f.do(t, http.MethodGet, path, "", nil), http.StatusUnauthorized, "UNAUTHORIZED")
	if _, err := remote.Referrers(ref.Context().Digest(d.String()), alice); err != nil {
		t.Errorf("remote.Referrers as alice: %v", err)
	}

	open := newFixture(t, "http", WithAuth(testAuth(t), false))
	if resp := open.do(t, http.MethodGet, path, "", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("anonymous GET of referrers with reads open: %d", resp.StatusCode)
	}
}

func TestEmptyReferrersIsWhatEncodeJSONWrites(t *testing.T) {
	b, err := encodeJSON(referrersIndex{SchemaVersion: 2, MediaType: string(types.OCIImageIndex), Manifests: []referrerDescriptor{}})
	if err != nil || string(b) != emptyReferrers {
		t.Errorf("encodeJSON of an empty index: %s (%v), want %s", b, err, emptyReferrers)
	}
}
