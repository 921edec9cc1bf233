package generator

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/bazelbuild/buildtools/build"

	"github.com/rules-img/rules_img/tools/lock"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// digest makes a well-formed sha256 digest out of one repeated hex digit.
func digest(c string) string { return "sha256:" + strings.Repeat(c, 64) }

const (
	ociManifest = "application/vnd.oci.image.manifest.v1+json"
	ociIndex    = "application/vnd.oci.image.index.v1+json"
	ociConfig   = "application/vnd.oci.image.config.v1+json"
	ociLayerGz  = "application/vnd.oci.image.layer.v1.tar+gzip"
	ociLayerZst = "application/vnd.oci.image.layer.v1.tar+zstd"
)

// Digests of the fixture. The shared layer is in base's linux/amd64 and in
// distroless's linux/amd64.
var (
	baseIndex      = digest("1")
	baseAmd64      = digest("2")
	baseArm64      = digest("3")
	distroManifest = digest("4")
	sharedLayer    = digest("a")
	baseArmLayer   = digest("b")
	baseAmdLayer2  = digest("c")
	distroLayer    = digest("d")
)

func basePull() lock.Pull {
	return lock.Pull{
		Name:       "base",
		Registries: []string{"mirror.example.com", "index.docker.io"},
		Repository: "library/debian",
		Tag:        "bookworm",
		Platforms:  []string{"linux/amd64", "linux/arm64/v8"},
		// The images extension's default.
		LayerHandling: lock.Lazy,
		Downloader:    lock.ImgTool,
	}
}

func distrolessPull() lock.Pull {
	return lock.Pull{
		Name:          "distroless",
		Registries:    []string{"gcr.io"},
		Repository:    "distroless/static",
		Tag:           "nonroot",
		Digest:        distroManifest,
		LayerHandling: lock.Lazy,
		Downloader:    lock.Bazel,
	}
}

func baseImage() lock.Image {
	p := basePull()
	return lock.Image{
		Digest:     baseIndex,
		FoundAt:    "mirror.example.com",
		MediaType:  ociIndex,
		Registries: p.Registries,
		Repository: p.Repository,
		Tag:        p.Tag,
		Platforms: map[string]lock.Platform{
			"linux/amd64": {
				Manifest: lock.Descriptor{Digest: baseAmd64, MediaType: ociManifest, Size: 700},
				Config:   lock.Descriptor{Digest: digest("5"), MediaType: ociConfig, Size: 1500},
				Layers: []lock.Descriptor{
					{Digest: sharedLayer, MediaType: ociLayerGz, Size: 30000000},
					{Digest: baseAmdLayer2, MediaType: ociLayerZst, Size: 1234},
				},
				Platform: lock.OCIPlatform{OS: "linux", Architecture: "amd64"},
				Position: 2,
			},
			"linux/arm64/v8": {
				Manifest: lock.Descriptor{Digest: baseArm64, MediaType: ociManifest, Size: 701},
				Config:   lock.Descriptor{Digest: digest("6"), MediaType: ociConfig, Size: 1501},
				Layers: []lock.Descriptor{
					{Digest: baseArmLayer, MediaType: ociLayerGz, Size: 29000000},
				},
				Platform: lock.OCIPlatform{OS: "linux", Architecture: "arm64", Variant: "v8"},
				Position: 0,
			},
		},
	}
}

func distrolessImage() lock.Image {
	p := distrolessPull()
	return lock.Image{
		Digest:     distroManifest,
		FoundAt:    "gcr.io",
		MediaType:  ociManifest,
		Registries: p.Registries,
		Repository: p.Repository,
		Tag:        p.Tag,
		Platforms: map[string]lock.Platform{
			"linux/amd64": {
				Manifest: lock.Descriptor{Digest: distroManifest, MediaType: ociManifest, Size: 500},
				Config:   lock.Descriptor{Digest: digest("7"), MediaType: ociConfig, Size: 900},
				Layers: []lock.Descriptor{
					{Digest: sharedLayer, MediaType: ociLayerGz, Size: 30000000},
					{Digest: distroLayer, MediaType: ociLayerGz, Size: 100},
				},
				Platform: lock.OCIPlatform{OS: "linux", Architecture: "amd64"},
			},
		},
	}
}

