package attest

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/notaryproject/notation-core-go/signature"
	_ "github.com/notaryproject/notation-core-go/signature/jws" // registers the JWS envelope
)

// Notation's media types.
const (
	NotationArtifactType = "application/vnd.cncf.notary.signature"
	notationEnvelopeType = "application/jose+json"
	notationPayloadType  = "application/vnd.cncf.notary.payload.v1+json"
	thumbprintAnnotation = "io.cncf.notary.x509chain.thumbprint#S256"
)

// NotationSigner signs in notation's format: a JWS envelope with the
// certificate chain, under the notary.x509 signing scheme.
type NotationSigner struct {
	signer     signature.LocalSigner
	thumbprint string
}

// LoadNotation reads a private key (PKCS#8 or SEC 1 PEM, as `notation cert
// generate-test` and openssl write them) and its certificate chain (PEM,
// leaf first).
func LoadNotation(keyPath, certPath string) (*NotationSigner, error) {
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM block", keyPath)
	}
	var key crypto.PrivateKey
	if key, err = x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		if key, err = x509.ParseECPrivateKey(block.Bytes); err != nil {
			return nil, fmt.Errorf("%s: neither a PKCS#8 nor an EC private key", keyPath)
		}
	}
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for rest := certPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", certPath, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s holds no certificate", certPath)
	}
	s, err := signature.NewLocalSigner(certs, key)
	if err != nil {
		return nil, fmt.Errorf("%s and %s: %w", keyPath, certPath, err)
	}
	prints := make([]string, len(certs))
	for i, c := range certs {
		sum := sha256.Sum256(c.Raw)
		prints[i] = hex.EncodeToString(sum[:])
	}
	tp, _ := json.Marshal(prints)
	return &NotationSigner{signer: s, thumbprint: string(tp)}, nil
}

// artifact is the signature of subject, unless a signature of this chain
// is there already.
func (n *NotationSigner) artifact(_ context.Context, subject v1.Descriptor) (artifact, error) {
	a := artifact{
		what:       "notation signature",
		configType: NotationArtifactType,
		layerType:  notationEnvelopeType,
		present: func(e v1.Descriptor) bool {
			return e.ArtifactType == NotationArtifactType && e.Annotations[thumbprintAnnotation] == n.thumbprint
		},
	}
	payload, err := json.Marshal(map[string]any{"targetArtifact": map[string]any{
		"mediaType": subject.MediaType,
		"digest":    subject.Digest.String(),
		"size":      subject.Size,
	}})
	if err != nil {
		return a, err
	}
	env, err := signature.NewEnvelope(notationEnvelopeType)
	if err != nil {
		return a, err
	}
	a.data, err = env.Sign(&signature.SignRequest{
		Payload:       signature.Payload{ContentType: notationPayloadType, Content: payload},
		Signer:        n.signer,
		SigningTime:   time.Now(),
		SigningScheme: signature.SigningSchemeX509,
		SigningAgent:  "rules_img",
	})
	if err != nil {
		return a, fmt.Errorf("notation signature: %w", err)
	}
	a.annotations = map[string]string{thumbprintAnnotation: n.thumbprint}
	return a, nil
}
