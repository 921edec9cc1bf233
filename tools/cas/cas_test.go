package cas_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	repb "github.com/bazelbuild/remote-apis/build/bazel/remote/execution/v2"

	"github.com/rules-img/rules_img/tools/cas"
	"github.com/rules-img/rules_img/tools/cas/castest"
)

// protocols runs a test against both cache protocols.
func protocols(t *testing.T, f func(t *testing.T, c *castest.Cache, url string)) {
	for _, p := range []string{"grpc", "http"} {
		t.Run(p, func(t *testing.T) {
			c := castest.New()
			url := c.ServeHTTP(t)
			if p == "grpc" {
				url = c.ServeGRPC(t)
			}
			f(t, c, url)
		})
	}
}

func dial(t *testing.T, c cas.Config) cas.Store {
	t.Helper()
	s, err := cas.Dial(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMissingAndOpen(t *testing.T) {
	protocols(t, func(t *testing.T, c *castest.Cache, url string) {
		big := bytes.Repeat([]byte("layer bytes "), 100_000) // many ByteStream messages
		small := []byte("config")
		c.Add(big)
		c.Add(small)
		absent := cas.Of([]byte("not there"))
		s := dial(t, cas.Config{URL: url})
		ctx := context.Background()

		missing, err := s.Missing(ctx, []cas.Digest{cas.Of(big), absent, cas.Of(small)})
		if err != nil {
			t.Fatal(err)
		}
		if len(missing) != 1 || missing[0] != absent {
			t.Errorf("Missing = %v, want [%v]", missing, absent)
		}

		rc, err := s.Open(ctx, cas.Of(big))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, big) {
			t.Errorf("Open read %d bytes, err %v; want %d bytes", len(got), err, len(big))
		}

		_, err = s.Open(ctx, absent)
		if !errors.Is(err, cas.ErrNotFound) || !strings.Contains(err.Error(), absent.Hash) {
			t.Errorf("Open(absent) = %v, want ErrNotFound naming %s", err, absent.Hash)
		}
	})
}

func TestOpenVerifies(t *testing.T) {
	protocols(t, func(t *testing.T, c *castest.Cache, url string) {
		data := bytes.Repeat([]byte("abc"), 5000)
		c.Corrupt = c.Add(data)
		s := dial(t, cas.Config{URL: url})
		rc, err := s.Open(context.Background(), cas.Of(data))
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if _, err := io.ReadAll(rc); err == nil || !strings.Contains(err.Error(), "sha256") {
			t.Errorf("reading a corrupt blob: err = %v, want a sha256 mismatch", err)
		}
	})
}

func TestOpenChecksSize(t *testing.T) {
	// The HTTP cache keys by hash only, so a wrong size reaches the reader.
	c := castest.New()
	data := []byte("twelve bytes")
	c.Add(data)
	s := dial(t, cas.Config{URL: c.ServeHTTP(t)})
	for _, size := range []int64{5, 20} {
		d := cas.Of(data)
		d.Size = size
		rc, err := s.Open(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(rc)
		rc.Close()
		if err == nil || !strings.Contains(err.Error(), "bytes") {
			t.Errorf("size %d: err = %v, want a size mismatch", size, err)
		}
	}
}

func TestPutRoundTrip(t *testing.T) {
	protocols(t, func(t *testing.T, c *castest.Cache, url string) {
		s := dial(t, cas.Config{URL: url, InstanceName: "main"})
		w, ok := s.(cas.Writer)
		if !ok {
			t.Fatalf("%T is not a cas.Writer", s)
		}
		data := bytes.Repeat([]byte("0123456789"), 300_000) // several write chunks
		if err := w.Put(context.Background(), cas.Of(data), bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if got, ok := c.Get(cas.Of(data).Hash); !ok || !bytes.Equal(got, data) {
			t.Error("the cache does not hold the blob after Put")
		}
		empty := cas.Of(nil)
		if err := w.Put(context.Background(), empty, bytes.NewReader(nil)); err != nil {
			t.Fatal(err)
		}
		rc, err := s.Open(context.Background(), empty)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(rc); err != nil || len(got) != 0 {
			t.Errorf("empty blob: %q, %v", got, err)
		}
	})
}

func TestOtherDigestFunctionsAreRefused(t *testing.T) {
	c := castest.New()
	c.DigestFunctions = []repb.DigestFunction_Value{repb.DigestFunction_BLAKE3}
	_, err := cas.Dial(context.Background(), cas.Config{URL: c.ServeGRPC(t)})
	if err == nil || !strings.Contains(err.Error(), "BLAKE3") || !strings.Contains(err.Error(), "SHA256") {
		t.Errorf("Dial to a BLAKE3 cache: err = %v, want one naming BLAKE3 and SHA256", err)
	}
	c.DigestFunctions = []repb.DigestFunction_Value{repb.DigestFunction_BLAKE3, repb.DigestFunction_SHA256}
	if _, err := cas.Dial(context.Background(), cas.Config{URL: c.ServeGRPC(t)}); err != nil {
		t.Errorf("Dial to a cache with BLAKE3 and SHA256: %v", err)
	}
}

func TestDigestsOfOtherLengthsAreRefused(t *testing.T) {
	protocols(t, func(t *testing.T, c *castest.Cache, url string) {
		s := dial(t, cas.Config{URL: url})
		blake := cas.Digest{Hash: strings.Repeat("ab", 32) + "ab", Size: 1}
		if _, err := s.Missing(context.Background(), []cas.Digest{blake}); err == nil || !strings.Contains(err.Error(), "sha256") {
			t.Errorf("Missing: err = %v, want a sha256 error", err)
		}
		if _, err := s.Open(context.Background(), blake); err == nil {
			t.Error("Open of a 66-digit digest succeeded")
		}
	})
	if _, err := cas.ParseOCI("sha512:"+strings.Repeat("a", 128), 1); err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("ParseOCI(sha512): err = %v", err)
	}
	if d, err := cas.ParseOCI("sha256:"+strings.Repeat("a", 64), 7); err != nil || d.Size != 7 {
		t.Errorf("ParseOCI(sha256) = %v, %v", d, err)
	}
}

func TestInstanceNameAndHeaders(t *testing.T) {
	protocols(t, func(t *testing.T, c *castest.Cache, url string) {
		data := []byte("blob")
		c.Add(data)
		helper := filepath.Join(t.TempDir(), "helper")
		stdin := helper + ".stdin"
		script := "#!/bin/sh\ncat > '" + stdin + "'\necho '{\"headers\":{\"Authorization\":[\"Bearer sesame\"]}}'\n"
		if err := os.WriteFile(helper, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		s := dial(t, cas.Config{URL: url, InstanceName: "ci/main", CredentialHelper: helper, Headers: map[string]string{"X-Team": "images"}})
		rc, err := s.Open(context.Background(), cas.Of(data))
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(rc)
		rc.Close()
		if got := c.Headers.Get("Authorization"); got != "Bearer sesame" {
			t.Errorf("Authorization = %q", got)
		}
		if got := c.Headers.Get("X-Team"); got != "images" {
			t.Errorf("X-Team = %q", got)
		}
		asked, _ := os.ReadFile(stdin)
		if !strings.Contains(string(asked), `"uri"`) || !strings.Contains(string(asked), "127.0.0.1") {
			t.Errorf("the helper was asked %q", asked)
		}
	})
}

func TestUnreachable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	if _, err := cas.Dial(context.Background(), cas.Config{URL: "grpc://" + addr}); err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Errorf("gRPC: err = %v, want 'not reachable'", err)
	}
	s := dial(t, cas.Config{URL: "http://user:hunter2@" + addr})
	_, err = s.Missing(context.Background(), []cas.Digest{cas.Of([]byte("x"))})
	if err == nil || !strings.Contains(err.Error(), "not reachable") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("HTTP: err = %v, want 'not reachable' without the password", err)
	}
}

