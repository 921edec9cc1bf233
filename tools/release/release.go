package release

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Paths inside the module that a release rewrites.
const (
	modulePath   = "MODULE.bazel"
	lockfilePath = "toolchains/prebuilt.lock.json"
)

// Options say what to release.
type Options struct {
	// Version, without a leading "v": 1.2.3 or 1.2.3-rc.1.
	Version string
	// RepoDir is a git checkout of rules_img, and Ref the commit to release.
	RepoDir, Ref string
	// OutDir receives the release files; it must be empty or absent.
	OutDir string
	// Platforms to build the img tool for.
	Platforms []Platform
	// URLTemplate is where the files will be downloaded from; see ExpandURL.
	// It names the binaries in the lockfile and the archive in source.json.
	URLTemplate string
	// Builder compiles the img tool.
	Builder Builder
}

// Result lists what Run wrote.
type Result struct {
	Lockfile Lockfile
	// Archive is the source archive's file name in OutDir, and
	// ArchiveSHA256 its digest in hex.
	Archive, ArchiveSHA256 string
	// Files are every file written to OutDir, by name.
	Files []string
}

var versionRE = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// ArchiveName is the source archive's file name, and ArchivePrefix the
// directory its files are under (http_archive's strip_prefix).
func ArchiveName(version string) string   { return ArchivePrefix(version) + ".tar.gz" }
func ArchivePrefix(version string) string { return "rules_img-" + version }

