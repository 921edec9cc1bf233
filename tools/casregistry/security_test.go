package casregistry

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"golang.org/x/crypto/bcrypt"

	"github.com/rules-img/rules_img/tools/cas"
)

// testAuth has the user alice (password "wonderland") and the token
// "ci-token" of the user ci.
func testAuth(t *testing.T) *Auth {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("wonderland"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ReadAuth(writeFile(t, "tokens", "# CI pushes\nci ci-token\n"), writeFile(t, "htpasswd", "alice:"+string(hash)+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func statusOf(err error) int {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	return 0
}

// Issue 15, point 3: anyone could write. Writes need credentials (htpasswd
// or a token), reads do not unless asked; 401 comes with a Basic
// challenge, so that clients with credentials send them.
func TestWritesNeedCredentials(t *testing.T) {
	f := newFixture(t, "http", WithAuth(testAuth(t), false))
	img := randomImage(t)
	f.cache.putImage(t, img)
	ref := f.ref(t, "team/app:prod")

	err := remote.Write(ref, img)
	if statusOf(err) != http.StatusUnauthorized {
		t.Fatalf("anonymous push: %v, want 401", err)
	}
	resp := f.do(t, http.MethodPut, "/v2/team/app/manifests/prod", "application/vnd.oci.image.manifest.v1+json", []byte(`{}`))
	wantError(t, resp, http.StatusUnauthorized, "UNAUTHORIZED")
	if got := resp.Header.Get("WWW-Authenticate"); got != `Basic realm="cas-registry"` {
		t.Errorf("WWW-Authenticate: %q", got)
	}
	wantError(t, f.do(t, http.MethodGet, "/v2/", "", nil), http.StatusUnauthorized, "UNAUTHORIZED")
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "alice", Password: "wrong"})); statusOf(err) != http.StatusUnauthorized {
		t.Errorf("push with a wrong password: %v, want 401", err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "alice", Password: "wonderland"})); err != nil {
		t.Fatalf("push as alice: %v", err)
	}
	// A token, as Bearer (crane's registrytoken) and as a password (skopeo --creds).
	img2 := randomImage(t)
	f.cache.putImage(t, img2)
	if err := remote.Write(f.ref(t, "team/app:token"), img2, remote.WithAuth(authn.FromConfig(authn.AuthConfig{RegistryToken: "ci-token"}))); err != nil {
		t.Errorf("push with a bearer token: %v", err)
	}
	if err := remote.Write(f.ref(t, "team/app:token2"), img2, remote.WithAuth(&authn.Basic{Username: "ci", Password: "ci-token"})); err != nil {
		t.Errorf("push with a token as password: %v", err)
	}
	if resp := f.doAs(t, map[string]string{"Authorization": "Bearer not-a-token"}, http.MethodDelete, "/v2/team/app/blobs/uploads/x", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("DELETE with a wrong token: %d", resp.StatusCode)
	}

	// Anonymous reads work; the anonymous client sees the 401 of /v2/ and
	// goes on without credentials, as crane and skopeo do.
	got, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("anonymous pull: %v", err)
	}
	if err := validate.Image(got); err != nil {
		t.Error(err)
	}

	// With reads authenticated, an anonymous pull is refused.
	g := newFixture(t, "http", WithAuth(testAuth(t), true))
	g.cache.putImage(t, img)
	if err := remote.Write(g.ref(t, "app:v1"), img, remote.WithAuth(&authn.Basic{Username: "alice", Password: "wonderland"})); err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Image(g.ref(t, "app:v1")); statusOf(err) != http.StatusUnauthorized {
		t.Errorf("anonymous pull with auth_reads: %v, want 401", err)
	}
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	wantError(t, g.do(t, http.MethodGet, "/v2/app/blobs/"+ld.String(), "", nil), http.StatusUnauthorized, "UNAUTHORIZED")
	got, err = remote.Image(g.ref(t, "app:v1"), remote.WithAuth(&authn.Basic{Username: "alice", Password: "wonderland"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("pull as alice with auth_reads: %v", err)
	}
}

// Issue 15, point 4: a manifest that names an existing layer with size 5
// broke every image sharing the layer. It is refused, before and after the
// good image is pushed, and the good image still validates.
func TestManifestCannotChangeBlobSizes(t *testing.T) {
	for _, p := range []string{"http", "grpc", "grpc-ignoring-sizes"} {
		t.Run(p, func(t *testing.T) {
			f := newFixture(t, p)
			img := randomImage(t)
			f.cache.putImage(t, img)
			layers, _ := img.Layers()
			ld, _ := layers[0].Digest()
			size, _ := layers[0].Size()
			bad := func(repo, code string) {
				t.Helper()
				m, err := img.Manifest()
				if err != nil {
					t.Fatal(err)
				}
				m.Layers[0].Size = 5
				raw, _ := json.Marshal(m)
				wantError(t, f.do(t, http.MethodPut, "/v2/"+repo+"/manifests/evil", string(m.MediaType), raw), http.StatusBadRequest, code)
			}
			// Before the good image: the cache does not confirm the size.
			// A REAPI cache that checks sizes lacks the digest (hash, 5).
			first := "MANIFEST_INVALID"
			if p == "grpc" {
				first = "MANIFEST_BLOB_UNKNOWN"
			}
			bad("attacker/first", first)
			if err := remote.Write(f.ref(t, "team/app:prod"), img); err != nil {
				t.Fatal(err)
			}
			// After: the recorded size is kept.
			bad("attacker/after", "MANIFEST_INVALID")
			bad("team/app", "MANIFEST_INVALID")

			resp := f.do(t, http.MethodHead, "/v2/team/app/blobs/"+ld.String(), "", nil)
			if resp.Header.Get("Content-Length") != strconv.FormatInt(size, 10) {
				t.Errorf("HEAD of the layer: Content-Length %s, want %d", resp.Header.Get("Content-Length"), size)
			}
			got, err := remote.Image(f.ref(t, "team/app:prod"))
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Image(got); err != nil {
				t.Errorf("the good image after the attack: %v", err)
			}
		})
	}
}

// A size recorded here is never replaced, even by a size the caller
// thinks is confirmed.
func TestRecordedSizeIsNeverOverwritten(t *testing.T) {
	d := disk{root: t.TempDir()}
	hex := strings.Repeat("ab", 32)
	if n, err := d.putSize(cas64(hex, 100)); err != nil || n != 100 {
		t.Fatalf("first: %d %v", n, err)
	}
	if n, err := d.putSize(cas64(hex, 5)); err != nil || n != 100 {
		t.Errorf("second: %d %v, want the recorded 100", n, err)
	}
	if n, _ := d.size(hex); n != 100 {
		t.Errorf("size after: %d", n)
	}
}

// Issue 15, point 5: knowing a hash was enough to read any blob of the
// cache. A blob is served only in a repository that has it.
func TestBlobsAreServedOnlyInTheirRepositories(t *testing.T) {
	protocols(t, func(t *testing.T, f *fixture) {
		img := randomImage(t)
		f.cache.putImage(t, img)
		if err := remote.Write(f.ref(t, "team/app:v1"), img); err != nil {
			t.Fatal(err)
		}
		layers, _ := img.Layers()
		ld, _ := layers[0].Digest()
		if resp := f.do(t, http.MethodGet, "/v2/team/app/blobs/"+ld.String(), "", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET in its repository: %d", resp.StatusCode)
		}
		wantError(t, f.do(t, http.MethodGet, "/v2/any/name/blobs/"+ld.String(), "", nil), http.StatusNotFound, "BLOB_UNKNOWN")
		wantError(t, f.do(t, http.MethodHead, "/v2/any/name/blobs/"+ld.String(), "", nil), http.StatusNotFound, "")

		// A secret that Bazel put in the cache, never pushed: not served,
		// and no byte of it is read from the cache.
		secret := f.cache.put([]byte("a credential that a build action wrote"))
		reads := f.cache.Reads
		for _, repo := range []string{"team/app", "any/name"} {
			resp := f.do(t, http.MethodGet, "/v2/"+repo+"/blobs/"+secret.OCI(), "", nil)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusNotFound || bytes.Contains(body, []byte("credential")) {
				t.Errorf("GET of an unpushed blob in %s: %d %q", repo, resp.StatusCode, body)
			}
		}
		if f.cache.Reads != reads {
			t.Errorf("the cache was read %d times for blobs nobody may read", f.cache.Reads-reads)
		}
	})
}

func cas64(hex string, size int64) cas.Digest { return cas.Digest{Hash: hex, Size: size} }

// Issue 15, point 11: a 500 said the server's --dir (os.PathError names
// the file). The body now says nothing of it; the log has the cause.
func TestInternalErrorsHideServerPaths(t *testing.T) {
	f := newFixture(t, "http")
	img := randomImage(t)
	f.cache.putImage(t, img)
	// The registry cannot write below its directory any more.
	if err := os.RemoveAll(f.dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.dir, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := remote.Write(f.ref(t, "team/app:v1"), img)
	if err == nil {
		t.Fatal("a push into an unwritable --dir succeeded")
	}
	if strings.Contains(err.Error(), f.dir) || !strings.Contains(err.Error(), "its log has the cause") {
		t.Errorf("the client saw %v: want a 500 that names no server path", err)
	}
}
