package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/compress"
	"github.com/rules-img/rules_img/tools/esgzverify"
)

func fileDigest(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// unzstd decompresses a blob with the zstd command line tool or, when it
// is not installed, with klauspost's decoder.
func unzstd(t *testing.T, path string) []byte {
	t.Helper()
	if _, err := exec.LookPath("zstd"); err != nil {
		t.Log("no zstd tool on PATH: decompressing with klauspost's decoder")
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zr, err := zstd.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		plain, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("decompressing %s: %v", path, err)
		}
		return plain
	}
	var stderr bytes.Buffer
	cmd := exec.Command("zstd", "-d", "-c", "-q", path)
	cmd.Stderr = &stderr
	plain, err := cmd.Output()
	if err != nil {
		t.Fatalf("zstd -d %s: %v: %s", path, err, stderr.String())
	}
	return plain
}

// checkZstdChunked reads a zstd:chunked layer from outside: the zstd tool
// decompresses it to the diff_id, and the verifier opens its table of
// contents with the estargz reader and checks every chunk (a hardlink to a
// file of two chunks among them).
func checkZstdChunked(t *testing.T, blobPath string, m blob.LayerMetadata) []byte {
	t.Helper()
	if m.MediaType != compress.MediaTypeTarZstd || m.Digest != fileDigest(t, blobPath) {
		t.Errorf("metadata %+v does not describe %s (%s)", m, blobPath, fileDigest(t, blobPath))
	}
	plain := unzstd(t, blobPath)
	sum := sha256.Sum256(plain)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != m.DiffID {
		t.Errorf("zstd -d gives a tar of %s, the diff_id is %s", got, m.DiffID)
	}
	for _, k := range []string{compress.AnnotationTOCDigest, compress.AnnotationUncompressedSize, compress.AnnotationZstdChunkedManifestChecksum, compress.AnnotationZstdChunkedManifestPosition} {
		if m.Annotations[k] == "" {
			t.Errorf("annotation %s is missing: %v", k, m.Annotations)
		}
	}
	res, err := esgzverify.File(blobPath, m.Annotations[compress.AnnotationTOCDigest])
	if err != nil {
		t.Fatalf("the verifier rejects %s: %v", blobPath, err)
	}
	if res.DiffID != m.DiffID {
		t.Errorf("the verifier's diff_id %s, metadata %s", res.DiffID, m.DiffID)
	}
	return plain
}

