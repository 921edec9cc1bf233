package manifest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzBaseConfig feeds arbitrary bytes as a base image's config (what a
// registry sent) to the config builder: it never panics, and what it
// builds is JSON. Run it longer with bench/fuzz.sh.
func FuzzBaseConfig(f *testing.F) {
	f.Add([]byte(`{"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"], "Labels": {"a": "b"}},` +
		` "rootfs": {"type": "layers", "diff_ids": ["sha256:00"]}, "history": [{"created_by": "x"}]}`))
	f.Add([]byte(`{"config": null, "rootfs": 3, "history": "no"}`))
	f.Add([]byte(`{"config": {"Env": [1, {"x": 2}], "ExposedPorts": []}}`))
	f.Add([]byte(`[]`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "base.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		env := [][2]string{{"A", "1"}}
		cfg, err := buildConfig(Request{BaseConfig: path, Config: ConfigSettings{Env: env}}, nil)
		if err != nil {
			return
		}
		if _, err := json.Marshal(cfg); err != nil {
			t.Fatalf("the config built on an accepted base is no JSON: %v", err)
		}
	})
}

// FuzzReadRequest feeds arbitrary bytes as a request file: ReadRequest
// never panics.
func FuzzReadRequest(f *testing.F) {
	f.Add([]byte(`{"layers": [], "config": {"env": [["A", "1"]], "exposed_ports": ["80/tcp"]}, "labels": {"a": "{{.X}}"}}`))
	f.Add([]byte(`{"created": "2026-01-01T00:00:00Z", "platform": {"os": "linux", "architecture": "arm64"}}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "request.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ReadRequest(path)
	})
}
