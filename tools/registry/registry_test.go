package registry

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// isolate keeps the keychain away from the user's credentials; it returns
// the folder DOCKER_CONFIG points at.
func isolate(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("DOCKER_CONFIG", home)
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("XDG_RUNTIME_DIR", home)
	t.Setenv("REGISTRY_AUTH_FILE", "")
	os.Unsetenv("REGISTRY_AUTH_FILE")
	t.Setenv("IMG_CREDENTIAL_HELPER", "")
	return home
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func newRegistry() http.Handler {
	return ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
}

func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// push writes a random image and returns it.
func push(t *testing.T, host, repo, tag string) v1.Image {
	t.Helper()
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(host + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	return img
}

func firstLayer(t *testing.T, img v1.Image) (string, []byte) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return d.String(), data
}

// tamperBlobs flips the bytes of every blob body, keeping its length.
func tamperBlobs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		body := rec.Body.Bytes()
		for i := range body {
			body[i] ^= 0xff
		}
		w.Write(body)
	})
}

func TestBlob(t *testing.T) {
	isolate(t)
	good := serve(t, newRegistry())
	img := push(t, good, "test/blob", "v1")
	digest, data := firstLayer(t, img)
	empty := serve(t, newRegistry())
	down := closedAddr(t)
	c := New(context.Background())

	for _, tc := range []struct {
		name       string
		registries []string
		from       string
	}{
		{"only source", []string{good}, good},
		{"after 404", []string{empty, good}, good},
		{"after connection refused", []string{down, good}, good},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			src, err := c.Blob(Sources(tc.registries, "test/blob"), digest, int64(len(data)), &buf)
			if err != nil {
				t.Fatal(err)
			}
			if src.Registry != tc.from || src.Repository != "test/blob" {
				t.Errorf("served by %s", src)
			}
			if !bytes.Equal(buf.Bytes(), data) {
				t.Errorf("got %d bytes, want the %d of the layer", buf.Len(), len(data))
			}
		})
	}

	t.Run("nowhere", func(t *testing.T) {
		var buf bytes.Buffer
		_, err := c.Blob(Sources([]string{empty, down}, "test/blob"), digest, int64(len(data)), &buf)
		if err == nil {
			t.Fatal("no error")
		}
		for _, want := range []string{empty + " has no " + digest + " in test/blob", down} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		if buf.Len() != 0 {
			t.Errorf("wrote %d bytes", buf.Len())
		}
	})

	t.Run("bad digest", func(t *testing.T) {
		if _, err := c.Blob(Sources([]string{good}, "test/blob"), "sha256:nothex", 1, io.Discard); err == nil {
			t.Error("no error")
		}
	})

	t.Run("tampered", func(t *testing.T) {
		bad := serve(t, tamperBlobs(newRegistry()))
		push(t, bad, "test/blob", "v1") // other random layers there
		// Copy the layer of the good registry to the tampering one.
		layers, _ := img.Layers()
		repo, _ := name.NewRepository(bad + "/test/blob")
		if err := remote.WriteLayer(repo, layers[0]); err != nil {
			t.Fatal(err)
		}
		_, err := c.Blob(Sources([]string{bad}, "test/blob"), digest, SizeUnknown, io.Discard)
		if err == nil {
			t.Fatal("a registry that serves other bytes: no error")
		}
		if !strings.Contains(err.Error(), digest) || !strings.Contains(err.Error(), bad) {
			t.Errorf("error %q does not name the digest and the registry", err)
		}
	})
}

