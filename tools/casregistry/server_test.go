package casregistry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/rules-img/rules_img/tools/cas"
	"github.com/rules-img/rules_img/tools/cas/castest"
)

// cache is lazy's in-memory remote cache, served over HTTP or REAPI and
// read through the real client, as the registry reads Bazel's cache.
type cache struct {
	*castest.Cache
}

func (c cache) put(b []byte) cas.Digest {
	c.Add(b)
	return cas.Of(b)
}

// putImage puts an image's config and layers into the cache, as a Bazel
// build with a remote cache would.
func (c cache) putImage(t *testing.T, img v1.Image) {
	t.Helper()
	config, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c.put(config)
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		c.put(b)
	}
}

// counting counts requests by method, to show what a push sent.
type counting struct {
	mu     sync.Mutex
	byVerb map[string]int
	next   http.Handler
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.byVerb[r.Method]++
	c.mu.Unlock()
	c.next.ServeHTTP(w, r)
}

type fixture struct {
	dir   string
	cache cache
	srv   *httptest.Server
	count *counting
	host  string
	store cas.Store
}

// protocols runs a test with the cache served over each protocol.
func protocols(t *testing.T, test func(t *testing.T, f *fixture)) {
	for _, p := range []string{"http", "grpc"} {
		t.Run(p, func(t *testing.T) { test(t, newFixture(t, p)) })
	}
}

func newFixture(t *testing.T, protocol string, opts ...Option) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), cache: cache{castest.New()}}
	url := f.cache.ServeHTTP(t)
	if strings.HasPrefix(protocol, "grpc") {
		f.cache.IgnoreSizes = protocol == "grpc-ignoring-sizes"
		url = f.cache.ServeGRPC(t)
	}
	store, err := cas.Dial(context.Background(), cas.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	f.store = store
	f.count = &counting{byVerb: map[string]int{}, next: New(f.dir, store, nil, opts...)}
	f.srv = httptest.NewServer(f.count)
	t.Cleanup(f.srv.Close)
	f.host = strings.TrimPrefix(f.srv.URL, "http://")
	return f
}

