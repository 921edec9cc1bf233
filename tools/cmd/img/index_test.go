package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gcrlayout "github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/compress"
	"github.com/rules-img/rules_img/tools/esgzverify"
)

// buildPlatformImage runs layer (eStargz) and manifest for one platform and
// returns the request entry of the index layout.
func buildPlatformImage(t *testing.T, dir, arch, variant string) map[string]any {
	t.Helper()
	src := write(t, dir, arch+".txt", "built for "+arch+"\n")
	inputs := write(t, dir, arch+".inputs", "file\t/app/arch.txt\t"+src+"\n")
	out := func(name string) string { return filepath.Join(dir, arch+"."+name) }
	err := runLayer([]string{"--label=//app:layer", "--inputs=" + inputs, "--compress=gzip", "--estargz",
		"--parent_directories=false", "--blob=" + out("tar.gz"), "--meta=" + out("layer.json")})
	if err != nil {
		t.Fatalf("layer: %v", err)
	}
	meta, err := blob.ReadLayerMetadata(out("layer.json"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := esgzverify.File(out("tar.gz"), meta.Annotations[compress.AnnotationTOCDigest])
	if err != nil || res.DiffID != meta.DiffID {
		t.Fatalf("eStargz layer: %v; verifier says diff_id %s, metadata %s", err, res.DiffID, meta.DiffID)
	}
	req, _ := json.Marshal(map[string]any{
		"layers":   []string{out("layer.json")},
		"platform": map[string]string{"os": "linux", "architecture": arch, "variant": variant},
		"label":    "//app:image",
	})
	if err := runManifest([]string{"--request=" + write(t, dir, arch+".request.json", string(req)),
		"--manifest=" + out("manifest.json"), "--config=" + out("config.json"), "--descriptor=" + out("descriptor.json")}); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	return map[string]any{
		"descriptor": out("descriptor.json"), "manifest": out("manifest.json"), "config": out("config.json"),
		"layers": []map[string]string{{"metadata": out("layer.json"), "blob": out("tar.gz")}},
	}
}

func TestIndexEndToEnd(t *testing.T) {
	dir := t.TempDir()
	amd := buildPlatformImage(t, dir, "amd64", "")
	arm := buildPlatformImage(t, dir, "arm64", "v8")
	out := func(name string) string { return filepath.Join(dir, name) }
	err := runIndex([]string{"--label=//app:index",
		"--manifest_descriptor=" + amd["descriptor"].(string), "--manifest_name=//app:image (linux_amd64)",
		"--manifest_descriptor=" + arm["descriptor"].(string), "--manifest_name=//app:image (linux_arm64)",
		"--annotation=org.opencontainers.image.version=1.0", "--index=" + out("index.json"), "--descriptor=" + out("index.descriptor.json")})
	if err != nil {
		t.Fatalf("index: %v", err)
	}
	req, _ := json.Marshal(map[string]any{"index": out("index.json"), "descriptor": out("index.descriptor.json"), "images": []any{amd, arm}})
	if err := runLayout([]string{"--label=//app:index", "--index_request=" + write(t, dir, "layout.json", string(req)),
		"--name=app", "--out=" + out("layout")}); err != nil {
		t.Fatalf("layout: %v", err)
	}
	top, err := gcrlayout.ImageIndexFromPath(out("layout"))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(top); err != nil {
		t.Fatalf("validate.Index: %v", err)
	}
	im, _ := top.IndexManifest()
	var refs []string
	for _, d := range im.Manifests {
		refs = append(refs, d.Annotations["org.opencontainers.image.ref.name"])
	}
	if strings.Join(refs, " ") != "app app-linux-amd64 app-linux-arm64-v8" {
		t.Errorf("refs %q", refs)
	}
	nested, err := top.ImageIndex(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	nm, _ := nested.IndexManifest()
	if len(nm.Manifests) != 2 || nm.Manifests[1].Platform.Variant != "v8" || nm.Annotations["org.opencontainers.image.version"] != "1.0" {
		t.Errorf("nested index %+v", nm)
	}
	// The eStargz annotations reach the manifest's layer descriptor.
	img, err := nested.Image(nm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	if m.Layers[0].Annotations[compress.AnnotationTOCDigest] == "" || m.Layers[0].Annotations[compress.AnnotationUncompressedSize] == "" {
		t.Errorf("layer descriptor %+v lacks the eStargz annotations", m.Layers[0])
	}
}

func TestIndexErrors(t *testing.T) {
	dir := t.TempDir()
	amd := buildPlatformImage(t, dir, "amd64", "")
	d := amd["descriptor"].(string)
	outs := []string{"--index=" + filepath.Join(dir, "i.json"), "--descriptor=" + filepath.Join(dir, "i.d.json")}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{append([]string{"--label=//x:i", "--manifest_descriptor=" + d, "--manifest_name=//x:a", "--manifest_descriptor=" + d, "--manifest_name=//x:b"}, outs...),
			"//x:i: //x:a and //x:b are the same manifest sha256:"},
		{append([]string{"--label=//x:i", "--manifest_descriptor=" + d}, outs...), "1 --manifest_descriptor but 0 --manifest_name"},
		{append([]string{"--label=//x:i", "--manifest_descriptor=" + d, "--manifest_name=a", "--annotation=novalue"}, outs...), `annotation "novalue" is not KEY=VALUE`},
		{[]string{"--label=//x:i"}, "missing --index"},
	} {
		err := runIndex(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
		if _, statErr := os.Stat(filepath.Join(dir, "i.json")); !errors.Is(statErr, fs.ErrNotExist) {
			t.Errorf("%q: the index was written", tc.args)
		}
	}
}

func tarOf(t *testing.T, entries ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write(make([]byte, h.Size))
	}
	tw.Close()
	return buf.Bytes()
}

func TestTarLayer(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "good.tar", string(tarOf(t,
		tar.Header{Typeflag: tar.TypeReg, Name: "a", Size: 3, Mode: 0o644},
		tar.Header{Typeflag: tar.TypeReg, Name: "dir/b", Size: 3, Mode: 0o644})))
	meta := filepath.Join(dir, "meta.json")
	if err := runTarLayer([]string{"--label=//x:t", "--src=" + good, "--src_compression=none", "--meta=" + meta}); err != nil {
		t.Fatal(err)
	}
	m, err := blob.ReadLayerMetadata(meta)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(good)
	if m.Digest != m.DiffID || m.Size != int64(len(data)) || m.MediaType != compress.MediaTypeTar {
		t.Errorf("an uncompressed tar kept as it is: %+v", m)
	}
	rewritten := filepath.Join(dir, "out.tar.gz")
	if err := runTarLayer([]string{"--label=//x:t", "--src=" + good, "--src_compression=none", "--meta=" + meta,
		"--blob=" + rewritten, "--compress=gzip", "--estargz", "--deduplicate", "--parent_directories", "--jobs=1"}); err != nil {
		t.Fatal(err)
	}
	if m, err = blob.ReadLayerMetadata(meta); err != nil || m.Annotations[compress.AnnotationTOCDigest] == "" {
		t.Fatalf("rewritten: %+v, %v", m, err)
	}
	if _, err := esgzverify.File(rewritten, m.Annotations[compress.AnnotationTOCDigest]); err != nil {
		t.Errorf("rewritten eStargz: %v", err)
	}

	evil := write(t, dir, "evil.tar", string(tarOf(t, tar.Header{Typeflag: tar.TypeSymlink, Name: "x", Linkname: "../../etc", Mode: 0o777})))
	for _, args := range [][]string{
		{"--src=" + evil, "--src_compression=none"},
		{"--src=" + evil, "--src_compression=none", "--blob=" + filepath.Join(dir, "evil.out"), "--compress=zstd"},
	} {
		meta := filepath.Join(dir, "evil.json")
		err := runTarLayer(append(args, "--label=//x:evil", "--meta="+meta))
		if err == nil || !strings.HasPrefix(err.Error(), "//x:evil: "+evil+": entry \"x\": symlink to \"../../etc\" leaves the image root") {
			t.Errorf("%q: %v", args, err)
		}
		for _, p := range []string{meta, filepath.Join(dir, "evil.out")} {
			if _, statErr := os.Stat(p); !errors.Is(statErr, fs.ErrNotExist) {
				t.Errorf("%q: %s written", args, p)
			}
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--src=" + good, "--src_compression=gzip"}, "is an uncompressed tar, but its name says gzip-compressed"},
		{[]string{"--src=" + good, "--src_compression=lz4"}, `unknown compression "lz4"`},
		{[]string{"--src=" + good, "--src_compression=none", "--blob=" + filepath.Join(dir, "o"), "--compress=none", "--estargz"}, "use gzip (eStargz) or zstd (zstd:chunked)"},
		{[]string{"--src=" + good}, "missing --src_compression"},
	} {
		err := runTarLayer(append(tc.args, "--label=//x:t", "--meta="+filepath.Join(dir, "m2.json")))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
}
