package lock

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func dg(c string) string { return "sha256:" + strings.Repeat(c, 64) }

func sampleFile() File {
	platform := func(m, c string, layers ...string) Platform {
		p := Platform{
			Manifest: Descriptor{Digest: dg(m), MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 1234},
			Config:   Descriptor{Digest: dg(c), MediaType: "application/vnd.oci.image.config.v1+json", Size: 5678},
		}
		for _, l := range layers {
			p.Layers = append(p.Layers, Descriptor{Digest: dg(l), MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Size: 30000000})
		}
		return p
	}
	return File{Version: Version, Images: map[string]Image{
		"zeta": {
			Digest: dg("1"), FoundAt: "mirror.example.com", MediaType: "application/vnd.oci.image.index.v1+json",
			Registries: []string{"mirror.example.com", "index.docker.io"}, Repository: "library/debian", Tag: "bookworm",
			Platforms: map[string]Platform{
				"linux/s390x":    platform("2", "3", "a"),
				"linux/amd64":    platform("4", "5", "a", "b"),
				"linux/arm64/v8": platform("6", "7", "c"),
			},
		},
		"alpha": {
			Digest: dg("8"), FoundAt: "gcr.io", MediaType: "application/vnd.oci.image.manifest.v1+json",
			Registries: []string{"gcr.io"}, Repository: "distroless/static",
			Platforms: map[string]Platform{"linux/amd64": platform("8", "9", "d")},
		},
		"Middle": {
			Digest: dg("e"), FoundAt: "ghcr.io", MediaType: "application/vnd.docker.distribution.manifest.list.v2+json",
			Registries: []string{"ghcr.io"}, Repository: "a/b", Tag: "latest",
			Platforms: map[string]Platform{"windows/amd64": platform("e", "f")},
		},
	}}
}

