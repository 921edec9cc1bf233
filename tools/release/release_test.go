package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeBuilder writes a "binary" that names its platform and the
// MODULE.bazel it was built with, so tests see what was built from what.
type fakeBuilder struct{}

func (fakeBuilder) Build(_ context.Context, srcDir string, p Platform, out string) error {
	module, err := os.ReadFile(filepath.Join(srcDir, "MODULE.bazel"))
	if err != nil {
		return err
	}
	return os.WriteFile(out, []byte(fmt.Sprintf("img for %s from %x", p, sha256.Sum256(module))), 0o755)
}

// gitRepo makes a repository with a module, a lockfile, an executable and
// a symlink, committed, plus an uncommitted change.
func gitRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"MODULE.bazel":                  "module(\n    name = \"rules_img\",\n    version = \"0.0.0\",\n)\n\nbazel_dep(name = \"platforms\", version = \"0.0.10\")\n",
		"toolchains/prebuilt.lock.json": "{\n  \"binaries\": []\n}\n",
		"tools/run.sh":                  "#!/bin/sh\n",
		"README.md":                     "committed\n",
	}
	for name, content := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("README.md", filepath.Join(dir, "LINK.md")); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "-A"},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "init", "--date=2026-01-02T03:04:05Z"},
	} {
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("not committed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func options(repo, out string) Options {
	return Options{
		Version:     "1.2.3",
		RepoDir:     repo,
		Ref:         "HEAD",
		OutDir:      out,
		Platforms:   []Platform{{"linux", "amd64"}, {"windows", "arm64"}},
		URLTemplate: DefaultURLTemplate,
		Builder:     fakeBuilder{},
	}
}

// archiveFiles reads a tar.gz into name → header and content.
func archiveFiles(t *testing.T, name string) (map[string]*tar.Header, map[string]string) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header has name %q and time %v; want neither", zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	headers, contents := map[string]*tar.Header{}, map[string]string{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		headers[hdr.Name], contents[hdr.Name] = hdr, string(data)
	}
	return headers, contents
}

func TestRun(t *testing.T) {
	repo := gitRepo(t)
	out := filepath.Join(t.TempDir(), "dist")
	res, err := Run(context.Background(), options(repo, out))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"img_linux_amd64", "img_windows_arm64.exe", "prebuilt.lock.json", "rules_img-1.2.3.tar.gz", "source.json", "release_notes.md", "SHA256SUMS"}
	if got := strings.Join(res.Files, " "); got != strings.Join(want, " ") {
		t.Errorf("files: got %s, want %s", got, strings.Join(want, " "))
	}

	var lock Lockfile
	data, _ := os.ReadFile(filepath.Join(out, "prebuilt.lock.json"))
	if err := json.Unmarshal(data, &lock); err != nil {
		t.Fatal(err)
	}
	if len(lock.Binaries) != 2 {
		t.Fatalf("lockfile: %s", data)
	}
	for _, b := range lock.Binaries {
		name := Platform{b.OS, b.CPU}.BinaryName()
		if wantURL := "https://github.com/rules-img/rules_img/releases/download/v1.2.3/" + name; b.URL != wantURL {
			t.Errorf("%s url: got %s, want %s", name, b.URL, wantURL)
		}
		bin, _ := os.ReadFile(filepath.Join(out, name))
		if sum := fmt.Sprintf("%x", sha256.Sum256(bin)); b.SHA256 != sum {
			t.Errorf("%s sha256: got %s, want %s", name, b.SHA256, sum)
		}
	}

	headers, contents := archiveFiles(t, filepath.Join(out, res.Archive))
	module := contents["rules_img-1.2.3/MODULE.bazel"]
	if !strings.Contains(module, `version = "1.2.3"`) || strings.Contains(module, "0.0.0") {
		t.Errorf("MODULE.bazel in the archive is not stamped:\n%s", module)
	}
	bin, _ := os.ReadFile(filepath.Join(out, "img_linux_amd64"))
	if wantBin := fmt.Sprintf("img for linux/amd64 from %x", sha256.Sum256([]byte(module))); string(bin) != wantBin {
		t.Errorf("the binary was not built from the stamped MODULE.bazel: %s", bin)
	}
	if got := contents["rules_img-1.2.3/toolchains/prebuilt.lock.json"]; got != string(data) {
		t.Errorf("the archive's lockfile:\n%s\nwant the release's:\n%s", got, data)
	}
	if got := contents["rules_img-1.2.3/README.md"]; got != "committed\n" {
		t.Errorf("README.md: got %q; uncommitted changes must stay out", got)
	}
	for name, mode := range map[string]int64{
		"rules_img-1.2.3/":             0o755,
		"rules_img-1.2.3/tools/":       0o755,
		"rules_img-1.2.3/tools/run.sh": 0o755,
		"rules_img-1.2.3/README.md":    0o644,
	} {
		if hdr := headers[name]; hdr == nil || hdr.Mode != mode || hdr.Uid != 0 || hdr.Uname != "" {
			t.Errorf("%s: header %+v, want mode %o, owned by 0 with no names", name, hdr, mode)
		}
	}
	if hdr := headers["rules_img-1.2.3/LINK.md"]; hdr == nil || hdr.Typeflag != tar.TypeSymlink || hdr.Linkname != "README.md" {
		t.Errorf("LINK.md: header %+v, want a symlink to README.md", hdr)
	}

	var source map[string]string
	data, _ = os.ReadFile(filepath.Join(out, "source.json"))
	if err := json.Unmarshal(data, &source); err != nil {
		t.Fatal(err)
	}
	if source["strip_prefix"] != "rules_img-1.2.3" || !strings.HasPrefix(source["integrity"], "sha256-") ||
		source["url"] != "https://github.com/rules-img/rules_img/releases/download/v1.2.3/rules_img-1.2.3.tar.gz" {
		t.Errorf("source.json: %s", data)
	}
	sums, _ := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	if !strings.Contains(string(sums), res.ArchiveSHA256+"  rules_img-1.2.3.tar.gz\n") {
		t.Errorf("SHA256SUMS lacks the archive's sha256 %s:\n%s", res.ArchiveSHA256, sums)
	}
}

