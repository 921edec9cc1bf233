// Package attest signs pushed images and attaches documents to them, in
// the formats cosign and notation verify: Sigstore bundles (DSSE over
// in-toto statements) and notation JWS signatures, pushed as OCI artifacts
// whose subject is the image (the registry's referrers API, or the
// sha256-<hex> tag schema where it has none). Keys come at run time and
// never enter the build.
package attest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
)

// Signer signs with an ECDSA P-256 key, as cosign's keys are: Sign gets
// the bytes to sign (a DSSE pre-authentication encoding) and returns an
// ASN.1 DER signature over their SHA-256.
type Signer interface {
	dsse.SignerVerifier
}

// PEM types of cosign's encrypted private keys, newest first.
var cosignKeyTypes = []string{"ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY"}

// LoadCosignKey reads a private key written by `cosign generate-key-pair`,
// decrypted with password (cosign reads it from $COSIGN_PASSWORD).
func LoadCosignKey(path string, password []byte) (Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM block: give a key written by `cosign generate-key-pair`", path)
	}
	known := false
	for _, t := range cosignKeyTypes {
		known = known || block.Type == t
	}
	if !known {
		return nil, fmt.Errorf("%s is a %q, not a cosign private key (%s)", path, block.Type, strings.Join(cosignKeyTypes, " or "))
	}
	der, err := encrypted.Decrypt(block.Bytes, password)
	if err != nil {
		return nil, fmt.Errorf("%s: decrypting with $COSIGN_PASSWORD: %w", path, err)
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s holds a %T key: only ECDSA keys are supported", path, key)
	}
	return ecdsaSigner{key: ec}, nil
}

// LoadPublicKey reads a PEM public key, such as cosign.pub.
func LoadPublicKey(path string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("%s holds no PEM PUBLIC KEY block", path)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pub, nil
}

type ecdsaSigner struct{ key *ecdsa.PrivateKey }

func (s ecdsaSigner) Sign(_ context.Context, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	return ecdsa.SignASN1(nil, s.key, sum[:])
}

func (s ecdsaSigner) Verify(_ context.Context, data, sig []byte) error {
	return verifyECDSA(&s.key.PublicKey, data, sig)
}

func (s ecdsaSigner) KeyID() (string, error)   { return "", nil }
func (s ecdsaSigner) Public() crypto.PublicKey { return &s.key.PublicKey }

func verifyECDSA(pub crypto.PublicKey, data, sig []byte) error {
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("a %T public key: only ECDSA keys are supported", pub)
	}
	sum := sha256.Sum256(data)
	if !ecdsa.VerifyASN1(ec, sum[:], sig) {
		return errors.New("the signature does not verify with the public key")
	}
	return nil
}

// CommandSigner signs by running a program: a key in a KMS, a hardware
// token, a signing service. The program gets the bytes to sign on standard
// input and prints the signature (ASN.1 DER, raw or base64) on standard
// output. The public key says which key it signs with.
type CommandSigner struct {
	Command []string
	Key     crypto.PublicKey
}

func (s CommandSigner) Sign(ctx context.Context, data []byte) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.Command[0], s.Command[1:]...)
	cmd.Stdin = bytes.NewReader(data)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("signing command %s: %v: %s", s.Command[0], err, bytes.TrimSpace(stderr.Bytes()))
	}
	sig := bytes.TrimSpace(stdout.Bytes())
	if decoded, err := base64.StdEncoding.DecodeString(string(sig)); err == nil {
		sig = decoded
	}
	// A signature that does not verify is refused here, before any push.
	if err := verifyECDSA(s.Key, data, sig); err != nil {
		return nil, fmt.Errorf("signing command %s: %w", s.Command[0], err)
	}
	return sig, nil
}

func (s CommandSigner) Verify(_ context.Context, data, sig []byte) error {
	return verifyECDSA(s.Key, data, sig)
}

func (s CommandSigner) KeyID() (string, error)   { return "", nil }
func (s CommandSigner) Public() crypto.PublicKey { return s.Key }

// hint is what a Sigstore bundle says of the key: base64 of the SHA-256
// of its PKIX DER, as cosign writes it.
func hint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}
