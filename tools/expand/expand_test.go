package expand

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func run(t *testing.T, tmpl string, settings, status map[string]string) string {
	t.Helper()
	out, err := Run(Request{Label: "//p:t", Templates: map[string]any{"f": tmpl}, BuildSettings: settings}, status)
	if err != nil {
		t.Fatalf("Run(%q): %v", tmpl, err)
	}
	return out["f"].(string)
}

func TestTemplateForms(t *testing.T) {
	settings := map[string]string{"environment": "dev", "BRANCH": "feature", "REGISTRY": "r.example"}
	status := map[string]string{"STABLE_GIT": "abc123", "BUILD_USER": "alice smith"}
	for _, tc := range []struct{ in, want string }{
		{"latest", "latest"},
		{"{{.REGISTRY}}/app", "r.example/app"},
		{"{{.STABLE_GIT}}-{{.BUILD_USER}}", "abc123-alice smith"},
		{"{{if .REGISTRY}}a{{else}}b{{end}}", "a"},
		{"{{if .NOPE}}a{{else}}b{{end}}", "b"},
		{`v1{{if eq .environment "dev"}}-dev{{end}}`, "v1-dev"},
		{`v1{{if eq .environment "prod"}}-prod{{end}}`, "v1"},
		{`{{if and .BRANCH (ne .BRANCH "main")}}{{.BRANCH}}{{end}}`, "feature"},
		{`{{if and .NOPE (ne .NOPE "main")}}x{{end}}`, ""},
		{`{{index . "BUILD_USER"}}`, "alice smith"},
		{"{{ .environment }}", "dev"},
		{"a & b < c", "a & b < c"}, // no HTML escaping
	} {
		if got := run(t, tc.in, settings, status); got != tc.want {
			t.Errorf("%q expanded to %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A missing key is "", not "<no value>", even in the spots where
// text/template would otherwise print that: plain output and printf.
func TestMissingKeyIsEmpty(t *testing.T) {
	for _, in := range []string{"{{.MISSING}}", "{{printf \"%s\" .MISSING}}", "{{.MISSING | print}}"} {
		if got := run(t, in, nil, nil); got != "" {
			t.Errorf("%q expanded to %q, want \"\"", in, got)
		}
	}
	if got := run(t, "v-{{.BUILD_TIMESTAMP}}", nil, nil); got != "v-" {
		t.Errorf("unstamped template expanded to %q, want v-", got)
	}
}

func TestBuildSettingWinsOverStatus(t *testing.T) {
	status := map[string]string{"VERSION": "from-status", "OTHER": "o"}
	got := run(t, "{{.VERSION}} {{.OTHER}}", map[string]string{"VERSION": "from-setting"}, status)
	if got != "from-setting o" {
		t.Errorf("got %q, want the build setting's value", got)
	}
	if status["VERSION"] != "from-status" {
		t.Error("Run changed the status map")
	}
}

func TestNestedTemplatesAndData(t *testing.T) {
	req := Request{
		Label: "//p:t",
		Data: map[string]any{
			"count":  json.Number("12345678901234567890"),
			"config": map[string]any{"user": nil, "cmd": []any{"{{.X}}"}},
		},
		Templates: map[string]any{
			"tags":   []any{"{{.X}}", "plain"},
			"labels": map[string]any{"{{.X}}": "{{.X}}-v", "b": []any{"{{.X}}", map[string]any{"c": "{{.X}}!"}}},
			"one":    "{{.X}}",
		},
		BuildSettings: map[string]string{"X": "x"},
	}
	got, err := Run(req, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"count":  json.Number("12345678901234567890"),
		"config": map[string]any{"user": nil, "cmd": []any{"{{.X}}"}}, // data is not expanded
		"tags":   []any{"x", "plain"},
		"labels": map[string]any{"{{.X}}": "x-v", "b": []any{"x", map[string]any{"c": "x!"}}}, // keys are not expanded
		"one":    "x",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Run = %#v\nwant %#v", got, want)
	}
	if req.Templates["one"] != "{{.X}}" {
		t.Error("Run changed the request")
	}
}

func TestDropEmpty(t *testing.T) {
	req := Request{
		Label: "//p:push",
		Templates: map[string]any{
			"tags":  []any{"latest", `{{if .RELEASE}}stable{{end}}`, "{{.V}}", "latest", "", "{{.V}}"},
			"other": []any{"", "a", "a"},
		},
		BuildSettings: map[string]string{"V": "1.0"},
		DropEmpty:     []string{"tags"},
	}
	got, err := Run(req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{"latest", "1.0"}; !reflect.DeepEqual(got["tags"], want) {
		t.Errorf("tags = %v, want %v", got["tags"], want)
	}
	if want := []any{"", "a", "a"}; !reflect.DeepEqual(got["other"], want) {
		t.Errorf("other = %v, want it unchanged: %v", got["other"], want)
	}
	// All tags turned off: an empty list, not null.
	req.BuildSettings = nil
	req.Templates = map[string]any{"tags": []any{"{{.V}}"}}
	got, err = Run(req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := got["tags"].([]any); !ok || len(l) != 0 {
		t.Errorf("tags = %#v, want an empty list", got["tags"])
	}
}

func TestErrors(t *testing.T) {
	status := map[string]string{"SECRET": "hunter2"}
	for _, tc := range []struct {
		name string
		req  Request
		want []string
	}{
		{"parse", Request{Label: "//p:img", Templates: map[string]any{"tag_list": []any{"ok", "{{.SECRET"}}},
			[]string{"//p:img: tag_list[1]: ", `"{{.SECRET"`, "line 1: unclosed action"}},
		{"parse in object", Request{Label: "//p:img", Templates: map[string]any{"labels": map[string]any{"org.opencontainers.image.version": "{{if .X}}"}}},
			[]string{"//p:img: ", `labels["org.opencontainers.image.version"]`, `"{{if .X}}"`, "unexpected EOF"}},
		{"execute", Request{Label: "//p:img", Templates: map[string]any{"tag": "{{.SECRET.Field}}"}},
			[]string{"//p:img: tag: ", `"{{.SECRET.Field}}"`, "line 1:9: at <.SECRET.Field>: can't evaluate field Field"}},
		{"unknown function", Request{Label: "//p:img", Templates: map[string]any{"tag": "{{upper .SECRET}}"}},
			[]string{"//p:img: ", "tag: ", `function "upper" not defined`}},
		{"in both", Request{Label: "//p:img", Data: map[string]any{"tags": []any{}}, Templates: map[string]any{"tags": []any{}}},
			[]string{"//p:img: ", `"tags"`, "both data and templates"}},
		{"not a string", Request{Label: "//p:img", Templates: map[string]any{"env": map[string]any{"A": json.Number("1")}}},
			[]string{"//p:img: ", `env["A"] is a number`, "put other values in data"}},
		{"drop_empty unknown", Request{Label: "//p:img", Templates: map[string]any{"tags": []any{}}, DropEmpty: []string{"tag"}},
			[]string{"//p:img: ", `drop_empty names "tag"`}},
		{"drop_empty not a list", Request{Label: "//p:img", Templates: map[string]any{"tags": "x"}, DropEmpty: []string{"tags"}},
			[]string{"//p:img: ", `"tags", which is a string, not a list`}},
		{"drop_empty nested", Request{Label: "//p:img", Templates: map[string]any{"tags": []any{[]any{"x"}}}, DropEmpty: []string{"tags"}},
			[]string{"//p:img: ", "tags[0] is a list"}},
		{"no label", Request{Templates: map[string]any{"tag": "x"}}, []string{`"label"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(tc.req, status)
			if err == nil {
				t.Fatal("Run succeeded")
			}
			for _, p := range tc.want {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not contain %q", err, p)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows a status value", err)
			}
		})
	}
}

func TestReadRunWriteDeterministic(t *testing.T) {
	dir := t.TempDir()
	req := filepath.Join(dir, "req.json")
	// Keys out of order, a big number and nested data: all kept, sorted.
	os.WriteFile(req, []byte(`{"templates": {"tags": ["{{.V}}", "", "{{.V}}"], "annotations": {"z": "{{.V}} & co", "a": "<{{.V}}>"}},
		"label": "//p:push", "drop_empty": ["tags"], "build_settings": {"V": "1.2"},
		"data": {"zz": 12345678901234567890, "registry_opts": {"b": 1.50, "a": null}, "flag": true}}`), 0o644)
	want := `{
  "annotations": {
    "a": "<1.2>",
    "z": "1.2 & co"
  },
  "flag": true,
  "registry_opts": {
    "a": null,
    "b": 1.50
  },
  "tags": [
    "1.2"
  ],
  "zz": 12345678901234567890
}
`
	var outputs [][]byte
	for i := range 3 {
		r, err := ReadRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(r, map[string]string{"V": "status"})
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "out.json")
		if err := Write(out, res); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && string(b) != want {
			t.Errorf("output\n%s\nwant\n%s", b, want)
		}
		outputs = append(outputs, b)
	}
	if !bytes.Equal(outputs[0], outputs[1]) || !bytes.Equal(outputs[0], outputs[2]) {
		t.Error("the same request gave different bytes")
	}
	if _, err := os.Stat(filepath.Join(dir, "out.json.tmp")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("temporary file left behind")
	}
}

func TestReadRequestErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, content, want string }{
		{"unknown field", `{"label": "//p:t", "template": {}}`, `unknown field "template"`},
		{"two values", `{"label": "//p:t"} {}`, "more than one JSON value"},
		{"bad setting", `{"label": "//p:t", "build_settings": {"X": 1}}`, "build_settings"},
	} {
		p := filepath.Join(dir, tc.name+".json")
		os.WriteFile(p, []byte(tc.content), 0o644)
		_, err := ReadRequest(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want one naming %s and %q", tc.name, err, p, tc.want)
		}
	}
}
