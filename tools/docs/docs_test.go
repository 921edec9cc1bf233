package docs

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const settingsBuild = `load("//img/private:settings.bzl", "string_setting")

# Layer compression.
# Second line.
string_setting(
    name = "compress",
    build_setting_default = "gzip",
    values = ["gzip"] + ["zstd"],
)

exports_files(["x"])
`

const settingsQuery = `# /x/img/settings/BUILD.bazel:5:15
string_setting(
  name = "compress",
  values = ["gzip", "zstd"],
  build_setting_default = "gzip",
)
`

func TestSettings(t *testing.T) {
	out, err := Settings("img/settings/BUILD.bazel", []byte(settingsBuild), []byte(settingsQuery))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| [`compress`](#compress) | `gzip` | `gzip`, `zstd` |",
		"`--@rules_img//img/settings:compress`, default `gzip`.\n\nLayer compression.\nSecond line.\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestSettingsNeedsAComment(t *testing.T) {
	src := strings.Replace(settingsBuild, "# Layer compression.\n# Second line.\n", "", 1)
	_, err := Settings("img/settings/BUILD.bazel", []byte(src), []byte(settingsQuery))
	if err == nil || !strings.Contains(err.Error(), `setting "compress" has no comment`) {
		t.Fatalf("want an error naming the setting, got %v", err)
	}
}

// repo writes a repository with one e2e file and one doc.
func repo(t *testing.T, e2e, doc string) string {
	t.Helper()
	root := t.TempDir()
	for path, content := range map[string]string{
		"e2e/x/BUILD.bazel":           e2e,
		"docs/guides/use.md":          doc,
		"docs/reference/generated.md": "```starlark\nnot checked\n```\n",
		"README.md":                   "# readme\n",
	} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(path)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, path), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const e2eBuild = `load("//x.bzl", "rule")

# [snippet: outer]
rule(
    name = "a",
    # [snippet: inner]
    registry = "REGISTRY",
    # [end snippet]
)
# [end snippet]
`

func TestSnippetsMatch(t *testing.T) {
	doc := "# Use\n\n<!-- snippet: outer -->\n```starlark\nrule(\n    name = \"a\",\n    registry = \"REGISTRY\",\n)\n```\n\n" +
		"<!-- snippet: inner with REGISTRY=ghcr.io -->\n```starlark\nregistry = \"ghcr.io\",\n```\n\n```sh\nnot starlark\n```\n"
	var out bytes.Buffer
	if err := CheckSnippets(repo(t, e2eBuild, doc), false, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "2 snippets") {
		t.Errorf("want 2 snippets counted: %s", out.String())
	}
}

func TestSnippetsStaleAndWrite(t *testing.T) {
	doc := "<!-- snippet: inner -->\n```starlark\nregistry = \"old\",\n```\n"
	root := repo(t, e2eBuild, doc)
	var out bytes.Buffer
	err := CheckSnippets(root, false, &out)
	if err == nil || !strings.Contains(out.String(), "docs/guides/use.md:2: the starlark block differs from its source (snippet \"inner\", e2e/x/BUILD.bazel:6); run tools/docs/update.sh") {
		t.Fatalf("want a stale snippet named, got %v:\n%s", err, out.String())
	}
	if err := CheckSnippets(root, true, &out); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(root, "docs/guides/use.md"))
	if want := "<!-- snippet: inner -->\n```starlark\nregistry = \"REGISTRY\",\n```\n"; string(got) != want {
		t.Errorf("rewritten doc:\n%s\nwant:\n%s", got, want)
	}
}

func TestSnippetsWithoutSource(t *testing.T) {
	for doc, want := range map[string]string{
		"text\n\n```starlark\nx = 1\n```\n":                         "docs/guides/use.md:3: this Starlark block has no source",
		"<!-- snippet: nope -->\n```python\nx = 1\n```\n":           `no e2e workspace marks a snippet "nope"`,
		"<!-- snippet: inner with NOPE=x -->\n```bzl\nx = 1\n```\n": `has no "NOPE" to replace`,
	} {
		var out bytes.Buffer
		if err := CheckSnippets(repo(t, e2eBuild, doc), true, &out); err == nil || !strings.Contains(out.String(), want) {
			t.Errorf("doc %q: want %q, got %v:\n%s", doc, want, err, out.String())
		}
	}
}

func TestRegionErrors(t *testing.T) {
	for src, want := range map[string]string{
		"# [snippet: a]\nx\n": `snippet "a" has no # [end snippet]`,
		"# [end snippet]\n":   "without a [snippet: NAME]",
		"# [snippet: a]\n# [end snippet]\n# [snippet: a]\n# [end snippet]\n": `snippet "a" is also marked at`,
	} {
		var out bytes.Buffer
		if err := CheckSnippets(repo(t, src, "# doc\n"), false, &out); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("e2e %q: want %q, got %v", src, want, err)
		}
	}
}