func (f *fixture) ref(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(f.host+"/"+s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f *fixture) do(t *testing.T, method, path, contentType string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// doAs sends a request with headers.
func (f *fixture) doAs(t *testing.T, headers map[string]string, method, path string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantError checks the status and the first error code of a response.
func wantError(t *testing.T, resp *http.Response, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s %s: status %d, want %d", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status)
	}
	if resp.Request.Method == http.MethodHead {
		return
	}
	var body struct {
		Errors []struct{ Code, Message string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Errors) == 0 {
		t.Fatalf("%s %s: no error JSON (%v)", resp.Request.Method, resp.Request.URL.Path, err)
	}
	if body.Errors[0].Code != code {
		t.Errorf("%s %s: code %s (%s), want %s", resp.Request.Method, resp.Request.URL.Path, body.Errors[0].Code, body.Errors[0].Message, code)
	}
}

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(1024, 3)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestPushWritesOnlyManifestsAndPullValidates(t *testing.T) {
	protocols(t, func(t *testing.T, f *fixture) {
		img := randomImage(t)
		f.cache.putImage(t, img)
		ref := f.ref(t, "team/app:v1")
		// What the cas_registry strategy does: the manifest only.
		if err := remote.Put(ref, img); err != nil {
			t.Fatal(err)
		}
		if n := f.count.byVerb[http.MethodPost] + f.count.byVerb[http.MethodPatch]; n != 0 {
			t.Errorf("the push started %d uploads", n)
		}
		pulled, err := remote.Image(ref)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Image(pulled); err != nil {
			t.Errorf("the pulled image does not validate: %v", err)
		}
		want, _ := img.Digest()
		got, _ := pulled.Digest()
		if want != got {
			t.Errorf("pulled %s, pushed %s", got, want)
		}
		if f.cache.Reads == 0 {
			t.Error("no blob was read from the cache")
		}

		// A generic client pushes blobs of unknown size; they are checked and dropped.
		other := randomImage(t)
		f.cache.putImage(t, other)
		if err := remote.Write(f.ref(t, "team/other:v1"), other); err != nil {
			t.Fatal(err)
		}

		// A new server on the same directory still has the manifest and tag.
		again := httptest.NewServer(New(f.dir, f.store, nil))
		defer again.Close()
		ref2, _ := name.ParseReference(strings.TrimPrefix(again.URL, "http://")+"/team/app:v1", name.Insecure)
		d, err := remote.Head(ref2)
		if err != nil || d.Digest != want {
			t.Errorf("after a restart: %v, %v; want %s", d, err, want)
		}
	})
}

func TestManifestHeaders(t *testing.T) {
	protocols(t, func(t *testing.T, f *fixture) {
		img := randomImage(t)
		f.cache.putImage(t, img)
		if err := remote.Write(f.ref(t, "app:latest"), img); err != nil {
			t.Fatal(err)
		}
		digest, _ := img.Digest()
		raw, _ := img.RawManifest()
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			for _, ref := range []string{"latest", digest.String()} {
				resp := f.do(t, method, "/v2/app/manifests/"+ref, "", nil)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s %s: %d", method, ref, resp.StatusCode)
				}
				h := resp.Header
				if h.Get("Content-Type") != string(types.DockerManifestSchema2) || h.Get("Docker-Content-Digest") != digest.String() || h.Get("Content-Length") != fmt.Sprint(len(raw)) {
					t.Errorf("%s %s: headers %v", method, ref, h)
				}
			}
		}
		layers, _ := img.Layers()
		ld, _ := layers[0].Digest()
		size, _ := layers[0].Size()
		resp := f.do(t, http.MethodHead, "/v2/app/blobs/"+ld.String(), "", nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Length") != fmt.Sprint(size) || resp.Header.Get("Docker-Content-Digest") != ld.String() {
			t.Errorf("HEAD blob: %d %v", resp.StatusCode, resp.Header)
		}
		resp = f.do(t, http.MethodGet, "/v2/", "", nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
			t.Errorf("GET /v2/: %d %v", resp.StatusCode, resp.Header)
		}
	})
}

func TestIndex(t *testing.T) {
	protocols(t, func(t *testing.T, f *fixture) {
		idx, err := random.Index(512, 2, 3)
		if err != nil {
			t.Fatal(err)
		}
		im, _ := idx.IndexManifest()
		for _, d := range im.Manifests {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			f.cache.putImage(t, img)
		}
		ref := f.ref(t, "multi:latest")

		// An index whose manifests are not there yet is refused.
		raw, _ := idx.RawManifest()
		resp := f.do(t, http.MethodPut, "/v2/multi/manifests/latest", string(types.OCIImageIndex), raw)
		wantError(t, resp, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")

		if err := remote.WriteIndex(ref, idx); err != nil {
			t.Fatal(err)
		}
		pulled, err := remote.Index(ref)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Index(pulled); err != nil {
			t.Errorf("the pulled index does not validate: %v", err)
		}
	})
}

func TestManifestRefusals(t *testing.T) {
	protocols(t, func(t *testing.T, f *fixture) {
		img := randomImage(t)
		raw, _ := img.RawManifest()
		mt := string(types.DockerManifestSchema2)

		// The cache lacks the blobs: MANIFEST_BLOB_UNKNOWN, and nothing is written.
		resp := f.do(t, http.MethodPut, "/v2/app/manifests/v1", mt, raw)
		wantError(t, resp, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")
		wantError(t, f.do(t, http.MethodGet, "/v2/app/tags/list", "", nil), http.StatusNotFound, "NAME_UNKNOWN")

		// Through ggcr: the error names the code.
		err := remote.Put(f.ref(t, "app:v1"), img)
		var te *transport.Error
		if !errors.As(err, &te) || len(te.Errors) == 0 || te.Errors[0].Code != transport.ManifestBlobUnknownErrorCode {
			t.Errorf("remote.Put of a manifest with missing blobs: %v", err)
		}

		f.cache.putImage(t, img)
		digest, _ := img.Digest()
		other := strings.Repeat("0", 64)
		wantError(t, f.do(t, http.MethodPut, "/v2/app/manifests/sha256:"+other, mt, raw), http.StatusBadRequest, "DIGEST_INVALID")
		wantError(t, f.do(t, http.MethodPut, "/v2/app/manifests/v1", "application/vnd.oci.image.index.v1+json", raw), http.StatusBadRequest, "MANIFEST_INVALID")
		wantError(t, f.do(t, http.MethodPut, "/v2/app/manifests/v1", mt, []byte("not json")), http.StatusBadRequest, "MANIFEST_INVALID")
		wantError(t, f.do(t, http.MethodPut, "/v2/app/manifests/v1", "", []byte(`{"schemaVersion": 2}`)), http.StatusBadRequest, "MANIFEST_INVALID")
		wantError(t, f.do(t, http.MethodPut, "/v2/Bad/manifests/v1", mt, raw), http.StatusBadRequest, "NAME_INVALID")

		resp = f.do(t, http.MethodPut, "/v2/app/manifests/"+digest.String(), mt, raw)
		if resp.StatusCode != http.StatusCreated || resp.Header.Get("Docker-Content-Digest") != digest.String() || resp.Header.Get("Location") == "" {
			t.Errorf("PUT by digest: %d %v", resp.StatusCode, resp.Header)
		}
		// Pushed by digest only: no tag.
		var tags struct{ Tags []string }
		_ = json.NewDecoder(f.do(t, http.MethodGet, "/v2/app/tags/list", "", nil).Body).Decode(&tags)
		if len(tags.Tags) != 0 {
			t.Errorf("tags after a push by digest: %v", tags.Tags)
		}
	})
}

func TestErrorCodes(t *testing.T) {
	protocols(t, func(t *testing.T, f *fixture) {
		img := randomImage(t)
		f.cache.putImage(t, img)
		if err := remote.Write(f.ref(t, "app:v1"), img); err != nil {
			t.Fatal(err)
		}
		unknown := "sha256:" + strings.Repeat("a", 64)
		for _, c := range []struct {
			method, path string
			status       int
			code         string
		}{
			{"GET", "/v2/nothere/manifests/v1", 404, "NAME_UNKNOWN"},
			{"GET", "/v2/nothere/tags/list", 404, "NAME_UNKNOWN"},
			{"GET", "/v2/app/manifests/v2", 404, "MANIFEST_UNKNOWN"},
			{"HEAD", "/v2/app/manifests/v2", 404, ""},
			{"GET", "/v2/app/manifests/" + unknown, 404, "MANIFEST_UNKNOWN"},
			{"GET", "/v2/app/blobs/" + unknown, 404, "BLOB_UNKNOWN"},
			{"HEAD", "/v2/app/blobs/" + unknown, 404, ""},
			{"GET", "/v2/app/blobs/sha256:xyz", 400, "DIGEST_INVALID"},
			{"GET", "/v2/app/blobs/nodigest", 400, "DIGEST_INVALID"},
			{"GET", "/v2/app/blobs/sha512:" + strings.Repeat("a", 128), 400, "DIGEST_INVALID"},
			{"GET", "/v2/app/manifests/sha512:" + strings.Repeat("a", 128), 400, "DIGEST_INVALID"},
			{"DELETE", "/v2/app/manifests/v1", 405, "UNSUPPORTED"},
			{"DELETE", "/v2/app/blobs/" + unknown, 405, "UNSUPPORTED"},
			{"GET", "/v2/app/tags/list?n=x", 400, "PAGINATION_NUMBER_INVALID"},
			{"PATCH", "/v2/app/blobs/uploads/nosuch", 404, "BLOB_UPLOAD_UNKNOWN"},
		} {
			wantError(t, f.do(t, c.method, c.path, "", nil), c.status, c.code)
		}
	})
}

func TestBlobLeftTheCache(t *testing.T) {
	protocols(t, func(t *testing.T, f *fixture) {
		img := randomImage(t)
		f.cache.putImage(t, img)
		if err := remote.Write(f.ref(t, "app:v1"), img); err != nil {
			t.Fatal(err)
		}
		layers, _ := img.Layers()
		ld, _ := layers[1].Digest()

		// Other bytes under the blob's key: the response is cut short.
		f.cache.Corrupt = ld.Hex
		if resp, err := http.Get(f.srv.URL + "/v2/app/blobs/" + ld.String()); err == nil {
			if _, err := io.ReadAll(resp.Body); err == nil {
				t.Error("a blob whose bytes are wrong in the cache was served whole")
			}
			resp.Body.Close()
		}

		f.cache.Corrupt = ""
		f.cache.Delete(ld.Hex)
		wantError(t, f.do(t, http.MethodGet, "/v2/app/blobs/"+ld.String(), "", nil), http.StatusNotFound, "BLOB_UNKNOWN")
		wantError(t, f.do(t, http.MethodHead, "/v2/app/blobs/"+ld.String(), "", nil), http.StatusNotFound, "")
	})
}

func TestUploads(t *testing.T) {
	protocols(t, func(t *testing.T, f *fixture) {
		inCache := []byte("a blob that Bazel put in the cache")
		d := f.cache.put(inCache)
		digest := "sha256:" + d.Hash

		// Unknown size: HEAD says unknown, so a client uploads; the bytes match
		// a blob of the cache, so the upload succeeds and teaches the size.
		wantError(t, f.do(t, http.MethodHead, "/v2/app/blobs/"+digest, "", nil), http.StatusNotFound, "")
		resp := f.do(t, http.MethodPost, "/v2/app/blobs/uploads/", "", nil)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST: %d", resp.StatusCode)
		}
		loc := resp.Header.Get("Location")
		resp = f.do(t, http.MethodPatch, loc, "application/octet-stream", inCache[:10])
		if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Range") != "0-9" {
			t.Fatalf("PATCH: %d %v", resp.StatusCode, resp.Header)
		}
		resp = f.do(t, http.MethodPut, loc+"?digest="+digest, "application/octet-stream", inCache[10:])
		if resp.StatusCode != http.StatusCreated || resp.Header.Get("Docker-Content-Digest") != digest {
			t.Fatalf("PUT: %d %v", resp.StatusCode, resp.Header)
		}
		resp = f.do(t, http.MethodGet, "/v2/app/blobs/"+digest, "", nil)
		if got, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK || !bytes.Equal(got, inCache) {
			t.Errorf("GET after upload: %d %q", resp.StatusCode, got)
		}
		// Mount from a repository that has the blob; from one that does
		// not, the mount becomes an upload, as the spec says.
		resp = f.do(t, http.MethodPost, "/v2/other/blobs/uploads/?mount="+digest+"&from=app", "", nil)
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("mount: %d", resp.StatusCode)
		}
		if resp := f.do(t, http.MethodGet, "/v2/other/blobs/"+digest, "", nil); resp.StatusCode != http.StatusOK {
			t.Errorf("GET after a mount: %d", resp.StatusCode)
		}
		resp = f.do(t, http.MethodPost, "/v2/third/blobs/uploads/?mount="+digest+"&from=nothing", "", nil)
		if resp.StatusCode != http.StatusAccepted {
			t.Errorf("mount from a repository without the blob: %d, want 202", resp.StatusCode)
		}

		// A blob the cache lacks is refused, by a monolithic POST or a session.
		notInCache := []byte("bytes the cache has never seen")
		sum := sha256.Sum256(notInCache)
		other := "sha256:" + hex.EncodeToString(sum[:])
		wantError(t, f.do(t, http.MethodPost, "/v2/app/blobs/uploads/?digest="+other, "application/octet-stream", notInCache), http.StatusMethodNotAllowed, "UNSUPPORTED")
		l := static{notInCache}
		err := remote.WriteLayer(f.ref(t, "app").Context(), l)
		var te *transport.Error
		if !errors.As(err, &te) || te.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(err.Error(), "not in the remote cache") {
			t.Errorf("ggcr upload of a blob the cache lacks: %v", err)
		}
		// Wrong bytes for the digest.
		wantError(t, f.do(t, http.MethodPost, "/v2/app/blobs/uploads/?digest="+digest, "application/octet-stream", notInCache), http.StatusBadRequest, "DIGEST_INVALID")
		// Out of order chunk.
		loc = f.do(t, http.MethodPost, "/v2/app/blobs/uploads/", "", nil).Header.Get("Location")
		req, _ := http.NewRequest(http.MethodPatch, f.srv.URL+loc, bytes.NewReader([]byte("abc")))
		req.Header.Set("Content-Range", "5-7")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
			t.Errorf("out-of-order chunk: %d", resp.StatusCode)
		}
	})
}