// Run builds a release into o.OutDir:
//   - img_<os>_<arch>[.exe]: the img tool for each platform, built from
//     the committed sources of o.Ref with the version stamped in;
//   - prebuilt.lock.json: the lockfile of those binaries (url and sha256);
//   - rules_img-<version>.tar.gz: the source archive, with MODULE.bazel's
//     version and that lockfile in it, so the module uses the binaries;
//   - source.json: the archive's url, integrity and strip_prefix, as a
//     Bazel Central Registry entry wants them;
//   - SHA256SUMS and release_notes.md (Bzlmod and WORKSPACE setup).
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	tree, err := GitTree(ctx, o.RepoDir, o.Ref)
	if err != nil {
		return nil, err
	}
	entries, err := readTree(tree, nil)
	if err != nil {
		return nil, err
	}
	module, err := StampModuleVersion(fileOf(entries, modulePath), o.Version)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	if names, err := os.ReadDir(o.OutDir); err != nil || len(names) > 0 {
		return nil, fmt.Errorf("output directory %s must be empty, so that no file of another release is mixed in", o.OutDir)
	}
	res := &Result{}
	write := func(name string, data []byte, mode os.FileMode) error {
		res.Files = append(res.Files, name)
		return os.WriteFile(filepath.Join(o.OutDir, name), data, mode)
	}

	// The binaries are built from the tree as archived, MODULE.bazel stamped.
	src, err := os.MkdirTemp("", "rules_img-release-src-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(src)
	stamped, err := readTree(tree, map[string][]byte{modulePath: module})
	if err != nil {
		return nil, err
	}
	if err := extractTree(stamped, src); err != nil {
		return nil, err
	}
	for _, p := range o.Platforms {
		name := p.BinaryName()
		out := filepath.Join(o.OutDir, name)
		if err := o.Builder.Build(ctx, src, p, out); err != nil {
			return nil, err
		}
		res.Files = append(res.Files, name)
		sum, err := fileSHA256(out)
		if err != nil {
			return nil, err
		}
		url, _ := ExpandURL(o.URLTemplate, o.Version, p)
		res.Lockfile.Binaries = append(res.Lockfile.Binaries, Binary{OS: p.OS, CPU: p.Arch, URL: url, SHA256: sum})
	}
	lock, err := res.Lockfile.Marshal()
	if err != nil {
		return nil, err
	}
	if err := write("prebuilt.lock.json", lock, 0o644); err != nil {
		return nil, err
	}

	final, err := readTree(tree, map[string][]byte{modulePath: module, lockfilePath: lock})
	if err != nil {
		return nil, err
	}
	res.Archive = ArchiveName(o.Version)
	if res.ArchiveSHA256, err = o.writeArchive(final); err != nil {
		return nil, err
	}
	res.Files = append(res.Files, res.Archive)

	archiveURL := expandFile(o.URLTemplate, o.Version, res.Archive)
	sourceJSON, err := json.MarshalIndent(map[string]string{
		"url":          archiveURL,
		"integrity":    integrity(res.ArchiveSHA256),
		"strip_prefix": ArchivePrefix(o.Version),
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := write("source.json", append(sourceJSON, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := write("release_notes.md", releaseNotes(o.Version, archiveURL, res.ArchiveSHA256, o.Platforms), 0o644); err != nil {
		return nil, err
	}
	sums, err := checksums(o.OutDir, res.Files)
	if err != nil {
		return nil, err
	}
	if err := write("SHA256SUMS", sums, 0o644); err != nil {
		return nil, err
	}
	return res, nil
}

func (o Options) check() error {
	if !versionRE.MatchString(o.Version) {
		return fmt.Errorf("version %q: want MAJOR.MINOR.PATCH, optionally with -PRERELEASE, and no leading v", o.Version)
	}
	if len(o.Platforms) == 0 {
		return fmt.Errorf("no platforms to build the img tool for")
	}
	if o.OutDir == "" || o.RepoDir == "" || o.Ref == "" || o.Builder == nil {
		return fmt.Errorf("release options need OutDir, RepoDir, Ref and a Builder")
	}
	urls := map[string]Platform{}
	for _, p := range o.Platforms {
		url, err := ExpandURL(o.URLTemplate, o.Version, p)
		if err != nil {
			return err
		}
		if q, ok := urls[url]; ok {
			return fmt.Errorf("url template %q gives %s for both %s and %s; use {file}, or {os} and {arch}", o.URLTemplate, url, q, p)
		}
		urls[url] = p
	}
	return nil
}

func (o Options) writeArchive(entries []treeEntry) (string, error) {
	f, err := os.Create(filepath.Join(o.OutDir, ArchiveName(o.Version)))
	if err != nil {
		return "", err
	}
	h := sha256.New()
	if err := writeArchive(io.MultiWriter(f, h), entries, ArchivePrefix(o.Version)); err != nil {
		f.Close()
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), f.Close()
}

func fileOf(entries []treeEntry, name string) []byte {
	for _, e := range entries {
		if e.hdr.Name == name {
			return e.data
		}
	}
	return nil
}

// expandFile is ExpandURL for a file that belongs to no platform.
func expandFile(template, version, file string) string {
	return strings.NewReplacer("{version}", version, "{file}", file).Replace(template)
}

func integrity(hexSum string) string {
	raw, _ := hex.DecodeString(hexSum)
	return "sha256-" + base64.StdEncoding.EncodeToString(raw)
}

func fileSHA256(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checksums is a SHA256SUMS file (`sha256sum -c` reads it) of names in dir.
func checksums(dir string, names []string) ([]byte, error) {
	var b strings.Builder
	for _, name := range names {
		sum, err := fileSHA256(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, name)
	}
	return []byte(b.String()), nil
}

func releaseNotes(version, archiveURL, archiveSHA256 string, platforms []Platform) []byte {
	names := make([]string, len(platforms))
	for i, p := range platforms {
		names[i] = p.String()
	}
	return []byte(fmt.Sprintf("## Using rules_img %[1]s\n\n"+
		"With Bzlmod, in MODULE.bazel:\n\n"+
		"```starlark\nbazel_dep(name = \"rules_img\", version = %[1]q)\n```\n\n"+
		"With WORKSPACE:\n\n"+
		"```starlark\n"+
		"load(\"@bazel_tools//tools/build_defs/repo:http.bzl\", \"http_archive\")\n\n"+
		"http_archive(\n"+
		"    name = \"rules_img\",\n"+
		"    sha256 = %[3]q,\n"+
		"    strip_prefix = %[4]q,\n"+
		"    url = %[2]q,\n"+
		")\n\n"+
		"load(\"@rules_img//img:repositories.bzl\", \"rules_img_dependencies\", \"rules_img_register_toolchains\")\n\n"+
		"rules_img_dependencies()\n\n"+
		"rules_img_register_toolchains()\n"+
		"```\n\n"+
		"The img tool comes prebuilt for %[5]s (prebuilt.lock.json lists the binaries);\n"+
		"on other machines it is built from source with the host Go.\n",
		version, archiveURL, archiveSHA256, ArchivePrefix(version), strings.Join(names, ", ")))
}
