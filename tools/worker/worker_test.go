package worker

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestServeAnswersEachRequestInOrder(t *testing.T) {
	in := strings.NewReader(`{"arguments": ["--a=1"], "requestId": 0}
{"arguments": ["--fail"], "inputs": [{"path": "x", "digest": "ab"}]}
{"arguments": ["--panic"]}
{"arguments": ["--b=2", "--c=3"]}`)
	var out bytes.Buffer
	var seen [][]string
	run := func(args []string) error {
		seen = append(seen, args)
		switch args[0] {
		case "--fail":
			return errors.New("no such file")
		case "--panic":
			panic("boom")
		}
		return nil
	}
	if err := Serve(in, &out, "manifest", run); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"--a=1"}, {"--fail"}, {"--panic"}, {"--b=2", "--c=3"}}
	if !slices.EqualFunc(seen, want, slices.Equal) {
		t.Errorf("ran %q, want %q", seen, want)
	}
	dec := json.NewDecoder(&out)
	var responses []Response
	for dec.More() {
		var r Response
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		responses = append(responses, r)
	}
	if len(responses) != 4 {
		t.Fatalf("%d responses, want 4: %s", len(responses), out.String())
	}
	if responses[0].ExitCode != 0 || responses[3].ExitCode != 0 {
		t.Errorf("good requests failed: %+v", responses)
	}
	if r := responses[1]; r.ExitCode != 1 || r.Output != "img manifest: no such file\n" {
		t.Errorf("failed request answered %+v", r)
	}
	if r := responses[2]; r.ExitCode != 1 || !strings.Contains(r.Output, "panic: boom") {
		t.Errorf("panicking request answered %+v", r)
	}
}

func TestServeRefusesWhatIsNotAWorkRequest(t *testing.T) {
	err := Serve(strings.NewReader("manifest --request=x\n"), &bytes.Buffer{}, "manifest", func([]string) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "reading a work request") {
		t.Errorf("got %v, want an error about the work request", err)
	}
}

func TestExpandParamFile(t *testing.T) {
	dir := t.TempDir()
	params := filepath.Join(dir, "a.params")
	if err := os.WriteFile(params, []byte("--label=@@repo+//x:y\n--out=bazel-out/x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ExpandParamFile([]string{"@" + params})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"--label=@@repo+//x:y", "--out=bazel-out/x"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// Anything else is passed as it is.
	for _, args := range [][]string{{"--out=x"}, {"@" + params, "--x"}, {"@@repo//x"}, nil} {
		got, err := ExpandParamFile(args)
		if err != nil || !slices.Equal(got, args) {
			t.Errorf("ExpandParamFile(%q) = %q, %v: want it unchanged", args, got, err)
		}
	}
	if _, err := ExpandParamFile([]string{"@" + filepath.Join(dir, "missing")}); err == nil {
		t.Error("a missing param file gave no error")
	}
}
