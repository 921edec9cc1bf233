package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rules-img/rules_img/tools/blob"
)

func ptr[T any](v T) *T { return &v }

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// newLayer writes the metadata of a made-up layer and returns it with the
// path of its file.
func newLayer(t *testing.T, dir, name string, annotations map[string]string) (blob.LayerMetadata, string) {
	t.Helper()
	m := blob.LayerMetadata{
		MediaType:   "application/vnd.oci.image.layer.v1.tar+gzip",
		Digest:      sha("blob of " + name),
		Size:        int64(100 + len(name)),
		DiffID:      sha("tar of " + name),
		Annotations: annotations,
	}
	path := filepath.Join(dir, name+".layer.json")
	if err := blob.WriteJSON(path, m); err != nil {
		t.Fatal(err)
	}
	return m, path
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// decode parses JSON keeping numbers as json.Number.
func decode(t *testing.T, data []byte) map[string]any {
	t.Helper()
	obj, err := decodeObject(data, "test data")
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

// get walks a path of keys through nested objects.
func get(obj map[string]any, keys ...string) any {
	var cur any = obj
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func strs(v any) []string {
	list, ok := v.([]any)
	if !ok {
		return nil
	}
	out := make([]string, len(list))
	for i, x := range list {
		out[i], _ = x.(string)
	}
	return out
}

func keys(v any) []string {
	m, _ := v.(map[string]any)
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func linuxAmd64() Platform { return Platform{OS: "linux", Architecture: "amd64"} }

// checkDigests verifies the descriptor and the config descriptor against
// the bytes they describe.
func checkDigests(t *testing.T, res Result) ocispec.Manifest {
	t.Helper()
	var m ocispec.Manifest
	if err := json.Unmarshal(res.Manifest, &m); err != nil {
		t.Fatalf("manifest is not JSON: %v", err)
	}
	if got, want := string(res.Descriptor.Digest), sha(string(res.Manifest)); got != want {
		t.Errorf("descriptor digest %s, but the manifest hashes to %s", got, want)
	}
	if res.Descriptor.Size != int64(len(res.Manifest)) {
		t.Errorf("descriptor size %d, manifest has %d bytes", res.Descriptor.Size, len(res.Manifest))
	}
	if res.Descriptor.MediaType != ocispec.MediaTypeImageManifest || m.MediaType != ocispec.MediaTypeImageManifest {
		t.Errorf("media types %q / %q, want %q", res.Descriptor.MediaType, m.MediaType, ocispec.MediaTypeImageManifest)
	}
	if got, want := string(m.Config.Digest), sha(string(res.Config)); got != want {
		t.Errorf("config descriptor digest %s, but the config hashes to %s", got, want)
	}
	if m.Config.Size != int64(len(res.Config)) {
		t.Errorf("config descriptor size %d, config has %d bytes", m.Config.Size, len(res.Config))
	}
	if m.Config.MediaType != ocispec.MediaTypeImageConfig {
		t.Errorf("config media type %q", m.Config.MediaType)
	}
	if m.SchemaVersion != 2 {
		t.Errorf("schemaVersion %d, want 2", m.SchemaVersion)
	}
	return m
}

func TestBuildWithoutBase(t *testing.T) {
	dir := t.TempDir()
	l1, p1 := newLayer(t, dir, "one", nil)
	l2, p2 := newLayer(t, dir, "two", map[string]string{"org.example.layer": "two"})
	r := Request{
		Layers:   []string{p1, p2},
		Platform: linuxAmd64(),
		Label:    "//app:image",
	}
	res, err := Build(r)
	if err != nil {
		t.Fatal(err)
	}
	m := checkDigests(t, res)

	wantLayers := []ocispec.Descriptor{
		{MediaType: l1.MediaType, Digest: digest.Digest(l1.Digest), Size: l1.Size},
		{MediaType: l2.MediaType, Digest: digest.Digest(l2.Digest), Size: l2.Size, Annotations: l2.Annotations},
	}
	if !reflect.DeepEqual(m.Layers, wantLayers) {
		t.Errorf("layers %+v, want %+v", m.Layers, wantLayers)
	}
	if m.Annotations != nil {
		t.Errorf("annotations %v, want none", m.Annotations)
	}
	if bytes.Contains(res.Manifest, []byte(`"annotations":{}`)) {
		t.Errorf("manifest has an empty annotations object: %s", res.Manifest)
	}
	want := &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	if !reflect.DeepEqual(res.Descriptor.Platform, want) {
		t.Errorf("descriptor platform %+v, want %+v", res.Descriptor.Platform, want)
	}

	cfg := decode(t, res.Config)
	for key, want := range map[string]any{
		"os":           "linux",
		"architecture": "amd64",
		"created":      "1970-01-01T00:00:00Z",
	} {
		if cfg[key] != want {
			t.Errorf("config %s = %v, want %v", key, cfg[key], want)
		}
	}
	if _, ok := cfg["variant"]; ok {
		t.Errorf("config has a variant: %v", cfg["variant"])
	}
	if got := get(cfg, "rootfs", "type"); got != "layers" {
		t.Errorf("rootfs.type = %v", got)
	}
	if got := strs(get(cfg, "rootfs", "diff_ids")); !slices.Equal(got, []string{l1.DiffID, l2.DiffID}) {
		t.Errorf("diff_ids %q, want %q", got, []string{l1.DiffID, l2.DiffID})
	}
	history, _ := cfg["history"].([]any)
	if len(history) != 2 {
		t.Fatalf("history has %d entries, want 2", len(history))
	}
	for i, h := range history {
		want := map[string]any{"created": "1970-01-01T00:00:00Z", "created_by": "bazel build //app:image", "comment": "rules_img"}
		if !reflect.DeepEqual(h, want) {
			t.Errorf("history[%d] = %v, want %v", i, h, want)
		}
	}
	if c, ok := cfg["config"].(map[string]any); !ok || len(c) != 0 {
		t.Errorf("config.config = %v, want an empty object", cfg["config"])
	}
}

func TestBuildNoLayers(t *testing.T) {
	res, err := Build(Request{Platform: linuxAmd64(), Label: "//x"})
	if err != nil {
		t.Fatal(err)
	}
	m := checkDigests(t, res)
	if m.Layers == nil || len(m.Layers) != 0 {
		t.Errorf("layers = %#v, want an empty list", m.Layers)
	}
	if !bytes.Contains(res.Manifest, []byte(`"layers":[]`)) {
		t.Errorf("manifest %s does not list an empty layers array", res.Manifest)
	}
	cfg := decode(t, res.Config)
	if ids, ok := get(cfg, "rootfs", "diff_ids").([]any); !ok || len(ids) != 0 {
		t.Errorf("diff_ids = %#v, want []", get(cfg, "rootfs", "diff_ids"))
	}
	if !bytes.Contains(res.Config, []byte(`"diff_ids":[]`)) {
		t.Errorf("config %s has no empty diff_ids array", res.Config)
	}
	if _, ok := cfg["history"]; ok {
		t.Errorf("config has history %v without layers", cfg["history"])
	}
}

// baseImage writes a base manifest and config with two layers and returns
// their paths and the base manifest's layers.
func baseImage(t *testing.T, dir string, config string) (manifestPath, configPath string, layers []ocispec.Descriptor) {
	t.Helper()
	configPath = writeFile(t, dir, "base.config.json", config)
	layers = []ocispec.Descriptor{
		{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: digest.Digest(sha("base0")), Size: 1000,
			Annotations: map[string]string{"org.example": "base layer"}},
		{MediaType: "application/vnd.oci.image.layer.v1.tar+zstd", Digest: digest.Digest(sha("base1")), Size: 2000,
			URLs: []string{"https://example.com/base1"}},
	}
	cfgData, _ := os.ReadFile(configPath)
	base := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig,
			Digest: digest.Digest(sha(string(cfgData))), Size: int64(len(cfgData))},
		Layers:      layers,
		Annotations: map[string]string{"org.opencontainers.image.base.name": "should-not-carry-over"},
	}
	base.SchemaVersion = 2
	data, err := json.Marshal(base)
	if err != nil {
		t.Fatal(err)
	}
	manifestPath = writeFile(t, dir, "base.manifest.json", string(data))
	return manifestPath, configPath, layers
}

const baseConfig = `{
  "architecture": "arm64",
  "variant": "v8",
  "os": "linux",
  "author": "base author",
  "created": "2020-01-01T00:00:00Z",
  "custom_number": 9007199254740993,
  "custom_float": 1.10,
  "config": {
    "Env": ["PATH=/usr/local/bin:/usr/bin", "HOME=/root", "LANG=C.UTF-8", "OPTS=a=b"],
    "Entrypoint": ["/base-entrypoint"],
    "Cmd": ["base-cmd"],
    "WorkingDir": "/base",
    "User": "base",
    "ExposedPorts": {"22/tcp": {}},
    "Volumes": {"/base-data": {}},
    "Labels": {"base": "b", "shared": "base"},
    "Healthcheck": {"Test": ["CMD", "true"], "Interval": 30000000000, "Retries": 3},
    "OnBuild": null,
    "ArgsEscaped": true
  },
  "rootfs": {"type": "layers", "diff_ids": ["sha256:1111111111111111111111111111111111111111111111111111111111111111", "sha256:2222222222222222222222222222222222222222222222222222222222222222"]},
  "history": [
    {"created": "2020-01-01T00:00:00Z", "created_by": "ADD rootfs.tar /"},
    {"created": "2020-01-01T00:00:00Z", "created_by": "ENV LANG=C.UTF-8", "empty_layer": true},
    {"created": "2020-01-01T00:00:00Z", "created_by": "RUN apt-get install"}
  ]
}`

func TestBuildWithBase(t *testing.T) {
	dir := t.TempDir()
	bm, bc, baseLayers := baseImage(t, dir, baseConfig)
	l1, p1 := newLayer(t, dir, "app", nil)
	l2, p2 := newLayer(t, dir, "data", nil)
	r := Request{
		BaseManifest: bm,
		BaseConfig:   bc,
		Layers:       []string{p1, p2},
		Platform:     linuxAmd64(),
		Created:      "2024-05-06T07:08:09+02:00",
		Label:        "//app:image",
		Annotations:  map[string]string{"org.opencontainers.image.title": "app"},
		Config: ConfigSettings{
			Env:          [][2]string{{"HOME", "/home/app"}, {"NEW", "1"}, {"OPTS", "x=y"}, {"ANOTHER", "2"}},
			ExposedPorts: []string{"8080", "53/udp", "22/tcp"},
			Volumes:      []string{"/data"},
			Labels:       map[string]string{"shared": "attr", "new": "n"},
		},
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := Build(r)
	if err != nil {
		t.Fatal(err)
	}
	m := checkDigests(t, res)

	// Layers: the base's, verbatim, then the new ones.
	wantLayers := append(slices.Clone(baseLayers),
		ocispec.Descriptor{MediaType: l1.MediaType, Digest: digest.Digest(l1.Digest), Size: l1.Size},
		ocispec.Descriptor{MediaType: l2.MediaType, Digest: digest.Digest(l2.Digest), Size: l2.Size},
	)
	if !reflect.DeepEqual(m.Layers, wantLayers) {
		t.Errorf("layers\n%+v\nwant\n%+v", m.Layers, wantLayers)
	}
	if !reflect.DeepEqual(m.Annotations, r.Annotations) {
		t.Errorf("annotations %v, want only the request's %v", m.Annotations, r.Annotations)
	}

	cfg := decode(t, res.Config)
	wantIDs := []string{
		"sha256:1111111111111111111111111111111111111111111111111111111111111111",
		"sha256:2222222222222222222222222222222222222222222222222222222222222222",
		l1.DiffID, l2.DiffID,
	}
	if got := strs(get(cfg, "rootfs", "diff_ids")); !slices.Equal(got, wantIDs) {
		t.Errorf("diff_ids %q, want %q", got, wantIDs)
	}
	history, _ := cfg["history"].([]any)
	var createdBy []string
	for _, h := range history {
		createdBy = append(createdBy, get(h.(map[string]any), "created_by").(string))
	}
	wantHistory := []string{"ADD rootfs.tar /", "ENV LANG=C.UTF-8", "RUN apt-get install", "bazel build //app:image", "bazel build //app:image"}
	if !slices.Equal(createdBy, wantHistory) {
		t.Errorf("history %q, want %q", createdBy, wantHistory)
	}
	if e, _ := history[1].(map[string]any); e["empty_layer"] != true {
		t.Errorf("base history entry lost empty_layer: %v", e)
	}
	if got := get(history[3].(map[string]any), "created"); got != "2024-05-06T05:08:09Z" {
		t.Errorf("new history created = %v, want the request's time in UTC", got)
	}
	if cfg["created"] != "2024-05-06T05:08:09Z" {
		t.Errorf("created = %v, want 2024-05-06T05:08:09Z", cfg["created"])
	}

	// Env: base variables overridden in place, new ones appended in order.
	wantEnv := []string{"PATH=/usr/local/bin:/usr/bin", "HOME=/home/app", "LANG=C.UTF-8", "OPTS=x=y", "NEW=1", "ANOTHER=2"}
	if got := strs(get(cfg, "config", "Env")); !slices.Equal(got, wantEnv) {
		t.Errorf("Env %q, want %q", got, wantEnv)
	}
	// Ports normalized and merged with the base's.
	if got := keys(get(cfg, "config", "ExposedPorts")); !slices.Equal(got, []string{"22/tcp", "53/udp", "8080/tcp"}) {
		t.Errorf("ExposedPorts %q", got)
	}
	if got := keys(get(cfg, "config", "Volumes")); !slices.Equal(got, []string{"/base-data", "/data"}) {
		t.Errorf("Volumes %q", got)
	}
	labels := get(cfg, "config", "Labels")
	if !reflect.DeepEqual(labels, map[string]any{"base": "b", "shared": "attr", "new": "n"}) {
		t.Errorf("Labels %v", labels)
	}
	// Unset attributes keep the base's values.
	for key, want := range map[string]any{"WorkingDir": "/base", "User": "base", "ArgsEscaped": true} {
		if got := get(cfg, "config", key); got != want {
			t.Errorf("config.%s = %v, want the base's %v", key, got, want)
		}
	}
	if got := strs(get(cfg, "config", "Entrypoint")); !slices.Equal(got, []string{"/base-entrypoint"}) {
		t.Errorf("Entrypoint %q, want the base's", got)
	}
	if got := strs(get(cfg, "config", "Cmd")); !slices.Equal(got, []string{"base-cmd"}) {
		t.Errorf("Cmd %q, want the base's", got)
	}
	// Fields this tool does not know pass through unchanged, numbers exact.
	hc := get(cfg, "config", "Healthcheck")
	wantHC := map[string]any{"Test": []any{"CMD", "true"}, "Interval": json.Number("30000000000"), "Retries": json.Number("3")}
	if !reflect.DeepEqual(hc, wantHC) {
		t.Errorf("Healthcheck %v, want %v", hc, wantHC)
	}
	if v, ok := get(cfg, "config").(map[string]any)["OnBuild"]; !ok || v != nil {
		t.Errorf("OnBuild = %v (present %v), want null kept", v, ok)
	}
	if cfg["author"] != "base author" {
		t.Errorf("author = %v", cfg["author"])
	}
	for _, raw := range []string{`"custom_number":9007199254740993`, `"custom_float":1.10`} {
		if !bytes.Contains(res.Config, []byte(raw)) {
			t.Errorf("config does not keep %s exactly: %s", raw, res.Config)
		}
	}
	// The platform is the request's: the base's variant is dropped.
	if cfg["architecture"] != "amd64" || cfg["os"] != "linux" {
		t.Errorf("platform %v/%v, want linux/amd64", cfg["os"], cfg["architecture"])
	}
	if v, ok := cfg["variant"]; ok {
		t.Errorf("variant %v kept from the base", v)
	}
}

func TestPlatformVariant(t *testing.T) {
	dir := t.TempDir()
	bm, bc, _ := baseImage(t, dir, baseConfig)
	for _, variant := range []string{"v8", "v7"} {
		res, err := Build(Request{BaseManifest: bm, BaseConfig: bc, Platform: Platform{OS: "linux", Architecture: "arm", Variant: variant}})
		if err != nil {
			t.Fatal(err)
		}
		cfg := decode(t, res.Config)
		if cfg["variant"] != variant || cfg["architecture"] != "arm" {
			t.Errorf("config %v/%v, want arm/%s", cfg["architecture"], cfg["variant"], variant)
		}
		if p := res.Descriptor.Platform; p == nil || p.Variant != variant || p.Architecture != "arm" || p.OS != "linux" {
			t.Errorf("descriptor platform %+v", p)
		}
	}
}

func TestEntrypointAndCmd(t *testing.T) {
	dir := t.TempDir()
	bm, bc, _ := baseImage(t, dir, baseConfig)
	for _, tc := range []struct {
		name           string
		entrypoint     []string
		cmd            []string
		wantEntrypoint []string
		wantCmd        []string // nil: no Cmd key at all
	}{
		{"neither", nil, nil, []string{"/base-entrypoint"}, []string{"base-cmd"}},
		{"entrypoint drops the base Cmd", []string{"/app"}, nil, []string{"/app"}, nil},
		{"entrypoint and cmd", []string{"/app", "-v"}, []string{"serve"}, []string{"/app", "-v"}, []string{"serve"}},
		{"cmd keeps the base entrypoint", nil, []string{"serve", "--port=1"}, []string{"/base-entrypoint"}, []string{"serve", "--port=1"}},
		{"empty lists keep the base", []string{}, []string{}, []string{"/base-entrypoint"}, []string{"base-cmd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Build(Request{BaseManifest: bm, BaseConfig: bc, Platform: linuxAmd64(),
				Config: ConfigSettings{Entrypoint: tc.entrypoint, Cmd: tc.cmd}})
			if err != nil {
				t.Fatal(err)
			}
			cfg := decode(t, res.Config)
			if got := strs(get(cfg, "config", "Entrypoint")); !slices.Equal(got, tc.wantEntrypoint) {
				t.Errorf("Entrypoint %q, want %q", got, tc.wantEntrypoint)
			}
			cmd, hasCmd := get(cfg, "config").(map[string]any)["Cmd"]
			if tc.wantCmd == nil {
				if hasCmd {
					t.Errorf("Cmd %v, want none", cmd)
				}
			} else if got := strs(cmd); !slices.Equal(got, tc.wantCmd) {
				t.Errorf("Cmd %q, want %q", got, tc.wantCmd)
			}
		})
	}
}

func TestMergeEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		base any
		env  [][2]string
		want []any
	}{
		{"no base", nil, [][2]string{{"B", "2"}, {"A", "1"}}, []any{"B=2", "A=1"}},
		{"base not a list", "PATH=/bin", [][2]string{{"A", "1"}}, []any{"A=1"}},
		{"override in place", []any{"A=1", "B=2", "C=3"}, [][2]string{{"B", "x"}}, []any{"A=1", "B=x", "C=3"}},
		{"override and append", []any{"A=1", "B=2"}, [][2]string{{"Z", "z"}, {"A", "a"}, {"Y", "y"}}, []any{"A=a", "B=2", "Z=z", "Y=y"}},
		{"values with '='", []any{"OPTS=a=b"}, [][2]string{{"OPTS", "c=d"}, {"N", "=x="}}, []any{"OPTS=c=d", "N==x="}},
		{"empty value", []any{"A=1"}, [][2]string{{"A", ""}}, []any{"A="}},
		{"same name twice in the request", nil, [][2]string{{"A", "1"}, {"A", "2"}}, []any{"A=2"}},
		{"base entry without '='", []any{"FLAG", "A=1"}, [][2]string{{"FLAG", "on"}}, []any{"FLAG=on", "A=1"}},
	} {
		if got := mergeEnv(tc.base, tc.env); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: mergeEnv = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestConfigFragment(t *testing.T) {
	dir := t.TempDir()
	bm, bc, _ := baseImage(t, dir, baseConfig)
	frag := writeFile(t, dir, "fragment.json", `{
	  "author": "fragment author",
	  "os": "windows",
	  "created": "1999-01-01T00:00:00Z",
	  "config": {
	    "Labels": {"frag": "f", "shared": "frag"},
	    "User": "frag-user",
	    "StopSignal": "SIGINT",
	    "Healthcheck": {"Retries": 5},
	    "Shell": ["/bin/bash", "-c"],
	    "Env": ["FRAG=1", "HOME=/frag"]
	  },
	  "extra": {"nested": {"a": 1}}
	}`)
	r := Request{
		BaseManifest: bm, BaseConfig: bc, ConfigFragment: frag, Platform: linuxAmd64(),
		Config: ConfigSettings{
			User:   ptr("attr-user"),
			Labels: map[string]string{"shared": "attr"},
			Env:    [][2]string{{"HOME", "/attr"}},
		},
	}
	res, err := Build(r)
	if err != nil {
		t.Fatal(err)
	}
	cfg := decode(t, res.Config)
	for _, tc := range []struct {
		path []string
		want any
	}{
		{[]string{"author"}, "fragment author"},          // fragment over base
		{[]string{"os"}, "linux"},                        // the platform over the fragment
		{[]string{"created"}, "1970-01-01T00:00:00Z"},    // the request over the fragment
		{[]string{"config", "User"}, "attr-user"},        // attribute over fragment
		{[]string{"config", "StopSignal"}, "SIGINT"},     // fragment, no attribute
		{[]string{"config", "WorkingDir"}, "/base"},      // base, untouched
		{[]string{"config", "Labels", "base"}, "b"},      // deep merge keeps base keys
		{[]string{"config", "Labels", "frag"}, "f"},      // adds fragment keys
		{[]string{"config", "Labels", "shared"}, "attr"}, // attribute wins
		{[]string{"config", "Healthcheck", "Retries"}, json.Number("5")},
		{[]string{"config", "Healthcheck", "Interval"}, json.Number("30000000000")},
		{[]string{"extra", "nested", "a"}, json.Number("1")},
	} {
		if got := get(cfg, tc.path...); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s = %#v, want %#v", strings.Join(tc.path, "."), got, tc.want)
		}
	}
	// A list in the fragment replaces the base's; attributes then merge.
	if got := strs(get(cfg, "config", "Env")); !slices.Equal(got, []string{"FRAG=1", "HOME=/attr"}) {
		t.Errorf("Env %q, want [FRAG=1 HOME=/attr]", got)
	}
	if got := strs(get(cfg, "config", "Shell")); !slices.Equal(got, []string{"/bin/bash", "-c"}) {
		t.Errorf("Shell %q", got)
	}
}