// static is a layer of given bytes.
type static struct{ b []byte }

func (s static) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(s.b))
	return h, err
}
func (s static) Size() (int64, error)                { return int64(len(s.b)), nil }
func (s static) MediaType() (types.MediaType, error) { return types.OCILayer, nil }
func (s static) Compressed() (io.ReadCloser, error)  { return io.NopCloser(bytes.NewReader(s.b)), nil }

var _ partial.CompressedLayer = static{}

func (s static) DiffID() (v1.Hash, error) { return s.Digest() }
func (s static) Uncompressed() (io.ReadCloser, error) {
	return s.Compressed()
}

func TestTagPagination(t *testing.T) {
	protocols(t, func(t *testing.T, f *fixture) {
		img := randomImage(t)
		f.cache.putImage(t, img)
		repo := f.ref(t, "app").Context()
		want := []string{"a", "b", "c", "d", "e"}
		for _, tag := range []string{"d", "b", "e", "a", "c"} {
			if err := remote.Write(repo.Tag(tag), img); err != nil {
				t.Fatal(err)
			}
		}
		got, err := remote.List(repo)
		if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("remote.List: %v %v", got, err)
		}
		var pages []string
		path := "/v2/app/tags/list?n=2"
		for path != "" {
			resp := f.do(t, http.MethodGet, path, "", nil)
			var body struct {
				Name string
				Tags []string
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			pages = append(pages, strings.Join(body.Tags, ","))
			path = ""
			if link := resp.Header.Get("Link"); link != "" {
				path = strings.TrimPrefix(strings.Split(link, ">")[0], "<")
			}
		}
		if strings.Join(pages, "|") != "a,b|c,d|e" {
			t.Errorf("pages: %q", pages)
		}
		var body struct{ Tags []string }
		_ = json.NewDecoder(f.do(t, http.MethodGet, "/v2/app/tags/list?n=0", "", nil).Body).Decode(&body)
		if body.Tags == nil || len(body.Tags) != 0 {
			t.Errorf("n=0: %v", body.Tags)
		}
		_ = json.NewDecoder(f.do(t, http.MethodGet, "/v2/app/tags/list?last=c", "", nil).Body).Decode(&body)
		if strings.Join(body.Tags, ",") != "d,e" {
			t.Errorf("last=c: %v", body.Tags)
		}
	})
}

func TestNewTagMovesAtomically(t *testing.T) {
	protocols(t, func(t *testing.T, f *fixture) {
		one, two := randomImage(t), randomImage(t)
		f.cache.putImage(t, one)
		f.cache.putImage(t, two)
		ref := f.ref(t, "app:latest")
		for _, img := range []v1.Image{one, two} {
			if err := remote.Write(ref, img); err != nil {
				t.Fatal(err)
			}
		}
		d, err := remote.Head(ref)
		want, _ := two.Digest()
		if err != nil || d.Digest != want {
			t.Errorf("latest is %v (%v), want %s", d, err, want)
		}
		// The first image stays pullable by digest.
		first, _ := one.Digest()
		if _, err := remote.Image(ref.Context().Digest(first.String())); err != nil {
			t.Error(err)
		}
	})
}
