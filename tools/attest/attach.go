package attest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Document is a document about an image, built with it: an SBOM, a
// provenance.
type Document struct {
	PredicateType string
	// MediaType is the document's, and the artifactType of the artifact
	// that carries it.
	MediaType string
	// Statement: Data is an in-toto statement already, about the image;
	// else it is the predicate of one.
	Statement bool
	Data      []byte
}

// Subject is a pushed manifest or index, and the documents about it.
type Subject struct {
	Descriptor v1.Descriptor
	Documents  []Document
}

// Options say what to attach besides the documents.
type Options struct {
	// Signer signs in cosign's format (Sigstore bundles); nil: no cosign
	// signature or attestation.
	Signer Signer
	// Notation signs in notation's format (JWS); nil: none.
	Notation *NotationSigner
	Remote   []remote.Option
	// Log gets one line per artifact pushed or found.
	Log func(string)
	// Seed, when set, gets each blob before it is pushed: a registry that
	// serves blobs from a remote cache (cas-registry) takes only those the
	// cache has.
	Seed func(ctx context.Context, data []byte) error
}

// artifact is one OCI artifact to push with a subject.
type artifact struct {
	what         string // for the log
	artifactType string
	configType   string // empty: the OCI empty descriptor
	layerType    string
	data         []byte
	annotations  map[string]string
	// found: the registry has an equivalent artifact (a signature of the
	// same statement by the same key): nothing to push.
	found bool
	// present tells whether an existing referrer already is this artifact:
	// for one whose bytes change at each signing (signatures are random).
	present func(existing v1.Descriptor) bool
}

// emptyJSON is the OCI empty descriptor's content.
var emptyJSON = []byte("{}")

// Attach pushes, for each subject, its documents as artifacts, and the
// signatures and attestations the options ask for, each unless the
// registry has it already.
func Attach(ctx context.Context, repo name.Repository, subjects []Subject, o Options) error {
	for _, s := range subjects {
		existing, err := referrers(repo, s.Descriptor, o.Remote)
		if err != nil {
			return err
		}
		arts, err := artifactsFor(ctx, repo, s, o, existing)
		if err != nil {
			return err
		}
		for _, a := range arts {
			if err := push(ctx, repo, s.Descriptor, a, existing, o); err != nil {
				return fmt.Errorf("attaching the %s of %s: %w", a.what, s.Descriptor.Digest, err)
			}
		}
	}
	return nil
}

func artifactsFor(ctx context.Context, repo name.Repository, s Subject, o Options, existing []v1.Descriptor) ([]artifact, error) {
	var arts []artifact
	for _, d := range s.Documents {
		arts = append(arts, artifact{what: d.PredicateType + " document", artifactType: d.MediaType, layerType: d.MediaType, data: d.Data})
	}
	hexDigest := s.Descriptor.Digest.Hex
	if o.Signer != nil {
		statements := []struct{ what, predicateType string }{{"cosign signature", SignPredicateType}}
		bodies := [][]byte{nil}
		for _, d := range s.Documents {
			statements = append(statements, struct{ what, predicateType string }{"cosign attestation " + d.PredicateType, d.PredicateType})
			if d.Statement {
				bodies = append(bodies, d.Data)
			} else {
				st, err := Statement(repo.String(), hexDigest, d.PredicateType, d.Data)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", d.PredicateType, err)
				}
				bodies = append(bodies, st)
			}
		}
		for i, st := range statements {
			body := bodies[i]
			if body == nil {
				var err error
				if body, err = Statement(repo.String(), hexDigest, st.predicateType, nil); err != nil {
					return nil, err
				}
			}
			if found := findBundle(ctx, repo, existing, st.predicateType, body, o); found {
				arts = append(arts, artifact{what: st.what, found: true})
				continue
			}
			b, err := Bundle(ctx, o.Signer, body)
			if err != nil {
				return nil, err
			}
			arts = append(arts, artifact{
				what:         st.what,
				artifactType: BundleMediaType,
				layerType:    BundleMediaType,
				data:         b,
				annotations:  map[string]string{"dev.sigstore.bundle.content": "dsse-envelope", PredicateTypeAnnotation: st.predicateType},
			})
		}
	}
	if o.Notation != nil {
		a, err := o.Notation.artifact(ctx, s.Descriptor)
		if err != nil {
			return nil, err
		}
		arts = append(arts, a)
	}
	return arts, nil
}

