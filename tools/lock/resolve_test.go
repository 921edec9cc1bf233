package lock

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/rules-img/rules_img/tools/registry"
)

// isolate keeps the keychain away from the user's credentials.
func isolate(t *testing.T) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("DOCKER_CONFIG", home)
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("XDG_RUNTIME_DIR", home)
	t.Setenv("REGISTRY_AUTH_FILE", "")
	t.Setenv("IMG_CREDENTIAL_HELPER", "")
}

// serve starts an in-process registry behind wrap (which may be nil) and
// returns its host:port.
func serve(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler = ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// closedAddr is an address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// platformImage is a random image whose config names the platform.
func platformImage(t *testing.T, p v1.Platform, layers int) v1.Image {
	t.Helper()
	img, err := random.Image(256, int64(layers))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = p.OS, p.Architecture, p.Variant
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

var (
	amd64   = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64v8 = v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	unknown = v1.Platform{OS: "unknown", Architecture: "unknown"}
)

// pushed is what was written to the registry.
type pushed struct {
	index     v1.ImageIndex
	images    map[string]v1.Image // by platform string
	indexHash v1.Hash
}

// pushIndex writes a multi-platform index with an attestation-like entry.
func pushIndex(t *testing.T, host, repo, tag string) pushed {
	t.Helper()
	out := pushed{images: map[string]v1.Image{}}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for i, p := range []v1.Platform{amd64, arm64v8, unknown} {
		img := platformImage(t, p, 2+i)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
		if p.OS != "unknown" {
			out.images[PlatformString(p)] = img
		}
	}
	ref, err := name.NewTag(host + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	out.index = idx
	out.indexHash, err = idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func pushImage(t *testing.T, host, repo, tag string, p v1.Platform) v1.Image {
	t.Helper()
	img := platformImage(t, p, 3)
	ref, err := name.NewTag(host + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	return img
}

func client(t *testing.T) *registry.Client {
	return registry.New(context.Background())
}

func digestOf(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// checkPlatform compares a lockfile platform entry with the image, which
// the index lists at position with the platform pl.
func checkPlatform(t *testing.T, got Platform, img v1.Image, pl v1.Platform, position int) {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := img.RawManifest()
	mt, _ := img.MediaType()
	want := Platform{
		Manifest: Descriptor{Digest: digestOf(t, img), MediaType: string(mt), Size: int64(len(raw))},
		Config:   fromV1(m.Config),
		Platform: FromV1Platform(pl),
		Position: position,
	}
	for _, l := range m.Layers {
		want.Layers = append(want.Layers, fromV1(l))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("platform entry\n%+v\nwant\n%+v", got, want)
	}
}

func TestResolveIndex(t *testing.T) {
	isolate(t)
	host := serve(t, nil)
	pushedIdx := pushIndex(t, host, "library/base", "v1")
	c := client(t)

	t.Run("every platform", func(t *testing.T) {
		p := Pull{Name: "base", Registries: []string{host}, Repository: "library/base", Tag: "v1"}
		img, err := Resolve(c, p)
		if err != nil {
			t.Fatal(err)
		}
		if img.Digest != pushedIdx.indexHash.String() || img.MediaType != string(types.OCIImageIndex) {
			t.Errorf("digest %s %s, want %s", img.Digest, img.MediaType, pushedIdx.indexHash)
		}
		if img.FoundAt != host || img.Tag != "v1" || img.Repository != "library/base" || !reflect.DeepEqual(img.Registries, []string{host}) {
			t.Errorf("image %+v", img)
		}
		if got := img.PlatformNames(); !reflect.DeepEqual(got, []string{"linux/amd64", "linux/arm64/v8"}) {
			t.Fatalf("platforms %v: the unknown/unknown entry must be skipped", got)
		}
		checkPlatform(t, img.Platforms["linux/amd64"], pushedIdx.images["linux/amd64"], amd64, 0)
		checkPlatform(t, img.Platforms["linux/arm64/v8"], pushedIdx.images["linux/arm64/v8"], arm64v8, 1)
		if got := img.InIndexOrder(); !reflect.DeepEqual(got, []string{"linux/amd64", "linux/arm64/v8"}) {
			t.Errorf("index order %v", got)
		}
		if img.Stale(p) != "" {
			t.Errorf("fresh entry is stale: %s", img.Stale(p))
		}
	})

	t.Run("chosen platforms", func(t *testing.T) {
		p := Pull{Name: "base", Registries: []string{host}, Repository: "library/base", Tag: "v1", Platforms: []string{"linux/arm64", "linux/amd64"}}
		img, err := Resolve(c, p)
		if err != nil {
			t.Fatal(err)
		}
		if got := img.PlatformNames(); !reflect.DeepEqual(got, []string{"linux/amd64", "linux/arm64"}) {
			t.Fatalf("platforms %v: keyed by the pull's names", got)
		}
		// linux/arm64 matches the arm64/v8 entry.
		checkPlatform(t, img.Platforms["linux/arm64"], pushedIdx.images["linux/arm64/v8"], arm64v8, 1)
		checkPlatform(t, img.Platforms["linux/amd64"], pushedIdx.images["linux/amd64"], amd64, 0)
		if img.Stale(p) != "" {
			t.Errorf("fresh entry is stale: %s", img.Stale(p))
		}
	})

	t.Run("exact variant", func(t *testing.T) {
		p := Pull{Name: "base", Registries: []string{host}, Repository: "library/base", Tag: "v1", Platforms: []string{"linux/arm64/v8"}}
		img, err := Resolve(c, p)
		if err != nil {
			t.Fatal(err)
		}
		checkPlatform(t, img.Platforms["linux/arm64/v8"], pushedIdx.images["linux/arm64/v8"], arm64v8, 1)
	})

	t.Run("pinned digest", func(t *testing.T) {
		p := Pull{Name: "base", Registries: []string{host}, Repository: "library/base", Tag: "v1", Digest: pushedIdx.indexHash.String()}
		img, err := Resolve(c, p)
		if err != nil {
			t.Fatal(err)
		}
		if img.Digest != p.Digest || len(img.Platforms) != 2 {
			t.Errorf("pinned: %+v", img)
		}
	})

	for _, tc := range []struct {
		name string
		pull Pull
		want []string
	}{
		{"missing platform", Pull{Tag: "v1", Platforms: []string{"linux/amd64", "linux/s390x"}},
			[]string{`pull "base"`, "the image has no platform linux/s390x; it has linux/amd64, linux/arm64/v8"}},
		{"variant not present", Pull{Tag: "v1", Platforms: []string{"linux/arm64/v9"}},
			[]string{"no platform linux/arm64/v9"}},
		{"unknown is not a platform", Pull{Tag: "v1", Platforms: []string{"unknown/unknown"}},
			[]string{"no platform unknown/unknown"}},
		{"missing tag", Pull{Tag: "v2"},
			[]string{`pull "base"`, host + " has no v2 in library/base"}},
		{"pinned digest absent", Pull{Tag: "v1", Digest: dg("0")},
			[]string{`pull "base"`, dg("0")}},
		{"missing repository", Pull{Tag: "v1", Repository: "library/nope"},
			[]string{"has no v1 in library/nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.pull
			p.Name = "base"
			p.Registries = []string{host}
			if p.Repository == "" {
				p.Repository = "library/base"
			}
			img, err := Resolve(c, p)
			if err == nil {
				t.Fatalf("no error; got %+v", img)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestResolveSingleImage(t *testing.T) {
	isolate(t)
	host := serve(t, nil)
	img := pushImage(t, host, "tools/single", "latest", amd64)
	armImg := pushImage(t, host, "tools/single", "arm", arm64v8)
	c := client(t)
	mt, _ := img.MediaType()

	for _, tc := range []struct {
		name      string
		tag       string
		platforms []string
		want      []string
		image     v1.Image
		err       string
	}{
		{"any platform", "latest", nil, []string{"linux/amd64"}, img, ""},
		{"its platform", "latest", []string{"linux/amd64"}, []string{"linux/amd64"}, img, ""},
		{"arch without variant", "arm", []string{"linux/arm64"}, []string{"linux/arm64"}, armImg, ""},
		{"variant from config", "arm", nil, []string{"linux/arm64/v8"}, armImg, ""},
		{"other platform", "latest", []string{"linux/arm64"}, nil, nil, "the image is for linux/amd64 only, not linux/arm64"},
		{"one of two", "latest", []string{"linux/amd64", "linux/arm64"}, nil, nil, "not linux/arm64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Pull{Name: "single", Registries: []string{host}, Repository: "tools/single", Tag: tc.tag, Platforms: tc.platforms}
			got, err := Resolve(c, p)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest != digestOf(t, tc.image) || got.MediaType != string(mt) {
				t.Errorf("digest %s %s, want the manifest's %s", got.Digest, got.MediaType, digestOf(t, tc.image))
			}
			if names := got.PlatformNames(); !reflect.DeepEqual(names, tc.want) {
				t.Fatalf("platforms %v, want %v", names, tc.want)
			}
			cfg, _ := tc.image.ConfigFile()
			for _, name := range tc.want {
				checkPlatform(t, got.Platforms[name], tc.image, v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}, 0)
			}
		})
	}
}

// The platform of an index's manifest is the index's word for it, field
// for field, even where the config says less.
func TestResolvePlatformFromIndex(t *testing.T) {
	isolate(t)
	host := serve(t, nil)
	img := platformImage(t, v1.Platform{OS: "windows", Architecture: "amd64"}, 1)
	exact := v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.20348.2966", OSFeatures: []string{"win32k"}, Variant: "v3"}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &exact}})
	ref, err := name.NewTag(host + "/win/base:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	got, err := Resolve(client(t), Pull{Name: "win", Registries: []string{host}, Repository: "win/base", Tag: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	if names := got.PlatformNames(); !reflect.DeepEqual(names, []string{"windows/amd64/v3"}) {
		t.Fatalf("platforms %v", names)
	}
	checkPlatform(t, got.Platforms["windows/amd64/v3"], img, exact, 0)
}

// tamper serves other bytes than the registry has for manifests requested
// by digest.
func tamper(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/sha256:") {
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				if k != "Content-Length" {
					w.Header()[k] = v
				}
			}
			w.WriteHeader(rec.Code)
			body := rec.Body.Bytes()
			w.Write(append(body[:len(body):len(body)], ' '))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func TestResolvePinnedDigestMismatch(t *testing.T) {
	isolate(t)
	host := serve(t, tamper)
	pushedIdx := pushIndex(t, host, "library/base", "v1")
	p := Pull{Name: "base", Registries: []string{host}, Repository: "library/base", Tag: "v1", Digest: pushedIdx.indexHash.String()}
	img, err := Resolve(client(t), p)
	if err == nil {
		t.Fatalf("a registry that serves other bytes for the pinned digest: no error, got %+v", img)
	}
	t.Logf("pinned: %v", err)
	if !strings.Contains(err.Error(), `pull "base"`) || !strings.Contains(err.Error(), pushedIdx.indexHash.String()) {
		t.Errorf("error %q does not name the pull and the digest", err)
	}

	// By tag the index is served untouched, but its platform manifests,
	// fetched by digest, do not match.
	p.Digest = ""
	if img, err := Resolve(client(t), p); err == nil {
		t.Fatalf("tampered platform manifests: no error, got %+v", img)
	}
}

func TestResolveMirrors(t *testing.T) {
	isolate(t)
	good := serve(t, nil)
	empty := serve(t, nil) // a registry that has nothing: 404
	pushedIdx := pushIndex(t, good, "library/base", "v1")
	down := closedAddr(t)
	c := client(t)

	for _, tc := range []struct {
		name       string
		registries []string
		foundAt    string
		err        []string
	}{
		{"first down", []string{down, good}, good, nil},
		{"first 404", []string{empty, good}, good, nil},
		{"both before down and 404", []string{down, empty, good}, good, nil},
		{"first good", []string{good, down}, good, nil},
		{"none has it", []string{down, empty}, "", []string{down, empty + " has no v1 in library/base"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Pull{Name: "base", Registries: tc.registries, Repository: "library/base", Tag: "v1"}
			img, err := Resolve(c, p)
			if tc.err != nil {
				if err == nil {
					t.Fatalf("no error, got %+v", img)
				}
				t.Logf("error: %v", err)
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
			if img.FoundAt != tc.foundAt {
				t.Errorf("FoundAt = %s, want %s", img.FoundAt, tc.foundAt)
			}
			if !reflect.DeepEqual(img.Registries, tc.registries) {
				t.Errorf("Registries = %v, want all of them in order %v", img.Registries, tc.registries)
			}
			if img.Digest != pushedIdx.indexHash.String() || len(img.Platforms) != 2 {
				t.Errorf("resolved %+v", img)
			}
			if why := img.Stale(p); why != "" {
				t.Errorf("stale: %s", why)
			}
		})
	}
}

func TestUpdateAndDiff(t *testing.T) {
	isolate(t)
	host := serve(t, nil)
	first := pushIndex(t, host, "library/base", "v1")
	single := pushImage(t, host, "tools/single", "latest", amd64)
	c := client(t)

	pulls := []Pull{
		{Name: "base", Registries: []string{host}, Repository: "library/base", Tag: "v1"},
		{Name: "single", Registries: []string{host}, Repository: "tools/single", Tag: "latest"},
	}
	locked, changes, err := Update(c, pulls, File{Version: Version, Images: map[string]Image{}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ch := range changes {
		got = append(got, ch.String())
	}
	want := []string{
		"base linux/amd64: added " + digestOf(t, first.images["linux/amd64"]),
		"base linux/arm64/v8: added " + digestOf(t, first.images["linux/arm64/v8"]),
		"single linux/amd64: added " + digestOf(t, single),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("first update:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if locked.Version != Version || len(locked.Images) != 2 {
		t.Fatalf("lockfile %+v", locked)
	}
	for _, p := range pulls {
		if why := locked.Images[p.Name].Stale(p); why != "" {
			t.Errorf("%s stale after update: %s", p.Name, why)
		}
	}

	// Nothing moved: every platform unchanged, and the same bytes.
	again, changes, err := Update(c, pulls, locked)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range changes {
		if ch.Old != ch.New || !strings.Contains(ch.String(), "unchanged") {
			t.Errorf("second update: %s", ch)
		}
	}
	a, _ := locked.Encode()
	b, _ := again.Encode()
	if string(a) != string(b) {
		t.Errorf("an update with nothing moved changed the lockfile")
	}

	// Re-tag v1 to a new index and drop the single pull.
	second := pushIndex(t, host, "library/base", "v1")
	next, changes, err := Update(c, pulls[:1], locked)
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, ch := range changes {
		got = append(got, ch.String())
	}
	want = []string{
		"base linux/amd64: " + digestOf(t, first.images["linux/amd64"]) + " -> " + digestOf(t, second.images["linux/amd64"]),
		"base linux/arm64/v8: " + digestOf(t, first.images["linux/arm64/v8"]) + " -> " + digestOf(t, second.images["linux/arm64/v8"]),
		"single linux/amd64: removed (was " + digestOf(t, single) + ")",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after re-tag:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, ok := next.Images["single"]; ok {
		t.Errorf("entry of a removed pull kept")
	}
	if next.Images["base"].Digest != second.indexHash.String() {
		t.Errorf("base digest %s, want %s", next.Images["base"].Digest, second.indexHash)
	}
	if !sort.SliceIsSorted(changes, func(i, j int) bool {
		return changes[i].Image+changes[i].Platform < changes[j].Image+changes[j].Platform
	}) {
		t.Errorf("changes not sorted")
	}

	// Update fails as a whole: invalid pulls, or one that cannot resolve.
	if _, _, err := Update(c, []Pull{pulls[0], pulls[0]}, locked); err == nil || !strings.Contains(err.Error(), "two pulls") {
		t.Errorf("duplicate pulls: %v", err)
	}
	missing := Pull{Name: "missing", Registries: []string{host}, Repository: "library/missing", Tag: "v1"}
	if f, ch, err := Update(c, []Pull{pulls[0], missing}, locked); err == nil || !strings.Contains(err.Error(), `pull "missing"`) || len(f.Images) != 0 || ch != nil {
		t.Errorf("unresolvable pull: %v, %+v, %v", err, f, ch)
	}
}

func TestSelectManifests(t *testing.T) {
	desc := func(d, os, arch, variant string, mt types.MediaType) string {
		pl := ""
		if os != "" {
			pl = fmt.Sprintf(`,"platform":{"os":%q,"architecture":%q,"variant":%q}`, os, arch, variant)
		}
		return fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":1%s}`, mt, d, pl)
	}
	index := `{"schemaVersion":2,"manifests":[` + strings.Join([]string{
		desc(dg("1"), "linux", "amd64", "", types.OCIManifestSchema1),
		desc(dg("2"), "unknown", "unknown", "", types.OCIManifestSchema1),
		desc(dg("3"), "linux", "arm64", "v8", types.OCIManifestSchema1),
		desc(dg("4"), "", "", "", types.OCIManifestSchema1),
		desc(dg("5"), "linux", "s390x", "", "application/vnd.in-toto+json"),
		desc(dg("6"), "linux", "amd64", "", types.DockerManifestSchema2),
	}, ",") + `]}`
	type sel struct {
		name, digest string
		position     int
	}
	for _, tc := range []struct {
		name      string
		platforms []string
		want      []sel
	}{
		{"every image, in index order, first of a platform", nil, []sel{{"linux/amd64", dg("1"), 0}, {"linux/arm64/v8", dg("3"), 2}}},
		{"in the pull's order, by the pull's names", []string{"linux/arm64", "linux/amd64"}, []sel{{"linux/arm64", dg("3"), 2}, {"linux/amd64", dg("1"), 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SelectManifests(Pull{Platforms: tc.platforms}, []byte(index))
			if err != nil {
				t.Fatal(err)
			}
			var have []sel
			for _, s := range got {
				have = append(have, sel{s.Name, s.Descriptor.Digest.String(), s.Position})
			}
			if !reflect.DeepEqual(have, tc.want) {
				t.Errorf("selected %v, want %v", have, tc.want)
			}
		})
	}
	if _, err := SelectManifests(Pull{Platforms: []string{"linux/s390x"}}, []byte(index)); err == nil ||
		!strings.Contains(err.Error(), "no platform linux/s390x; it has linux/amd64, linux/arm64/v8") {
		t.Errorf("a platform that only an attestation has: %v", err)
	}
	if _, err := SelectManifests(Pull{}, []byte("{")); err == nil {
		t.Error("a broken index: no error")
	}
}

func TestSniffMediaType(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`{"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}`, string(types.DockerManifestList)},
		{`{"schemaVersion":2,"manifests":[{"digest":"x"}]}`, string(types.OCIImageIndex)},
		{`{"schemaVersion":2,"config":{"digest":"x"},"layers":[]}`, string(types.OCIManifestSchema1)},
	} {
		if got, err := SniffMediaType([]byte(tc.doc)); err != nil || got != tc.want {
			t.Errorf("SniffMediaType(%s) = %q, %v; want %q", tc.doc, got, err, tc.want)
		}
	}
	for _, doc := range []string{`{}`, `[`} {
		if _, err := SniffMediaType([]byte(doc)); err == nil {
			t.Errorf("SniffMediaType(%s): no error", doc)
		}
	}
}
