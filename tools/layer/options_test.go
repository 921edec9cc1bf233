package layer

import (
	"bytes"
	"io"
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
