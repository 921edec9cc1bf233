package serve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTokens(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(file, []byte("# CI\nsecret-one\n\n  secret-two  \nrelease secret-three\n"), 0o600)
	tokens, err := LoadTokens(file)
	if err != nil {
		t.Fatal(err)
	}
	for token, want := range map[string]bool{"secret-one": true, "secret-two": true, "secret-three": true, "release secret-three": false, "release": false, "secret": false, "secret-one2": false, "": false, "# CI": false} {
		if got := tokens.Valid(token); got != want {
			t.Errorf("Valid(%q) = %v", token, got)
		}
	}
	for token, want := range map[string]string{"secret-one": "token-1", "secret-three": "release"} {
		if got, _ := tokens.Lookup(token); got != want {
			t.Errorf("Lookup(%q) = %q, want %q", token, got, want)
		}
	}
	if (*Tokens)(nil).Valid("secret-one") {
		t.Error("no tokens admit a token")
	}
	os.WriteFile(file, []byte("a b c\n"), 0o600)
	if _, err := LoadTokens(file); err == nil || !strings.Contains(err.Error(), "3 fields") {
		t.Errorf("a line of three fields: %v", err)
	}
	os.WriteFile(file, []byte("# nothing\n\n"), 0o600)
	if _, err := LoadTokens(file); err == nil || !strings.Contains(err.Error(), "no token") {
		t.Errorf("an empty tokens file: %v", err)
	}
	if _, err := LoadTokens(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "--tokens_file") {
		t.Errorf("a missing tokens file: %v", err)
	}
}

func TestBearerToken(t *testing.T) {
	for header, want := range map[string]string{"Bearer abc": "abc", "bearer  abc ": "abc", "Basic abc": "", "Bearer": "", "Bearer ": "", "abc": ""} {
		got, ok := BearerToken(header)
		if got != want || ok != (want != "") {
			t.Errorf("BearerToken(%q) = %q, %v", header, got, ok)
		}
	}
}

func TestCheckExposure(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:8980", "localhost:8980"} {
		if err := CheckExposure(addr, false, false, "--tokens_file"); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	for _, addr := range []string{"0.0.0.0:8980", ":8980", "[::]:8980", "192.0.2.1:8980"} {
		err := CheckExposure(addr, false, false, "--tokens_file or --client_ca")
		if err == nil || !strings.Contains(err.Error(), "--tokens_file or --client_ca") || !strings.Contains(err.Error(), "--allow_unauthenticated") {
			t.Errorf("%s without authentication: %v", addr, err)
		}
		if err := CheckExposure(addr, true, false, "--tokens_file"); err != nil {
			t.Errorf("%s with authentication: %v", addr, err)
		}
		if err := CheckExposure(addr, false, true, "--tokens_file"); err != nil {
			t.Errorf("%s with --allow_unauthenticated: %v", addr, err)
		}
	}
}