// findBundle tells whether a referrer is a bundle of our key whose
// statement is body's: signing again would add nothing.
func findBundle(ctx context.Context, repo name.Repository, existing []v1.Descriptor, predicateType string, body []byte, o Options) bool {
	for _, d := range existing {
		if d.ArtifactType != BundleMediaType || (d.Annotations != nil && d.Annotations[PredicateTypeAnnotation] != "" && d.Annotations[PredicateTypeAnnotation] != predicateType) {
			continue
		}
		layer, err := firstLayer(repo, d, o.Remote)
		if err != nil {
			continue
		}
		if st, ok := BundleStatement(ctx, layer, o.Signer.Public()); ok && sameJSON(st, body) {
			return true
		}
	}
	return false
}

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// firstLayer reads the first layer of the artifact manifest d.
func firstLayer(repo name.Repository, d v1.Descriptor, opts []remote.Option) ([]byte, error) {
	img, err := remote.Image(repo.Digest(d.Digest.String()), opts...)
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil || len(layers) == 0 {
		return nil, fmt.Errorf("no layer: %v", err)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	// Bundles and envelopes are small; a big layer is no bundle of ours.
	return io.ReadAll(io.LimitReader(rc, 16<<20))
}

// referrers lists the artifacts whose subject is d: the registry's
// referrers API, or the sha256-<hex> tag schema.
func referrers(repo name.Repository, d v1.Descriptor, opts []remote.Option) ([]v1.Descriptor, error) {
	idx, err := remote.Referrers(repo.Digest(d.Digest.String()), opts...)
	if err != nil {
		return nil, fmt.Errorf("listing the referrers of %s: %w", d.Digest, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	return m.Manifests, nil
}

// push pushes one artifact, unless the registry has it.
func push(ctx context.Context, repo name.Repository, subject v1.Descriptor, a artifact, existing []v1.Descriptor, o Options) error {
	logf := func(format string, args ...any) {
		if o.Log != nil {
			o.Log(fmt.Sprintf(format, args...))
		}
	}
	if a.found {
		logf("%s: already in %s", a.what, repo)
		return nil
	}
	raw, err := a.manifest(subject)
	if err != nil {
		return err
	}
	d := digest.FromBytes(raw)
	for _, e := range existing {
		if e.Digest.String() == d.String() || (a.present != nil && a.present(e)) {
			logf("%s: already in %s", a.what, repo)
			return nil
		}
	}
	configType := a.configType
	if configType == "" {
		configType = ocispec.MediaTypeEmptyJSON
	}
	for _, blob := range []struct {
		data []byte
		mt   string
	}{{emptyJSON, configType}, {a.data, a.layerType}} {
		if o.Seed != nil {
			if err := o.Seed(ctx, blob.data); err != nil {
				return err
			}
		}
		if err := remote.WriteLayer(repo, static.NewLayer(blob.data, types.MediaType(blob.mt)), o.Remote...); err != nil {
			return err
		}
	}
	if err := remote.Put(repo.Digest(d.String()), rawManifest(raw), o.Remote...); err != nil {
		return err
	}
	logf("%s: pushed %s@%s", a.what, repo, d)
	return nil
}

func (a artifact) manifest(subject v1.Descriptor) ([]byte, error) {
	configType := a.configType
	if configType == "" {
		configType = ocispec.MediaTypeEmptyJSON
	}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: a.artifactType,
		Config:       ocispec.Descriptor{MediaType: configType, Digest: digest.FromBytes(emptyJSON), Size: int64(len(emptyJSON))},
		Layers:       []ocispec.Descriptor{{MediaType: a.layerType, Digest: digest.FromBytes(a.data), Size: int64(len(a.data))}},
		Subject: &ocispec.Descriptor{
			MediaType: string(subject.MediaType),
			Digest:    digest.Digest(subject.Digest.String()),
			Size:      subject.Size,
		},
		Annotations: a.annotations,
	}
	return json.Marshal(m)
}

// rawManifest is a manifest to put as it is.
type rawManifest []byte

func (r rawManifest) RawManifest() ([]byte, error) { return r, nil }
func (r rawManifest) MediaType() (types.MediaType, error) {
	return types.OCIManifestSchema1, nil
}
