package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/deploy"
)

// loadFixture lays out an image's files and a load target's spec and
// config as image_load puts them in runfiles.
func loadFixture(t *testing.T, tags string) (img v1.Image, root, spec, config string) {
	t.Helper()
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	root = t.TempDir()
	pkg := filepath.Join(root, "_main", "pkg")
	os.MkdirAll(pkg, 0o755)
	put := func(name string, data []byte) string {
		if err := os.WriteFile(filepath.Join(pkg, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		return "pkg/" + name
	}
	raw, _ := img.RawManifest()
	cfg, _ := img.RawConfigFile()
	files := deploy.ManifestFiles{Manifest: put("m.json", raw), Config: put("c.json", cfg), Descriptor: put("d.json", []byte("{}"))}
	layers, _ := img.Layers()
	for i, l := range layers {
		d, _ := l.Digest()
		diff, _ := l.DiffID()
		size, _ := l.Size()
		mt, _ := l.MediaType()
		rc, _ := l.Compressed()
		data, _ := io.ReadAll(rc)
		meta, _ := json.Marshal(blob.LayerMetadata{MediaType: string(mt), Digest: d.String(), Size: size, DiffID: diff.String()})
		n := string(rune('0' + i))
		files.Layers = append(files.Layers, deploy.LayerFiles{Metadata: put("l"+n+".json", meta), Blob: put("l"+n+".tar.gz", data)})
	}
	data, _ := json.Marshal(deploy.Spec{WorkspaceName: "_main", Manifests: []deploy.ManifestFiles{files}})
	spec = filepath.Join(pkg, "load.deploy.json")
	os.WriteFile(spec, data, 0o644)
	data, _ = json.Marshal(loadConfig{Daemon: "tar", TagsFile: put("load.tags.txt", []byte(tags))})
	config = filepath.Join(pkg, "load.load.json")
	os.WriteFile(config, data, 0o644)
	return img, root, spec, config
}

func TestLoadToATarball(t *testing.T) {
	img, root, spec, config := loadFixture(t, "localhost/app:dev\nlocalhost/app:v1\n")
	out := filepath.Join(t.TempDir(), "image.tar")
	err := runLoad([]string{"--quiet", "--runfiles", root, "--spec", spec, "--config", config, "--output", out})
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"localhost/app:dev", "localhost/app:v1"} {
		ref, _ := name.NewTag(tag)
		back, err := tarball.ImageFromPath(out, &ref)
		if err != nil {
			t.Fatalf("%s: %v", tag, err)
		}
		got, _ := back.Digest()
		want, _ := img.Digest()
		if got != want {
			t.Errorf("%s: %s, want %s", tag, got, want)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".image.tar.*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// --tag replaces the rule's names.
	err = runLoad([]string{"--quiet", "--runfiles", root, "--spec", spec, "--config", config, "--output", out, "--tag", "other:1"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(out) })
	if err != nil || len(m) != 1 || strings.Join(m[0].RepoTags, " ") != "other:1" {
		t.Errorf("--tag other:1: manifest.json %+v (%v)", m, err)
	}
}

func TestLoadErrors(t *testing.T) {
	_, root, spec, config := loadFixture(t, "localhost/app:{BUILD_USER}\n")
	out := filepath.Join(t.TempDir(), "image.tar")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "localhost/app:{BUILD_USER}"},
		{[]string{"--tag", "x:1", "--daemon", "podman", "--namespace", "k8s.io"}, "--namespace is for containerd"},
		{[]string{"--tag", "x:1", "--daemon", "containerd", "--output", out}, "--output is for --daemon tar"},
		{[]string{"--tag", "x:1", "--daemon", "kubernetes"}, "is not one of containerd, docker, podman, tar"},
		{[]string{"--tag", "x:1", "--platform", "linux/"}, "--platform"},
	} {
		args := append([]string{"--quiet", "--runfiles", root, "--spec", spec, "--config", config, "--output", out}, tc.args...)
		if err := runLoad(args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("load %v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a failed load left %s behind", out)
	}
}

func TestLoadStrategyCache(t *testing.T) {
	ctx := context.Background()
	for _, s := range []string{"", "eager"} {
		if c, err := (loadConfig{Strategy: s}).cache(ctx); c != nil || err != nil {
			t.Errorf("strategy %q: cache %v, %v; want none", s, c, err)
		}
	}
	if c, err := (loadConfig{Strategy: "lazy", RemoteCache: "grpc://127.0.0.1:1"}).cache(ctx); c == nil || err != nil {
		t.Errorf("lazy: cache %v, %v; want one", c, err)
	}
	if _, err := (loadConfig{Strategy: "sloppy"}).cache(ctx); err == nil || !strings.Contains(err.Error(), "eager or lazy") {
		t.Errorf("unknown strategy: %v", err)
	}
}
