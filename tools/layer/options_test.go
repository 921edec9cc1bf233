package layer

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/rules-img/rules_img/tools/compress"
	"github.com/rules-img/rules_img/tools/esgzverify"
)

func TestPlanWithoutParentDirectories(t *testing.T) {
	src := t.TempDir()
	x := writeSource(t, src, "x", "x", 0o644)
	tree := filepath.Join(src, "tree")
	writeSource(t, src, "tree/sub/f", "f", 0o644)
	inputs := []Input{
		{Kind: KindFile, Path: "/z/y/x", Source: x},
		{Kind: KindSymlink, Path: "/m/link", Target: "/z/y/x"},
		{Kind: KindFile, Path: "/opt/t", Source: tree},
	}
	entries, err := Plan(inputs, MetadataSpec{}, ParentDirectories(false))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteTar(&buf, entries); err != nil {
		t.Fatal(err)
	}
	// A tree keeps its own directories; only the implicit parents go.
	want := []string{"m/link", "opt/t/", "opt/t/sub/", "opt/t/sub/f", "z/y/x"}
	if got := names(readTar(t, buf.Bytes())); !slices.Equal(got, want) {
		t.Errorf("entries %q, want %q", got, want)
	}
	// ParentDirectories(true) is the default.
	withParents := []string{"m/", "m/link", "opt/", "opt/t/", "opt/t/sub/", "opt/t/sub/f", "z/", "z/y/", "z/y/x"}
	if got := names(readTar(t, planTar(t, inputs, MetadataSpec{}))); !slices.Equal(got, withParents) {
		t.Errorf("default entries %q, want %q", got, withParents)
	}
	// A file where a parent directory should be still fails without
	// parents: the check does not depend on the parents being added.
	_, err = Plan([]Input{{Kind: KindFile, Path: "/a", Source: x}, {Kind: KindFile, Path: "/a/b", Source: x}}, MetadataSpec{}, ParentDirectories(false))
	if err == nil || !strings.Contains(err.Error(), "/a/b needs /a to be a directory") {
		t.Errorf("file as parent: %v", err)
	}
}

