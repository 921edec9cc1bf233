// Package runtest runs an image's program in a container runtime that a
// test can reach, and judges its exit code and output.
package runtest

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Spec is what image_run_test asks: the process, and what it must do.
type Spec struct {
	// Entrypoint replaces the image's when set; Args replace its cmd when
	// set, as `docker run IMAGE ARGS...` does.
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Args       []string          `json:"args,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	ExitCode   int               `json:"exit_code"`
	// Go regexps over standard output (Output) and standard error (Error).
	ExpectedOutput []string `json:"expected_output,omitempty"`
	ExcludedOutput []string `json:"excluded_output,omitempty"`
	ExpectedError  []string `json:"expected_error,omitempty"`
	ExcludedError  []string `json:"excluded_error,omitempty"`
}

// Result is what the process did.
type Result struct {
	ExitCode       int
	Stdout, Stderr []byte
}

// Runtime runs a container of an image that is already loaded under name,
// and removes the container afterwards.
type Runtime interface {
	Run(ctx context.Context, name string, s Spec) (Result, error)
}

// envList is Env as KEY=VALUE, sorted, for the runtimes.
func (s Spec) envList() []string {
	out := make([]string, 0, len(s.Env))
	for k, v := range s.Env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// Judge lists what the process did that the spec did not want; nothing
// when it passed.
func Judge(s Spec, r Result) []string {
	var problems []string
	if r.ExitCode != s.ExitCode {
		problems = append(problems, fmt.Sprintf("exit code: expected %d, found %d", s.ExitCode, r.ExitCode))
	}
	for _, check := range []struct {
		stream             string
		data               []byte
		expected, excluded []string
	}{
		{"standard output", r.Stdout, s.ExpectedOutput, s.ExcludedOutput},
		{"standard error", r.Stderr, s.ExpectedError, s.ExcludedError},
	} {
		for _, re := range check.expected {
			if !regexp.MustCompile(re).Match(check.data) {
				problems = append(problems, fmt.Sprintf("%s: expected a match of /%s/, found %s", check.stream, re, excerpt(check.data)))
			}
		}
		for _, re := range check.excluded {
			if loc := regexp.MustCompile(re).FindIndex(check.data); loc != nil {
				problems = append(problems, fmt.Sprintf("%s: expected no match of /%s/, found %q", check.stream, re, check.data[loc[0]:loc[1]]))
			}
		}
	}
	return problems
}

// Validate checks the spec's regexps.
func (s Spec) Validate() error {
	for _, list := range [][]string{s.ExpectedOutput, s.ExcludedOutput, s.ExpectedError, s.ExcludedError} {
		for _, re := range list {
			if _, err := regexp.Compile(re); err != nil {
				return fmt.Errorf("regexp %q: %w", re, err)
			}
		}
	}
	return nil
}

func excerpt(data []byte) string {
	const most = 500
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return "nothing"
	}
	if len(trimmed) > most {
		return fmt.Sprintf("%q... (%d bytes)", trimmed[:most], len(data))
	}
	return fmt.Sprintf("%q", trimmed)
}

// ImageName is the name a test loads its image under: one per test
// target, moved by each run, so that the runtime keeps one image per test.
func ImageName(label string) string {
	return "rules-img-test.local/" + slug(label) + ":latest"
}

// ContainerID is a name for the test's container: unique per run, valid
// for containerd and docker.
func ContainerID(label string, nonce string) string {
	return "rules-img-test-" + strings.ReplaceAll(slug(label), "/", "-") + "-" + nonce
}

// slug is label in the characters image names allow: "//app:image_test"
// becomes "app/image-test".
func slug(label string) string {
	var b strings.Builder
	sep := byte(0) // the separator due before the next letter
	for _, r := range strings.ToLower(label) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if sep != 0 && b.Len() > 0 {
				b.WriteByte(sep)
			}
			sep = 0
			b.WriteRune(r)
		case r == '/' || r == ':':
			sep = '/'
		case sep == 0:
			sep = '-'
		}
	}
	return b.String()
}
