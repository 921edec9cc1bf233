package push

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Stats count what a push did with each blob, from the requests it made.
type Stats struct {
	Existing  int64 // blobs the registry had (HEAD answered 200)
	Known     int64 // blobs named by the manifests the tags named before, not asked about
	Mounted   int64 // blobs mounted from another repository (POST answered 201)
	Uploaded  int64 // blobs uploaded (final PUT answered 201)
	BytesSent int64 // request body bytes of blob uploads
	Manifests int64 // manifests written (PUT answered 201)
	FromCache int64 // blobs streamed from the remote cache (lazy)
	Foreign   int64 // foreign (non-distributable) layers left out
}

func (s *Stats) String() string {
	line := fmt.Sprintf("%d blobs already there, %d mounted, %d uploaded (%s sent), %d manifests written",
		atomic.LoadInt64(&s.Existing), atomic.LoadInt64(&s.Mounted), atomic.LoadInt64(&s.Uploaded),
		HumanBytes(atomic.LoadInt64(&s.BytesSent)), atomic.LoadInt64(&s.Manifests))
	if n := atomic.LoadInt64(&s.Known); n > 0 {
		line += fmt.Sprintf("; %d blobs known from the manifests the tags named", n)
	}
	if n := atomic.LoadInt64(&s.FromCache); n > 0 {
		line += fmt.Sprintf("; %d blobs streamed from the remote cache", n)
	}
	if n := atomic.LoadInt64(&s.Foreign); n > 0 {
		line += fmt.Sprintf("; %d foreign layers not uploaded", n)
	}
	return line
}

// countingTransport records Stats from the registry's answers.
type countingTransport struct {
	next  http.RoundTripper
	stats *Stats
	log   func(string)
	mu    sync.Mutex
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	isUpload := strings.Contains(req.URL.Path, "/blobs/uploads/")
	if req.Body != nil && isUpload && (req.Method == http.MethodPatch || req.Method == http.MethodPut) {
		req.Body = &countingBody{ReadCloser: req.Body, n: &t.stats.BytesSent}
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	path := req.URL.Path
	switch {
	case req.Method == http.MethodHead && strings.Contains(path, "/blobs/sha256:") && resp.StatusCode == http.StatusOK:
		atomic.AddInt64(&t.stats.Existing, 1)
		t.logf("exists   %s", lastPart(path))
	case req.Method == http.MethodPost && isUpload && resp.StatusCode == http.StatusCreated:
		atomic.AddInt64(&t.stats.Mounted, 1)
		t.logf("mounted  %s", req.URL.Query().Get("mount"))
	case req.Method == http.MethodPut && isUpload && resp.StatusCode == http.StatusCreated:
		atomic.AddInt64(&t.stats.Uploaded, 1)
		t.logf("uploaded %s", req.URL.Query().Get("digest"))
	case req.Method == http.MethodPut && strings.Contains(path, "/manifests/") && resp.StatusCode == http.StatusCreated:
		atomic.AddInt64(&t.stats.Manifests, 1)
	}
	return resp, nil
}

func (t *countingTransport) logf(format string, args ...any) {
	if t.log != nil {
		t.mu.Lock()
		t.log(fmt.Sprintf(format, args...))
		t.mu.Unlock()
	}
}

type countingBody struct {
	io.ReadCloser
	n *int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	atomic.AddInt64(b.n, int64(n))
	return n, err
}

func lastPart(path string) string {
	return path[strings.LastIndex(path, "/")+1:]
}

// HumanBytes writes a byte count in binary units: "3.0 MiB".
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
