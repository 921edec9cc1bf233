package push

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/rules-img/rules_img/tools/cas"
	"github.com/rules-img/rules_img/tools/cas/castest"
)

// TestLazyPrecheckRetries: the lazy strategy's HEADs are retried as the
// eager push's requests are, so a registry that answers 429 and 503 to
// the first HEAD of each blob, or resets the connection, still gets the
// image.
func TestLazyPrecheckRetries(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	var seen sync.Map
	var faults atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/blobs/sha256:") {
			n, _ := seen.LoadOrStore(r.URL.Path, new(atomic.Int32))
			switch n.(*atomic.Int32).Add(1) {
			case 1:
				faults.Add(1)
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			case 2:
				faults.Add(1)
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			case 3:
				faults.Add(1)
				if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
					c.Close() // a connection reset, for the client
				}
				return
			}
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	host := strings.TrimPrefix(s.URL, "http://")

	cache := castest.New()
	img, _ := random.Image(1024, 2)
	spec := lazySpec(t, img, cache)
	store, err := cas.Dial(context.Background(), cas.Config{URL: cache.ServeGRPC(t)})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := New(context.Background(), nil, nil)
	if _, err := p.Run(Job{Label: "//app:push", Spec: spec, Target: Target{Registry: host, Repository: "app", Tags: []string{"v1"}}, Cache: store}); err != nil {
		t.Fatalf("lazy push through 429, 503 and resets: %v", err)
	}
	if faults.Load() < 6 {
		t.Errorf("only %d faults injected: the pre-check did not HEAD both layers", faults.Load())
	}
}
