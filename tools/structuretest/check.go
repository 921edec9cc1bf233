package structuretest

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/compress"
	"github.com/rules-img/rules_img/tools/listing"
)

// Image is one platform's image as the test rule describes it: paths of
// its config, and per layer its listing and the contents of the files its
// content tests read (never the layer blob: a test reads no layer bytes).
type Image struct {
	Platform string  `json:"platform"`
	Config   string  `json:"config"`
	Layers   []Layer `json:"layers"`
}

// Layer is one layer of an Image.
type Layer struct {
	Listing string `json:"listing"`
	// Contents is what ExtractContents wrote for this layer; empty when
	// planning.
	Contents string `json:"contents,omitempty"`
}

// Result is the verdict of one test on one image.
type Result struct {
	Platform string
	Name     string
	Errors   []string
}

// Pass tells whether the test passed.
func (r Result) Pass() bool { return len(r.Errors) == 0 }

func (r *Result) errorf(format string, args ...any) {
	r.Errors = append(r.Errors, fmt.Sprintf(format, args...))
}

// maxContent bounds the bytes of one file a content test reads.
const maxContent = 64 << 20

// Run checks one image against every config.
func Run(img Image, configs []*Config) ([]Result, error) {
	cfg, t, err := load(img)
	if err != nil {
		return nil, err
	}
	env := envMap(cfg.Config.Env)
	var results []Result
	for _, c := range configs {
		if m := c.MetadataTest; m != nil {
			results = append(results, checkMetadata(img.Platform, m, cfg.Config))
		}
		for _, ft := range c.FileExistenceTests {
			results = append(results, checkExistence(img.Platform, ft, t, env))
		}
		for _, ct := range c.FileContentTests {
			results = append(results, Result{Platform: img.Platform, Name: "File Content Test: " + ct.Name})
		}
	}
	// Content results are filled in place, once every layer they need was
	// read.
	if err := checkContents(img, t, env, results, configs); err != nil {
		return nil, err
	}
	return results, nil
}

// load reads the image config and the tree the layer listings make.
func load(img Image) (v1.ConfigFile, tree, error) {
	var cfg v1.ConfigFile
	raw, err := os.ReadFile(img.Config)
	if err != nil {
		return cfg, tree{}, err
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return cfg, tree{}, fmt.Errorf("image config %s: %w", img.Config, err)
	}
	listings := make([][]listing.Entry, len(img.Layers))
	for i, l := range img.Layers {
		if listings[i], err = listing.Read(l.Listing); err != nil {
			return cfg, tree{}, err
		}
	}
	return cfg, buildTree(listings), nil
}

func envMap(env []string) map[string]string {
	out := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out
}

// expand substitutes $VAR and ${VAR} of the image's env in a test's path,
// as container-structure-test does.
func expand(p string, env map[string]string) string {
	return os.Expand(p, func(k string) string { return env[k] })
}

func checkMetadata(platform string, m *MetadataTest, c v1.Config) Result {
	r := Result{Platform: platform, Name: "Metadata Test"}
	env := envMap(c.Env)
	for _, kv := range append(append([]KeyValue{}, m.Env...), m.EnvVars...) {
		got, ok := env[kv.Key]
		if !ok {
			r.errorf("env %s: expected %q, found no such variable (the image has %s)", kv.Key, kv.Value, keys(env))
		} else if !matches(kv, got) {
			r.errorf("env %s: expected %s, found %q", kv.Key, describe(kv), got)
		}
	}
	for _, kv := range m.Labels {
		got, ok := c.Labels[kv.Key]
		if !ok {
			r.errorf("label %s: expected %q, found no such label (the image has %s)", kv.Key, kv.Value, keys(c.Labels))
		} else if !matches(kv, got) {
			r.errorf("label %s: expected %s, found %q", kv.Key, describe(kv), got)
		}
	}
	if m.Entrypoint != nil && !slices.Equal(*m.Entrypoint, c.Entrypoint) {
		r.errorf("entrypoint: expected %q, found %q", *m.Entrypoint, c.Entrypoint)
	}
	if m.Cmd != nil && !slices.Equal(*m.Cmd, c.Cmd) {
		r.errorf("cmd: expected %q, found %q", *m.Cmd, c.Cmd)
	}
	if m.Workdir != "" && m.Workdir != c.WorkingDir {
		r.errorf("workdir: expected %q, found %q", m.Workdir, c.WorkingDir)
	}
	if m.User != "" && m.User != c.User {
		r.errorf("user: expected %q, found %q", m.User, c.User)
	}
	ports := keys(c.ExposedPorts)
	for _, p := range m.ExposedPorts {
		if !hasPort(c.ExposedPorts, p) {
			r.errorf("exposed port %s: expected, found only %s", p, ports)
		}
	}
	for _, p := range m.UnexposedPorts {
		if hasPort(c.ExposedPorts, p) {
			r.errorf("exposed port %s: expected not to be exposed, found it", p)
		}
	}
	volumes := keys(c.Volumes)
	for _, v := range m.Volumes {
		if _, ok := c.Volumes[v]; !ok {
			r.errorf("volume %s: expected, found only %s", v, volumes)
		}
	}
	for _, v := range m.UnmountedVolumes {
		if _, ok := c.Volumes[v]; ok {
			r.errorf("volume %s: expected not to be a volume, found it", v)
		}
	}
	return r
}

