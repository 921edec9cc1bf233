package casregistry

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// TestOCIConformance runs the conformance suite of the OCI distribution
// spec against the registry, when OCI_CONFORMANCE names its binary (it is
// not a dependency of this module):
//
//	go build -o /tmp/conformance github.com/opencontainers/distribution-spec/conformance@latest  # from any module
//	OCI_CONFORMANCE=/tmp/conformance go test -run TestOCIConformance -v ./tools/casregistry
//
// The suite pushes blobs that no build put in the cache: here every
// upload is put in the cache on its way in, as if Bazel had built it.
// The registry deletes nothing and takes sha256 only, so those tests are
// off. Every test that runs must pass; the referrers tests and the pushes
// of manifests with a subject (OCI-Subject) must be among them.
// tools/test.sh runs it with the suite tools/setup/peers/install.sh builds.
func TestOCIConformance(t *testing.T) {
	bin := os.Getenv("OCI_CONFORMANCE")
	if bin == "" {
		t.Skip("OCI_CONFORMANCE does not name the conformance binary")
	}
	f := newFixture(t, "http")
	f.count.next = &cachingUploads{next: f.count.next, cache: f.cache, parts: map[string][]byte{}}
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(),
		"OCI_REGISTRY="+f.host,
		"OCI_TLS=disabled",
		"OCI_VERSION=1.1",
		"OCI_RESULTS_DIR="+t.TempDir(),
		"OCI_API_BLOBS_DELETE=false",
		"OCI_API_MANIFESTS_DELETE=false",
		"OCI_API_TAGS_DELETE=false",
		"OCI_DATA_SHA512=false",
	)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Logf("the suite: %v", err)
	}
	// The summary has a line "<name>.....: <status>" for each API and data
	// set; the tests of each subject's referrers list are "Referrers".
	for _, name := range []string{"FAIL", "Error"} {
		m := regexp.MustCompile(`(?m)^\s*` + name + `\.*:\s*(\d+)\s*$`).FindSubmatch(out)
		if m == nil || string(m[1]) != "0" {
			t.Errorf("the suite's summary: %s %q, want 0", name, m)
		}
	}
	for _, name := range []string{"Referrers", "Manifest put with subject", "Artifacts with Subject", "Index with Subject", "Missing Subject"} {
		m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(name) + `\.*:\s*(\S+)\s*$`).FindSubmatch(out)
		switch {
		case m == nil:
			t.Errorf("the suite's summary has no line %q", name)
		case string(m[1]) != "Pass":
			t.Errorf("the suite's %s: %s", name, m[1])
		}
	}
}

// cachingUploads puts the bytes of every blob upload into the cache
// before the registry sees the upload's end: a monolithic upload's body,
// or the chunks the registry took and the last body.
type cachingUploads struct {
	next  http.Handler
	cache cache
	mu    sync.Mutex
	parts map[string][]byte
}

func (c *cachingUploads) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.Contains(r.URL.Path, "/blobs/uploads/") {
		c.next.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	c.mu.Lock()
	switch {
	case r.Method == http.MethodPut:
		c.cache.put(append(c.parts[r.URL.Path], body...))
	case r.Method == http.MethodPost && r.URL.Query().Has("digest"):
		c.cache.put(body)
	}
	c.mu.Unlock()
	sw := &statusWriter{ResponseWriter: w}
	c.next.ServeHTTP(sw, r)
	if r.Method == http.MethodPatch && sw.status == http.StatusAccepted {
		c.mu.Lock()
		c.parts[r.URL.Path] = append(c.parts[r.URL.Path], body...)
		c.mu.Unlock()
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}
