package inventory

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	program, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	blobPath := filepath.Join(dir, "layer.tar.gz")
	f, _ := os.Create(blobPath)
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	add := func(h *tar.Header, body []byte) {
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	add(&tar.Header{Name: "app/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	add(&tar.Header{Name: "app/server", Typeflag: tar.TypeReg, Mode: 0o755}, program)
	add(&tar.Header{Name: "app/link", Typeflag: tar.TypeSymlink, Linkname: "server"}, nil)
	add(&tar.Header{Name: "etc/motd", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("hello\n"))
	add(&tar.Header{Name: "etc/fake", Typeflag: tar.TypeReg, Mode: 0o755}, []byte("\x7fELF but no more"))
	tw.Close()
	zw.Close()
	f.Close()

	out := filepath.Join(dir, "inventory.jsonl")
	if err := Write(blobPath, out); err != nil {
		t.Fatal(err)
	}
	files, err := Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 || files[0].Path != "app/server" || files[1].Path != "etc/motd" || files[2].Path != "etc/fake" {
		t.Fatalf("files %+v, want the three regular files in archive order", files)
	}
	s1, s256 := sha1.Sum([]byte("hello\n")), sha256.Sum256([]byte("hello\n"))
	if m := files[1]; m.SHA1 != hex.EncodeToString(s1[:]) || m.SHA256 != hex.EncodeToString(s256[:]) || m.Size != 6 || m.Go != nil {
		t.Errorf("motd: %+v", m)
	}
	if g := files[0].Go; g == nil || g.Main.Path != "github.com/rules-img/rules_img" || g.GoVersion == "" {
		t.Errorf("the Go program's build info: %+v", g)
	}
	if files[2].Go != nil {
		t.Errorf("a file that only starts like ELF has build info: %+v", files[2].Go)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("left behind: %v", entries)
	}
}