func lockfile(t *testing.T, images map[string]lock.Image) string {
	t.Helper()
	data, err := lock.File{Version: lock.Version, Images: images}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func request(t *testing.T, pulls []lock.Pull, images map[string]lock.Image) Request {
	t.Helper()
	return Request{
		Pulls:         pulls,
		Lockfile:      lockfile(t, images),
		LockfileLabel: "@@//:images.lock.json",
		LockfilePath:  "images.lock.json",
		Hub:           "images",
	}
}

func fullRequest(t *testing.T) Request {
	return request(t,
		[]lock.Pull{basePull(), distrolessPull()},
		map[string]lock.Image{"base": baseImage(), "distroless": distrolessImage()})
}

// render prints a plan as text for the golden files: each repository, its
// fetch and its files, in order.
func render(t *testing.T, plan Plan) string {
	t.Helper()
	var b strings.Builder
	for _, r := range plan.Repos {
		b.WriteString("######## repo " + r.Name + "\n")
		if r.Fetch != nil {
			fetch, err := json.Marshal(r.Fetch)
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString("######## fetch " + string(fetch) + "\n")
		}
		var names []string
		for n := range r.Files {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			b.WriteString("######## file " + n + "\n")
			b.WriteString(r.Files[n])
		}
	}
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./generator -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the output (run go test ./generator -update to rewrite it)\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

// checkBUILD parses a rendered BUILD file and checks that it is already in
// buildifier's format.
func checkBUILD(t *testing.T, where, content string) *build.File {
	t.Helper()
	f, err := build.ParseBuild(where, []byte(content))
	if err != nil {
		t.Fatalf("%s does not parse: %v\n%s", where, err, content)
	}
	if formatted := string(build.Format(f)); formatted != content {
		t.Errorf("%s is not in buildifier format:\n--- got:\n%s\n--- formatted:\n%s", where, content, formatted)
	}
	return f
}

func checkPlanBUILDs(t *testing.T, plan Plan) {
	t.Helper()
	for _, r := range plan.Repos {
		for name, content := range r.Files {
			if strings.HasSuffix(name, ".bazel") {
				checkBUILD(t, r.Name+"/"+name, content)
			}
		}
	}
}

func repoByName(t *testing.T, plan Plan, name string) Repo {
	t.Helper()
	for _, r := range plan.Repos {
		if r.Name == name {
			return r
		}
	}
	var names []string
	for _, r := range plan.Repos {
		names = append(names, r.Name)
	}
	t.Fatalf("plan has no repo %q; it has %v", name, names)
	return Repo{}
}

func repoNames(plan Plan) []string {
	var names []string
	for _, r := range plan.Repos {
		names = append(names, r.Name)
	}
	return names
}

// rule finds the call of kind with the given name attribute.
func rule(t *testing.T, f *build.File, kind, name string) *build.Rule {
	t.Helper()
	for _, r := range f.Rules(kind) {
		if r.Name() == name {
			return r
		}
	}
	t.Fatalf("%s has no %s named %q", f.Path, kind, name)
	return nil
}

func stringList(t *testing.T, r *build.Rule, attr string) []string {
	t.Helper()
	list, ok := r.Attr(attr).(*build.ListExpr)
	if !ok {
		t.Fatalf("%s.%s is %T, want a list", r.Name(), attr, r.Attr(attr))
	}
	var out []string
	for _, e := range list.List {
		s, ok := e.(*build.StringExpr)
		if !ok {
			t.Fatalf("%s.%s holds %T", r.Name(), attr, e)
		}
		out = append(out, s.Value)
	}
	return out
}

func TestGenerateFullyLocked(t *testing.T) {
	plan, err := Generate(fullRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "fully_locked", render(t, plan))
	checkPlanBUILDs(t, plan)

	wantNames := []string{
		"images",
		// Platform repositories in the order of the index.
		"base", "base_linux_arm64_v8", "base_linux_amd64",
		"distroless", "distroless_linux_amd64",
		"blob_sha256_" + strings.Repeat("a", 64),
		"blob_sha256_" + strings.Repeat("b", 64),
		"blob_sha256_" + strings.Repeat("c", 64),
		"blob_sha256_" + strings.Repeat("d", 64),
	}
	if got := repoNames(plan); !reflect.DeepEqual(got, wantNames) {
		t.Errorf("repos = %v\nwant %v", got, wantNames)
	}

	t.Run("hub", func(t *testing.T) {
		hub := repoByName(t, plan, "images")
		if hub.Fetch != nil {
			t.Errorf("hub fetches %+v", hub.Fetch)
		}
		f := checkBUILD(t, "images/BUILD.bazel", hub.Files["BUILD.bazel"])
		upd := rule(t, f, "images_update", "update")
		if got := upd.AttrString("lockfile"); got != "images.lock.json" {
			t.Errorf("update.lockfile = %q", got)
		}
		if got := upd.AttrString("pulls"); got != "pulls.json" {
			t.Errorf("update.pulls = %q", got)
		}
		var pulls struct {
			Pulls []lock.Pull `json:"pulls"`
		}
		if err := json.Unmarshal([]byte(hub.Files["pulls.json"]), &pulls); err != nil {
			t.Fatalf("pulls.json: %v", err)
		}
		if want := []lock.Pull{basePull(), distrolessPull()}; !reflect.DeepEqual(pulls.Pulls, want) {
			t.Errorf("pulls.json = %+v, want %+v", pulls.Pulls, want)
		}
		if !strings.HasSuffix(hub.Files["pulls.json"], "}\n") {
			t.Errorf("pulls.json has no final newline")
		}
	})

	t.Run("pull repo", func(t *testing.T) {
		r := repoByName(t, plan, "base")
		want := &Fetch{
			Kind: FetchIndex, Registries: basePull().Registries, Repository: "library/debian", Downloader: lock.ImgTool,
			Digest: baseIndex, Manifests: []string{baseArm64, baseAmd64},
		}
		if !reflect.DeepEqual(r.Fetch, want) {
			t.Errorf("fetch = %+v, want %+v", r.Fetch, want)
		}
		f := checkBUILD(t, "base/BUILD.bazel", r.Files["BUILD.bazel"])
		for platform, want := range map[string]string{
			"linux_amd64":    "@base_linux_amd64//:image",
			"linux_arm64_v8": "@base_linux_arm64_v8//:image",
		} {
			if got := rule(t, f, "alias", platform).AttrString("actual"); got != want {
				t.Errorf("alias %s = %q, want %q", platform, got, want)
			}
		}
		index := rule(t, f, "pulled_index", "base")
		// The manifests in the index's order: arm64 is first there.
		if got, want := stringList(t, index, "manifests"), []string{"@base_linux_arm64_v8//:image", "@base_linux_amd64//:image"}; !reflect.DeepEqual(got, want) {
			t.Errorf("manifests = %v, want %v", got, want)
		}
		for attr, want := range map[string]string{
			"index": "index.json", "descriptor": "descriptor.json", "digest": baseIndex,
			"repository": "library/debian", "tag": "bookworm",
		} {
			if got := index.AttrString(attr); got != want {
				t.Errorf("%s = %q, want %q", attr, got, want)
			}
		}
		if got := stringList(t, index, "registries"); !reflect.DeepEqual(got, basePull().Registries) {
			t.Errorf("registries = %v", got)
		}
		if len(f.Rules("config_setting")) != 0 || strings.Contains(r.Files["BUILD.bazel"], "select(") {
			t.Errorf("the pull repo still selects a platform:\n%s", r.Files["BUILD.bazel"])
		}
	})

	t.Run("single manifest", func(t *testing.T) {
		r := repoByName(t, plan, "distroless")
		if r.Fetch != nil {
			t.Errorf("a single manifest's repo fetches %+v", r.Fetch)
		}
		f := checkBUILD(t, "distroless/BUILD.bazel", r.Files["BUILD.bazel"])
		for _, name := range []string{"distroless", "linux_amd64"} {
			if got := rule(t, f, "alias", name).AttrString("actual"); got != "@distroless_linux_amd64//:image" {
				t.Errorf("alias %s = %q", name, got)
			}
		}
	})

	t.Run("platform repos", func(t *testing.T) {
		for _, tc := range []struct {
			repo, digest, config string
			registries           []string
			repository           string
			downloader           string
			platform             lock.OCIPlatform
			os, arch, variant    string
			blobs, mediaTypes    []string
			layers               []string
		}{
			{
				repo: "base_linux_amd64", digest: baseAmd64, config: digest("5"),
				registries: basePull().Registries, repository: "library/debian", downloader: lock.ImgTool,
				platform: lock.OCIPlatform{OS: "linux", Architecture: "amd64"},
				os:       "linux", arch: "amd64", variant: "",
				blobs:      []string{"@blob_sha256_" + strings.Repeat("a", 64) + "//:blob", "@blob_sha256_" + strings.Repeat("c", 64) + "//:blob"},
				mediaTypes: []string{ociLayerGz, ociLayerZst},
				layers:     []string{sharedLayer, baseAmdLayer2},
			},
			{
				repo: "base_linux_arm64_v8", digest: baseArm64, config: digest("6"),
				registries: basePull().Registries, repository: "library/debian", downloader: lock.ImgTool,
				platform: lock.OCIPlatform{OS: "linux", Architecture: "arm64", Variant: "v8"},
				os:       "linux", arch: "arm64", variant: "v8",
				blobs:      []string{"@blob_sha256_" + strings.Repeat("b", 64) + "//:blob"},
				mediaTypes: []string{ociLayerGz},
				layers:     []string{baseArmLayer},
			},
			{
				repo: "distroless_linux_amd64", digest: distroManifest, config: digest("7"),
				registries: []string{"gcr.io"}, repository: "distroless/static", downloader: lock.Bazel,
				platform: lock.OCIPlatform{OS: "linux", Architecture: "amd64"},
				os:       "linux", arch: "amd64", variant: "",
				blobs:      []string{"@blob_sha256_" + strings.Repeat("a", 64) + "//:blob", "@blob_sha256_" + strings.Repeat("d", 64) + "//:blob"},
				mediaTypes: []string{ociLayerGz, ociLayerGz},
				layers:     []string{sharedLayer, distroLayer},
			},
		} {
			t.Run(tc.repo, func(t *testing.T) {
				r := repoByName(t, plan, tc.repo)
				want := &Fetch{
					Kind: FetchManifest, Registries: tc.registries, Repository: tc.repository, Downloader: tc.downloader,
					Digest: tc.digest, MediaType: ociManifest, Platform: &tc.platform,
				}
				if !reflect.DeepEqual(r.Fetch, want) {
					t.Errorf("fetch = %+v, want %+v", r.Fetch, want)
				}
				f := checkBUILD(t, tc.repo+"/BUILD.bazel", r.Files["BUILD.bazel"])
				img := rule(t, f, "pulled_image", "image")
				for attr, want := range map[string]string{
					"os": tc.os, "architecture": tc.arch, "digest": tc.digest, "repository": tc.repository,
					"manifest": BlobFile(tc.digest), "config": BlobFile(tc.config), "descriptor": "descriptor.json",
				} {
					if got := img.AttrString(attr); got != want {
						t.Errorf("%s = %q, want %q", attr, got, want)
					}
				}
				wantPlatform := "{}"
				if tc.variant != "" {
					wantPlatform = `{"variant": "` + tc.variant + `"}`
				}
				if got := build.FormatString(img.Attr("platform")); got != wantPlatform {
					t.Errorf("platform = %s, want %s", got, wantPlatform)
				}
				if got := stringList(t, img, "blobs"); !reflect.DeepEqual(got, tc.blobs) {
					t.Errorf("blobs = %v, want %v", got, tc.blobs)
				}
				if got := stringList(t, img, "layer_media_types"); !reflect.DeepEqual(got, tc.mediaTypes) {
					t.Errorf("layer_media_types = %v, want %v", got, tc.mediaTypes)
				}
				if got := stringList(t, img, "layer_digests"); !reflect.DeepEqual(got, tc.layers) {
					t.Errorf("layer_digests = %v, want %v", got, tc.layers)
				}
				var layers []string
				for i := range tc.blobs {
					layers = append(layers, LayerFile(i))
				}
				if got := stringList(t, img, "layers"); !reflect.DeepEqual(got, layers) {
					t.Errorf("layers = %v, want %v", got, layers)
				}
				loads := f.Stmt[0].(*build.LoadStmt)
				if loads.Module.Value != "@rules_img//img/private:pulled.bzl" {
					t.Errorf("first statement loads %s", loads.Module.Value)
				}
			})
		}
	})

	t.Run("blob repos", func(t *testing.T) {
		for _, tc := range []struct {
			hex     string
			size    string // bounds the download
			sources []string
		}{
			// Shared by both pulls: the sources of both, in pull order.
			{"a", "30000000", []string{"mirror.example.com/library/debian", "index.docker.io/library/debian", "gcr.io/distroless/static"}},
			{"b", "29000000", []string{"mirror.example.com/library/debian", "index.docker.io/library/debian"}},
			{"c", "1234", []string{"mirror.example.com/library/debian", "index.docker.io/library/debian"}},
			{"d", "100", []string{"gcr.io/distroless/static"}},
		} {
			name := "blob_sha256_" + strings.Repeat(tc.hex, 64)
			r := repoByName(t, plan, name)
			if r.Fetch != nil {
				t.Errorf("%s fetches", name)
			}
			f := checkBUILD(t, name+"/BUILD.bazel", r.Files["BUILD.bazel"])
			b := rule(t, f, "remote_blob", "blob")
			if got := b.AttrString("digest"); got != digest(tc.hex) {
				t.Errorf("%s digest = %q", name, got)
			}
			if size, ok := b.Attr("size").(*build.LiteralExpr); !ok || size.Token != tc.size {
				t.Errorf("%s size = %v, want %s", name, b.Attr("size"), tc.size)
			}
			if got := stringList(t, b, "sources"); !reflect.DeepEqual(got, tc.sources) {
				t.Errorf("%s sources = %v, want %v", name, got, tc.sources)
			}
		}
	})
}

// A blob has one size: a lockfile whose pulls disagree on a shared layer's
// size gives the later pull an error target that says to update.
func TestGenerateLayerSizeConflict(t *testing.T) {
	distroless := distrolessImage()
	entry := distroless.Platforms["linux/amd64"]
	entry.Layers = []lock.Descriptor{{Digest: sharedLayer, MediaType: ociLayerGz, Size: 5}, entry.Layers[1]}
	distroless.Platforms["linux/amd64"] = entry
	req := request(t, []lock.Pull{basePull(), distrolessPull()}, map[string]lock.Image{"base": baseImage(), "distroless": distroless})
	plan, err := Generate(req)
	if err != nil {
		t.Fatal(err)
	}
	r := repoByName(t, plan, "distroless")
	f := checkBUILD(t, "distroless/BUILD.bazel", r.Files["BUILD.bazel"])
	msg := rule(t, f, "pull_error", "distroless").AttrString("message")
	for _, part := range []string{`"distroless"`, "5 bytes", sharedLayer, "30000000", "bazel run @images//:update"} {
		if !strings.Contains(msg, part) {
			t.Errorf("message %q lacks %q", msg, part)
		}
	}
}

func TestGenerateMissingEntry(t *testing.T) {
	req := request(t, []lock.Pull{basePull(), distrolessPull()}, map[string]lock.Image{"base": baseImage()})
	plan, err := Generate(req)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "missing_entry", render(t, plan))
	checkPlanBUILDs(t, plan)
	r := repoByName(t, plan, "distroless")
	f := checkBUILD(t, "distroless/BUILD.bazel", r.Files["BUILD.bazel"])
	msg := rule(t, f, "pull_error", "distroless").AttrString("message")
	for _, part := range []string{"@@//:images.lock.json", `"distroless"`, "gcr.io/distroless/static:nonroot@" + distroManifest, "bazel run @images//:update"} {
		if !strings.Contains(msg, part) {
			t.Errorf("message %q lacks %q", msg, part)
		}
	}
	// The error repository replaces the platform repositories and blobs of
	// that pull; the locked pull is unaffected.
	names := repoNames(plan)
	for _, n := range names {
		if strings.HasPrefix(n, "distroless_") {
			t.Errorf("plan has %s for an unlocked pull", n)
		}
		if n == "blob_sha256_"+strings.Repeat("d", 64) {
			t.Errorf("plan has the blob of the unlocked pull")
		}
	}
	repoByName(t, plan, "base_linux_amd64")
	repoByName(t, plan, "images")

	// No lockfile at all (empty content): every pull is an error repo.
	req.Lockfile = ""
	plan, err = Generate(req)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := repoNames(plan), []string{"images", "base", "distroless"}; !reflect.DeepEqual(got, want) {
		t.Errorf("without a lockfile: repos %v, want %v", got, want)
	}
	for _, n := range []string{"base", "distroless"} {
		if !strings.Contains(repoByName(t, plan, n).Files["BUILD.bazel"], "pull_error(") {
			t.Errorf("%s is not a pull_error", n)
		}
	}
}

func TestGenerateStale(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pull   func(*lock.Pull)
		reason string
	}{
		{"tag changed", func(p *lock.Pull) { p.Tag = "trixie" }, `its tag is "bookworm", MODULE.bazel says "trixie"`},
		{"digest pinned differently", func(p *lock.Pull) { p.Digest = digest("9") }, "its digest is " + baseIndex + ", MODULE.bazel says " + digest("9")},
		{"platform missing", func(p *lock.Pull) { p.Platforms = append(p.Platforms, "linux/s390x") }, "it has no entry for platform linux/s390x"},
		{"platform dropped", func(p *lock.Pull) { p.Platforms = []string{"linux/amd64"} }, "it has platforms linux/amd64, linux/arm64/v8, MODULE.bazel asks for linux/amd64"},
		{"repository changed", func(p *lock.Pull) { p.Repository = "library/ubuntu" }, `its repository is "library/debian", MODULE.bazel says "library/ubuntu"`},
		{"registries changed", func(p *lock.Pull) { p.Registries = []string{"index.docker.io"} }, "its registries are [mirror.example.com index.docker.io], MODULE.bazel says [index.docker.io]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := basePull()
			tc.pull(&p)
			plan, err := Generate(request(t, []lock.Pull{p}, map[string]lock.Image{"base": baseImage()}))
			if err != nil {
				t.Fatal(err)
			}
			checkPlanBUILDs(t, plan)
			if got, want := repoNames(plan), []string{"images", "base"}; !reflect.DeepEqual(got, want) {
				t.Errorf("repos %v, want %v", got, want)
			}
			f := checkBUILD(t, "base/BUILD.bazel", repoByName(t, plan, "base").Files["BUILD.bazel"])
			msg := rule(t, f, "pull_error", "base").AttrString("message")
			for _, part := range []string{"is stale", tc.reason, "bazel run @images//:update", "@@//:images.lock.json"} {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q lacks %q", msg, part)
				}
			}
		})
	}
	// A golden of one stale error repo, to pin its whole form.
	p := basePull()
	p.Tag = "trixie"
	plan, err := Generate(request(t, []lock.Pull{p}, map[string]lock.Image{"base": baseImage()}))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "stale_tag", render(t, plan))
}

