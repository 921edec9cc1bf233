package templates

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/bazelbuild/buildtools/build"
)

// placeholders is the contract between the templates and the generator.
var placeholders = map[string][]string{
	"alias.BUILD.tmpl":        {"ACTUAL", "NAME"},
	"images_hub.BUILD.tmpl":   {"LOCKFILE"},
	"pull_error.BUILD.tmpl":   {"MESSAGE", "NAME"},
	"pulled_image.BUILD.tmpl": {"ARCHITECTURE", "BLOBS", "CONFIG", "DESCRIPTOR", "DIGEST", "LAYERS", "LAYER_DIGESTS", "MANIFEST", "MEDIA_TYPES", "NAME", "OS", "PLATFORM", "REGISTRIES", "REPOSITORY", "TAG"},
	"pulled_index.BUILD.tmpl": {"DESCRIPTOR", "DIGEST", "INDEX", "MANIFESTS", "NAME", "REGISTRIES", "REPOSITORY", "TAG"},
	"remote_blob.BUILD.tmpl":  {"DIGEST", "NAME", "SIZE", "SOURCES"},
}

func isPlaceholder(name string) bool {
	if len(name) < 2 {
		return false
	}
	for _, r := range name {
		if !(r >= 'A' && r <= 'Z' || r == '_' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func parse(t *testing.T, name string) (*build.File, []byte) {
	t.Helper()
	data, err := FS.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := build.ParseBuild(name, data)
	if err != nil {
		t.Fatalf("%s does not parse: %v", name, err)
	}
	return f, data
}

func TestTemplateSet(t *testing.T) {
	names, err := fs.Glob(FS, "*")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for n := range placeholders {
		want = append(want, n)
	}
	sort.Strings(want)
	if !reflect.DeepEqual(names, want) {
		t.Errorf("FS holds %v, want %v", names, want)
	}
}

func TestTemplates(t *testing.T) {
	for name, want := range placeholders {
		t.Run(name, func(t *testing.T) {
			f, data := parse(t, name)
			if formatted := build.Format(f); string(formatted) != string(data) {
				t.Errorf("not in buildifier format:\n--- got:\n%s\n--- formatted:\n%s", data, formatted)
			}
			found := map[string]bool{}
			build.Walk(f, func(x build.Expr, _ []build.Expr) {
				if id, ok := x.(*build.Ident); ok && isPlaceholder(id.Name) {
					found[id.Name] = true
				}
			})
			var got []string
			for p := range found {
				got = append(got, p)
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("placeholders %v, want %v", got, want)
			}
			// Placeholders are whole values, never inside strings.
			for _, p := range want {
				if strings.Contains(string(data), `"`+p+`"`) {
					t.Errorf("placeholder %s is quoted", p)
				}
			}
			// Every target is public: repositories are used from the main repo.
			for _, r := range f.Rules("") {
				if vis := r.AttrStrings("visibility"); !reflect.DeepEqual(vis, []string{"//visibility:public"}) {
					t.Errorf("%s has visibility %v", r.Kind(), vis)
				}
			}
		})
	}
}

// TestTemplatesMatchRules checks the loads and attributes of the templates
// against the rules of img/private/pulled.bzl.
func TestTemplatesMatchRules(t *testing.T) {
	path := filepath.Join("..", "img", "private", "pulled.bzl")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("rules not found: %v", err)
	}
	bzl, err := build.ParseBzl(path, data)
	if err != nil {
		t.Fatal(err)
	}
	// rule name → attribute names
	rules := map[string]map[string]bool{}
	for _, stmt := range bzl.Stmt {
		assign, ok := stmt.(*build.AssignExpr)
		if !ok {
			continue
		}
		lhs, ok := assign.LHS.(*build.Ident)
		call, ok2 := assign.RHS.(*build.CallExpr)
		if !ok || !ok2 || build.FormatString(call.X) != "rule" {
			continue
		}
		attrs := map[string]bool{"name": true, "visibility": true}
		for _, arg := range call.List {
			kw, ok := arg.(*build.AssignExpr)
			if !ok || build.FormatString(kw.LHS) != "attrs" {
				continue
			}
			dict, ok := kw.RHS.(*build.DictExpr)
			if !ok {
				t.Fatalf("%s: attrs is not a dict literal", lhs.Name)
			}
			for _, kv := range dict.List {
				attrs[kv.Key.(*build.StringExpr).Value] = true
			}
		}
		rules[lhs.Name] = attrs
	}
	for name := range placeholders {
		f, _ := parse(t, name)
		loaded := map[string]bool{}
		for _, stmt := range f.Stmt {
			load, ok := stmt.(*build.LoadStmt)
			if !ok {
				continue
			}
			if load.Module.Value != "@rules_img//img/private:pulled.bzl" {
				t.Errorf("%s loads %s", name, load.Module.Value)
			}
			for i, from := range load.From {
				if _, ok := rules[from.Name]; !ok {
					t.Errorf("%s loads %s, which pulled.bzl does not define", name, from.Name)
				}
				loaded[load.To[i].Name] = true
			}
		}
		for _, r := range f.Rules("") {
			attrs, ok := rules[r.Kind()]
			if !loaded[r.Kind()] {
				if r.Kind() != "alias" {
					t.Errorf("%s calls %s without loading it", name, r.Kind())
				}
				continue
			}
			if !ok {
				continue
			}
			for _, key := range r.AttrKeys() {
				if !attrs[key] {
					t.Errorf("%s: %s has no attribute %q", name, r.Kind(), key)
				}
			}
		}
	}
}
