package layer

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDedupLargeAndLinked checks hardlinks beyond the in-memory size: equal
// large files become links, a large file of the same size but other content
// is written whole, and the same file on disk reached through a symlinked
// tree is linked without being compared by content.
func TestDedupLargeAndLinked(t *testing.T) {
	src := t.TempDir()
	big := strings.Repeat("0123456789abcdef", (smallFileSize+4096)/16)
	other := strings.Repeat("fedcba9876543210", (smallFileSize+4096)/16)
	writeSource(t, src, "tree/a.bin", big, 0o644)
	writeSource(t, src, "tree/b.bin", big, 0o644)
	writeSource(t, src, "tree/c.bin", other, 0o644)
	small := writeSource(t, src, "small.txt", "same\n", 0o644)
	if err := os.Symlink(filepath.Join(src, "tree"), filepath.Join(src, "alias")); err != nil {
		t.Fatal(err)
	}
	inputs := []Input{
		{Kind: KindFile, Path: "/t", Source: filepath.Join(src, "tree")},
		{Kind: KindFile, Path: "/u", Source: filepath.Join(src, "alias")},
		{Kind: KindFile, Path: "/s1", Source: small},
		{Kind: KindFile, Path: "/s2", Source: small},
	}
	got := byName(t, planAndRead(t, inputs, MetadataSpec{}))
	want := map[string]string{ // name → link target, "" for content
		"t/a.bin": "", "t/b.bin": "t/a.bin", "t/c.bin": "",
		"u/a.bin": "t/a.bin", "u/b.bin": "t/a.bin", "u/c.bin": "t/c.bin",
		"s1": "", "s2": "s1",
	}
	for name, target := range want {
		e, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s is missing", name)
		case target == "" && (e.hdr.Typeflag != tar.TypeReg || int64(len(e.content)) != e.hdr.Size || e.hdr.Size == 0):
			t.Errorf("%s: type %c, %d bytes; want a regular file with its content", name, e.hdr.Typeflag, len(e.content))
		case target != "" && (e.hdr.Typeflag != tar.TypeLink || e.hdr.Linkname != target):
			t.Errorf("%s: type %c to %q; want a hardlink to %s", name, e.hdr.Typeflag, e.hdr.Linkname, target)
		}
	}
	if got["t/c.bin"].content != other || got["t/a.bin"].content != big {
		t.Errorf("large file content changed")
	}
}

// TestLayoutWalksAgain checks that a layout gives the same tar every time
// it is written, as the dedup pass and the write pass rely on.
func TestLayoutWalksAgain(t *testing.T) {
	src := t.TempDir()
	for _, rel := range []string{"d/x", "d/y", "d/e/z", "d.txt"} {
		writeSource(t, src, "tree/"+rel, rel, 0o644)
	}
	l, err := NewLayout([]Input{{Kind: KindFile, Path: "/app", Source: filepath.Join(src, "tree")}, {Kind: KindSymlink, Path: "/app/d/l", Target: "x"}}, MetadataSpec{})
	if err != nil {
		t.Fatal(err)
	}
	var first, second bytes.Buffer
	if err := WriteLayout(&first, l); err != nil {
		t.Fatal(err)
	}
	if err := WriteLayout(&second, l); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Errorf("two writes of one layout differ")
	}
	want := "app/ app/d/ app/d/e/ app/d/e/z app/d/l app/d/x app/d/y app/d.txt"
	if got := strings.Join(names(readTar(t, first.Bytes())), " "); got != want {
		t.Errorf("entries %s, want %s", got, want)
	}
}

func TestComparePaths(t *testing.T) {
	ordered := []string{"a", "a/b", "a/b/c", "a/b.txt", "a/b0", "a-b", "a.txt", "b"}
	for i := range ordered {
		for j := range ordered {
			c := comparePaths(ordered[i], ordered[j])
			if (i < j) != (c < 0) || (i == j) != (c == 0) {
				t.Errorf("comparePaths(%q, %q) = %d", ordered[i], ordered[j], c)
			}
		}
	}
}
