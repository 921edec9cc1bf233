package casregistry

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/rules-img/rules_img/tools/cas"
	"github.com/rules-img/rules_img/tools/cas/castest"
)

// stalledStore is a cache whose FindMissing hangs until released.
type stalledStore struct {
	cas.Store
	asked, release chan struct{}
}

func (s stalledStore) Missing(ctx context.Context, ds []cas.Digest) ([]cas.Digest, error) {
	s.asked <- struct{}{}
	select {
	case <-s.release:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// A slow cache holds up the push that asks it, not the pushes of others.
func TestSlowCacheDoesNotBlockOtherPushes(t *testing.T) {
	c := cache{castest.New()}
	store, err := cas.Dial(context.Background(), cas.Config{URL: c.ServeHTTP(t)})
	if err != nil {
		t.Fatal(err)
	}
	stalled := stalledStore{Store: store, asked: make(chan struct{}), release: make(chan struct{})}
	srv := httptest.NewServer(New(t.TempDir(), stalled, nil))
	defer srv.Close()
	put := func(repo, mediaType string, body []byte) (int, error) {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v2/"+repo+"/manifests/latest", bytes.NewReader(body))
		req.Header.Set("Content-Type", mediaType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	img, _ := random.Image(16, 1)
	// The cache has the blobs; only its answer to FindMissing is slow.
	c.putImage(t, img)
	raw, _ := img.RawManifest()
	mt, _ := img.MediaType()
	first := make(chan int, 1)
	go func() {
		code, _ := put("stalled", string(mt), raw)
		first <- code
	}()
	<-stalled.asked

	done := make(chan int, 1)
	go func() {
		code, _ := put("other", "application/vnd.oci.image.index.v1+json", []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`))
		done <- code
	}()
	select {
	case code := <-done:
		if code != http.StatusCreated {
			t.Errorf("the other push: %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Error("a push waited for another push's cache question")
	}
	close(stalled.release)
	if code := <-first; code != http.StatusCreated {
		t.Errorf("the stalled push: %d", code)
	}
}
