package registry

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// endless serves zeros until the client goes, and counts what it sent.
type endless struct{ sent atomic.Int64 }

func (e *endless) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v2/" {
		return
	}
	w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	chunk := make([]byte, 64<<10)
	for {
		n, err := w.Write(chunk)
		e.sent.Add(int64(n))
		if err != nil || e.sent.Load() > 1<<30 {
			return
		}
	}
}

// TestEndlessBodies: a registry that never ends a config, blob or
// manifest makes the client stop at the declared size or the cap.
func TestEndlessBodies(t *testing.T) {
	isolate(t)
	e := &endless{}
	sources := Sources([]string{serve(t, e)}, "evil/app")
	c := New(context.Background())
	digest := "sha256:" + strings.Repeat("ab", 32)

	_, err := c.Blob(sources, digest, 1234, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "more than the 1234 bytes its descriptor declares") {
		t.Errorf("endless config: %v", err)
	}
	_, _, err = c.Manifest(sources, digest, 0)
	if err == nil || !strings.Contains(err.Error(), "more than 4194304 bytes") {
		t.Errorf("endless manifest: %v", err)
	}
	_, _, err = c.Manifest(sources, digest, MaxManifestSize+1)
	if err == nil || !strings.Contains(err.Error(), "more than the 4194304 a manifest may have") {
		t.Errorf("a manifest declared too big: %v", err)
	}
	// What the server could write before the client closed: the cap and
	// the socket buffers, far from the 1 GiB it would send.
	if sent := e.sent.Load(); sent > 64<<20 {
		t.Errorf("the server sent %d bytes", sent)
	}
}
