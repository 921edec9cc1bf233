package corpus

import (
	"crypto/sha256"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// treeDigest hashes every path and file content below root, in walk order.
func treeDigest(t *testing.T, root string) (sum string, files int, bytes int64) {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		io.WriteString(h, rel+"\x00")
		if d.Type().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			n, err := io.Copy(h, f)
			files++
			bytes += n
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(h.Sum(nil)), files, bytes
}

func TestDeterministicAndExact(t *testing.T) {
	p := Params{Bytes: 3 << 20, Dups: true}
	a, err := Ensure(filepath.Join(t.TempDir(), "a"), p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Ensure(filepath.Join(t.TempDir(), "b"), p)
	if err != nil {
		t.Fatal(err)
	}
	sumA, files, bytes := treeDigest(t, a.Root)
	sumB, _, _ := treeDigest(t, b.Root)
	if sumA != sumB {
		t.Error("two corpora from the same params differ")
	}
	if bytes != p.Bytes || a.Stats.Bytes != p.Bytes {
		t.Errorf("corpus holds %d bytes (stats say %d), want exactly %d", bytes, a.Stats.Bytes, p.Bytes)
	}
	if files != a.Stats.Files {
		t.Errorf("corpus holds %d files, stats say %d", files, a.Stats.Files)
	}
	if a.Stats.DupFiles == 0 {
		t.Error("Dups made no duplicate files")
	}
}

func TestReuseAndRefuse(t *testing.T) {
	dir := t.TempDir()
	p := Params{Bytes: 1 << 20}
	if _, err := Ensure(dir, p); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "root", "marker")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(dir, p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Error("a matching corpus was regenerated instead of reused")
	}
	if _, err := Ensure(dir, Params{Bytes: 1 << 20, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a corpus with other params was reused")
	}

	other := t.TempDir()
	keep := filepath.Join(other, "precious")
	os.WriteFile(keep, []byte("x"), 0o644)
	if _, err := Ensure(other, p); err == nil {
		t.Error("Ensure accepted a directory that is not a corpus")
	}
	if _, err := os.Stat(keep); err != nil {
		t.Error("Ensure deleted a file it did not create")
	}
}
