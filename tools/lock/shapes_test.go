package lock

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

// rewriteContentType answers every manifest GET of the registry with
// Content-Type ct and without Docker-Content-Digest, as some registries do.
func rewriteContentType(ct string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.Contains(r.URL.Path, "/manifests/") || r.Method == http.MethodPut {
				next.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(headerRewriter{ResponseWriter: w, ct: ct}, r)
		})
	}
}

type headerRewriter struct {
	http.ResponseWriter
	ct string
}

func (h headerRewriter) WriteHeader(code int) {
	h.Header().Set("Content-Type", h.ct)
	h.Header().Del("Docker-Content-Digest")
	h.ResponseWriter.WriteHeader(code)
}

func (h headerRewriter) Write(b []byte) (int, error) { return h.ResponseWriter.Write(b) }

func TestResolveTrustsTheBytesNotTheContentType(t *testing.T) {
	isolate(t)
	for _, ct := range []string{string(types.DockerManifestSchema2), "application/json", "text/plain; charset=utf-8"} {
		host := serve(t, rewriteContentType(ct))
		pushedIdx := pushIndex(t, host, "library/base", "v1")
		img, err := Resolve(client(t), Pull{Name: "base", Registries: []string{host}, Repository: "library/base", Tag: "v1"})
		if err != nil {
			t.Fatalf("Content-Type %s: %v", ct, err)
		}
		if img.Digest != pushedIdx.indexHash.String() || img.MediaType != string(types.OCIImageIndex) {
			t.Errorf("Content-Type %s: %s %s, want the OCI index %s", ct, img.Digest, img.MediaType, pushedIdx.indexHash)
		}
		if got := img.PlatformNames(); !reflect.DeepEqual(got, []string{"linux/amd64", "linux/arm64/v8"}) {
			t.Errorf("Content-Type %s: platforms %v", ct, got)
		}
	}
}

func TestMediaTypeOf(t *testing.T) {
	for _, tc := range []struct{ doc, header, want string }{
		// The mediaType field wins over the header.
		{`{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}`, string(types.DockerManifestSchema2), string(types.OCIImageIndex)},
		{`{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{}}`, "application/json", string(types.DockerManifestSchema2)},
		// Without one, a header that fits the fields.
		{`{"schemaVersion":2,"manifests":[{}]}`, string(types.DockerManifestList), string(types.DockerManifestList)},
		{`{"schemaVersion":2,"config":{}}`, string(types.DockerManifestSchema2) + "; charset=utf-8", string(types.DockerManifestSchema2)},
		// A header that does not fit: the fields.
		{`{"schemaVersion":2,"manifests":[{}]}`, string(types.OCIManifestSchema1), string(types.OCIImageIndex)},
		{`{"schemaVersion":2,"config":{}}`, "application/octet-stream", string(types.OCIManifestSchema1)},
	} {
		if got, err := MediaTypeOf([]byte(tc.doc), tc.header); err != nil || got != tc.want {
			t.Errorf("MediaTypeOf(%s, %q) = %q, %v; want %q", tc.doc, tc.header, got, err, tc.want)
		}
	}
}

func TestSchema1IsRefused(t *testing.T) {
	signed := `{"schemaVersion":1,"name":"x","tag":"1","fsLayers":[{"blobSum":"sha256:aa"}],"history":[],"signatures":[{}]}`
	for _, tc := range []struct{ doc, header string }{
		{signed, string(types.DockerManifestSchema1Signed)},
		{signed, "application/json"},
		{`{"schemaVersion":1,"fsLayers":[]}`, ""},
		{`{"fsLayers":[]}`, string(types.DockerManifestSchema1)},
		{`{"mediaType":"application/vnd.docker.distribution.manifest.v1+json"}`, ""},
	} {
		_, err := MediaTypeOf([]byte(tc.doc), tc.header)
		if !errors.Is(err, ErrSchema1) || !strings.Contains(err.Error(), "skopeo copy --format v2s2") || !strings.Contains(err.Error(), "another tag") {
			t.Errorf("MediaTypeOf(%s, %q): %v; want the schema 1 error, saying what to do", tc.doc, tc.header, err)
		}
	}
	if _, err := ParsePlatform([]byte(signed), string(types.DockerManifestSchema1Signed), "sha256:x"); !errors.Is(err, ErrSchema1) {
		t.Errorf("ParsePlatform of schema 1: %v", err)
	}
	_, err := FromRoot(nil, Pull{Name: "old", Registries: []string{"r"}, Repository: "x", Tag: "1"},
		Root{Digest: "sha256:x", MediaType: string(types.DockerManifestSchema1Signed), Raw: []byte(signed)})
	if !errors.Is(err, ErrSchema1) || !strings.Contains(err.Error(), `pull "old" (r/x:1)`) {
		t.Errorf("FromRoot of schema 1: %v", err)
	}
}

func TestForeignLayersKeepTheirURLs(t *testing.T) {
	raw := `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",` +
		`"config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:` + strings.Repeat("c", 64) + `","size":2},` +
		`"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"sha256:` + strings.Repeat("a", 64) + `","size":3},` +
		`{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"sha256:` + strings.Repeat("b", 64) + `","size":4,` +
		`"urls":["https://example.com/b.tar.gz"]}]}`
	entry, err := ParsePlatform([]byte(raw), string(types.DockerManifestSchema2), "sha256:x")
	if err != nil {
		t.Fatal(err)
	}
	if entry.Layers[0].Foreign() || len(entry.Layers[0].URLs) != 0 {
		t.Errorf("layer 0: %+v", entry.Layers[0])
	}
	if !entry.Layers[1].Foreign() || !reflect.DeepEqual(entry.Layers[1].URLs, []string{"https://example.com/b.tar.gz"}) {
		t.Errorf("layer 1: %+v, want a foreign layer with its url", entry.Layers[1])
	}
	for _, mt := range []types.MediaType{types.OCIRestrictedLayer, types.OCIUncompressedRestrictedLayer} {
		if !(Descriptor{MediaType: string(mt)}).Foreign() {
			t.Errorf("%s is foreign", mt)
		}
	}
	// The lockfile writes urls after size, and none for other layers.
	out, err := json.Marshal(entry.Layers)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(out), `"urls"`) != 1 || !strings.Contains(string(out), `"size":4,"urls":["https://example.com/b.tar.gz"]`) {
		t.Errorf("layers as JSON: %s", out)
	}
}