func hasPort(exposed map[string]struct{}, p string) bool {
	if _, ok := exposed[p]; ok {
		return true
	}
	_, ok := exposed[p+"/tcp"]
	return !strings.Contains(p, "/") && ok
}

func matches(kv KeyValue, got string) bool {
	if kv.IsRegex {
		return regexp.MustCompile(kv.Value).MatchString(got)
	}
	return kv.Value == got
}

func describe(kv KeyValue) string {
	if kv.IsRegex {
		return fmt.Sprintf("a match of /%s/", kv.Value)
	}
	return fmt.Sprintf("%q", kv.Value)
}

func keys[V any](m map[string]V) string {
	if len(m) == 0 {
		return "none"
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

func checkExistence(platform string, ft FileExistenceTest, t tree, env map[string]string) Result {
	r := Result{Platform: platform, Name: "File Existence Test: " + ft.Name}
	p := expand(ft.Path, env)
	should := ft.ShouldExist == nil || *ft.ShouldExist
	n, resolved, err := t.lookup(p, false)
	if err != nil {
		r.errorf("%s: %v", p, err)
		return r
	}
	if n == nil {
		if should {
			r.errorf("%s: expected to exist, found nothing at %s", p, resolved)
		}
		return r
	}
	if !should {
		r.errorf("%s: expected not to exist, found a %s (layer %d)", p, n.entry.Type, n.layer)
		return r
	}
	m := mode(n.entry)
	if ft.Permissions != "" && m.String() != ft.Permissions {
		r.errorf("%s: expected permissions %s, found %s", p, ft.Permissions, m)
	}
	if ft.UID != nil && *ft.UID != n.entry.UID {
		r.errorf("%s: expected uid %d, found %d", p, *ft.UID, n.entry.UID)
	}
	if ft.GID != nil && *ft.GID != n.entry.GID {
		r.errorf("%s: expected gid %d, found %d", p, *ft.GID, n.entry.GID)
	}
	bits := map[string]int64{"any": 0o111, "owner": 0o100, "group": 0o010, "other": 0o001}
	if want, ok := bits[ft.IsExecutableBy]; ok && n.entry.Mode&want == 0 {
		r.errorf("%s: expected to be executable by %s, found permissions %s", p, ft.IsExecutableBy, m)
	}
	return r
}

// contentWant is one content test's need of one file.
type contentWant struct {
	test   FileContentTest
	result *Result
	path   string
}

// resolveContents finds the layer and path that hold each file a content
// test names (the top-most layer that has it, through links); tests whose
// file is missing get their errors here.
func resolveContents(t tree, env map[string]string, results []Result, configs []*Config) map[int]map[string][]contentWant {
	byLayer := map[int]map[string][]contentWant{}
	i := 0
	for _, c := range configs {
		if c.MetadataTest != nil {
			i++
		}
		i += len(c.FileExistenceTests)
		for _, ct := range c.FileContentTests {
			r := &results[i]
			i++
			p := expand(ct.Path, env)
			n, resolved, err := t.lookup(p, true)
			switch {
			case err != nil:
				r.errorf("%s: %v", p, err)
			case n == nil:
				r.errorf("%s: expected a file, found nothing at %s", p, resolved)
			case n.entry.Type != listing.File && n.entry.Type != listing.Hardlink:
				r.errorf("%s: expected a file, found a %s at %s", p, n.entry.Type, resolved)
			default:
				if byLayer[n.contentLayer] == nil {
					byLayer[n.contentLayer] = map[string][]contentWant{}
				}
				byLayer[n.contentLayer][n.contentPath] = append(byLayer[n.contentLayer][n.contentPath], contentWant{ct, r, p})
			}
		}
	}
	return byLayer
}

// checkContents judges each content test on the file its layer's contents
// file holds.
func checkContents(img Image, t tree, env map[string]string, results []Result, configs []*Config) error {
	for layer, wants := range resolveContents(t, env, results, configs) {
		found, err := readContents(img.Layers[layer].Contents)
		if err != nil {
			return fmt.Errorf("layer %d: %w", layer, err)
		}
		for contentPath, ws := range wants {
			data, ok := found[contentPath]
			for _, w := range ws {
				if !ok {
					w.result.errorf("%s: the listing of layer %d names it, but its blob has no bytes for %s", w.path, layer, contentPath)
					continue
				}
				judgeContent(w.result, w.path, w.test, data)
			}
		}
	}
	return nil
}

// Plan says, per layer of img, which files its content tests read from that
// layer: what ExtractContents takes from each blob.
func Plan(img Image, configs []*Config) ([][]string, error) {
	cfg, t, err := load(img)
	if err != nil {
		return nil, err
	}
	// Results in Run's order, for resolveContents; their verdicts are Run's.
	n := 0
	for _, c := range configs {
		if c.MetadataTest != nil {
			n++
		}
		n += len(c.FileExistenceTests) + len(c.FileContentTests)
	}
	results := make([]Result, n)
	plan := make([][]string, len(img.Layers))
	for layer, wants := range resolveContents(t, envMap(cfg.Config.Env), results, configs) {
		plan[layer] = slices.Sorted(maps.Keys(wants))
	}
	return plan, nil
}

// ExtractContents writes the files of paths that the blob holds, as the
// JSON object {path: bytes} that a test's Layer.Contents names. With no
// paths it writes {} without opening the blob.
func ExtractContents(paths []string, blobPath, out string) error {
	found := map[string][]byte{}
	if len(paths) > 0 {
		wanted := map[string]bool{}
		for _, p := range paths {
			wanted[p] = true
		}
		var err error
		if found, err = readFiles(blobPath, wanted); err != nil {
			return err
		}
	}
	return blob.WriteJSON(out, found)
}

func readContents(path string) (map[string][]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("no contents file: the test rule gives none for this layer")
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var found map[string][]byte
	if err := json.Unmarshal(raw, &found); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return found, nil
}

func judgeContent(r *Result, p string, ct FileContentTest, data []byte) {
	for _, re := range ct.ExpectedContents {
		if !regexp.MustCompile(re).Match(data) {
			r.errorf("%s: expected contents matching /%s/, found %s", p, re, excerpt(data))
		}
	}
	for _, re := range ct.ExcludedContents {
		if loc := regexp.MustCompile(re).FindIndex(data); loc != nil {
			r.errorf("%s: expected no contents matching /%s/, found %q", p, re, data[loc[0]:loc[1]])
		}
	}
}

func excerpt(data []byte) string {
	const most = 200
	if len(data) > most {
		return fmt.Sprintf("%q... (%d bytes)", data[:most], len(data))
	}
	return fmt.Sprintf("%q", data)
}

// readFiles reads the named regular files of one layer blob.
func readFiles[W any](blobPath string, wanted map[string]W) (map[string][]byte, error) {
	found := map[string][]byte{}
	err := compress.WalkTar(blobPath, func(h *tar.Header, r io.Reader) error {
		e := listing.FromHeader(h)
		if _, ok := wanted[e.Path]; !ok || e.Type != listing.File {
			return nil
		}
		data, err := io.ReadAll(io.LimitReader(r, maxContent+1))
		if err != nil {
			return err
		}
		if len(data) > maxContent {
			return fmt.Errorf("more than the %d bytes a content test reads", maxContent)
		}
		found[e.Path] = data
		if len(found) == len(wanted) {
			return compress.ErrStop
		}
		return nil
	})
	return found, err
}
