package provenance

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestBuild(t *testing.T) {
	dir := t.TempDir()
	manifest := filepath.Join(dir, "manifest.json")
	os.WriteFile(manifest, []byte(`{"schemaVersion":2}`), 0o644)
	sum := sha256.Sum256([]byte(`{"schemaVersion":2}`))
	source := filepath.Join(dir, "source.json")
	r := Request{Label: "//app:image", Manifest: manifest, Source: source, BuilderID: "https://ci.example/builder",
		Base: &Base{Registry: "gcr.io", Repository: "distroless/static", Digest: "sha256:" + hex.EncodeToString(sum[:])}}
	for _, tc := range []struct {
		source, want string
	}{
		{`{"source_uri":"git+https://example.com/repo","source_revision":"0123456789abcdef0123456789abcdef01234567"}`, "git+https://example.com/repo@0123456789abcdef0123456789abcdef01234567"},
		// A revision that is no commit id is named, not a digest.
		{`{"source_uri":"git+https://example.com/repo","source_revision":"v1.2"}`, ""},
		// Not stamped: no revision, no source dependency.
		{`{"source_uri":"","source_revision":""}`, ""},
	} {
		os.WriteFile(source, []byte(tc.source), 0o644)
		raw, err := Build(r)
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Type    string `json:"_type"`
			Subject []struct {
				Name   string
				Digest map[string]string
			}
			PredicateType string
			Predicate     struct {
				BuildDefinition struct {
					BuildType            string
					ExternalParameters   map[string]any
					ResolvedDependencies []struct {
						URI    string
						Digest map[string]string
					}
				}
				RunDetails struct{ Builder struct{ ID string } }
			}
		}
		if err := json.Unmarshal(raw, &st); err != nil {
			t.Fatal(err)
		}
		if st.Type != "https://in-toto.io/Statement/v1" || st.PredicateType != PredicateType || st.Subject[0].Digest["sha256"] != hex.EncodeToString(sum[:]) || st.Subject[0].Name != "//app:image" {
			t.Errorf("statement %s", raw)
		}
		deps := st.Predicate.BuildDefinition.ResolvedDependencies
		gotSource := ""
		for _, d := range deps {
			if d.Digest["gitCommit"] != "" {
				gotSource = d.URI
			}
		}
		if gotSource != tc.want || st.Predicate.RunDetails.Builder.ID != "https://ci.example/builder" || st.Predicate.BuildDefinition.ExternalParameters["target"] != "//app:image" {
			t.Errorf("source %q, want %q: %s", gotSource, tc.want, raw)
		}
		if deps[len(deps)-1].URI != "oci://gcr.io/distroless/static@sha256:"+hex.EncodeToString(sum[:]) {
			t.Errorf("base: %+v", deps)
		}
	}
}
