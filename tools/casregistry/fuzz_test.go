package casregistry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/rules-img/rules_img/tools/cas"
)

// memStore is an in-memory cache that finds blobs by hash alone, as
// Bazel's HTTP cache does; it has no sizeChecker, so the registry checks
// sizes by reading.
type memStore struct {
	mu    sync.Mutex
	blobs map[string][]byte
}

func (m *memStore) put(b []byte) cas.Digest {
	d := cas.Of(b)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blobs[d.Hash] = b
	return d
}

func (m *memStore) Missing(_ context.Context, ds []cas.Digest) ([]cas.Digest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var missing []cas.Digest
	for _, d := range ds {
		if _, ok := m.blobs[d.Hash]; !ok {
			missing = append(missing, d)
		}
	}
	return missing, nil
}

func (m *memStore) Open(_ context.Context, d cas.Digest) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blobs[d.Hash]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", d, cas.ErrNotFound)
	}
	if int64(len(b)) != d.Size {
		return nil, fmt.Errorf("blob %s has %d bytes: %w", d, len(b), cas.ErrMismatch)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// FuzzHandler sends requests built from the input to a registry with
// authentication and a pushed image, good/app:v1. Whatever the requests,
// the handler does not panic (but for a response cut short), anonymous
// writes never succeed, and the good image's blobs keep their sizes and
// bytes: no request, even an authenticated one, can break another image.
//
//	go test ./tools/casregistry -run '^$' -fuzz FuzzHandler -fuzztime 60s
func FuzzHandler(f *testing.F) {
	a, err := ReadAuth(writeFile(f, "tokens", "ci ci-token\n"), "")
	if err != nil {
		f.Fatal(err)
	}
	store := &memStore{blobs: map[string][]byte{}}
	srv := New(f.TempDir(), store, nil, WithAuth(a, false), WithUploadLimits(16, 4))
	send := func(method, target, authorization string, body []byte) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		u, err := url.Parse(target)
		if err != nil || !strings.HasPrefix(u.Path, "/") {
			return nil
		}
		r := httptest.NewRequest(http.MethodGet, "/", bytes.NewReader(body))
		r.Method, r.URL, r.RequestURI = method, u, target
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		func() {
			defer func() {
				if p := recover(); p != nil && p != http.ErrAbortHandler {
					panic(p)
				}
			}()
			srv.ServeHTTP(w, r)
		}()
		return w
	}

	img, err := random.Image(512, 2)
	if err != nil {
		f.Fatal(err)
	}
	config, _ := img.RawConfigFile()
	store.put(config)
	layers, _ := img.Layers()
	var good []cas.Digest
	for _, l := range layers {
		rc, _ := l.Compressed()
		b, _ := io.ReadAll(rc)
		good = append(good, store.put(b))
	}
	raw, _ := img.RawManifest()
	mt, _ := img.MediaType()
	put := func(target string, body []byte) {
		r, _ := http.NewRequest(http.MethodPut, target, bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer ci-token")
		r.Header.Set("Content-Type", string(mt))
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code != http.StatusCreated {
			f.Fatalf("PUT %s: %d %s", target, w.Code, w.Body)
		}
	}
	put("/v2/good/app/manifests/v1", raw)

	m, _ := img.Manifest()
	m.Layers[0].Size = 5
	evil, _ := json.Marshal(m)
	const (
		none = iota
		token
		garbage
	)
	for _, seed := range []struct {
		method string
		target string
		auth   byte
		body   []byte
	}{
		{"PUT", "/v2/evil/manifests/x", token, evil},
		{"PUT", "/v2/good/app/manifests/v1", none, evil},
		{"PUT", "/v2/good/app/manifests/v1", garbage, raw},
		{"GET", "/v2/good/app/blobs/" + good[0].OCI(), none, nil},
		{"GET", "/v2/other/blobs/" + good[0].OCI(), none, nil},
		{"HEAD", "/v2/good/app/manifests/v1", none, nil},
		{"GET", "/v2/good/app/tags/list?n=1&last=a", none, nil},
		{"POST", "/v2/x/blobs/uploads/", token, nil},
		{"POST", "/v2/x/blobs/uploads/?digest=" + good[1].OCI(), token, []byte("wrong")},
		{"POST", "/v2/x/blobs/uploads/?mount=" + good[1].OCI() + "&from=good/app", token, nil},
		{"PATCH", "/v2/x/blobs/uploads/0123", token, []byte("abc")},
		{"DELETE", "/v2/x/blobs/uploads/0123", none, nil},
		{"GET", "/v2/", garbage, nil},
		{"PUT", "/v2/i/manifests/latest", token, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"sha256:` + strings.Repeat("0", 64) + `","size":3}]}`)},
		{"PUT", "/v2/good/app/manifests/sig", token, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","artifactType":"application/x","manifests":[],"subject":{"mediaType":"` + string(mt) + `","digest":"` + cas.Of(raw).OCI() + `","size":` + fmt.Sprint(len(raw)) + `},"annotations":{"a":"<b>"}}`)},
		{"GET", "/v2/good/app/referrers/" + cas.Of(raw).OCI() + "?artifactType=application/x", none, nil},
		{"GET", "/v2/good/app/referrers/sha512:abc", none, nil},
	} {
		f.Add(seed.method, seed.target, seed.auth, seed.body)
	}

	f.Fuzz(func(t *testing.T, method, target string, authKind byte, body []byte) {
		authorization := ""
		switch authKind % 3 {
		case token:
			authorization = "Bearer ci-token"
		case garbage:
			authorization = "Basic " + string(body[:min(len(body), 16)])
		}
		w := send(method, target, authorization, body)
		if w == nil {
			return
		}
		write := method != http.MethodGet && method != http.MethodHead
		if write && authorization != "Bearer ci-token" && w.Code < 300 {
			t.Fatalf("%s %s without credentials: %d", method, target, w.Code)
		}
		for _, d := range good {
			if n, ok := srv.disk.size(d.Hash); !ok || n != d.Size {
				t.Fatalf("after %s %s: size of %s is %d (%v), want %d", method, target, d.OCI(), n, ok, d.Size)
			}
		}
		g := send(http.MethodGet, "/v2/good/app/blobs/"+good[0].OCI(), "", nil)
		if g.Code != http.StatusOK || cas.Of(g.Body.Bytes()) != good[0] {
			t.Fatalf("after %s %s: GET of the good layer: %d, %d bytes", method, target, g.Code, g.Body.Len())
		}
	})
}
