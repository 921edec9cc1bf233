package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gcrlayout "github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/rules-img/rules_img/tools/blob"
)

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSubcommandsEndToEnd runs layer, manifest and layout as the rules do
// and reads the result back with go-containerregistry.
func TestSubcommandsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	server := write(t, dir, "server", "#!/bin/sh\necho hi\n")
	if err := os.Chmod(server, 0o755); err != nil {
		t.Fatal(err)
	}
	data := write(t, dir, "data.txt", "data")
	inputs := write(t, dir, "inputs.txt", strings.Join([]string{
		"file\t/app/server\t" + server,
		"runfile\t/app/server\tpkg/data.txt\t" + data,
		"symlink\t/usr/bin/server\t/app/server",
		"",
	}, "\n"))
	metadata := write(t, dir, "metadata.json", `{"default": {"uid": 65532, "gid": 65532}, "paths": {"/app/server": {"mode": "0750"}}}`)

	var metas, blobs []string
	// Two layers from the same inputs, with different job counts.
	for i, jobs := range []string{"2", "4"} {
		blobPath := filepath.Join(dir, fmt.Sprintf("layer%d.blob", i))
		metaPath := blobPath + ".json"
		err := runLayer([]string{
			"--label=//pkg:layer", "--inputs=" + inputs, "--workspace_name=ws", "--metadata=" + metadata,
			"--compress=gzip", "--jobs=" + jobs, "--blob=" + blobPath, "--meta=" + metaPath,
		})
		if err != nil {
			t.Fatalf("layer: %v", err)
		}
		m, err := blob.ReadLayerMetadata(metaPath)
		if err != nil {
			t.Fatal(err)
		}
		if m.MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
			t.Errorf("media type %q", m.MediaType)
		}
		metas, blobs = append(metas, metaPath), append(blobs, blobPath)
	}

	request := map[string]any{
		"layers":   metas,
		"platform": map[string]string{"os": "linux", "architecture": "amd64"},
		"config":   map[string]any{"entrypoint": []string{"/app/server"}, "exposed_ports": []string{"8080"}},
		"label":    "//pkg:image",
	}
	reqData, _ := json.Marshal(request)
	req := write(t, dir, "request.json", string(reqData))
	out := func(name string) string { return filepath.Join(dir, name) }
	if err := runManifest([]string{"--request=" + req, "--manifest=" + out("manifest.json"), "--config=" + out("config.json"), "--descriptor=" + out("descriptor.json")}); err != nil {
		t.Fatalf("manifest: %v", err)
	}

	args := []string{"--label=//pkg:layout", "--descriptor=" + out("descriptor.json"), "--manifest=" + out("manifest.json"),
		"--config=" + out("config.json"), "--name=app:v1", "--out=" + out("layout")}
	for i := range metas {
		args = append(args, "--layer_meta="+metas[i], "--layer_blob="+blobs[i])
	}
	if err := runLayout(args); err != nil {
		t.Fatalf("layout: %v", err)
	}

	idx, err := gcrlayout.ImageIndexFromPath(out("layout"))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "app:v1" {
		t.Fatalf("index %+v, want one manifest named app:v1", im.Manifests)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate.Image: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cf.Config.ExposedPorts["8080/tcp"]; !ok || len(cf.RootFS.DiffIDs) != 2 {
		t.Errorf("config %+v", cf)
	}
	// Both layers came from the same inputs: same blob, same digest.
	layers, _ := img.Layers()
	d0, _ := layers[0].Digest()
	d1, _ := layers[1].Digest()
	if d0 != d1 {
		t.Errorf("the same inputs gave layers %s and %s", d0, d1)
	}
}

func TestLayerErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	inputs := write(t, dir, "inputs.txt", "file\t/app/x\t"+missing+"\n")
	blobPath, metaPath := filepath.Join(dir, "l.blob"), filepath.Join(dir, "l.json")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"missing flags", []string{"--label=//p:l"}, []string{"missing --blob"}},
		{"two input lists", []string{"--label=//p:l", "--inputs=" + inputs, "--blob=" + blobPath, "--meta=" + metaPath, "empty\t/e"},
			[]string{"//p:l: ", "either in --inputs or as arguments"}},
		{"missing source", []string{"--label=//p:l", "--inputs=" + inputs, "--blob=" + blobPath, "--meta=" + metaPath},
			[]string{"//p:l: ", "app/x", missing}},
		{"bad compression", []string{"--label=//p:l", "--inputs=" + inputs, "--compress=lz4", "--blob=" + blobPath, "--meta=" + metaPath},
			[]string{`"lz4"`}},
		{"bad level", []string{"--label=//p:l", "--inputs=" + write(t, dir, "ok.txt", "empty\t/e\n"), "--level=11", "--blob=" + blobPath, "--meta=" + metaPath},
			[]string{"//p:l: ", "gzip level 11"}},
		{"bad metadata", []string{"--label=//p:l", "--inputs=" + write(t, dir, "ok2.txt", "empty\t/e\n"),
			"--metadata=" + write(t, dir, "meta.json", `{"paths": {"/nope": {}}}`), "--blob=" + blobPath, "--meta=" + metaPath},
			[]string{"//p:l: ", "/nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := runLayer(tc.args)
			if err == nil {
				t.Fatal("runLayer succeeded")
			}
			for _, p := range tc.want {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not contain %q", err, p)
				}
			}
			for _, p := range []string{blobPath, metaPath} {
				if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s exists after the error", p)
				}
			}
		})
	}
}

func TestLayoutErrors(t *testing.T) {
	dir := t.TempDir()
	desc := write(t, dir, "descriptor.json", `{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:`+strings.Repeat("a", 64)+`", "size": 2}`)
	man := write(t, dir, "manifest.json", `{"schemaVersion": 2, "config": {"digest": "sha256:`+strings.Repeat("b", 64)+`", "size": 2}, "layers": [{"digest": "sha256:`+strings.Repeat("c", 64)+`", "size": 1}]}`)
	cfg := write(t, dir, "config.json", `{}`)
	out := filepath.Join(dir, "layout")
	base := []string{"--label=//p:layout", "--descriptor=" + desc, "--manifest=" + man, "--config=" + cfg, "--out=" + out}

	err := runLayout(append(base, "--layer_meta=a.json"))
	if err == nil || !strings.Contains(err.Error(), "1 --layer_meta but 0 --layer_blob") {
		t.Errorf("unpaired flags: %v", err)
	}
	// The manifest names a layer whose blob is not given: the error names
	// it and no half-written layout stays behind.
	err = runLayout(base)
	if err == nil || !strings.Contains(err.Error(), "sha256:"+strings.Repeat("c", 64)) || !strings.HasPrefix(err.Error(), "//p:layout: ") {
		t.Errorf("missing blob: %v", err)
	}
	if _, statErr := os.Stat(out); !errors.Is(statErr, fs.ErrNotExist) {
		t.Errorf("layout directory left behind after the error")
	}
	if err := runLayout([]string{"--out=" + out}); err == nil || !strings.Contains(err.Error(), "missing --descriptor") {
		t.Errorf("missing flags: %v", err)
	}
}