func TestManifestAndGet(t *testing.T) {
	isolate(t)
	host := serve(t, newRegistry())
	img := push(t, host, "test/img", "v1")
	d, _ := img.Digest()
	raw, _ := img.RawManifest()
	c := New(context.Background())
	sources := Sources([]string{host}, "test/img")

	desc, src, err := c.Get(sources, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != d || src.Registry != host {
		t.Errorf("Get by tag: %s from %s", desc.Digest, src)
	}
	desc, _, err = c.Manifest(sources, d.String(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(desc.Manifest, raw) {
		t.Errorf("Manifest bytes differ")
	}
	if _, _, err := c.Manifest(sources, "sha256:"+strings.Repeat("0", 64), 0); err == nil || !strings.Contains(err.Error(), "has no sha256:"+strings.Repeat("0", 64)) {
		t.Errorf("absent manifest: %v", err)
	}
	// An invalid repository is an error before any request.
	if _, _, err := c.Get(Sources([]string{host}, "Upper/Case"), "v1"); err == nil || !strings.Contains(err.Error(), "is not a valid repository") {
		t.Errorf("invalid repository: %v", err)
	}
}

func TestSources(t *testing.T) {
	s := Sources([]string{"mirror.io", "docker.io"}, "library/debian")
	if len(s) != 2 || s[0].String() != "mirror.io/library/debian" || s[1].String() != "docker.io/library/debian" {
		t.Errorf("Sources = %v", s)
	}
	if len(Sources(nil, "x")) != 0 {
		t.Errorf("Sources of no registries")
	}
}

// refuse answers every request with 401 and a Basic challenge, recording
// the Authorization headers it saw.
type refuse struct {
	mu    sync.Mutex
	auths []string
	code  int
}

func (h *refuse) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.auths = append(h.auths, r.Header.Get("Authorization"))
	h.mu.Unlock()
	w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
	code := h.code
	if code == 0 {
		code = http.StatusUnauthorized
	}
	if r.URL.Path == "/v2/" {
		code = http.StatusUnauthorized
	}
	w.WriteHeader(code)
	w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
}

func TestExplainRefused(t *testing.T) {
	const user, password = "alice", "s3cr3t-Pa55w0rd"
	for _, code := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			dir := isolate(t)
			h := &refuse{code: code}
			host := serve(t, h)
			encoded := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
			config, _ := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{"auth": encoded}}})
			if err := os.WriteFile(filepath.Join(dir, "config.json"), config, 0o600); err != nil {
				t.Fatal(err)
			}
			c := New(context.Background())
			sources := Sources([]string{host}, "private/img")
			var errs []error
			_, _, err := c.Get(sources, "v1")
			errs = append(errs, err)
			_, err = c.Blob(sources, "sha256:"+strings.Repeat("1", 64), 1, io.Discard)
			errs = append(errs, err)
			for _, err := range errs {
				if err == nil {
					t.Fatal("no error")
				}
				msg := err.Error()
				for _, want := range []string{"refused access", host, "private/img", "IMG_CREDENTIAL_HELPER"} {
					if !strings.Contains(msg, want) {
						t.Errorf("error %q lacks %q", msg, want)
					}
				}
				for _, secret := range []string{password, encoded} {
					if strings.Contains(msg, secret) {
						t.Errorf("error %q contains the credentials", msg)
					}
				}
			}
			// The credentials were offered, so the test tests something.
			offered := false
			for _, a := range h.auths {
				offered = offered || a == "Basic "+encoded
			}
			if !offered {
				t.Errorf("the keychain's credentials were never sent; saw %q", h.auths)
			}
		})
	}
}

func TestExplainNotFoundAndDown(t *testing.T) {
	isolate(t)
	host := serve(t, newRegistry())
	push(t, host, "test/img", "v1")
	down := closedAddr(t)
	c := New(context.Background())

	_, _, err := c.Get(Sources([]string{host}, "test/img"), "v2")
	if err == nil || err.Error() != host+" has no v2 in test/img" {
		t.Errorf("404 tag: %v", err)
	}
	_, _, err = c.Get(Sources([]string{host}, "test/other"), "v1")
	if err == nil || err.Error() != host+" has no v1 in test/other" {
		t.Errorf("404 repository: %v", err)
	}
	_, _, err = c.Get(Sources([]string{down}, "test/img"), "v1")
	if err == nil || !strings.Contains(err.Error(), down+"/test/img") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("connection refused: %v", err)
	}
	// Both explanations, in order, when every source fails.
	_, _, err = c.Get(Sources([]string{down, host}, "test/img"), "v9")
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	i, j := strings.Index(msg, down), strings.Index(msg, host+" has no v9")
	if i < 0 || j < 0 || i > j {
		t.Errorf("error %q does not explain both sources in order", msg)
	}
}
