package stamp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"BUILD_USER": "alice", "STABLE_GIT": "abc123"}
	for _, tc := range []struct{ in, want, err string }{
		{"latest", "latest", ""},
		{"{BUILD_USER}-dev", "alice-dev", ""},
		{"{STABLE_GIT}.{BUILD_USER}", "abc123.alice", ""},
		{"{MISSING}-x", "", "MISSING"},
		{"{not a var}", "{not a var}", ""},
	} {
		got, err := Expand(tc.in, vars)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Expand(%q) error %v, want one naming %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestReadStatusLaterFilesWin(t *testing.T) {
	dir := t.TempDir()
	stable := filepath.Join(dir, "stable-status.txt")
	volatile := filepath.Join(dir, "volatile-status.txt")
	os.WriteFile(stable, []byte("BUILD_USER alice\nSTABLE_X one two\n"), 0o644)
	os.WriteFile(volatile, []byte("BUILD_TIMESTAMP 42\nBUILD_USER bob\n"), 0o644)
	vars, err := ReadStatus(stable, volatile)
	if err != nil {
		t.Fatal(err)
	}
	if vars["BUILD_USER"] != "bob" || vars["STABLE_X"] != "one two" || vars["BUILD_TIMESTAMP"] != "42" {
		t.Errorf("vars = %v", vars)
	}
	if _, err := ReadStatus(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing status file must be an error")
	}
}

func TestUnexpanded(t *testing.T) {
	if got := Unexpanded("v-{BUILD_USER}"); got != "{BUILD_USER}" {
		t.Errorf("Unexpanded = %q", got)
	}
	if got := Unexpanded("v1"); got != "" {
		t.Errorf("Unexpanded = %q, want empty", got)
	}
}