func TestEncodeSortedKeys(t *testing.T) {
	data, err := sampleFile().Encode()
	if err != nil {
		t.Fatal(err)
	}
	// Go marshals maps with sorted keys: re-marshalling the decoded generic
	// form gives the canonical bytes.
	var generic map[string]any
	if err := json.Unmarshal(data, &generic); err != nil {
		t.Fatal(err)
	}
	canonical, err := json.MarshalIndent(generic, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	canonical = append(canonical, '\n')
	if !bytes.Equal(data, canonical) {
		t.Errorf("Encode does not sort keys at every level:\n--- got:\n%s\n--- sorted:\n%s", data, canonical)
	}
	if !bytes.HasSuffix(data, []byte("}\n")) || bytes.HasSuffix(data, []byte("\n\n")) {
		t.Errorf("Encode does not end in exactly one newline")
	}
	if !bytes.HasPrefix(data, []byte("{\n  \"images\": {\n    \"Middle\": {\n      \"digest\"")) {
		t.Errorf("Encode does not use two-space indentation:\n%s", data[:80])
	}
}

func TestEncodeStable(t *testing.T) {
	first, err := sampleFile().Encode()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		again, err := sampleFile().Encode()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Fatalf("run %d gives other bytes", i)
		}
	}
	// Parse and Encode round-trip to the same bytes and value.
	parsed, err := Parse(first, "x.json")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(parsed, sampleFile()) {
		t.Errorf("Parse(Encode(f)) = %+v, want %+v", parsed, sampleFile())
	}
	again, err := parsed.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, again) {
		t.Errorf("Encode(Parse(data)) != data")
	}
	// Empty tag is omitted; everything else is always present.
	if strings.Contains(string(first), `"tag": ""`) {
		t.Errorf("empty tag encoded")
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		err        []string
		images     int
	}{
		{name: "empty", data: "", images: 0},
		{name: "whitespace", data: " \n\t", images: 0},
		{name: "no images", data: `{"version": 1}`, images: 0},
		{name: "null images", data: `{"images": null, "version": 1}`, images: 0},
		{name: "one image", data: `{"images": {"a": {"digest": "` + dg("1") + `"}}, "version": 1}`, images: 1},
		{name: "bad JSON", data: `{"images": `, err: []string{"lockfile //pkg:images.lock.json"}},
		{name: "not an object", data: `[1, 2]`, err: []string{"lockfile //pkg:images.lock.json"}},
		{name: "wrong type", data: `{"images": {"a": {"digest": 5}}, "version": 1}`, err: []string{"lockfile //pkg:images.lock.json"}},
		{name: "version 2", data: `{"images": {}, "version": 2}`, err: []string{"lockfile //pkg:images.lock.json has version 2", "reads version 1"}},
		{name: "version 0", data: `{"images": {}, "version": 0}`, err: []string{"has version 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse([]byte(tc.data), "//pkg:images.lock.json")
			if tc.err != nil {
				if err == nil {
					t.Fatalf("no error, got %+v", f)
				}
				for _, want := range tc.err {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q lacks %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Version != Version || f.Images == nil || len(f.Images) != tc.images {
				t.Errorf("got %+v, want version %d and %d images", f, Version, tc.images)
			}
		})
	}
}

func TestReadWrite(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.json")
	f, err := Read(missing)
	if err != nil {
		t.Fatalf("Read of a missing file: %v", err)
	}
	if f.Version != Version || f.Images == nil || len(f.Images) != 0 {
		t.Errorf("Read of a missing file = %+v, want an empty lockfile", f)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("Read created the file")
	}

	path := filepath.Join(dir, "images.lock.json")
	if err := sampleFile().Write(path); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sampleFile()) {
		t.Errorf("Read(Write(f)) = %+v", got)
	}
	want, _ := sampleFile().Encode()
	if data, _ := os.ReadFile(path); !bytes.Equal(data, want) {
		t.Errorf("Write does not write Encode's bytes")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("Write left %d files in the folder", len(entries))
	}

	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{"), 0o644)
	if _, err := Read(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("Read of bad JSON: %v, want an error naming %s", err, bad)
	}
	// A folder is not a missing file.
	if _, err := Read(dir); err == nil {
		t.Errorf("Read of a folder: no error")
	}
}

func TestStale(t *testing.T) {
	img := Image{
		Digest: dg("1"), Registries: []string{"mirror.io", "docker.io"}, Repository: "library/debian", Tag: "bookworm",
		Platforms: map[string]Platform{
			"linux/amd64": {Platform: OCIPlatform{OS: "linux", Architecture: "amd64"}},
			"linux/arm64": {Platform: OCIPlatform{OS: "linux", Architecture: "arm64", Variant: "v8"}, Position: 1},
		},
	}
	pull := func(edit func(*Pull)) Pull {
		p := Pull{Name: "debian", Registries: []string{"mirror.io", "docker.io"}, Repository: "library/debian", Tag: "bookworm"}
		edit(&p)
		return p
	}
	for _, tc := range []struct {
		name string
		pull Pull
		want string
	}{
		{"same", pull(func(p *Pull) {}), ""},
		{"same platforms", pull(func(p *Pull) { p.Platforms = []string{"linux/arm64", "linux/amd64"} }), ""},
		{"pinned same digest", pull(func(p *Pull) { p.Digest = dg("1") }), ""},
		{"registries reordered", pull(func(p *Pull) { p.Registries = []string{"docker.io", "mirror.io"} }),
			"its registries are [mirror.io docker.io], MODULE.bazel says [docker.io mirror.io]"},
		{"registry added", pull(func(p *Pull) { p.Registries = append(p.Registries, "quay.io") }), "its registries are"},
		{"repository", pull(func(p *Pull) { p.Repository = "library/ubuntu" }),
			`its repository is "library/debian", MODULE.bazel says "library/ubuntu"`},
		{"tag", pull(func(p *Pull) { p.Tag = "trixie" }), `its tag is "bookworm", MODULE.bazel says "trixie"`},
		{"tag removed", pull(func(p *Pull) { p.Tag = ""; p.Digest = dg("1") }), `its tag is "bookworm", MODULE.bazel says ""`},
		{"digest", pull(func(p *Pull) { p.Digest = dg("2") }), "its digest is " + dg("1") + ", MODULE.bazel says " + dg("2")},
		{"platform missing", pull(func(p *Pull) { p.Platforms = []string{"linux/amd64", "linux/s390x"} }),
			"it has no entry for platform linux/s390x"},
		{"platform dropped", pull(func(p *Pull) { p.Platforms = []string{"linux/amd64"} }),
			"it has platforms linux/amd64, linux/arm64, MODULE.bazel asks for linux/amd64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := img.Stale(tc.pull)
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("Stale = %q, want %q", got, tc.want)
			}
		})
	}
	// An entry written before the lockfile recorded platforms.
	old := img
	old.Platforms = map[string]Platform{"linux/amd64": {}, "linux/arm64": img.Platforms["linux/arm64"]}
	if got := old.Stale(pull(func(p *Pull) {})); !strings.Contains(got, "its entry for linux/amd64 has no platform") {
		t.Errorf("Stale of an older entry = %q", got)
	}
}

