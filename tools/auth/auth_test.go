package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// helper writes a credential helper script that records its arguments and
// stdin next to itself, then runs body.
func helper(t *testing.T, body string) (path, argsFile, stdinFile string) {
	t.Helper()
	dir := t.TempDir()
	path = filepath.Join(dir, "helper.sh")
	argsFile = filepath.Join(dir, "args")
	stdinFile = filepath.Join(dir, "stdin")
	script := "#!/bin/sh\n" +
		"echo \"$@\" > '" + argsFile + "'\n" +
		"cat > '" + stdinFile + "'\n" +
		body + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, argsFile, stdinFile
}

// answer is a helper body that prints one Authorization header.
func answer(header string) string {
	data, _ := json.Marshal(map[string]any{"headers": map[string][]string{"Authorization": {header}}})
	return "echo '" + string(data) + "'"
}

func isolate(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("DOCKER_CONFIG", home)
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("XDG_RUNTIME_DIR", home)
	t.Setenv("REGISTRY_AUTH_FILE", "")
	os.Unsetenv("REGISTRY_AUTH_FILE")
	t.Setenv(CredentialHelperEnv, "")
	return home
}

func registry(t *testing.T, host string) name.Registry {
	t.Helper()
	r, err := name.NewRegistry(host)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func authorization(t *testing.T, a authn.Authenticator) authn.AuthConfig {
	t.Helper()
	cfg, err := a.Authorization()
	if err != nil {
		t.Fatal(err)
	}
	return *cfg
}

func TestBazelHelper(t *testing.T) {
	isolate(t)
	const secret = "dXNlcjpwYXNz" // user:pass
	for _, tc := range []struct {
		name      string
		body      string
		want      *authn.AuthConfig // nil: anonymous
		err       []string
		forbidden []string // never in the error
	}{
		{name: "basic", body: answer("Basic " + secret), want: &authn.AuthConfig{Auth: secret}},
		{name: "basic lower case", body: answer("basic " + secret), want: &authn.AuthConfig{Auth: secret}},
		{name: "bearer", body: answer("Bearer tok.en-123"), want: &authn.AuthConfig{RegistryToken: "tok.en-123"}},
		{name: "header name case", body: `echo '{"headers":{"authorization":["Bearer abc"]}}'`, want: &authn.AuthConfig{RegistryToken: "abc"}},
		{name: "first value wins", body: `echo '{"headers":{"Authorization":["Bearer one","Bearer two"]}}'`, want: &authn.AuthConfig{RegistryToken: "one"}},
		{name: "no headers", body: `echo '{}'`},
		{name: "other headers only", body: `echo '{"headers":{"X-Other":["v"]}}'`},
		{name: "empty authorization list", body: `echo '{"headers":{"Authorization":[]}}'`},
		{name: "unsupported scheme", body: answer("Digest username=\"u\""),
			err: []string{"credential helper", `scheme "Digest"`, "Basic or Bearer"}, forbidden: []string{"username"}},
		// A bare token has no scheme: the message must not quote it.
		{name: "no scheme", body: answer(secret),
			err: []string{"credential helper", "no scheme", "Basic or Bearer"}, forbidden: []string{secret}},
		{name: "unknown scheme with token", body: answer("Token " + secret),
			err: []string{`scheme "Token"`}, forbidden: []string{secret}},
		{name: "fails", body: "echo '{\"headers\":{\"Authorization\":[\"Basic " + secret + "\"]}}'\necho 'no credentials for this host' >&2\nexit 3",
			err: []string{"credential helper", "127.0.0.1:5000", "exit status 3", "no credentials for this host"}, forbidden: []string{secret}},
		{name: "not JSON", body: "echo 'password=" + secret + "'",
			err: []string{"not the expected JSON"}, forbidden: []string{secret}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, argsFile, stdinFile := helper(t, tc.body)
			h := BazelHelper{Path: path}
			a, err := h.Resolve(registry(t, "127.0.0.1:5000"))
			args, _ := os.ReadFile(argsFile)
			if strings.TrimSpace(string(args)) != "get" {
				t.Errorf("helper called with %q, want get", args)
			}
			var req map[string]string
			stdin, _ := os.ReadFile(stdinFile)
			if err := json.Unmarshal(stdin, &req); err != nil || !reflect.DeepEqual(req, map[string]string{"uri": "https://127.0.0.1:5000/v2/"}) {
				t.Errorf("helper read %q (%v)", stdin, err)
			}
			if tc.err != nil {
				if err == nil {
					t.Fatalf("no error; got %+v", authorization(t, a))
				}
				for _, want := range tc.err {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q lacks %q", err, want)
					}
				}
				for _, bad := range tc.forbidden {
					if strings.Contains(err.Error(), bad) {
						t.Errorf("error %q contains %q", err, bad)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				if a != authn.Anonymous {
					t.Errorf("got %+v, want anonymous", authorization(t, a))
				}
				return
			}
			if got := authorization(t, a); !reflect.DeepEqual(got, *tc.want) {
				t.Errorf("got %+v, want %+v", got, *tc.want)
			}
		})
	}
}

func TestBazelHelperMissing(t *testing.T) {
	h := BazelHelper{Path: filepath.Join(t.TempDir(), "nope")}
	if _, err := h.Resolve(registry(t, "example.com")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing helper: %v", err)
	}
}

func TestBazelHelperContext(t *testing.T) {
	path, _, _ := helper(t, "sleep 10\n"+answer("Bearer late"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (BazelHelper{Path: path}).ResolveContext(ctx, registry(t, "example.com")); err == nil {
		t.Errorf("cancelled context: no error")
	}
}

// writeDockerConfig gives host Basic credentials in $DOCKER_CONFIG/config.json.
func writeDockerConfig(t *testing.T, dir, host, user, password string) string {
	t.Helper()
	encoded := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	data, _ := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{"auth": encoded}}})
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return encoded
}