func TestConfigFragmentWithoutBase(t *testing.T) {
	frag := writeFile(t, t.TempDir(), "fragment.json", `{"config": {"User": "1000", "Labels": {"a": "b"}}}`)
	res, err := Build(Request{ConfigFragment: frag, Platform: linuxAmd64(), Config: ConfigSettings{WorkingDir: ptr("/w"), StopSignal: ptr("SIGTERM")}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := decode(t, res.Config)
	want := map[string]any{"User": "1000", "Labels": map[string]any{"a": "b"}, "WorkingDir": "/w", "StopSignal": "SIGTERM"}
	if got := cfg["config"]; !reflect.DeepEqual(got, want) {
		t.Errorf("config %v, want %v", got, want)
	}
}

func TestExposedPortsNormalized(t *testing.T) {
	res, err := Build(Request{Platform: linuxAmd64(), Config: ConfigSettings{ExposedPorts: []string{"8080", "8080/tcp", "53/udp", "132/sctp", "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := decode(t, res.Config)
	want := []string{"1/tcp", "132/sctp", "53/udp", "8080/tcp"}
	if got := keys(get(cfg, "config", "ExposedPorts")); !slices.Equal(got, want) {
		t.Errorf("ExposedPorts %q, want %q", got, want)
	}
	if !bytes.Contains(res.Config, []byte(`"ExposedPorts":{"1/tcp":{},"132/sctp":{},"53/udp":{},"8080/tcp":{}}`)) {
		t.Errorf("ExposedPorts not serialized as empty objects: %s", res.Config)
	}
}

func TestValidate(t *testing.T) {
	valid := func() Request {
		return Request{
			Platform: linuxAmd64(),
			Created:  "2024-01-02T03:04:05Z",
			Config: ConfigSettings{
				ExposedPorts: []string{"8080", "443/tcp", "53/udp", "9/sctp", "65535"},
				Env:          [][2]string{{"A", "1"}, {"LONG_NAME_2", "x=y"}},
				Volumes:      []string{"/data", "/var/lib/x"},
			},
		}
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid request: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(r *Request)
		want   []string
	}{
		{"no os", func(r *Request) { r.Platform.OS = "" }, []string{"platform needs os and architecture"}},
		{"no architecture", func(r *Request) { r.Platform.Architecture = "" }, []string{"platform needs os and architecture"}},
		{"base manifest without config", func(r *Request) { r.BaseManifest = "m.json" }, []string{"both its manifest and its config"}},
		{"base config without manifest", func(r *Request) { r.BaseConfig = "c.json" }, []string{"both its manifest and its config"}},
		{"created not RFC 3339", func(r *Request) { r.Created = "yesterday" }, []string{"created", `"yesterday"`, "RFC 3339"}},
		{"created date only", func(r *Request) { r.Created = "2024-01-02" }, []string{"created", `"2024-01-02"`}},
		{"port name", func(r *Request) { r.Config.ExposedPorts = []string{"http"} }, []string{"exposed_ports", `"http"`}},
		{"port protocol", func(r *Request) { r.Config.ExposedPorts = []string{"8080/http"} }, []string{"exposed_ports", `"8080/http"`}},
		{"port protocol case", func(r *Request) { r.Config.ExposedPorts = []string{"8080/TCP"} }, []string{"exposed_ports", `"8080/TCP"`}},
		{"port range", func(r *Request) { r.Config.ExposedPorts = []string{"8000-8010"} }, []string{"exposed_ports", `"8000-8010"`}},
		{"port negative", func(r *Request) { r.Config.ExposedPorts = []string{"-1"} }, []string{"exposed_ports", `"-1"`}},
		{"port empty", func(r *Request) { r.Config.ExposedPorts = []string{""} }, []string{"exposed_ports", `""`}},
		{"port above 65535", func(r *Request) { r.Config.ExposedPorts = []string{"99999"} }, []string{"exposed_ports", `"99999"`, "65535"}},
		{"port 65536/udp", func(r *Request) { r.Config.ExposedPorts = []string{"65536/udp"} }, []string{"exposed_ports", `"65536/udp"`}},
		{"port zero", func(r *Request) { r.Config.ExposedPorts = []string{"0"} }, []string{"exposed_ports", `"0"`}},
		{"port too many digits", func(r *Request) { r.Config.ExposedPorts = []string{"123456"} }, []string{"exposed_ports", `"123456"`}},
		{"env empty name", func(r *Request) { r.Config.Env = [][2]string{{"", "x"}} }, []string{"env", `""`, "not a valid variable name"}},
		{"env name with '='", func(r *Request) { r.Config.Env = [][2]string{{"A=B", "x"}} }, []string{"env", `"A=B"`, "not a valid variable name"}},
		{"relative volume", func(r *Request) { r.Config.Volumes = []string{"data"} }, []string{"volumes", `"data"`, "absolute"}},
		{"empty volume", func(r *Request) { r.Config.Volumes = []string{""} }, []string{"volumes", `""`, "absolute"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := valid()
			tc.change(&r)
			err := r.Validate()
			if err == nil {
				t.Fatalf("Validate accepted %+v", r)
			}
			for _, p := range tc.want {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not contain %q", err, p)
				}
			}
		})
	}
}

func TestReadRequest(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.json", `{
	  "layers": ["a.json"],
	  "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
	  "config": {"entrypoint": ["/app"], "env": [["A", "1"], ["B", "2"]], "user": "nobody", "exposed_ports": ["80"]},
	  "annotations": {"k": "v"},
	  "label": "//x:y"
	}`)
	r, err := ReadRequest(good)
	if err != nil {
		t.Fatal(err)
	}
	want := Request{
		Layers:      []string{"a.json"},
		Platform:    Platform{OS: "linux", Architecture: "arm64", Variant: "v8"},
		Config:      ConfigSettings{Entrypoint: []string{"/app"}, Env: [][2]string{{"A", "1"}, {"B", "2"}}, User: ptr("nobody"), ExposedPorts: []string{"80"}},
		Annotations: map[string]string{"k": "v"},
		Label:       "//x:y",
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("ReadRequest = %+v, want %+v", r, want)
	}

	invalid := writeFile(t, dir, "invalid.json", `{"platform": {"os": "linux", "architecture": "amd64"}, "config": {"exposed_ports": ["http"]}}`)
	if _, err := ReadRequest(invalid); err == nil || !strings.Contains(err.Error(), `"http"`) {
		t.Errorf("ReadRequest(invalid) = %v, want the exposed_ports error", err)
	}
	malformed := writeFile(t, dir, "malformed.json", `{"layers": "not a list"}`)
	if _, err := ReadRequest(malformed); err == nil || !strings.Contains(err.Error(), malformed) {
		t.Errorf("ReadRequest(malformed) = %v, want an error naming the file", err)
	}
	if _, err := ReadRequest(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("ReadRequest(missing) succeeded")
	}
}

func TestBuildErrors(t *testing.T) {
	dir := t.TempDir()
	bm, bc, _ := baseImage(t, dir, baseConfig)
	_, layer := newLayer(t, dir, "l", nil)
	badLayer := writeFile(t, dir, "bad.layer.json", `{"mediaType": "x", "digest": "sha256:abc", "size": 1, "diff_id": "`+sha("x")+`"}`)
	index := writeFile(t, dir, "index.json", `{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}`)
	indexNoType := writeFile(t, dir, "index-no-type.json", `{"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "`+sha("m")+`", "size": 1}]}`)
	schema1 := writeFile(t, dir, "schema1.json", `{"schemaVersion": 1, "name": "x"}`)
	notJSON := writeFile(t, dir, "not.json", `{`)
	arrayConfig := writeFile(t, dir, "array.json", `[1, 2]`)
	mismatch := writeFile(t, dir, "mismatch.config.json", `{"rootfs": {"type": "layers", "diff_ids": ["`+sha("only one")+`"]}}`)

	for _, tc := range []struct {
		name string
		r    Request
		want []string
	}{
		{"missing layer metadata", Request{Layers: []string{filepath.Join(dir, "nope.json")}}, []string{"nope.json"}},
		{"invalid layer metadata", Request{Layers: []string{layer, badLayer}}, []string{badLayer, "digest", `"sha256:abc"`}},
		// An index has schemaVersion 2 too: it must not pass for a manifest
		// with no layers.
		{"base is an index", Request{BaseManifest: index, BaseConfig: bc}, []string{index, "not an image manifest", "index"}},
		{"base is an index without mediaType", Request{BaseManifest: indexNoType, BaseConfig: bc}, []string{indexNoType, "no config"}},
		{"base is schema 1", Request{BaseManifest: schema1, BaseConfig: bc}, []string{schema1, "schemaVersion 1 is not 2"}},
		{"base manifest not JSON", Request{BaseManifest: notJSON, BaseConfig: bc}, []string{notJSON}},
		{"base config not an object", Request{BaseManifest: bm, BaseConfig: arrayConfig}, []string{"base config " + arrayConfig, "not a JSON object"}},
		{"config fragment not JSON", Request{ConfigFragment: notJSON}, []string{"config_fragment " + notJSON, "not a JSON object"}},
		{"missing config fragment", Request{ConfigFragment: filepath.Join(dir, "frag-missing.json")}, []string{"frag-missing.json"}},
		{"base config and manifest disagree", Request{BaseManifest: bm, BaseConfig: mismatch, Layers: []string{layer}},
			[]string{"the config lists 2 diff_ids but the manifest has 3 layers"}},
		{"invalid created", Request{Created: "1 May"}, []string{"created", `"1 May"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.Platform = linuxAmd64()
			_, err := Build(tc.r)
			if err == nil {
				t.Fatal("Build succeeded")
			}
			for _, p := range tc.want {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not contain %q", err, p)
				}
			}
		})
	}
}

func TestBuildDeterministic(t *testing.T) {
	dir := t.TempDir()
	bm, bc, _ := baseImage(t, dir, baseConfig)
	var layers []string
	for i := range 5 {
		_, p := newLayer(t, dir, fmt.Sprintf("layer%d", i), map[string]string{"a": "1", "b": "2", "c": "3"})
		layers = append(layers, p)
	}
	labels := map[string]string{}
	annotations := map[string]string{}
	for i := range 20 {
		labels[fmt.Sprintf("label.%02d", i)] = fmt.Sprint(i)
		annotations[fmt.Sprintf("org.example.%02d", i)] = fmt.Sprint(i)
	}
	r := Request{
		BaseManifest: bm, BaseConfig: bc, Layers: layers, Platform: linuxAmd64(),
		Annotations: annotations, Label: "//a:b",
		Config: ConfigSettings{
			Labels:       labels,
			ExposedPorts: []string{"9", "8", "7/udp", "6", "5"},
			Volumes:      []string{"/z", "/y", "/x"},
			Env:          [][2]string{{"Z", "1"}, {"Y", "2"}},
		},
	}
	first, err := Build(r)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		res, err := Build(r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(res.Config, first.Config) || !bytes.Equal(res.Manifest, first.Manifest) || !reflect.DeepEqual(res.Descriptor, first.Descriptor) {
			t.Fatalf("build %d differs from the first:\n%s\n%s", i+2, res.Config, first.Config)
		}
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	_, layer := newLayer(t, dir, "l", nil)
	res, err := Build(Request{Layers: []string{layer}, Platform: Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}})
	if err != nil {
		t.Fatal(err)
	}
	out := Outputs{
		Manifest:   filepath.Join(dir, "out.manifest.json"),
		Config:     filepath.Join(dir, "out.config.json"),
		Descriptor: filepath.Join(dir, "out.descriptor.json"),
	}
	if err := res.Write(out); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]byte{out.Manifest: res.Manifest, out.Config: res.Config} {
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s holds %d bytes that differ from the result's %d: digests would not match", path, len(got), len(want))
		}
	}
	data, err := os.ReadFile(out.Descriptor)
	if err != nil {
		t.Fatal(err)
	}
	var d ocispec.Descriptor
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d, res.Descriptor) {
		t.Errorf("descriptor file %+v, want %+v", d, res.Descriptor)
	}
	if d.Platform == nil || d.Platform.Variant != "v8" {
		t.Errorf("descriptor file lost the platform: %s", data)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	if len(matches) != 0 {
		t.Errorf("temporary files left behind: %q", matches)
	}
}

func TestDockerBaseManifestAccepted(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config.json", `{"rootfs": {"type": "layers", "diff_ids": ["`+sha("d0")+`"]}}`)
	base := writeFile(t, dir, "manifest.json", `{
	  "schemaVersion": 2,
	  "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
	  "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": "`+sha("cfg")+`", "size": 10},
	  "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": "`+sha("l0")+`", "size": 5}]
	}`)
	_, layer := newLayer(t, dir, "new", nil)
	res, err := Build(Request{BaseManifest: base, BaseConfig: cfg, Layers: []string{layer}, Platform: linuxAmd64()})
	if err != nil {
		t.Fatal(err)
	}
	m := checkDigests(t, res)
	// An OCI manifest with only OCI media types: the Docker layer keeps its
	// bytes (digest, size) under the OCI type of gzip layers.
	if m.MediaType != ocispec.MediaTypeImageManifest || m.Config.MediaType != ocispec.MediaTypeImageConfig {
		t.Errorf("manifest %s with config %s, want OCI's", m.MediaType, m.Config.MediaType)
	}
	if len(m.Layers) != 2 || m.Layers[0].MediaType != ocispec.MediaTypeImageLayerGzip || string(m.Layers[0].Digest) != sha("l0") || m.Layers[0].Size != 5 {
		t.Errorf("layers %+v, want the Docker base layer first, as an OCI gzip layer", m.Layers)
	}
}

func TestDockerLayerTypesBecomeOCI(t *testing.T) {
	for docker, oci := range map[string]string{
		"application/vnd.docker.image.rootfs.diff.tar":              "application/vnd.oci.image.layer.v1.tar",
		"application/vnd.docker.image.rootfs.diff.tar.gzip":         "application/vnd.oci.image.layer.v1.tar+gzip",
		"application/vnd.docker.image.rootfs.diff.tar.zstd":         "application/vnd.oci.image.layer.v1.tar+zstd",
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.oci.image.layer.v1.tar+zstd":               "application/vnd.oci.image.layer.v1.tar+zstd",
	} {
		urls := []string{"https://example.com/layer"}
		got := ociLayers([]ocispec.Descriptor{{MediaType: docker, Digest: digest.Digest(sha("x")), Size: 3, URLs: urls}})
		if got[0].MediaType != oci || got[0].Digest != digest.Digest(sha("x")) || got[0].Size != 3 || len(got[0].URLs) != 1 {
			t.Errorf("%s became %+v, want %s with the same digest, size and urls", docker, got[0], oci)
		}
	}
}

func TestEntrypointKeepsFragmentCmd(t *testing.T) {
	dir := t.TempDir()
	bm, bc, _ := baseImage(t, dir, baseConfig)
	frag := writeFile(t, dir, "fragment.json", `{"config": {"Cmd": ["from-fragment"]}}`)
	res, err := Build(Request{BaseManifest: bm, BaseConfig: bc, Platform: linuxAmd64(), ConfigFragment: frag,
		Config: ConfigSettings{Entrypoint: []string{"/app"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strs(get(decode(t, res.Config), "config", "Cmd")); !slices.Equal(got, []string{"from-fragment"}) {
		t.Errorf("Cmd %q: a new entrypoint must drop the base's Cmd, not the fragment's", got)
	}
}

func TestReadRequestTemplatedFields(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "request.json", `{"platform": {"os": "linux", "architecture": "arm64", "variant": "v8",
		"os_version": "10.0.1", "os_features": ["win32k"]},
		"labels": {"version": "v7"}, "env": {"B": "2", "A": "1"}, "env_order": ["B", "A"]}`)
	r, err := ReadRequest(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Config.Env; len(got) != 2 || got[0] != [2]string{"B", "2"} || got[1] != [2]string{"A", "1"} {
		t.Errorf("env %v: want B=2 then A=1, in env_order", got)
	}
	res, err := Build(r)
	if err != nil {
		t.Fatal(err)
	}
	cfg := decode(t, res.Config)
	if got := get(cfg, "config", "Labels", "version"); got != "v7" {
		t.Errorf("label version = %v, want v7", got)
	}
	if cfg["os.version"] != "10.0.1" || res.Descriptor.Platform.OSVersion != "10.0.1" {
		t.Errorf("os.version: config %v, descriptor %q; want 10.0.1", cfg["os.version"], res.Descriptor.Platform.OSVersion)
	}
	if got := res.Descriptor.Platform.OSFeatures; len(got) != 1 || got[0] != "win32k" {
		t.Errorf("descriptor os.features = %v, want [win32k]", got)
	}

	bad := writeFile(t, dir, "bad.json", `{"platform": {"os": "linux", "architecture": "amd64"}, "env": {"A": "1"}, "env_order": ["B"]}`)
	if _, err := ReadRequest(bad); err == nil || !strings.Contains(err.Error(), "env") {
		t.Errorf("env_order naming a missing variable: %v, want an error", err)
	}
}