func TestBuildEStargz(t *testing.T) {
	src := t.TempDir()
	big := writeSource(t, src, "big", strings.Repeat("rules_img estargz layer ", 400000), 0o644) // > 2 chunks
	exe := writeSource(t, src, "exe", "#!/bin/sh\n", 0o755)
	inputs := []Input{
		{Kind: KindFile, Path: "/data/big", Source: big},
		{Kind: KindFile, Path: "/bin/exe", Source: exe},
		{Kind: KindFile, Path: "/bin/exe2", Source: exe},
		{Kind: KindSymlink, Path: "/bin/sh", Target: "exe"},
	}
	tarStream := planTar(t, inputs, MetadataSpec{})
	lm, data := buildBlob(t, inputs, MetadataSpec{}, compress.Options{Algorithm: compress.Gzip, Level: compress.DefaultLevel, EStargz: true})
	if err := lm.Validate(); err != nil {
		t.Fatalf("metadata %+v: %v", lm, err)
	}
	if lm.MediaType != compress.MediaTypeTarGzip || lm.Digest != sha256Hex(data) || lm.Size != int64(len(data)) {
		t.Errorf("metadata %+v does not describe the blob (%d bytes, %s)", lm, len(data), sha256Hex(data))
	}
	toc := lm.Annotations[compress.AnnotationTOCDigest]
	res, err := esgzverify.Verify(io.NewSectionReader(bytes.NewReader(data), 0, int64(len(data))), toc)
	if err != nil {
		t.Fatalf("the estargz verifier rejects the layer: %v", err)
	}
	if lm.DiffID != res.DiffID {
		t.Errorf("diff_id %s, but the blob decompresses to %s", lm.DiffID, res.DiffID)
	}
	if lm.DiffID == sha256Hex(tarStream) {
		t.Errorf("diff_id is the digest of the tar, not of the eStargz stream")
	}
	if got := lm.Annotations[compress.AnnotationUncompressedSize]; got != strconv.FormatInt(res.Size, 10) {
		t.Errorf("uncompressed size annotation %q, stream has %d bytes", got, res.Size)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	// The tar inside is the tar the other compressions hold, byte for byte.
	if !bytes.HasPrefix(plain, tarStream) {
		t.Errorf("the eStargz stream does not start with the layer's tar")
	}
	if got := names(readTar(t, plain)); !slices.Equal(got, names(readTar(t, tarStream))) {
		t.Errorf("entries %q", got)
	}
}

// TestBuildZstdChunked builds a zstd:chunked layer with PAX records and
// reads it back from outside: the zstd tool (when installed) and the
// verifier, which opens it with the estargz reader.
func TestBuildZstdChunked(t *testing.T) {
	src := t.TempDir()
	big := writeSource(t, src, "big", strings.Repeat("rules_img zstd:chunked layer ", 400000), 0o644) // > 2 chunks
	exe := writeSource(t, src, "exe", "#!/bin/sh\n", 0o755)
	inputs := []Input{
		{Kind: KindFile, Path: "/data/big", Source: big},
		{Kind: KindFile, Path: "/bin/exe", Source: exe},
		{Kind: KindFile, Path: "/bin/exe2", Source: exe},
		{Kind: KindSymlink, Path: "/bin/sh", Target: "exe"},
	}
	meta := MetadataSpec{Paths: map[string]FileMetadata{"/bin/exe": {PAXRecords: map[string]string{"SCHILY.xattr.user.role": "entrypoint"}}}}
	tarStream := planTar(t, inputs, meta)
	opts := compress.Options{Algorithm: compress.Zstd, Level: compress.DefaultLevel, EStargz: true}
	lm, data := buildBlob(t, inputs, meta, opts)
	if err := lm.Validate(); err != nil {
		t.Fatalf("metadata %+v: %v", lm, err)
	}
	if lm.MediaType != compress.MediaTypeTarZstd || lm.Digest != sha256Hex(data) || lm.Size != int64(len(data)) {
		t.Errorf("metadata %+v does not describe the blob (%d bytes, %s)", lm, len(data), sha256Hex(data))
	}
	// The diff_id is the tar's digest: the table of contents is outside the
	// stream.
	if lm.DiffID != sha256Hex(tarStream) {
		t.Errorf("diff_id %s, the tar is %s", lm.DiffID, sha256Hex(tarStream))
	}
	if plain := decompress(t, compress.Zstd, data); !bytes.Equal(plain, tarStream) {
		t.Errorf("the blob decompresses to %d bytes, not the layer's tar", len(plain))
	}
	if _, err := exec.LookPath("zstd"); err != nil {
		t.Log("no zstd tool on PATH: checked with klauspost's decoder only")
	} else {
		path := filepath.Join(t.TempDir(), "layer.tar.zst")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		plain, err := exec.Command("zstd", "-d", "-c", "-q", path).Output()
		if err != nil || sha256Hex(plain) != lm.DiffID {
			t.Errorf("zstd -d gives %d bytes (%s), %v; want the diff_id %s", len(plain), sha256Hex(plain), err, lm.DiffID)
		}
	}
	for _, k := range []string{compress.AnnotationTOCDigest, compress.AnnotationUncompressedSize, compress.AnnotationZstdChunkedManifestChecksum, compress.AnnotationZstdChunkedManifestPosition} {
		if lm.Annotations[k] == "" {
			t.Errorf("annotation %s is missing: %v", k, lm.Annotations)
		}
	}
	res, err := esgzverify.Verify(io.NewSectionReader(bytes.NewReader(data), 0, int64(len(data))), lm.Annotations[compress.AnnotationTOCDigest])
	if err != nil {
		t.Fatalf("the verifier rejects the layer: %v", err)
	}
	if res.DiffID != lm.DiffID || strconv.FormatInt(res.Size, 10) != lm.Annotations[compress.AnnotationUncompressedSize] {
		t.Errorf("verified %+v; metadata %+v", res, lm)
	}
	if res.Files != 3 {
		t.Errorf("verified %d files, want 3 (big, exe, exe2 as a hardlink)", res.Files)
	}
	if _, again := buildBlob(t, inputs, meta, compress.Options{Algorithm: compress.Zstd, Level: compress.DefaultLevel, EStargz: true, Jobs: 3}); !bytes.Equal(again, data) {
		t.Errorf("two builds with 0 and 3 jobs differ")
	}
}
