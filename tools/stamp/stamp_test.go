package stamp

import (
	"os"
	"path/filepath"
	"testing"
)

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
