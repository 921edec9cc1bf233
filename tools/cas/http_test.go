package cas_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rules-img/rules_img/tools/cas"
	"github.com/rules-img/rules_img/tools/cas/castest"
)

// TestHTTPRedirectsStayOnTheCache: a cache that redirects to another host
// is not followed there, and the configured headers never reach it; a
// redirect within the cache is followed.
func TestHTTPRedirectsStayOnTheCache(t *testing.T) {
	data := []byte("layer bytes")
	var leaked atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "" {
			leaked.Add(1)
		}
		w.Write(data)
	}))
	defer other.Close()
	inner := castest.New()
	inner.Add(data)
	innerURL := inner.ServeHTTP(t)
	cache := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/elsewhere/"):
			http.Redirect(w, r, other.URL+strings.TrimPrefix(r.URL.Path, "/elsewhere"), http.StatusFound)
		case strings.HasPrefix(r.URL.Path, "/moved/"):
			http.Redirect(w, r, "/here/"+strings.TrimPrefix(r.URL.Path, "/moved/"), http.StatusMovedPermanently)
		case strings.HasPrefix(r.URL.Path, "/here/"):
			req, _ := http.NewRequestWithContext(r.Context(), r.Method, innerURL+"/"+strings.TrimPrefix(r.URL.Path, "/here/"), nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				http.Error(w, "no inner cache", http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			w.WriteHeader(resp.StatusCode)
			io.Copy(w, resp.Body)
		default:
			http.NotFound(w, r)
		}
	}))
	defer cache.Close()
	headers := map[string]string{"X-Api-Key": "secret"}

	s := dial(t, cas.Config{URL: cache.URL + "/elsewhere", Headers: headers})
	for _, op := range []string{"Missing", "Open"} {
		var err error
		if op == "Missing" {
			_, err = s.Missing(context.Background(), []cas.Digest{cas.Of(data)})
		} else {
			var rc io.ReadCloser
			if rc, err = s.Open(context.Background(), cas.Of(data)); err == nil {
				rc.Close()
			}
		}
		if err == nil || !strings.Contains(err.Error(), "another origin") || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s through a redirect to another host: err = %v, want a refusal", op, err)
		}
	}
	if n := leaked.Load(); n > 0 {
		t.Errorf("the other host got the cache's headers %d times", n)
	}

	s = dial(t, cas.Config{URL: cache.URL + "/moved", Headers: headers})
	missing, err := s.Missing(context.Background(), []cas.Digest{cas.Of(data)})
	if err != nil || len(missing) != 0 {
		t.Errorf("Missing through a redirect on the same host = %v, %v; want nothing missing", missing, err)
	}
}
