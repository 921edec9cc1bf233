package sbom

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/rules-img/rules_img/tools/inventory"
)

func layer(t *testing.T, dir, name string, files map[string]string) string {
	t.Helper()
	blobPath := filepath.Join(dir, name+".tar.gz")
	f, _ := os.Create(blobPath)
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	for _, p := range []string{"a", "b", "c"} {
		body, ok := files[p]
		if !ok {
			continue
		}
		tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
	f.Close()
	out := filepath.Join(dir, name+".jsonl")
	if err := inventory.Write(blobPath, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBuild(t *testing.T) {
	dir := t.TempDir()
	inv := []string{layer(t, dir, "l0", map[string]string{"a": "1", "b": "2"}), layer(t, dir, "l1", map[string]string{"c": "3"})}
	manifest := filepath.Join(dir, "manifest.json")
	os.WriteFile(manifest, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:`+
		"0000000000000000000000000000000000000000000000000000000000000000"+`","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:`+
		"1111111111111111111111111111111111111111111111111111111111111111"+`","size":1},{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:`+
		"2222222222222222222222222222222222222222222222222222222222222222"+`","size":1}]}`), 0o644)
	config := filepath.Join(dir, "config.json")
	os.WriteFile(config, []byte(`{"created":"2024-01-02T03:04:05Z","os":"linux","architecture":"amd64","rootfs":{"type":"layers","diff_ids":[]}}`), 0o644)
	r := Request{Name: "//app:image", Manifest: manifest, Config: config, Inventories: inv,
		Base: &Base{Registry: "index.docker.io", Repository: "library/debian", Tag: "12", Digest: "sha256:" + "3333333333333333333333333333333333333333333333333333333333333333"}}
	write := func() []byte {
		doc, err := Build(r)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "sbom.json")
		if err := Write(doc, out); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(out)
		return data
	}
	first := write()
	if !bytes.Equal(first, write()) {
		t.Error("two builds differ")
	}
	var got struct {
		Info     struct{ Created string } `json:"creationInfo"`
		Files    []struct{ FileName string }
		Packages []struct {
			SPDXID                  string
			PackageVerificationCode *struct{ PackageVerificationCodeValue string } `json:"packageVerificationCode"`
		}
		Relationships []struct{ SpdxElementID, RelationshipType, RelatedSpdxElement string }
	}
	if err := json.Unmarshal(first, &got); err != nil {
		t.Fatal(err)
	}
	if got.Info.Created != "2024-01-02T03:04:05Z" {
		t.Errorf("created %q, want the image's", got.Info.Created)
	}
	if len(got.Files) != 3 || got.Files[2].FileName != "./c" {
		t.Errorf("files %+v", got.Files)
	}
	if len(got.Packages) != 2 || got.Packages[0].SPDXID != "SPDXRef-Image" || got.Packages[0].PackageVerificationCode == nil || got.Packages[1].SPDXID != "SPDXRef-Base" {
		t.Errorf("packages %+v", got.Packages)
	}
	contains := 0
	for _, rel := range got.Relationships {
		if rel.SpdxElementID == "SPDXRef-Image" && rel.RelationshipType == "CONTAINS" {
			contains++
		}
	}
	if contains != 3 {
		t.Errorf("%d CONTAINS relationships of the image, want one per file", contains)
	}
	r.Inventories = inv[:1]
	if _, err := Build(r); err == nil {
		t.Error("an inventory missing for a layer was not an error")
	}
}
