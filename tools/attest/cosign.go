package attest

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"fmt"

	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	bundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// Media types and predicate types of cosign's formats.
const (
	BundleMediaType   = "application/vnd.dev.sigstore.bundle.v0.3+json"
	InTotoPayloadType = "application/vnd.in-toto+json"
	// SignPredicateType is what a cosign signature states of an image.
	SignPredicateType = "https://sigstore.dev/cosign/sign/v1"
	// PredicateTypeAnnotation on a bundle's manifest lets tools pick bundles
	// without reading them.
	PredicateTypeAnnotation = "dev.sigstore.bundle.predicateType"
)

// Statement is the in-toto statement v1 that an image, by name and
// sha256 digest, has the predicate (JSON; empty: {}).
func Statement(name, hexDigest, predicateType string, predicate []byte) ([]byte, error) {
	body := &structpb.Struct{}
	if len(predicate) > 0 {
		if err := protojson.Unmarshal(predicate, body); err != nil {
			return nil, fmt.Errorf("the predicate is no JSON object: %w", err)
		}
	}
	st := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       []*intoto.ResourceDescriptor{{Name: name, Digest: map[string]string{"sha256": hexDigest}}},
		PredicateType: predicateType,
		Predicate:     body,
	}
	if err := st.Validate(); err != nil {
		return nil, err
	}
	return marshalStable(st)
}

// marshalStable is protojson's encoding made deterministic: protojson
// varies its spacing on purpose; json sorts the keys and drops it.
func marshalStable(m proto.Message) ([]byte, error) {
	raw, err := protojson.Marshal(m)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// Bundle signs statement in a DSSE envelope and wraps it in a Sigstore
// bundle v0.3 that names the key by its hint, as `cosign sign` and `cosign
// attest` write them with a key and no transparency log.
func Bundle(ctx context.Context, s Signer, statement []byte) ([]byte, error) {
	es, err := dsse.NewEnvelopeSigner(s)
	if err != nil {
		return nil, err
	}
	env, err := es.SignPayload(ctx, InTotoPayloadType, statement)
	if err != nil {
		return nil, err
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	if err != nil {
		return nil, err
	}
	h, err := hint(s.Public())
	if err != nil {
		return nil, err
	}
	b := &bundle.Bundle{
		MediaType: BundleMediaType,
		VerificationMaterial: &bundle.VerificationMaterial{
			Content: &bundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: h}},
		},
		Content: &bundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload:     statement,
			PayloadType: InTotoPayloadType,
			Signatures:  []*protodsse.Signature{{Sig: sig}},
		}},
	}
	return marshalStable(b)
}

// BundleStatement gives the statement a bundle signs, if its signature
// verifies with pub; ok is false for a bundle of another key or a bad one.
func BundleStatement(ctx context.Context, raw []byte, pub crypto.PublicKey) (statement []byte, ok bool) {
	var b bundle.Bundle
	if err := protojson.Unmarshal(raw, &b); err != nil {
		return nil, false
	}
	env := b.GetDsseEnvelope()
	if env == nil || len(env.GetSignatures()) == 0 {
		return nil, false
	}
	pae := dsse.PAE(env.GetPayloadType(), env.GetPayload())
	for _, s := range env.GetSignatures() {
		if verifyECDSA(pub, pae, s.GetSig()) == nil {
			return env.GetPayload(), true
		}
	}
	return nil, false
}
