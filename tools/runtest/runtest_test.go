package runtest

import (
	"reflect"
	"testing"
)

func TestJudge(t *testing.T) {
	s := Spec{ExitCode: 0, ExpectedOutput: []string{"^Hello"}, ExcludedOutput: []string{"panic"}, ExpectedError: []string{"ready"}, ExcludedError: []string{"(?i)error"}}
	if got := Judge(s, Result{Stdout: []byte("Hello, world\n"), Stderr: []byte("ready\n")}); len(got) != 0 {
		t.Errorf("passing run: %v", got)
	}
	got := Judge(s, Result{ExitCode: 2, Stdout: []byte("goodbye: panic\n"), Stderr: []byte("ERROR: no\n")})
	want := []string{
		"exit code: expected 0, found 2",
		`standard output: expected a match of /^Hello/, found "goodbye: panic"`,
		`standard output: expected no match of /panic/, found "panic"`,
		`standard error: expected a match of /ready/, found "ERROR: no"`,
		`standard error: expected no match of /(?i)error/, found "ERROR"`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("failing run:\n got %q\nwant %q", got, want)
	}
	if got := Judge(Spec{ExpectedOutput: []string{"x"}}, Result{}); len(got) != 1 || got[0] != "standard output: expected a match of /x/, found nothing" {
		t.Errorf("no output: %q", got)
	}
}

func TestValidate(t *testing.T) {
	if err := (Spec{ExcludedError: []string{"("}}).Validate(); err == nil {
		t.Errorf("a bad regexp: no error")
	}
}

func TestNames(t *testing.T) {
	if got := ImageName("//app/server:image_run_test"); got != "rules-img-test.local/app/server/image-run-test:latest" {
		t.Errorf("ImageName = %s", got)
	}
	if got := ContainerID("@@repo+//x:Y.z", "abc"); got != "rules-img-test-repo-x-y-z-abc" {
		t.Errorf("ContainerID = %s", got)
	}
}

func TestEnvList(t *testing.T) {
	if got := (Spec{Env: map[string]string{"B": "2", "A": "1"}}).envList(); !reflect.DeepEqual(got, []string{"A=1", "B=2"}) {
		t.Errorf("envList = %v", got)
	}
}