func TestDiff(t *testing.T) {
	pl := func(d string) Platform { return Platform{Manifest: Descriptor{Digest: d}} }
	old := File{Images: map[string]Image{
		"b":    {Platforms: map[string]Platform{"linux/arm64": pl(dg("1")), "linux/amd64": pl(dg("2"))}},
		"a":    {Platforms: map[string]Platform{"linux/amd64": pl(dg("3"))}},
		"gone": {Platforms: map[string]Platform{"linux/amd64": pl(dg("4"))}},
	}}
	next := File{Images: map[string]Image{
		"b":   {Platforms: map[string]Platform{"linux/arm64": pl(dg("1")), "linux/amd64": pl(dg("5")), "linux/386": pl(dg("6"))}},
		"a":   {Platforms: map[string]Platform{"linux/amd64": pl(dg("3"))}},
		"new": {Platforms: map[string]Platform{"windows/amd64": pl(dg("7"))}},
	}}
	want := []Change{
		{Image: "a", Platform: "linux/amd64", Old: dg("3"), New: dg("3")},
		{Image: "b", Platform: "linux/386", Old: "", New: dg("6")},
		{Image: "b", Platform: "linux/amd64", Old: dg("2"), New: dg("5")},
		{Image: "b", Platform: "linux/arm64", Old: dg("1"), New: dg("1")},
		{Image: "gone", Platform: "linux/amd64", Old: dg("4"), New: ""},
		{Image: "new", Platform: "windows/amd64", Old: "", New: dg("7")},
	}
	for i := 0; i < 10; i++ {
		if got := Diff(old, next); !reflect.DeepEqual(got, want) {
			t.Fatalf("Diff =\n%v\nwant\n%v", got, want)
		}
	}
	wantStrings := []string{
		"a linux/amd64: unchanged " + dg("3"),
		"b linux/386: added " + dg("6"),
		"b linux/amd64: " + dg("2") + " -> " + dg("5"),
		"b linux/arm64: unchanged " + dg("1"),
		"gone linux/amd64: removed (was " + dg("4") + ")",
		"new windows/amd64: added " + dg("7"),
	}
	for i, c := range want {
		if got := c.String(); got != wantStrings[i] {
			t.Errorf("String() = %q, want %q", got, wantStrings[i])
		}
	}
	if got := Diff(File{}, File{}); len(got) != 0 {
		t.Errorf("Diff of empty files = %v", got)
	}
}