func TestRunIsReproducible(t *testing.T) {
	repo := gitRepo(t)
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	first, err := Run(context.Background(), options(repo, a))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), options(repo, b)); err != nil {
		t.Fatal(err)
	}
	for _, name := range first.Files {
		x, _ := os.ReadFile(filepath.Join(a, name))
		y, _ := os.ReadFile(filepath.Join(b, name))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs", name)
		}
	}
}

func TestRunRefusesBadOptions(t *testing.T) {
	repo := gitRepo(t)
	used := t.TempDir()
	if err := os.WriteFile(filepath.Join(used, "old"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"leading v", func(o *Options) { o.Version = "v1.2.3" }, "no leading v"},
		{"not a version", func(o *Options) { o.Version = "1.2" }, "MAJOR.MINOR.PATCH"},
		{"same url for two platforms", func(o *Options) { o.URLTemplate = "https://example.com/{version}/img" }, "for both linux/amd64 and windows/arm64"},
		{"unknown placeholder", func(o *Options) { o.URLTemplate = "https://example.com/{tag}/{file}" }, "unknown placeholder"},
		{"output directory in use", func(o *Options) { o.OutDir = used }, "must be empty"},
		{"unknown ref", func(o *Options) { o.Ref = "no-such-tag" }, "git archive no-such-tag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := options(repo, filepath.Join(t.TempDir(), "out"))
			tc.edit(&o)
			_, err := Run(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one with %q", err, tc.want)
			}
		})
	}
}

func TestStampModuleVersion(t *testing.T) {
	got, err := StampModuleVersion([]byte("module(name = \"rules_img\")\n\nbazel_dep(name = \"platforms\", version = \"0.0.10\")\n"), "2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if want := "module(\n    name = \"rules_img\",\n    version = \"2.0.0\",\n)\n\nbazel_dep(name = \"platforms\", version = \"0.0.10\")\n"; string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if _, err := StampModuleVersion([]byte("bazel_dep(name = \"x\")\n"), "2.0.0"); err == nil || !strings.Contains(err.Error(), "no module() call") {
		t.Errorf("got %v, want an error about the missing module() call", err)
	}
}

func TestPlatforms(t *testing.T) {
	ps, err := ParsePlatforms("windows/amd64, linux/arm64,windows/amd64")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].BinaryName() != "img_windows_amd64.exe" || ps[1].BinaryName() != "img_linux_arm64" {
		t.Errorf("got %v", ps)
	}
	if all, _ := ParsePlatforms("all"); len(all) != 6 {
		t.Errorf("all: got %v", all)
	}
	if _, err := ParsePlatforms("linux/s390x"); err == nil || !strings.Contains(err.Error(), `platform "linux/s390x"`) {
		t.Errorf("got %v, want an error naming linux/s390x", err)
	}
	url, err := ExpandURL("https://example.com/v{version}/{os}-{arch}/{file}", "1.0.0", Platform{"darwin", "arm64"})
	if err != nil || url != "https://example.com/v1.0.0/darwin-arm64/img_darwin_arm64" {
		t.Errorf("got %s, %v", url, err)
	}
}
