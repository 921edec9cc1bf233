// Package provenance writes the SLSA provenance v1 of an image as an
// in-toto statement: the Bazel target that built it, the source revision
// (from the workspace status, when the build stamps) and the pulled base
// it was built on, about the image's digest.
package provenance

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/rules-img/rules_img/tools/attest"
	"github.com/rules-img/rules_img/tools/blob"
)

// gitCommit is a full git object id, SHA-1 or SHA-256.
var gitCommit = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// PredicateType is SLSA provenance v1's.
const PredicateType = "https://slsa.dev/provenance/v1"

// BuildType names how rules_img builds an image, for verifiers' policies.
const BuildType = "https://rules-img.dev/provenance/bazel-image/v1"

// Request is what image_provenance writes for the action.
type Request struct {
	Label    string `json:"label"`
	Manifest string `json:"manifest"`
	// Source is the expanded templates: source_uri, source_revision.
	Source    string `json:"source"`
	BuilderID string `json:"builder_id"`
	Base      *Base  `json:"base,omitempty"`
}

// Base is the pulled image under the image.
type Base struct {
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest"`
}

// Write writes the statement of the request to out.
func Write(requestPath, out string) error {
	var r Request
	data, err := os.ReadFile(requestPath)
	if err == nil {
		err = json.Unmarshal(data, &r)
	}
	if err != nil {
		return fmt.Errorf("%s: %v", requestPath, err)
	}
	statement, err := Build(r)
	if err != nil {
		return fmt.Errorf("%s: %w", r.Label, err)
	}
	return blob.WriteFileAtomic(out, append(statement, '\n'))
}

// Build makes the statement.
func Build(r Request) ([]byte, error) {
	manifest, err := os.ReadFile(r.Manifest)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(manifest)
	var source struct {
		URI      string `json:"source_uri"`
		Revision string `json:"source_revision"`
	}
	raw, err := os.ReadFile(r.Source)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &source); err != nil {
		return nil, fmt.Errorf("%s: %w", r.Source, err)
	}
	external := map[string]any{"target": r.Label}
	var deps []*intoto.ResourceDescriptor
	if source.URI != "" || source.Revision != "" {
		external["source"] = map[string]any{"uri": source.URI, "revision": source.Revision}
		dep := &intoto.ResourceDescriptor{Uri: source.URI}
		if source.Revision != "" && dep.Uri != "" {
			dep.Uri += "@" + source.Revision
		}
		// A git commit id is a digest; another revision (a tag, a short
		// id) is only named.
		if gitCommit.MatchString(source.Revision) {
			dep.Digest = map[string]string{"gitCommit": source.Revision}
		}
		if dep.Uri != "" || dep.Digest != nil {
			deps = append(deps, dep)
		}
	}
	if b := r.Base; b != nil {
		deps = append(deps, &intoto.ResourceDescriptor{
			Name:   b.Registry + "/" + b.Repository,
			Uri:    "oci://" + b.Registry + "/" + b.Repository + "@" + b.Digest,
			Digest: map[string]string{"sha256": trimAlg(b.Digest)},
			Annotations: func() *structpb.Struct {
				if b.Tag == "" {
					return nil
				}
				s, _ := structpb.NewStruct(map[string]any{"tag": b.Tag})
				return s
			}(),
		})
	}
	params, err := structpb.NewStruct(external)
	if err != nil {
		return nil, err
	}
	p := &slsa.Provenance{
		BuildDefinition: &slsa.BuildDefinition{
			BuildType:            BuildType,
			ExternalParameters:   params,
			ResolvedDependencies: deps,
		},
		RunDetails: &slsa.RunDetails{Builder: &slsa.Builder{Id: r.BuilderID}},
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	predicate, err := protojson.Marshal(p)
	if err != nil {
		return nil, err
	}
	return attest.Statement(r.Label, hex.EncodeToString(sum[:]), PredicateType, predicate)
}

func trimAlg(d string) string {
	if len(d) > 7 && d[:7] == "sha256:" {
		return d[7:]
	}
	return d
}
