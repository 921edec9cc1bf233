package runtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
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

func TestRuncSpec(t *testing.T) {
	rootfs := t.TempDir()
	os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "etc/group"), []byte("app:x:1000:\nextra:x:2000:app\n"), 0o644)
	image := v1.Config{Entrypoint: []string{"/app/server"}, Cmd: []string{"--port=1"}, Env: []string{"PATH=/bin", "A=image"}, WorkingDir: "/srv", User: "app"}
	for _, tc := range []struct {
		name string
		spec Spec
		args string
	}{
		{"the image's", Spec{}, "/app/server --port=1"},
		{"cmd replaced", Spec{Args: []string{"--port=2"}}, "/app/server --port=2"},
		{"entrypoint replaced drops the cmd", Spec{Entrypoint: []string{"/bin/sh", "-c"}}, "/bin/sh -c"},
		{"both", Spec{Entrypoint: []string{"/bin/sh"}, Args: []string{"-c", "true"}}, "/bin/sh -c true"},
	} {
		tc.spec.Env = map[string]string{"A": "test"}
		s, err := Runc{ID: "x"}.spec(context.Background(), image, rootfs, tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(s.Process.Args, " "); got != tc.args {
			t.Errorf("%s: args %q, want %q", tc.name, got, tc.args)
		}
		if s.Process.Cwd != "/srv" || s.Process.User.UID != 1000 || s.Process.User.GID != 1000 || fmt.Sprint(s.Process.User.AdditionalGids) != "[2000]" {
			t.Errorf("%s: cwd %q user %+v, want /srv, 1000:1000 with group 2000 from the image's files", tc.name, s.Process.Cwd, s.Process.User)
		}
		if env := strings.Join(s.Process.Env, " "); !strings.Contains(env, "PATH=/bin") || !strings.Contains(env, "A=test") || strings.Contains(env, "A=image") {
			t.Errorf("%s: env %q, want the image's with the test's over it", tc.name, env)
		}
	}
	if _, err := (Runc{ID: "x"}).spec(context.Background(), v1.Config{User: "nobody"}, rootfs, Spec{Entrypoint: []string{"/x"}}); err == nil || !strings.Contains(err.Error(), `user "nobody" of the image`) {
		t.Errorf("an unknown user: %v", err)
	}
}
