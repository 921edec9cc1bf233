package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/metadata"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/containerd/log"
	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
)

func TestMain(m *testing.M) {
	// containerd's local store warns that this file system has no fsverity.
	log.SetLevel("error")
	os.Exit(m.Run())
}

// store is containerd's own metadata store (namespaces, leases, labels,
// garbage collection) over its local content store, in process: what a
// containerd daemon does behind its API, without the daemon.
type store struct {
	db  *metadata.DB
	svc services
	ctx context.Context
}

func newStore(t *testing.T) *store {
	t.Helper()
	root := t.TempDir()
	cs, err := local.NewStore(filepath.Join(root, "content"))
	if err != nil {
		t.Fatal(err)
	}
	bdb, err := bolt.Open(filepath.Join(root, "metadata.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bdb.Close() })
	db := metadata.NewDB(bdb, cs, nil)
	ctx := namespaces.WithNamespace(context.Background(), "test")
	if err := db.Init(ctx); err != nil {
		t.Fatal(err)
	}
	return &store{
		db:  db,
		ctx: ctx,
		svc: services{content: db.ContentStore(), images: metadata.NewImageStore(db), leases: metadata.NewLeaseManager(db)},
	}
}

// load writes sel under a lease and names it, as Containerd.Load does
// (less the unpack, which needs a snapshotter).
func (s *store) load(t *testing.T, sel Selection, names ...string) Stats {
	t.Helper()
	var stats Stats
	err := leased(s.ctx, s.svc.leases, func(ctx context.Context) error {
		if err := writeBlobs(ctx, s.svc, sel, &progress{}, &stats); err != nil {
			return err
		}
		return setNames(ctx, s.svc.images, sel.Target, names, &stats)
	})
	if err != nil {
		t.Fatal(err)
	}
	if ls, _ := s.svc.leases.List(s.ctx); len(ls) != 0 {
		t.Errorf("%d leases left after a load", len(ls))
	}
	return stats
}

// digests lists every blob of the content store.
func (s *store) digests(t *testing.T) map[string]bool {
	t.Helper()
	all := map[string]bool{}
	err := s.svc.content.Walk(s.ctx, func(i content.Info) error {
		all[i.Digest.String()] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

func (s *store) gc(t *testing.T) {
	t.Helper()
	if _, err := s.db.GarbageCollect(s.ctx); err != nil {
		t.Fatal(err)
	}
}

func blobsOf(t *testing.T, img v1.Image) []string {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	out := []string{d.String(), m.Config.Digest.String()}
	for _, l := range m.Layers {
		out = append(out, l.Digest.String())
	}
	return out
}

func mustSelect(t *testing.T, x any, c Choice) Selection {
	t.Helper()
	var sel Selection
	var err error
	switch v := x.(type) {
	case v1.ImageIndex:
		sel, err = Select(v, c)
	case v1.Image:
		sel, err = Select(v, c)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

func withPlatform(t *testing.T, img v1.Image, p string) v1.Image {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	pl := platforms.MustParse(p)
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = pl.OS, pl.Architecture, pl.Variant
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestLoadWritesOnlyMissingBlobs(t *testing.T) {
	s := newStore(t)
	img := withPlatform(t, must(random.Image(4096, 3)), "linux/amd64")
	host := Choice{Platform: platforms.MustParse("linux/amd64")}
	stats := s.load(t, mustSelect(t, img, host), "docker.io/library/app:dev")
	if stats.Written != 5 || stats.Present != 0 || stats.Names != 1 {
		t.Errorf("first load: %s, want 5 written (3 layers, config, manifest)", stats.String())
	}
	s.gc(t)
	for _, d := range blobsOf(t, img) {
		if !s.digests(t)[d] {
			t.Errorf("blob %s was collected: the image's labels do not hold it", d)
		}
	}

	// Again: nothing to write.
	stats = s.load(t, mustSelect(t, img, host), "docker.io/library/app:dev")
	if stats.Written != 0 || stats.Present != 5 {
		t.Errorf("second load: %s, want all 5 there", stats.String())
	}

	// One layer changed: that layer, the config and the manifest.
	layers, _ := img.Layers()
	changed, err := mutate.AppendLayers(must(mutate.AppendLayers(empty.Image, layers[:2]...)), must(random.Layer(4096, types.DockerLayer)))
	if err != nil {
		t.Fatal(err)
	}
	changed = withPlatform(t, changed, "linux/amd64")
	before := s.digests(t)
	stats = s.load(t, mustSelect(t, changed, host), "docker.io/library/app:dev")
	if stats.Written != 3 || stats.Present != 2 {
		t.Errorf("changed load: %s, want 3 written, 2 there", stats.String())
	}
	var added []string
	for d := range s.digests(t) {
		if !before[d] {
			added = append(added, d)
		}
	}
	if len(added) != 3 {
		t.Errorf("the content store gained %d blobs, want 3: %v", len(added), added)
	}
	rec, err := s.svc.images.Get(s.ctx, "docker.io/library/app:dev")
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := changed.Digest(); rec.Target.Digest.String() != want.String() {
		t.Errorf("the name points to %s, want the changed image %s", rec.Target.Digest, want)
	}
	// The old image's own layer is no one's now, and goes.
	s.gc(t)
	old := blobsOf(t, img)
	if s.digests(t)[old[len(old)-1]] {
		t.Errorf("the replaced layer %s survived garbage collection", old[len(old)-1])
	}
}

func TestLoadRejectsABlobThatIsNotItsDigest(t *testing.T) {
	s := newStore(t)
	img := withPlatform(t, must(random.Image(1024, 1)), "linux/amd64")
	sel := mustSelect(t, img, Choice{Platform: platforms.MustParse("linux/amd64")})
	sel.Images[0].Image = &lyingImage{Image: img}
	var stats Stats
	err := writeBlobs(s.ctx, s.svc, sel, &progress{}, &stats)
	if err == nil || !strings.Contains(err.Error(), "digest") {
		t.Errorf("a layer with other bytes: %v, want a digest error", err)
	}
}

// lyingImage serves other bytes (of the same size) for its layer.
type lyingImage struct{ v1.Image }

func (l *lyingImage) Layers() ([]v1.Layer, error) {
	layers, err := l.Image.Layers()
	if err != nil {
		return nil, err
	}
	return []v1.Layer{&lyingLayer{layers[0]}}, nil
}

type lyingLayer struct{ v1.Layer }

func (l *lyingLayer) Compressed() (io.ReadCloser, error) {
	size, err := l.Size()
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(make([]byte, size))), nil
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// index of amd64 and arm64/v8 images, sharing their first layer.
func testIndex(t *testing.T) (v1.ImageIndex, v1.Image, v1.Image) {
	t.Helper()
	shared := must(random.Layer(2048, types.DockerLayer))
	mk := func(p string) v1.Image {
		img := must(mutate.AppendLayers(empty.Image, shared, must(random.Layer(2048, types.DockerLayer))))
		return withPlatform(t, img, p)
	}
	amd, arm := mk("linux/amd64"), mk("linux/arm64/v8")
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	return idx, amd, arm
}

func TestSelectPlatforms(t *testing.T) {
	idx, amd, arm := testIndex(t)
	host := platforms.MustParse("linux/amd64")
	for _, tc := range []struct {
		flag string
		want []v1.Image
	}{
		{"", []v1.Image{amd}},
		{"linux/arm64", []v1.Image{arm}},
		{"linux/arm64/v8", []v1.Image{arm}},
		{"all", []v1.Image{amd, arm}},
	} {
		c, err := ParseChoice(tc.flag, host)
		if err != nil {
			t.Fatal(err)
		}
		sel := mustSelect(t, idx, c)
		if d, _ := idx.Digest(); sel.Target.Digest.String() != d.String() || sel.Index == nil {
			t.Errorf("--platform %q: target %s, want the index %s", tc.flag, sel.Target.Digest, d)
		}
		var got, want []string
		for _, pi := range sel.Images {
			d, _ := pi.Image.Digest()
			got = append(got, d.String())
		}
		for _, img := range tc.want {
			d, _ := img.Digest()
			want = append(want, d.String())
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("--platform %q chose %v, want %v", tc.flag, got, want)
		}
	}

	c, _ := ParseChoice("linux/s390x", host)
	if _, err := Select(idx, c); err == nil || !strings.Contains(err.Error(), "it has linux/amd64, linux/arm64:") {
		t.Errorf("a platform the index lacks: %v, want the list of those it has", err)
	}
	c, _ = ParseChoice("", platforms.MustParse("linux/riscv64"))
	if _, err := Select(idx, c); err == nil || !strings.Contains(err.Error(), "the host platform linux/riscv64") {
		t.Errorf("a host the index lacks: %v", err)
	}
	if _, err := ParseChoice("linux/", host); err == nil {
		t.Errorf("--platform linux/ was accepted")
	}

	// A single image loads whatever the host; a named platform must match.
	c, _ = ParseChoice("", platforms.MustParse("linux/riscv64"))
	if _, err := Select(arm, c); err != nil {
		t.Errorf("single image, host platform: %v", err)
	}
	c, _ = ParseChoice("linux/amd64", host)
	if _, err := Select(arm, c); err == nil || !strings.Contains(err.Error(), "the image is for linux/arm64 only") {
		t.Errorf("single image, another platform: %v", err)
	}
}

func TestLoadOnePlatformOfAnIndex(t *testing.T) {
	s := newStore(t)
	idx, amd, arm := testIndex(t)
	c, _ := ParseChoice("linux/arm64", platforms.MustParse("linux/amd64"))
	stats := s.load(t, mustSelect(t, idx, c), "localhost/app:multi")
	idxDigest, _ := idx.Digest()
	want := append(blobsOf(t, arm), idxDigest.String())
	got := s.digests(t)
	if len(got) != len(want) {
		t.Errorf("the content store has %d blobs, want %d (index, arm64 manifest, config, 2 layers)", len(got), len(want))
	}
	for _, d := range want {
		if !got[d] {
			t.Errorf("missing %s", d)
		}
	}
	if stats.Written != int64(len(want)) {
		t.Errorf("stats: %s, want %d written", stats.String(), len(want))
	}

	// Then amd64: its blobs join, the shared layer is not written again,
	// and the index holds both platforms through garbage collection.
	c, _ = ParseChoice("linux/amd64", platforms.MustParse("linux/amd64"))
	stats = s.load(t, mustSelect(t, idx, c), "localhost/app:multi")
	if stats.Written != 3 || stats.Present != 2 {
		t.Errorf("second platform: %s, want 3 written (manifest, config, own layer) and 2 there (shared layer, index)", stats.String())
	}
	s.gc(t)
	got = s.digests(t)
	for _, d := range append(blobsOf(t, amd), blobsOf(t, arm)...) {
		if !got[d] {
			t.Errorf("blob %s was collected after loading the second platform", d)
		}
	}
}

func TestSetNamesMovesAName(t *testing.T) {
	s := newStore(t)
	var stats Stats
	a := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest("sha256:" + strings.Repeat("a", 64)), Size: 1}
	b := a
	b.Digest = digest.Digest("sha256:" + strings.Repeat("b", 64))
	for _, d := range []ocispec.Descriptor{a, b} {
		if err := setNames(s.ctx, s.svc.images, d, []string{"docker.io/library/x:1"}, &stats); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.svc.images.Get(s.ctx, "docker.io/library/x:1")
	if err != nil || got.Target.Digest != b.Digest {
		t.Errorf("name points to %v (%v), want %s", got.Target.Digest, err, b.Digest)
	}
}

func TestNames(t *testing.T) {
	got, err := Names([]string{"app:dev", "localhost/team/app:v1", "ghcr.io/o/r", "app:dev"})
	if err != nil {
		t.Fatal(err)
	}
	want := "docker.io/library/app:dev localhost/team/app:v1 ghcr.io/o/r:latest"
	if strings.Join(got, " ") != want {
		t.Errorf("Names = %v, want %s", got, want)
	}
	if Familiar(got[0]) != "app:dev" {
		t.Errorf("Familiar(%s) = %s", got[0], Familiar(got[0]))
	}
	for tag, msg := range map[string]string{
		"App:dev":                               "not an image name",
		"app@sha256:" + strings.Repeat("a", 64): "names a digest",
	} {
		if _, err := Names([]string{tag}); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Names(%q) = %v, want %q", tag, err, msg)
		}
	}
	if _, err := Names(nil); err == nil || !strings.Contains(err.Error(), "--tag") {
		t.Errorf("no tags: %v", err)
	}
}

func TestCheckNamespaceListsThem(t *testing.T) {
	err := checkNamespace(context.Background(), fakeNamespaces{"moby", "default"}, "mobi", "/run/x.sock")
	if err == nil || !strings.Contains(err.Error(), `no namespace "mobi"; it has default, moby`) || !strings.Contains(err.Error(), "/run/x.sock") {
		t.Errorf("checkNamespace = %v", err)
	}
	if err := checkNamespace(context.Background(), fakeNamespaces{"moby"}, "moby", "x"); err != nil {
		t.Error(err)
	}
}

type fakeNamespaces []string

func (f fakeNamespaces) List(context.Context) ([]string, error) { return f, nil }

func TestUnreachableContainerdNamesTheAddress(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nothing.sock")
	_, err := DialContainerd(context.Background(), missing)
	if err == nil || !strings.Contains(err.Error(), "cannot reach containerd at "+missing) || !strings.Contains(err.Error(), "no socket") {
		t.Errorf("missing socket: %v", err)
	}
	// A socket that is no containerd.
	sock := filepath.Join(t.TempDir(), "other.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, err = DialContainerd(context.Background(), "unix://"+sock)
	if err == nil || !strings.Contains(err.Error(), sock) {
		t.Errorf("a socket that is no containerd: %v", err)
	}
}

func TestTarballReadsBack(t *testing.T) {
	img := withPlatform(t, must(random.Image(1024, 2)), "linux/amd64")
	sel := mustSelect(t, img, Choice{Platform: platforms.MustParse("linux/amd64")})
	path := filepath.Join(t.TempDir(), "x.tar")
	f, _ := os.Create(path)
	var stats Stats
	if err := WriteTarball(f, sel, []string{"localhost/e2e/app:dev", "docker.io/library/app:v1"}, &progress{}, &stats); err != nil {
		t.Fatal(err)
	}
	f.Close()
	tag, err := name.NewTag("localhost/e2e/app:dev")
	if err != nil {
		t.Fatal(err)
	}
	back, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := back.Digest()
	want, _ := img.Digest()
	if got != want {
		t.Errorf("read back %s, want %s", got, want)
	}
	if stats.Written != 3 || stats.Bytes == 0 {
		t.Errorf("stats %s, want 3 blobs streamed", stats.String())
	}

	idx, _, _ := testIndex(t)
	c, _ := ParseChoice("all", platforms.MustParse("linux/amd64"))
	if err := WriteTarball(f, mustSelect(t, idx, c), []string{"a:b"}, &progress{}, &stats); err == nil || !strings.Contains(err.Error(), "pass --platform with one of them") {
		t.Errorf("all platforms into one tarball: %v", err)
	}
}

// fakeCLI puts a `docker` on PATH that answers `info` with info and saves
// what `load` reads, then prints says.
func fakeCLI(t *testing.T, info dockerInfo, says string) string {
	t.Helper()
	dir := t.TempDir()
	infoJSON, _ := json.Marshal(info)
	os.WriteFile(filepath.Join(dir, "info.json"), infoJSON, 0o644)
	os.WriteFile(filepath.Join(dir, "says"), []byte(says+"\n"), 0o644)
	script := fmt.Sprintf(`#!/bin/sh
case "$*" in
  *info*) cat %[1]q/info.json ;;
  *load*) cat > %[1]q/loaded.tar; echo "$*" > %[1]q/args; cat %[1]q/says ;;
esac
`, dir)
	if err := os.WriteFile(filepath.Join(dir, "docker"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	return dir
}

func TestDockerClassicStreamsAndWarns(t *testing.T) {
	dir := fakeCLI(t, dockerInfo{Driver: "overlay2", OSType: "linux", Architecture: "x86_64"}, "Loaded image: localhost/e2e/app:dev")
	idx, amd, _ := testIndex(t)
	var warnings []string
	l, err := New(Options{Daemon: DaemonDocker, Address: "/tmp/d.sock", Warn: func(s string) { warnings = append(warnings, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Load(context.Background(), idx, []string{"localhost/e2e/app:dev"}); err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "classic store (overlay2)") {
		t.Errorf("warnings %q, want one about the classic store", warnings)
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	if strings.TrimSpace(string(args)) != "-H unix:///tmp/d.sock load" {
		t.Errorf("docker was run with %q", args)
	}
	back, err := tarball.ImageFromPath(filepath.Join(dir, "loaded.tar"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := back.Digest()
	want, _ := amd.Digest() // the daemon is x86_64
	if got != want {
		t.Errorf("docker load got %s, want the amd64 image %s", got, want)
	}
}

func TestDockerLoadOutputDecides(t *testing.T) {
	fakeCLI(t, dockerInfo{Driver: "overlay2"}, "Loaded image: localhost/e2e/app:dev\nError unpacking image: wrong diff id calculated on extraction")
	img := withPlatform(t, must(random.Image(512, 1)), "linux/amd64")
	l, _ := New(Options{Daemon: DaemonDocker})
	if _, err := l.Load(context.Background(), img, []string{"localhost/e2e/app:dev"}); err == nil || !strings.Contains(err.Error(), "wrong diff id") {
		t.Errorf("docker load printing an error but exiting 0: %v", err)
	}
	fakeCLI(t, dockerInfo{Driver: "overlay2"}, "Loaded image: localhost/e2e/error-pages:dev")
	if _, err := l.Load(context.Background(), img, []string{"localhost/e2e/error-pages:dev"}); err != nil {
		t.Errorf("an image named error-pages: %v", err)
	}
	fakeCLI(t, dockerInfo{Driver: "overlay2"}, "Loaded image ID: sha256:abc")
	if _, err := l.Load(context.Background(), img, []string{"localhost/e2e/app:dev"}); err == nil || !strings.Contains(err.Error(), "did not report loading localhost/e2e/app:dev") {
		t.Errorf("docker load not naming the image: %v", err)
	}
}

func TestDockerContainerdStoreUnreachableFallsBack(t *testing.T) {
	info := dockerInfo{Driver: "overlayfs", DriverStatus: [][2]string{{"driver-type", "io.containerd.snapshotter.v1"}}}
	info.Containerd = &struct {
		Address    string
		Namespaces struct{ Containers string }
	}{Address: filepath.Join(t.TempDir(), "gone.sock")}
	info.Containerd.Namespaces.Containers = "moby"
	fakeCLI(t, info, "Loaded image: app:dev")
	var warnings []string
	l, _ := New(Options{Daemon: DaemonDocker, Warn: func(s string) { warnings = append(warnings, s) }})
	img := withPlatform(t, must(random.Image(512, 1)), "linux/amd64")
	if _, err := l.Load(context.Background(), img, []string{"app:dev"}); err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "gone.sock") {
		t.Errorf("warnings %q, want one naming the unreachable socket", warnings)
	}
}

func TestGCLabels(t *testing.T) {
	d := func(mt, c string) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: mt, Digest: digest.Digest("sha256:" + strings.Repeat(c, 64))}
	}
	got := gcLabels([]ocispec.Descriptor{d(ocispec.MediaTypeImageConfig, "c"), d(ocispec.MediaTypeImageLayerGzip, "1"), d(ocispec.MediaTypeImageLayerZstd, "2")})
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := "containerd.io/gc.ref.content.config containerd.io/gc.ref.content.l.0 containerd.io/gc.ref.content.l.1"
	if strings.Join(keys, " ") != want {
		t.Errorf("labels %v, want %s", keys, want)
	}
}

func TestDockerOnAnotherMachineFallsBack(t *testing.T) {
	info := dockerInfo{Name: "docker-desktop", Driver: "overlayfs", DriverStatus: [][2]string{{"driver-type", "io.containerd.snapshotter.v1"}}}
	info.Containerd = &struct {
		Address    string
		Namespaces struct{ Containers string }
	}{Address: "/run/containerd/containerd.sock"}
	fakeCLI(t, info, "Loaded image: app:dev")
	var warnings []string
	l, _ := New(Options{Daemon: DaemonDocker, Warn: func(s string) { warnings = append(warnings, s) }})
	img := withPlatform(t, must(random.Image(512, 1)), "linux/amd64")
	if _, err := l.Load(context.Background(), img, []string{"app:dev"}); err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "docker runs on another machine (docker-desktop") {
		t.Errorf("warnings %q, want one saying docker runs elsewhere", warnings)
	}
}

// cancellingLayer cancels the load (as Ctrl-C does) while it is being read.
type cancellingLayer struct {
	v1.Layer
	cancel context.CancelFunc
}

func (l *cancellingLayer) Compressed() (io.ReadCloser, error) {
	l.cancel()
	return l.Layer.Compressed()
}

type cancellingImage struct {
	v1.Image
	cancel context.CancelFunc
}

func (c *cancellingImage) Layers() ([]v1.Layer, error) {
	layers, err := c.Image.Layers()
	if err != nil {
		return nil, err
	}
	return []v1.Layer{&cancellingLayer{layers[0], c.cancel}}, nil
}

func TestCancelledLoadReleasesItsLease(t *testing.T) {
	s := newStore(t)
	img := withPlatform(t, must(random.Image(1<<20, 1)), "linux/amd64")
	sel := mustSelect(t, img, Choice{Platform: platforms.MustParse("linux/amd64")})
	ctx, cancel := context.WithCancel(s.ctx)
	sel.Images[0].Image = &cancellingImage{Image: img, cancel: cancel}
	var stats Stats
	err := leased(ctx, s.svc.leases, func(ctx context.Context) error {
		return writeBlobs(ctx, s.svc, sel, &progress{}, &stats)
	})
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("a cancelled load: %v, want context canceled", err)
	}
	if ls, err := s.svc.leases.List(s.ctx); err != nil || len(ls) != 0 {
		t.Errorf("leases after a cancelled load: %v (%v), want none", ls, err)
	}
}
