package docs

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckLinks(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"docs/README.md": "# Docs\n\n[guide](guides/a.md#some-heading) [ref](reference/r.md#images.pull) " +
			"[web](https://example.com/x.md) [self](#docs)\n\n```\n[not a link](nowhere.md)\n```\n",
		"docs/guides/a.md":    "# A\n\n## Some heading\n\n[back](../README.md) [dir](../reference)\n",
		"docs/reference/r.md": "<a id=\"images.pull\"></a>\n\n## images.pull\n",
	}
	for path, content := range files {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(path)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, path), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := CheckLinks(root, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "5 links in 3 files resolve") {
		t.Errorf("want 5 links counted: %s", out.String())
	}

	broken := "[gone](guides/b.md) [anchor](guides/a.md#nope)\n"
	if err := os.WriteFile(filepath.Join(root, "docs/README.md"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err := CheckLinks(root, &out)
	for _, want := range []string{
		`docs/README.md:1: link "guides/b.md": guides/b.md does not exist`,
		`docs/README.md:1: link "guides/a.md#nope": no anchor "nope" in a.md`,
	} {
		if err == nil || !strings.Contains(out.String(), want) {
			t.Errorf("want %q, got %v:\n%s", want, err, out.String())
		}
	}
}
