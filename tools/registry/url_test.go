package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A foreign layer's url is a source like a registry's repository: written
// as fetch-blob's --source, split at its first '/', it is still its url.
func TestURLSource(t *testing.T) {
	isolate(t)
	data := []byte("the bytes of a foreign layer")
	sum := sha256.Sum256(data)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	var agents []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		agents = append(agents, r.UserAgent())
		switch r.URL.Path {
		case "/layers/good.tar.gz":
			w.Write(data)
		case "/layers/wrong.tar.gz":
			w.Write(append([]byte("x"), data[1:]...))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	good := srv.URL + "/layers/good.tar.gz"

	src := URLSource(good)
	if u, ok := src.URL(); !ok || u != good || src.String() != good {
		t.Errorf("URLSource(%s) = %+v: URL %q %v", good, src, u, ok)
	}
	reg, repo, _ := strings.Cut(good, "/")
	if u, ok := (Source{Registry: reg, Repository: repo}).URL(); !ok || u != good {
		t.Errorf("a url split as registry/repository is not its url: %q", u)
	}
	if _, ok := (Source{Registry: "127.0.0.1:5000", Repository: "http/x"}).URL(); ok {
		t.Errorf("a repository is taken for a url")
	}

	c := New(context.Background())
	var buf bytes.Buffer
	missing := URLSource(srv.URL + "/layers/missing.tar.gz")
	got, err := c.Blob([]Source{missing, src}, digest, int64(len(data)), &buf)
	if err != nil || got != src || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("Blob from urls: %v from %v, %q", err, got, buf.Bytes())
	}
	if agents[0] != "rules_img" {
		t.Errorf("User-Agent %q", agents[0])
	}
	if _, err := c.Blob([]Source{URLSource(srv.URL + "/layers/wrong.tar.gz")}, digest, int64(len(data)), &buf); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Errorf("a url that serves other bytes: %v", err)
	}
	if _, err := c.Blob([]Source{src}, digest, int64(len(data))-1, &buf); err == nil {
		t.Errorf("a url that serves more than the declared size: no error")
	}
	if _, err := c.Blob([]Source{missing}, digest, int64(len(data)), &buf); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("a url that answers 404: %v", err)
	}
	if _, err := OpenURL(context.Background(), "file:///etc/passwd"); err == nil {
		t.Errorf("a file url is opened")
	}
}