func TestDialAddresses(t *testing.T) {
	for _, bad := range []string{"", "ftp://cache", "grpc://", "grpc://host:1/path"} {
		if _, err := cas.Dial(context.Background(), cas.Config{URL: bad}); err == nil {
			t.Errorf("Dial(%q) succeeded", bad)
		}
	}
	// unix: sockets, as Bazel writes them.
	c := castest.New()
	data := []byte("over a socket")
	c.Add(data)
	sock := filepath.Join(t.TempDir(), "cas.sock")
	c.ServeGRPCListener(t, func() net.Listener {
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}())
	for _, url := range []string{"unix:" + sock, "unix://" + sock} {
		s := dial(t, cas.Config{URL: url})
		if m, err := s.Missing(context.Background(), []cas.Digest{cas.Of(data)}); err != nil || len(m) != 0 {
			t.Errorf("%s: Missing = %v, %v", url, m, err)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("IMG_REAPI_ENDPOINT", "grpcs://cache.example.com")
	t.Setenv("IMG_REAPI_INSTANCE_NAME", "main")
	t.Setenv("IMG_CREDENTIAL_HELPER", "/bin/helper")
	t.Setenv("IMG_REAPI_HEADERS", "X-A=1\nX-B=two=2\n")
	t.Setenv("IMG_REAPI_TLS_CERTIFICATE", "")
	c := cas.ConfigFromEnv()
	if c.URL != "grpcs://cache.example.com" || c.InstanceName != "main" || c.CredentialHelper != "/bin/helper" ||
		c.Headers["X-A"] != "1" || c.Headers["X-B"] != "two=2" || len(c.Headers) != 2 {
		t.Errorf("ConfigFromEnv = %+v", c)
	}
}

func TestGRPCRefusesCredentialsInTheAddress(t *testing.T) {
	for _, url := range []string{"grpcs://user:hunter2@cache.example.com", "grpc://user:hunter2@127.0.0.1:1", "user:hunter2@cache.example.com:443"} {
		_, err := cas.Dial(context.Background(), cas.Config{URL: url})
		if err == nil || !strings.Contains(err.Error(), "--remote_header") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Dial(%q) = %v, want a refusal naming --remote_header, without the password", url, err)
		}
	}
}

// credentialCases are the addresses of img/tests/remote_cache_tests.bzl,
// which checks the Starlark side of the same notion.
var credentialCases = map[string]bool{
	"https://user:secret@cache.invalid/x":  true,
	"user:pw@cache:443":                    true,
	"u@cache":                              true,
	"grpcs://u@h":                          true,
	"grpc://u:p@h:1/instance":              true,
	"HTTP://u@h":                           true,
	"cache.example.com:443":                false,
	"grpcs://cache.example.com":            false,
	"https://cache.example.com/a@b":        false,
	"https://cache.example.com/x?user=a@b": false,
	"unix:/run/user@1000/cas.sock":         false,
	"unix:///run/cas.sock":                 false,
	"":                                     false,
}

func TestHasCredentials(t *testing.T) {
	for address, want := range credentialCases {
		if got := cas.HasCredentials(address); got != want {
			t.Errorf("HasCredentials(%q) = %v, want %v", address, got, want)
		}
	}
}

func TestRedactedURL(t *testing.T) {
	for url, want := range map[string]string{
		"https://user:hunter2@cache.example.com/x": "https://xxxxx@cache.example.com/x",
		"user:hunter2@cache.example.com:443":       "xxxxx@cache.example.com:443",
		"grpcs://cache.example.com":                "grpcs://cache.example.com",
		"unix:/run/cas.sock":                       "unix:/run/cas.sock",
		"grpcs://u@h/x@y":                          "grpcs://xxxxx@h/x@y",
	} {
		if got := (cas.Config{URL: url}).RedactedURL(); got != want {
			t.Errorf("RedactedURL(%q) = %q, want %q", url, got, want)
		}
	}
}

// CheckSizes tells a blob of another size from a missing one, for caches
// that find blobs by hash alone (Bazel's HTTP cache, and REAPI servers
// that ignore a digest's size).
func TestCheckSizes(t *testing.T) {
	for _, protocol := range []string{"http", "grpc", "grpc-ignoring-sizes"} {
		t.Run(protocol, func(t *testing.T) {
			c := castest.New()
			url := c.ServeHTTP(t)
			if protocol != "http" {
				c.IgnoreSizes = protocol == "grpc-ignoring-sizes"
				url = c.ServeGRPC(t)
			}
			store, err := cas.Dial(context.Background(), cas.Config{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			blob := []byte("a layer of eleven bytes..")
			good := cas.Of(blob)
			c.Add(blob)
			short := cas.Digest{Hash: good.Hash, Size: 5}
			long := cas.Digest{Hash: good.Hash, Size: good.Size + 1}
			absent := cas.Of([]byte("absent"))
			emptyWrong := cas.Digest{Hash: cas.Of(nil).Hash, Size: 3}
			ds := []cas.Digest{good, short, long, absent, cas.Of(nil), emptyWrong}
			missing, wrong, err := cas.CheckSizes(context.Background(), store, ds)
			if err != nil {
				t.Fatal(err)
			}
			// A cache that checks sizes lacks the digests of wrong size;
			// one that does not has them with another size. Either way,
			// only the right sizes are confirmed.
			refused := map[cas.Digest]bool{}
			for _, d := range append(missing, wrong...) {
				refused[d] = true
			}
			for _, d := range ds {
				if want := d != good && d != cas.Of(nil); refused[d] != want {
					t.Errorf("%v: refused %v, want %v (missing %v, wrong size %v)", d, refused[d], want, missing, wrong)
				}
			}
			if !slices.Contains(missing, absent) {
				t.Errorf("missing = %v, want %v among them", missing, absent)
			}
		})
	}
}
