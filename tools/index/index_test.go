package index

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func manifest(name, arch, variant string, fill byte) Manifest {
	return Manifest{Name: name, Descriptor: ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest,
		Digest:    digest.Digest("sha256:" + strings.Repeat(string(fill), 64)),
		Size:      1234,
		Platform:  &ocispec.Platform{OS: "linux", Architecture: arch, Variant: variant},
	}}
}

func TestBuild(t *testing.T) {
	ms := []Manifest{manifest("//:app (amd64)", "amd64", "", 'a'), manifest("//:app (arm64)", "arm64", "v8", 'b')}
	res, err := Build(ms, map[string]string{"org.opencontainers.image.version": "1.0"})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(res.Index)
	if want := "sha256:" + hex.EncodeToString(sum[:]); string(res.Descriptor.Digest) != want || res.Descriptor.Size != int64(len(res.Index)) {
		t.Errorf("descriptor %+v does not match the index bytes (%s)", res.Descriptor, want)
	}
	if res.Descriptor.MediaType != ocispec.MediaTypeImageIndex || res.Descriptor.Platform != nil {
		t.Errorf("descriptor %+v", res.Descriptor)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(res.Index, &idx); err != nil {
		t.Fatal(err)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != ocispec.MediaTypeImageIndex || idx.Annotations["org.opencontainers.image.version"] != "1.0" {
		t.Errorf("index %s", res.Index)
	}
	if len(idx.Manifests) != 2 || idx.Manifests[0].Digest != ms[0].Descriptor.Digest || idx.Manifests[1].Platform.Variant != "v8" {
		t.Errorf("manifests %+v, want the descriptors in order", idx.Manifests)
	}
	// The same input gives the same bytes.
	again, _ := Build(ms, map[string]string{"org.opencontainers.image.version": "1.0"})
	if string(again.Index) != string(res.Index) {
		t.Errorf("Build is not deterministic")
	}
	if noAnn, _ := Build(ms, nil); strings.Contains(string(noAnn.Index), "annotations") {
		t.Errorf("empty annotations are written: %s", noAnn.Index)
	}
}

func TestBuildErrors(t *testing.T) {
	noPlatform := manifest("//:b", "amd64", "", 'b')
	noPlatform.Descriptor.Platform = nil
	index := manifest("//:c", "amd64", "", 'c')
	index.Descriptor.MediaType = ocispec.MediaTypeImageIndex
	badDigest := manifest("//:d", "amd64", "", 'X')
	for _, tc := range []struct {
		name string
		ms   []Manifest
		want string
	}{
		{"empty", nil, "at least one manifest"},
		{"same manifest twice", []Manifest{manifest("//:a", "amd64", "", 'a'), manifest("//:x", "arm64", "v8", 'e'), manifest("//:b", "amd64", "", 'a')},
			"//:a and //:b are the same manifest sha256:aaaa"},
		{"no platform", []Manifest{noPlatform}, "//:b: descriptor sha256:bbbb"},
		{"an index", []Manifest{index}, "//:c: descriptor media type \"application/vnd.oci.image.index.v1+json\" is not an image manifest"},
		{"bad digest", []Manifest{badDigest}, "//:d: descriptor: "},
	} {
		_, err := Build(tc.ms, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	// OCI allows several manifests of one platform: a runtime takes the first.
	if _, err := Build([]Manifest{manifest("//:a", "arm", "v7", 'a'), manifest("//:b", "arm", "v7", 'b')}, nil); err != nil {
		t.Errorf("two manifests of linux/arm/v7: %v, want them both in the index", err)
	}
	// Variants tell platforms apart.
	if _, err := Build([]Manifest{manifest("//:a", "arm", "v6", 'a'), manifest("//:b", "arm", "v7", 'b')}, nil); err != nil {
		t.Errorf("arm/v6 and arm/v7: %v", err)
	}
}

func TestWriteAndReadDescriptor(t *testing.T) {
	dir := t.TempDir()
	m := manifest("//:a", "amd64", "", 'a')
	data, _ := json.Marshal(m.Descriptor)
	p := filepath.Join(dir, "d.json")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := ReadDescriptor(p)
	if err != nil || d.Digest != m.Descriptor.Digest || d.Platform.Architecture != "amd64" {
		t.Fatalf("ReadDescriptor: %+v, %v", d, err)
	}
	res, err := Build([]Manifest{{Descriptor: d, Name: "//:a"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := Outputs{Index: filepath.Join(dir, "index.json"), Descriptor: filepath.Join(dir, "index.descriptor.json")}
	if err := res.Write(out); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out.Index)
	if string(got) != string(res.Index) {
		t.Errorf("index file differs from the result")
	}
	back, err := ReadDescriptor(out.Descriptor)
	if err != nil || back.Digest != res.Descriptor.Digest {
		t.Errorf("descriptor file: %+v, %v", back, err)
	}
	if _, err := ReadDescriptor(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("ReadDescriptor of a missing file succeeded")
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{"), 0o644)
	if _, err := ReadDescriptor(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad JSON: %v", err)
	}
}