func TestKeychain(t *testing.T) {
	const host = "registry.example.com"

	t.Run("docker config without helper", func(t *testing.T) {
		dir := isolate(t)
		writeDockerConfig(t, dir, host, "alice", "docker-pass")
		a, err := Keychain().Resolve(registry(t, host))
		if err != nil {
			t.Fatal(err)
		}
		got := authorization(t, a)
		if got.Username != "alice" || got.Password != "docker-pass" {
			t.Errorf("got %+v, want Docker's credentials", got)
		}
	})

	t.Run("helper first", func(t *testing.T) {
		dir := isolate(t)
		writeDockerConfig(t, dir, host, "alice", "docker-pass")
		path, _, stdinFile := helper(t, answer("Bearer from-helper"))
		t.Setenv(CredentialHelperEnv, path)
		a, err := Keychain().Resolve(registry(t, host))
		if err != nil {
			t.Fatal(err)
		}
		if got := authorization(t, a); !reflect.DeepEqual(got, authn.AuthConfig{RegistryToken: "from-helper"}) {
			t.Errorf("got %+v, want the helper's token", got)
		}
		if stdin, _ := os.ReadFile(stdinFile); !strings.Contains(string(stdin), "https://"+host+"/v2/") {
			t.Errorf("helper was asked %q", stdin)
		}
	})

	t.Run("helper without answer falls back to docker", func(t *testing.T) {
		dir := isolate(t)
		writeDockerConfig(t, dir, host, "alice", "docker-pass")
		path, _, stdinFile := helper(t, `echo '{"headers":{}}'`)
		t.Setenv(CredentialHelperEnv, path)
		a, err := Keychain().Resolve(registry(t, host))
		if err != nil {
			t.Fatal(err)
		}
		if got := authorization(t, a); got.Username != "alice" {
			t.Errorf("got %+v, want Docker's credentials", got)
		}
		if _, err := os.Stat(stdinFile); err != nil {
			t.Errorf("helper was not consulted: %v", err)
		}
	})

	t.Run("helper error", func(t *testing.T) {
		isolate(t)
		path, _, _ := helper(t, "echo 'helper broke' >&2; exit 1")
		t.Setenv(CredentialHelperEnv, path)
		if _, err := Keychain().Resolve(registry(t, host)); err == nil || !strings.Contains(err.Error(), "helper broke") {
			t.Errorf("failing helper: %v", err)
		}
	})

	t.Run("nothing configured", func(t *testing.T) {
		isolate(t)
		a, err := Keychain().Resolve(registry(t, host))
		if err != nil {
			t.Fatal(err)
		}
		if a != authn.Anonymous {
			t.Errorf("got %+v, want anonymous", authorization(t, a))
		}
	})
}