func TestPullValidate(t *testing.T) {
	ok := Pull{Name: "base", Registries: []string{"index.docker.io"}, Repository: "library/debian", Tag: "bookworm"}
	edit := func(f func(*Pull)) Pull {
		p := ok
		p.Registries = append([]string(nil), ok.Registries...)
		f(&p)
		return p
	}
	for _, tc := range []struct {
		name string
		pull Pull
		err  string // "" for valid
	}{
		{"valid tag", ok, ""},
		{"valid digest only", edit(func(p *Pull) { p.Tag = ""; p.Digest = dg("a") }), ""},
		{"valid tag and digest", edit(func(p *Pull) { p.Digest = dg("a") }), ""},
		{"valid name chars", edit(func(p *Pull) { p.Name = "Base_1.2-x" }), ""},
		{"valid port", edit(func(p *Pull) { p.Registries = []string{"127.0.0.1:5000", "localhost"} }), ""},
		{"valid platforms", edit(func(p *Pull) { p.Platforms = []string{"linux/amd64", "linux/arm64/v8", "windows/amd64"} }), ""},
		{"empty name", edit(func(p *Pull) { p.Name = "" }), `pull name ""`},
		{"name starts with digit", edit(func(p *Pull) { p.Name = "1base" }), `pull name "1base"`},
		{"name starts with underscore", edit(func(p *Pull) { p.Name = "_base" }), `pull name "_base"`},
		{"name with slash", edit(func(p *Pull) { p.Name = "a/b" }), `pull name "a/b"`},
		{"name with space", edit(func(p *Pull) { p.Name = "a b" }), `pull name "a b"`},
		{"no registries", edit(func(p *Pull) { p.Registries = nil }), "give registry or registries"},
		{"empty registry", edit(func(p *Pull) { p.Registries = []string{""} }), `registry "" is not a host[:port]`},
		{"registry with path", edit(func(p *Pull) { p.Registries = []string{"docker.io/library"} }), `registry "docker.io/library" is not a host[:port]`},
		{"registry with space", edit(func(p *Pull) { p.Registries = []string{"a b"} }), "is not a host[:port]"},
		{"no repository", edit(func(p *Pull) { p.Repository = "" }), "repository is empty"},
		{"no tag or digest", edit(func(p *Pull) { p.Tag = "" }), "give a tag, a digest or both"},
		{"short digest", edit(func(p *Pull) { p.Digest = "sha256:abc" }), `pull "base": digest "sha256:abc" is not a sha256 digest`},
		{"sha512 digest", edit(func(p *Pull) { p.Digest = "sha512:" + strings.Repeat("a", 128) }), "is not a sha256 digest"},
		{"upper-case digest", edit(func(p *Pull) { p.Digest = "sha256:" + strings.Repeat("A", 64) }), "is not a sha256 digest"},
		{"platform without arch", edit(func(p *Pull) { p.Platforms = []string{"linux"} }), `platform "linux" is not os/arch`},
		{"platform upper case", edit(func(p *Pull) { p.Platforms = []string{"Linux/amd64"} }), `platform "Linux/amd64" is not os/arch`},
		{"platform too deep", edit(func(p *Pull) { p.Platforms = []string{"linux/arm/v7/x"} }), "is not os/arch"},
		{"platform twice", edit(func(p *Pull) { p.Platforms = []string{"linux/amd64", "linux/amd64"} }), `platform "linux/amd64" is listed twice`},
		{"valid layer handling and downloader", edit(func(p *Pull) { p.LayerHandling = Eager; p.Downloader = Bazel }), ""},
		{"unknown layer handling", edit(func(p *Pull) { p.LayerHandling = "sometimes" }), `layer_handling "sometimes" is not shallow, eager or lazy`},
		{"unknown downloader", edit(func(p *Pull) { p.Downloader = "curl" }), `downloader "curl" is not img_tool or bazel`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.pull.Validate()
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.err != "" && err == nil:
				t.Errorf("no error, want %q", tc.err)
			case tc.err != "" && !strings.Contains(err.Error(), tc.err):
				t.Errorf("error %q lacks %q", err, tc.err)
			}
		})
	}
}

func TestValidatePulls(t *testing.T) {
	a := Pull{Name: "a", Registries: []string{"r"}, Repository: "x", Tag: "1"}
	b := a
	b.Name = "b"
	if err := ValidatePulls([]Pull{a, b}); err != nil {
		t.Errorf("distinct pulls: %v", err)
	}
	if err := ValidatePulls(nil); err != nil {
		t.Errorf("no pulls: %v", err)
	}
	if err := ValidatePulls([]Pull{a, b, a}); err == nil || !strings.Contains(err.Error(), `two pulls are named "a"`) {
		t.Errorf("duplicate: %v", err)
	}
	bad := b
	bad.Repository = ""
	if err := ValidatePulls([]Pull{a, bad}); err == nil || !strings.Contains(err.Error(), `pull "b"`) {
		t.Errorf("invalid second pull: %v", err)
	}
}

func TestReference(t *testing.T) {
	for _, tc := range []struct {
		pull Pull
		want string
	}{
		{Pull{Registries: []string{"mirror", "index.docker.io"}, Repository: "library/debian", Tag: "12"}, "index.docker.io/library/debian:12"},
		{Pull{Registries: []string{"gcr.io"}, Repository: "x/y", Digest: dg("a")}, "gcr.io/x/y@" + dg("a")},
		{Pull{Registries: []string{"gcr.io"}, Repository: "x/y", Tag: "t", Digest: dg("a")}, "gcr.io/x/y:t@" + dg("a")},
	} {
		if got := tc.pull.Reference(); got != tc.want {
			t.Errorf("Reference() = %q, want %q", got, tc.want)
		}
	}
}

func TestPlatformNamesSorted(t *testing.T) {
	img := Image{Platforms: map[string]Platform{"linux/s390x": {}, "linux/amd64": {}, "linux/arm64/v8": {}, "darwin/arm64": {}}}
	want := []string{"darwin/arm64", "linux/amd64", "linux/arm64/v8", "linux/s390x"}
	for i := 0; i < 10; i++ {
		if got := img.PlatformNames(); !reflect.DeepEqual(got, want) {
			t.Fatalf("PlatformNames = %v", got)
		}
	}
	if got := (Image{}).PlatformNames(); len(got) != 0 {
		t.Errorf("no platforms: %v", got)
	}
}