// TestLayerZstdChunkedWithAnnotationsAndPAXRecords runs img layer with
// zstd:chunked, user annotations and PAX records as the rules do, reads the
// layer back from outside, and checks that img manifest puts the
// annotations on the layer's descriptor.
func TestLayerZstdChunkedWithAnnotationsAndPAXRecords(t *testing.T) {
	dir := t.TempDir()
	server := write(t, dir, "server", strings.Repeat("#!/bin/sh\necho hi\n", 400000))
	inputs := write(t, dir, "inputs.txt", "file\t/app/server\t"+server+"\nsymlink\t/usr/bin/server\t/app/server\n")
	metadata := write(t, dir, "metadata.json", `{"default": {"uid": 65532, "pax_records": {"SCHILY.xattr.user.team": "base"}},
		"paths": {"/app/server": {"mode": "0755", "pax_records": {"SCHILY.xattr.user.team": "app", "LIBARCHIVE.xattr.user.b64": "YmFy"}}}}`)

	var blobs, metas []string
	for i, jobs := range []string{"1", "3"} {
		blobPath := filepath.Join(dir, "layer"+jobs+".tar.zst")
		metaPath := blobPath + ".json"
		err := runLayer([]string{
			"--label=//pkg:layer", "--inputs=" + inputs, "--metadata=" + metadata,
			"--compress=zstd", "--estargz", "--level=-1", "--jobs=" + jobs,
			"--annotation=org.example.team=a=b", "--annotation", "org.example.empty=",
			"--blob=" + blobPath, "--meta=" + metaPath,
		})
		if err != nil {
			t.Fatalf("layer: %v", err)
		}
		blobs, metas = append(blobs, blobPath), append(metas, metaPath)
		if i > 0 && (fileDigest(t, blobPath) != fileDigest(t, blobs[0]) || fileDigest(t, metaPath) != fileDigest(t, metas[0])) {
			t.Errorf("two runs with 1 and %s jobs give different blobs or metadata", jobs)
		}
	}
	m, err := blob.ReadLayerMetadata(metas[0])
	if err != nil {
		t.Fatal(err)
	}
	if m.Annotations["org.example.team"] != "a=b" || m.Annotations["org.example.empty"] != "" || len(m.Annotations) != 6 {
		t.Errorf("annotations %v, want the four of zstd:chunked and org.example.team=a=b, org.example.empty=", m.Annotations)
	}
	plain := checkZstdChunked(t, blobs[0], m)

	tr := tar.NewReader(bytes.NewReader(plain))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"SCHILY.xattr.user.team": "base"}
		if h.Name == "app/server" {
			want = map[string]string{"SCHILY.xattr.user.team": "app", "LIBARCHIVE.xattr.user.b64": "YmFy"}
		}
		if !maps.Equal(h.PAXRecords, want) {
			t.Errorf("%s: PAX records %q, want %q", h.Name, h.PAXRecords, want)
		}
	}

	reqData, _ := json.Marshal(map[string]any{
		"layers":   metas[:1],
		"platform": map[string]string{"os": "linux", "architecture": "amd64"},
		"label":    "//pkg:image",
	})
	req := write(t, dir, "request.json", string(reqData))
	out := func(name string) string { return filepath.Join(dir, name) }
	if err := runManifest([]string{"--request=" + req, "--manifest=" + out("manifest.json"), "--config=" + out("config.json"), "--descriptor=" + out("descriptor.json")}); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	data, err := os.ReadFile(out("manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest ocispec.Manifest
	if err := json.Unmarshal(data, &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest.Layers) != 1 {
		t.Fatalf("manifest has %d layers", len(manifest.Layers))
	}
	d := manifest.Layers[0]
	if d.MediaType != compress.MediaTypeTarZstd || string(d.Digest) != m.Digest || d.Size != m.Size || !maps.Equal(d.Annotations, m.Annotations) {
		t.Errorf("layer descriptor %+v, want the layer metadata %+v", d, m)
	}
}

// TestTarLayerZstdChunkedWithAnnotations rewrites a tar as zstd:chunked and
// describes one as it is, both with user annotations.
func TestTarLayerZstdChunkedWithAnnotations(t *testing.T) {
	dir := t.TempDir()
	src := write(t, dir, "in.tar", string(tarOf(t,
		tar.Header{Typeflag: tar.TypeReg, Name: "./a", Size: 5 << 20, Mode: 0o644},
		tar.Header{Typeflag: tar.TypeReg, Name: "./dir/b", Size: 5 << 20, Mode: 0o644})))
	var blobs []string
	for _, jobs := range []string{"1", "2"} {
		blobPath, metaPath := filepath.Join(dir, "out"+jobs+".tar.zst"), filepath.Join(dir, "out"+jobs+".json")
		err := runTarLayer([]string{"--label=//x:t", "--src=" + src, "--src_compression=none", "--blob=" + blobPath, "--meta=" + metaPath,
			"--compress=zstd", "--estargz", "--deduplicate", "--parent_directories", "--jobs=" + jobs, "--annotation=org.example.k=v"})
		if err != nil {
			t.Fatal(err)
		}
		m, err := blob.ReadLayerMetadata(metaPath)
		if err != nil {
			t.Fatal(err)
		}
		if m.Annotations["org.example.k"] != "v" || len(m.Annotations) != 5 {
			t.Errorf("annotations %v, want zstd:chunked's four and org.example.k", m.Annotations)
		}
		checkZstdChunked(t, blobPath, m)
		blobs = append(blobs, blobPath)
	}
	if fileDigest(t, blobs[0]) != fileDigest(t, blobs[1]) {
		t.Errorf("two rewrites with 1 and 2 jobs differ")
	}

	metaPath := filepath.Join(dir, "described.json")
	if err := runTarLayer([]string{"--label=//x:t", "--src=" + src, "--src_compression=none", "--meta=" + metaPath, "--annotation=org.example.k=v"}); err != nil {
		t.Fatal(err)
	}
	m, err := blob.ReadLayerMetadata(metaPath)
	if err != nil || !maps.Equal(m.Annotations, map[string]string{"org.example.k": "v"}) {
		t.Errorf("described layer: %+v, %v; want the annotation org.example.k=v", m, err)
	}
}

// TestLayerAnnotationErrors checks bad --annotation flags of both
// subcommands: each error names the flag or the key, and nothing is
// written.
func TestLayerAnnotationErrors(t *testing.T) {
	dir := t.TempDir()
	inputs := write(t, dir, "inputs.txt", "empty\t/e\n")
	src := write(t, dir, "in.tar", string(tarOf(t, tar.Header{Typeflag: tar.TypeReg, Name: "a", Size: 3, Mode: 0o644})))
	blobPath, metaPath := filepath.Join(dir, "l.blob"), filepath.Join(dir, "l.json")
	for _, tc := range []struct {
		name  string
		flags []string
		want  []string
	}{
		{"empty key", []string{"--annotation==x"}, []string{"--annotation", `"=x"`, "KEY=VALUE"}},
		{"no value", []string{"--annotation=org.example"}, []string{"--annotation", `"org.example"`, "KEY=VALUE"}},
		{"key twice", []string{"--annotation=k=1", "--annotation=k=2"}, []string{"--annotation", `"k"`, "twice"}},
		{"eStargz's TOC digest", []string{"--compress=gzip", "--estargz", "--annotation=containerd.io/snapshot/stargz/toc.digest=sha256:x"},
			[]string{`"containerd.io/snapshot/stargz/toc.digest"`, "eStargz writer"}},
		{"zstd:chunked's position", []string{"--compress=zstd", "--estargz", "--annotation=io.containers.zstd-chunked.manifest-position=0:0:0:1"},
			[]string{`"io.containers.zstd-chunked.manifest-position"`, "zstd:chunked writer"}},
	} {
		for sub, run := range map[string]func([]string) error{
			"layer": func(f []string) error { return runLayer(append([]string{"--inputs=" + inputs}, f...)) },
			"tar-layer": func(f []string) error {
				return runTarLayer(append([]string{"--src=" + src, "--src_compression=none"}, f...))
			},
		} {
			err := run(append([]string{"--label=//p:l", "--blob=" + blobPath, "--meta=" + metaPath}, tc.flags...))
			if err == nil {
				t.Errorf("%s, %s: succeeded", sub, tc.name)
				continue
			}
			for _, p := range append([]string{"//p:l: "}, tc.want...) {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("%s, %s: error %q does not contain %q", sub, tc.name, err, p)
				}
			}
			for _, p := range []string{blobPath, metaPath} {
				if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s, %s: %s exists after the error", sub, tc.name, p)
				}
			}
		}
	}
}