func TestGenerateErrors(t *testing.T) {
	withPull := func(edit func(*lock.Pull)) []lock.Pull {
		p := basePull()
		edit(&p)
		return []lock.Pull{p}
	}
	for _, tc := range []struct {
		name  string
		req   func(*Request)
		wants []string
	}{
		{"invalid digest", func(r *Request) {
			r.Pulls = withPull(func(p *lock.Pull) { p.Digest = "sha256:xyz" })
		}, []string{`pull "base"`, `"sha256:xyz" is not a sha256 digest`}},
		{"upper-case digest", func(r *Request) {
			r.Pulls = withPull(func(p *lock.Pull) { p.Digest = "sha256:" + strings.Repeat("A", 64) })
		}, []string{"is not a sha256 digest"}},
		{"duplicate names", func(r *Request) {
			r.Pulls = []lock.Pull{basePull(), basePull()}
		}, []string{`two pulls are named "base"`}},
		{"no layer handling", func(r *Request) {
			r.Pulls = withPull(func(p *lock.Pull) { p.LayerHandling = "" })
		}, []string{`pull "base"`, "no layer_handling or downloader"}},
		{"unknown layer handling", func(r *Request) {
			r.Pulls = withPull(func(p *lock.Pull) { p.LayerHandling = "sometimes" })
		}, []string{`pull "base"`, `layer_handling "sometimes"`}},
		{"platform without arch", func(r *Request) {
			r.Pulls = withPull(func(p *lock.Pull) { p.Platforms = []string{"plan9"} })
		}, []string{`platform "plan9" is not os/arch`}},
		{"reserved hub name", func(r *Request) {
			r.Pulls = withPull(func(p *lock.Pull) { p.Name = "images" })
		}, []string{`pull name "images" is reserved`}},
		{"reserved blob prefix", func(r *Request) {
			r.Pulls = withPull(func(p *lock.Pull) { p.Name = "blob_sha256_x" })
		}, []string{`pull name "blob_sha256_x" is reserved`}},
		{"bad name", func(r *Request) {
			r.Pulls = withPull(func(p *lock.Pull) { p.Name = "1base" })
		}, []string{`pull name "1base"`}},
		{"no lockfile label", func(r *Request) {
			r.LockfileLabel = ""
			r.Lockfile = ""
		}, []string{"no lockfile", `images.lockfile(file = "//:images.lock.json")`, "bazel run @images//:update"}},
		{"bad lockfile JSON", func(r *Request) {
			r.Lockfile = "{not json"
		}, []string{"lockfile @@//:images.lock.json"}},
		{"wrong lockfile version", func(r *Request) {
			r.Lockfile = `{"images": {}, "version": 2}`
		}, []string{"lockfile @@//:images.lock.json has version 2"}},
		{"platform repo name taken by another pull", func(r *Request) {
			other := distrolessPull()
			other.Name = "base_linux_amd64"
			r.Pulls = append(r.Pulls, other)
			r.Lockfile = lockfile(t, map[string]lock.Image{"base": baseImage(), "base_linux_amd64": distrolessImage()})
		}, []string{`pulls "base" and "base_linux_amd64" both need a repository named "base_linux_amd64"`}},
		{"pull named like an earlier pull's platform repo, reversed", func(r *Request) {
			other := distrolessPull()
			other.Name = "base_linux_amd64"
			r.Pulls = []lock.Pull{other, basePull()}
			r.Lockfile = lockfile(t, map[string]lock.Image{"base": baseImage(), "base_linux_amd64": distrolessImage()})
		}, []string{`pulls "base_linux_amd64" and "base" both need a repository named "base_linux_amd64"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := fullRequest(t)
			tc.req(&req)
			plan, err := Generate(req)
			if err == nil {
				t.Fatalf("no error; plan has %v", repoNames(plan))
			}
			for _, want := range tc.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if len(plan.Repos) != 0 {
				t.Errorf("failed Generate returned repos %v", repoNames(plan))
			}
		})
	}
}

func TestGenerateNoPulls(t *testing.T) {
	// Without pulls a lockfile is not required; the hub still exists.
	plan, err := Generate(Request{Hub: "images"})
	if err != nil {
		t.Fatal(err)
	}
	if got := repoNames(plan); !reflect.DeepEqual(got, []string{"images"}) {
		t.Fatalf("repos %v", got)
	}
	checkPlanBUILDs(t, plan)
	if got := plan.Repos[0].Files["pulls.json"]; got != "{\n  \"pulls\": null\n}\n" && got != "{\n  \"pulls\": []\n}\n" {
		t.Errorf("pulls.json = %q", got)
	}
}

func TestGenerateUniqueRepoNames(t *testing.T) {
	plan, err := Generate(fullRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range plan.Repos {
		if seen[r.Name] {
			t.Errorf("repo %s planned twice", r.Name)
		}
		seen[r.Name] = true
		if len(r.Files) == 0 || r.Files["BUILD.bazel"] == "" {
			t.Errorf("repo %s has no BUILD.bazel", r.Name)
		}
	}
}

func TestGenerateDeterministic(t *testing.T) {
	first, err := Generate(fullRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		again, err := Generate(fullRequest(t))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(first, again) {
			t.Fatalf("run %d differs:\n%s\n---\n%s", i, render(t, first), render(t, again))
		}
		a, _ := json.Marshal(first)
		b, _ := json.Marshal(again)
		if string(a) != string(b) {
			t.Fatalf("run %d: JSON differs", i)
		}
	}
}

func TestPlanJSON(t *testing.T) {
	// The extension reads "repos", "name", "files" and "fetch"; a repo
	// without a fetch has no "fetch" key.
	plan, err := Generate(fullRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		Repos []map[string]json.RawMessage `json:"repos"`
	}
	if err := json.Unmarshal(data, &decoded); err != nil {
		t.Fatal(err)
	}
	for _, r := range decoded.Repos {
		var name string
		json.Unmarshal(r["name"], &name)
		_, hasFetch := r["fetch"]
		wantFetch := strings.Contains(name, "_linux_") || name == "base"
		if hasFetch != wantFetch {
			t.Errorf("repo %s: fetch present %v, want %v", name, hasFetch, wantFetch)
		}
		if hasFetch {
			var f map[string]any
			json.Unmarshal(r["fetch"], &f)
			keys := []string{"kind", "registries", "repository", "downloader", "digest"}
			if name == "base" {
				keys = append(keys, "manifests")
			} else {
				keys = append(keys, "platform", "media_type")
			}
			for _, k := range keys {
				if _, ok := f[k]; !ok {
					t.Errorf("repo %s: fetch has no %q", name, k)
				}
			}
		}
	}
}

func TestPullRepoBUILD(t *testing.T) {
	for _, tc := range []struct {
		golden string
		pull   lock.Pull
		image  lock.Image
	}{
		{"pull_repo_two_platforms", basePull(), baseImage()},
		{"pull_repo_single", distrolessPull(), distrolessImage()},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			out, err := PullRepoBUILD(tc.pull, tc.image)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, out)
			f := checkBUILD(t, tc.golden, out)
			// Every label in the file names a target of the same file.
			targets := map[string]bool{}
			for _, r := range f.Rules("") {
				targets[":"+r.Name()] = true
			}
			for _, platform := range tc.image.PlatformNames() {
				target := PlatformDir(platform)
				img := rule(t, f, "pulled_image", target)
				entry := tc.image.Platforms[platform]
				if got, want := img.AttrString("manifest"), BlobFile(entry.Manifest.Digest); got != want {
					t.Errorf("%s manifest = %q, want %q", target, got, want)
				}
				if got, want := img.AttrString("descriptor"), target+"/descriptor.json"; got != want {
					t.Errorf("%s descriptor = %q, want %q", target, got, want)
				}
				for _, b := range stringList(t, img, "blobs") {
					if !targets[b] {
						t.Errorf("%s blob %s is not a target of the file", target, b)
					}
				}
			}
			// Each blob appears once, with the pull's sources.
			blobs := f.Rules("remote_blob")
			seen := map[string]bool{}
			for _, b := range blobs {
				if seen[b.AttrString("digest")] {
					t.Errorf("blob %s listed twice", b.AttrString("digest"))
				}
				seen[b.AttrString("digest")] = true
				if got, want := stringList(t, b, "sources"), registrySources(tc.pull); !reflect.DeepEqual(got, want) {
					t.Errorf("sources %v, want %v", got, want)
				}
			}
			if tc.image.IsIndex() {
				index := rule(t, f, "pulled_index", tc.pull.Name)
				if got, want := stringList(t, index, "manifests"), []string{":linux_arm64_v8", ":linux_amd64"}; !reflect.DeepEqual(got, want) {
					t.Errorf("manifests %v, want %v (the index's order)", got, want)
				}
			} else if got := rule(t, f, "alias", tc.pull.Name).AttrString("actual"); got != ":linux_amd64" {
				t.Errorf("%s is an alias of %s", tc.pull.Name, got)
			}
		})
	}
	bad := basePull()
	bad.Name = "linux_amd64"
	if _, err := PullRepoBUILD(bad, baseImage()); err == nil || !strings.Contains(err.Error(), "rename the pull") {
		t.Errorf("a pull named like its platform target: %v", err)
	}
}

// layer_handling decides what the pulled_image targets take as blobs, and
// whether the images extension plans remote_blob repositories.
func TestLayerHandling(t *testing.T) {
	for _, tc := range []struct {
		handling   string
		blobs      []string // of linux/amd64 in the pull repository
		blobRepos  bool
		fetchBlobs bool
	}{
		{lock.Shallow, nil, false, false},
		{lock.Eager, []string{BlobFile(sharedLayer), BlobFile(baseAmdLayer2)}, false, true},
		{lock.Lazy, []string{":" + blobRepoName(sharedLayer), ":" + blobRepoName(baseAmdLayer2)}, true, false},
	} {
		t.Run(tc.handling, func(t *testing.T) {
			p := basePull()
			p.LayerHandling = tc.handling
			out, err := PullRepoBUILD(p, baseImage())
			if err != nil {
				t.Fatal(err)
			}
			f := checkBUILD(t, "pull repo", out)
			if got := stringList(t, rule(t, f, "pulled_image", "linux_amd64"), "blobs"); !reflect.DeepEqual(got, tc.blobs) {
				t.Errorf("pull repo blobs = %v, want %v", got, tc.blobs)
			}
			if got := len(f.Rules("remote_blob")) > 0; got != tc.blobRepos {
				t.Errorf("pull repo has remote_blob targets: %v", got)
			}

			plan, err := Generate(request(t, []lock.Pull{p}, map[string]lock.Image{"base": baseImage()}))
			if err != nil {
				t.Fatal(err)
			}
			checkPlanBUILDs(t, plan)
			hasBlobRepos := false
			for _, n := range repoNames(plan) {
				hasBlobRepos = hasBlobRepos || strings.HasPrefix(n, blobPrefix)
			}
			if hasBlobRepos != tc.blobRepos {
				t.Errorf("plan has blob repositories: %v, want %v (%v)", hasBlobRepos, tc.blobRepos, repoNames(plan))
			}
			r := repoByName(t, plan, "base_linux_amd64")
			if r.Fetch.Layers != tc.fetchBlobs {
				t.Errorf("fetch.layers = %v", r.Fetch.Layers)
			}
			img := rule(t, checkBUILD(t, r.Name, r.Files["BUILD.bazel"]), "pulled_image", "image")
			wantBlobs := tc.blobs
			if tc.handling == lock.Lazy {
				wantBlobs = []string{"@" + blobRepoName(sharedLayer) + "//:blob", "@" + blobRepoName(baseAmdLayer2) + "//:blob"}
			}
			if got := stringList(t, img, "blobs"); !reflect.DeepEqual(got, wantBlobs) {
				t.Errorf("platform repo blobs = %v, want %v", got, wantBlobs)
			}
		})
	}
}

// Two platforms of a pull may name one manifest (linux/arm64 and
// linux/arm64/v8); the index lists it once.
func TestIndexListsEachManifestOnce(t *testing.T) {
	p := basePull()
	p.Platforms = []string{"linux/arm64", "linux/arm64/v8"}
	img := baseImage()
	arm := img.Platforms["linux/arm64/v8"]
	img.Platforms = map[string]lock.Platform{"linux/arm64": arm, "linux/arm64/v8": arm}
	plan, err := Generate(request(t, []lock.Pull{p}, map[string]lock.Image{"base": img}))
	if err != nil {
		t.Fatal(err)
	}
	r := repoByName(t, plan, "base")
	if got := r.Fetch.Manifests; !reflect.DeepEqual(got, []string{baseArm64}) {
		t.Errorf("fetch.manifests = %v", got)
	}
	f := checkBUILD(t, "base", r.Files["BUILD.bazel"])
	if got := stringList(t, rule(t, f, "pulled_index", "base"), "manifests"); !reflect.DeepEqual(got, []string{"@base_linux_arm64//:image"}) {
		t.Errorf("manifests = %v", got)
	}
	rule(t, f, "alias", "linux_arm64")
	rule(t, f, "alias", "linux_arm64_v8")
}

func TestRenderTemplateErrors(t *testing.T) {
	f := newBuildFile()
	err := f.add("remote_blob", map[string]build.Expr{"NAME": str("x"), "DIGEST": str("d")})
	if err == nil || !strings.Contains(err.Error(), "SOURCES") {
		t.Errorf("missing placeholder: %v", err)
	}
	f = newBuildFile()
	err = f.add("remote_blob", map[string]build.Expr{"NAME": str("x"), "DIGEST": str("d"), "SIZE": str("1"), "SOURCES": strList(nil), "EXTRA": str("y")})
	if err == nil || !strings.Contains(err.Error(), "EXTRA") {
		t.Errorf("unused value: %v", err)
	}
	if err := newBuildFile().add("no_such_template", nil); err == nil {
		t.Errorf("unknown template: no error")
	}
	// Loads of the same module merge into one statement.
	f = newBuildFile()
	for _, n := range []string{"a", "b"} {
		if err := f.add("remote_blob", map[string]build.Expr{"NAME": str(n), "DIGEST": str("d"), "SIZE": str("1"), "SOURCES": strList([]string{"s"})}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.add("pull_error", map[string]build.Expr{"NAME": str("e"), "MESSAGE": str("m")}); err != nil {
		t.Fatal(err)
	}
	out := f.format()
	checkBUILD(t, "merged", out)
	if n := strings.Count(out, "load("); n != 1 {
		t.Errorf("%d load statements:\n%s", n, out)
	}
	if !strings.Contains(out, `load("@rules_img//img/private:pulled.bzl", "pull_error", "remote_blob")`) {
		t.Errorf("merged load:\n%s", out)
	}
}

// A pull without platforms takes every platform of an index, also those
// (linux/mips64le, linux/arm/v5) that no Bazel platform of this module
// maps to: the index is pushed whole, and image_manifest picks its base
// by OCI platform.
func TestGenerateEveryPlatform(t *testing.T) {
	p := basePull()
	p.Platforms = nil
	img := baseImage()
	img.Platforms["linux/mips64le"] = lock.Platform{
		Manifest: lock.Descriptor{Digest: digest("e"), MediaType: ociManifest, Size: 1},
		Config:   lock.Descriptor{Digest: digest("f"), MediaType: ociConfig, Size: 1},
		Layers:   []lock.Descriptor{{Digest: digest("0"), MediaType: ociLayerGz, Size: 1}},
		Platform: lock.OCIPlatform{OS: "linux", Architecture: "mips64le"},
		Position: 1,
	}
	plan, err := Generate(request(t, []lock.Pull{p}, map[string]lock.Image{"base": img}))
	if err != nil {
		t.Fatal(err)
	}
	checkPlanBUILDs(t, plan)
	repoByName(t, plan, "base_linux_mips64le")
	f := checkBUILD(t, "base", repoByName(t, plan, "base").Files["BUILD.bazel"])
	want := []string{"@base_linux_arm64_v8//:image", "@base_linux_mips64le//:image", "@base_linux_amd64//:image"}
	if got := stringList(t, rule(t, f, "pulled_index", "base"), "manifests"); !reflect.DeepEqual(got, want) {
		t.Errorf("manifests = %v, want %v", got, want)
	}
	if _, err := PullRepoBUILD(p, img); err != nil {
		t.Errorf("pull repo: %v", err)
	}

	// An entry without platforms (a hand-edited lockfile) explains itself.
	empty := img
	empty.Platforms = map[string]lock.Platform{}
	plan, err = Generate(request(t, []lock.Pull{p}, map[string]lock.Image{"base": empty}))
	if err != nil {
		t.Fatal(err)
	}
	msg := rule(t, checkBUILD(t, "base", repoByName(t, plan, "base").Files["BUILD.bazel"]), "pull_error", "base").AttrString("message")
	if !strings.Contains(msg, "has no platform") {
		t.Errorf("message %q", msg)
	}
}
