package attest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
)

// cosignKey writes an ECDSA key as `cosign generate-key-pair` does.
func cosignKey(t *testing.T, dir, password string) (string, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	enc, err := encrypted.Encrypt(der, []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "cosign.key")
	os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED SIGSTORE PRIVATE KEY", Bytes: enc}), 0o600)
	return path, key
}

func TestLoadCosignKey(t *testing.T) {
	dir := t.TempDir()
	path, key := cosignKey(t, dir, "pw")
	s, err := LoadCosignKey(path, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Public().(*ecdsa.PublicKey).Equal(&key.PublicKey) {
		t.Error("another key was loaded")
	}
	if _, err := LoadCosignKey(path, []byte("wrong")); err == nil || !strings.Contains(err.Error(), "$COSIGN_PASSWORD") {
		t.Errorf("wrong password: %v", err)
	}
	plain := filepath.Join(dir, "plain.pem")
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	os.WriteFile(plain, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	if _, err := LoadCosignKey(plain, nil); err == nil || !strings.Contains(err.Error(), "not a cosign private key") {
		t.Errorf("a plain PEM key: %v", err)
	}
}

func TestBundle(t *testing.T) {
	ctx := context.Background()
	path, _ := cosignKey(t, t.TempDir(), "")
	s, _ := LoadCosignKey(path, nil)
	st, err := Statement("registry.example/app", strings.Repeat("a", 64), SignPredicateType, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Bundle(ctx, s, st)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := BundleStatement(ctx, b, s.Public()); !ok || string(got) != string(st) {
		t.Errorf("the bundle does not give back its statement: %s", got)
	}
	other, _ := cosignKey(t, t.TempDir(), "")
	os2, _ := LoadCosignKey(other, nil)
	if _, ok := BundleStatement(ctx, b, os2.Public()); ok {
		t.Error("the bundle verifies with another key")
	}
}

// A signing command: openssl signs standard input with a PEM key.
func TestCommandSigner(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is needed (Debian package openssl)")
	}
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyPath := filepath.Join(dir, "key.pem")
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	s := CommandSigner{Command: []string{"openssl", "dgst", "-sha256", "-sign", keyPath}, Key: &key.PublicKey}
	sig, err := s.Sign(context.Background(), []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(context.Background(), []byte("payload"), sig); err != nil {
		t.Error(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	wrong := CommandSigner{Command: s.Command, Key: &other.PublicKey}
	if _, err := wrong.Sign(context.Background(), []byte("payload")); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("a command that signs with another key than given: %v", err)
	}
}

// Attaching twice adds nothing; another key adds its own signature. The
// registry has no referrers API: the sha256-<hex> tag schema.
func TestAttachIsIdempotent(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	repo, _ := name.NewRepository(strings.TrimPrefix(srv.URL, "http://")+"/app", name.Insecure)
	img, _ := random.Image(100, 1)
	d, _ := img.Digest()
	if err := remote.Write(repo.Digest(d.String()), img); err != nil {
		t.Fatal(err)
	}
	mt, _ := img.MediaType()
	size, _ := img.Size()
	subject := v1.Descriptor{MediaType: mt, Digest: d, Size: size}
	path, _ := cosignKey(t, t.TempDir(), "")
	s, _ := LoadCosignKey(path, nil)
	doc := Document{PredicateType: "https://spdx.dev/Document", MediaType: "application/spdx+json", Data: []byte(`{"spdxVersion":"SPDX-2.3"}`)}
	count := func() int {
		list, err := referrers(repo, subject, nil)
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}
	attach := func(signer Signer) {
		t.Helper()
		if err := Attach(ctx, repo, []Subject{{Descriptor: subject, Documents: []Document{doc}}}, Options{Signer: signer}); err != nil {
			t.Fatal(err)
		}
	}
	attach(s)
	if n := count(); n != 3 {
		t.Fatalf("%d referrers after the first push, want 3: the document, a signature, an attestation", n)
	}
	attach(s)
	if n := count(); n != 3 {
		t.Errorf("%d referrers after the same push again, want 3", n)
	}
	other, _ := cosignKey(t, t.TempDir(), "")
	s2, _ := LoadCosignKey(other, nil)
	attach(s2)
	if n := count(); n != 5 {
		t.Errorf("%d referrers after a push signed with another key, want 5", n)
	}
}
