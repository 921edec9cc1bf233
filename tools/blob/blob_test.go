package blob

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDigestWriter(t *testing.T) {
	data := []byte(strings.Repeat("rules_img", 1000))
	sum := sha256.Sum256(data)
	want := "sha256:" + hex.EncodeToString(sum[:])

	var out bytes.Buffer
	w := NewDigestWriter(&out)
	for rest := data; len(rest) > 0; {
		n := min(777, len(rest))
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if w.Digest() != want || w.Size() != int64(len(data)) || !bytes.Equal(out.Bytes(), data) {
		t.Errorf("digest %s size %d, want %s %d; passed on %d bytes", w.Digest(), w.Size(), want, len(data), out.Len())
	}

	// A nil writer only hashes.
	h := NewDigestWriter(nil)
	h.Write(data)
	if h.Digest() != want || h.Size() != int64(len(data)) {
		t.Errorf("hash-only writer: %s %d", h.Digest(), h.Size())
	}
	if empty := NewDigestWriter(nil).Digest(); empty != "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("digest of nothing = %s", empty)
	}
}

func TestValidateDigest(t *testing.T) {
	good := "sha256:" + strings.Repeat("0123456789abcdef", 4)
	if err := ValidateDigest(good); err != nil {
		t.Errorf("ValidateDigest(%q) = %v", good, err)
	}
	for _, bad := range []string{"", "sha256:", "sha256:abc", strings.TrimPrefix(good, "sha256:"),
		"sha512:" + strings.Repeat("0", 64), "sha256:" + strings.Repeat("A", 64), good + "0", good + "\n"} {
		if err := ValidateDigest(bad); err == nil {
			t.Errorf("ValidateDigest(%q) accepted it", bad)
		}
	}
}

func TestReadLayerMetadata(t *testing.T) {
	dir := t.TempDir()
	d := "sha256:" + strings.Repeat("a", 64)
	good := LayerMetadata{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: d, Size: 10, DiffID: d,
		Annotations: map[string]string{"k": "v"}}
	path := filepath.Join(dir, "good.json")
	if err := WriteJSON(path, good); err != nil {
		t.Fatal(err)
	}
	got, err := ReadLayerMetadata(path)
	if err != nil || got.Digest != d || got.Size != 10 || got.Annotations["k"] != "v" {
		t.Errorf("ReadLayerMetadata = %+v, %v", got, err)
	}
	if raw, _ := os.ReadFile(path); !bytes.HasSuffix(raw, []byte("}\n")) || !bytes.Contains(raw, []byte(`"diff_id"`)) {
		t.Errorf("WriteJSON wrote %q", raw)
	}
	if _, err := os.Stat(path + ".tmp"); err == nil {
		t.Error("temporary file left behind")
	}

	for _, tc := range []struct {
		name string
		m    LayerMetadata
		want string
	}{
		{"no media type", LayerMetadata{Digest: d, DiffID: d}, "mediaType is empty"},
		{"bad digest", LayerMetadata{MediaType: "x", Digest: "sha256:1", DiffID: d}, "digest"},
		{"bad diff_id", LayerMetadata{MediaType: "x", Digest: d, DiffID: "md5:1"}, "diff_id"},
		{"negative size", LayerMetadata{MediaType: "x", Digest: d, DiffID: d, Size: -1}, "size -1"},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".json")
		if err := WriteJSON(p, tc.m); err != nil {
			t.Fatal(err)
		}
		_, err := ReadLayerMetadata(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want one naming %s and containing %q", tc.name, err, p, tc.want)
		}
	}
	notJSON := filepath.Join(dir, "not.json")
	os.WriteFile(notJSON, []byte("{"), 0o644)
	if _, err := ReadLayerMetadata(notJSON); err == nil || !strings.Contains(err.Error(), notJSON) {
		t.Errorf("malformed file: %v", err)
	}
}

func TestAddAnnotations(t *testing.T) {
	writer := map[string]string{"containerd.io/snapshot/stargz/toc.digest": "sha256:toc"}
	m := LayerMetadata{Annotations: writer}
	if err := m.AddAnnotations(map[string]string{"org.example.a": "x=y", "org.example.b": ""}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"containerd.io/snapshot/stargz/toc.digest": "sha256:toc", "org.example.a": "x=y", "org.example.b": ""}
	if !maps.Equal(m.Annotations, want) {
		t.Errorf("annotations %v, want %v", m.Annotations, want)
	}
	if len(writer) != 1 {
		t.Errorf("the writer's map was changed: %v", writer)
	}

	var empty LayerMetadata
	if err := empty.AddAnnotations(nil); err != nil || empty.Annotations != nil {
		t.Errorf("no annotations added: %v, %v; want none and no error", empty.Annotations, err)
	}
	if err := empty.AddAnnotations(map[string]string{"k": "v"}); err != nil || empty.Annotations["k"] != "v" {
		t.Errorf("added to none: %v, %v", empty.Annotations, err)
	}

	m = LayerMetadata{Annotations: map[string]string{"containerd.io/snapshot/stargz/toc.digest": "sha256:toc"}}
	err := m.AddAnnotations(map[string]string{"containerd.io/snapshot/stargz/toc.digest": "mine", "org.example": "x"})
	if err == nil || !strings.Contains(err.Error(), `"containerd.io/snapshot/stargz/toc.digest"`) {
		t.Errorf("collision: %v, want an error naming the key", err)
	}
	if m.Annotations["containerd.io/snapshot/stargz/toc.digest"] != "sha256:toc" || len(m.Annotations) != 1 {
		t.Errorf("a refused merge changed the annotations: %v", m.Annotations)
	}
}
