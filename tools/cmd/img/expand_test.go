package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestExpandEndToEnd runs img expand as the rules' template action does:
// a request, both status files, and a build setting.
func TestExpandEndToEnd(t *testing.T) {
	dir := t.TempDir()
	stable := write(t, dir, "stable-status.txt", "STABLE_GIT abc123\nBUILD_USER alice\nSTABLE_ENV from-status\n")
	volatile := write(t, dir, "volatile-status.txt", "BUILD_TIMESTAMP 1700000000\nBUILD_USER bob smith\n")
	req := write(t, dir, "push.request", `{
		"label": "//app:push",
		"data": {"strategy": "eager", "tags_file": ""},
		"templates": {
			"registry": "{{.REGISTRY}}",
			"repository": "app{{if eq .STABLE_ENV \"dev\"}}-dev{{end}}",
			"tags": ["latest", "{{.STABLE_GIT}}", "{{if .RELEASE}}stable{{end}}", "{{.BUILD_TIMESTAMP}}", "latest"],
			"annotations": {"built.by": "{{.BUILD_USER}}"}
		},
		"build_settings": {"REGISTRY": "registry.example.com", "STABLE_ENV": "dev"},
		"drop_empty": ["tags"]
	}`)
	out := filepath.Join(dir, "push.json")
	err := subcommands["expand"].run([]string{"--request", req, "--out", out, "--status", stable, "--status", volatile})
	if err != nil {
		t.Fatalf("expand: %v", err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"strategy":    "eager",
		"tags_file":   "",
		"registry":    "registry.example.com",
		"repository":  "app-dev", // the build setting beats the status key
		"tags":        []any{"latest", "abc123", "1700000000"},
		"annotations": map[string]any{"built.by": "bob smith"}, // volatile beats stable
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("expand wrote %s\nwant %v", data, want)
	}
	if !strings.HasSuffix(string(data), "}\n") {
		t.Errorf("output does not end in a newline: %q", data)
	}

	// Not stamping: no --status, and status keys expand to "".
	if err := subcommands["expand"].run([]string{"--request", req, "--out", out}); err != nil {
		t.Fatalf("expand without status: %v", err)
	}
	data, _ = os.ReadFile(out)
	if !strings.Contains(string(data), `"tags": [
    "latest"
  ]`) {
		t.Errorf("unstamped output %s, want tags [latest]", data)
	}
}

func TestExpandErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.json")
	bad := write(t, dir, "bad.request", `{"label": "//app:img", "templates": {"labels": {"version": "{{.STABLE_GIT"}}}`)
	ok := write(t, dir, "ok.request", `{"label": "//app:img", "templates": {"tag": "x"}}`)
	status := write(t, dir, "stable-status.txt", "STABLE_GIT secret-value\n")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"missing flags", []string{"--request", ok}, []string{"missing --out"}},
		{"bad template", []string{"--request", bad, "--out", out, "--status", status},
			[]string{"//app:img: ", `labels["version"]`, `"{{.STABLE_GIT"`, "unclosed action"}},
		{"missing status", []string{"--request", ok, "--out", out, "--status", filepath.Join(dir, "nope.txt")},
			[]string{"//app:img: workspace status: ", "nope.txt"}},
		{"missing request", []string{"--request", filepath.Join(dir, "nope.request"), "--out", out}, []string{"nope.request"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := subcommands["expand"].run(tc.args)
			if err == nil {
				t.Fatal("expand succeeded")
			}
			for _, p := range tc.want {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not contain %q", err, p)
				}
			}
			if strings.Contains(err.Error(), "secret-value") {
				t.Errorf("error %q shows a status value", err)
			}
			if _, statErr := os.Stat(out); statErr == nil {
				t.Errorf("%s written despite the error", out)
			}
		})
	}
}
