// Package worker runs an img subcommand as a Bazel persistent worker, over
// Bazel's JSON worker protocol, and reads the param files Bazel writes for
// actions that may run in one.
//
// Actions that write a small layer, an image's manifest or its index do a
// few milliseconds of work and spend tens of milliseconds on process start
// and sandbox set-up; a worker keeps one process per subcommand and pays
// for its start once.
package worker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

// Flag is the argument with which Bazel starts a persistent worker.
const Flag = "--persistent_worker"

// Request is a WorkRequest in the JSON protocol. Inputs and their digests
// are not read: each subcommand reads the files its arguments name.
type Request struct {
	Arguments []string `json:"arguments"`
	RequestID int      `json:"requestId"`
}

// Response is a WorkResponse in the JSON protocol.
type Response struct {
	ExitCode  int    `json:"exitCode"`
	Output    string `json:"output"`
	RequestID int    `json:"requestId"`
}

// Run is one subcommand: its arguments in, an error out.
type Run func(args []string) error

// Serve answers each request read from in with one response written to out,
// one request at a time, until in ends. A failed or panicking request gets
// exit code 1 and its message; the worker goes on to the next.
func Serve(in io.Reader, out io.Writer, name string, run Run) error {
	dec := json.NewDecoder(in)
	enc := json.NewEncoder(out)
	for {
		var req Request
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("reading a work request: %w", err)
		}
		resp := Response{RequestID: req.RequestID}
		if err := runSafely(run, req.Arguments); err != nil {
			resp.ExitCode = 1
			resp.Output = fmt.Sprintf("img %s: %v\n", name, err)
		}
		if err := enc.Encode(resp); err != nil {
			return fmt.Errorf("writing a work response: %w", err)
		}
	}
}

// runSafely turns a panic into an error, so that one bad request fails
// one action and not the worker.
func runSafely(run Run, args []string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return run(args)
}

// ExpandParamFile returns args, or, when args is a single "@FILE", the
// lines of FILE: Bazel's multiline param file, one argument per line,
// which actions that may run in a worker pass outside one.
func ExpandParamFile(args []string) ([]string, error) {
	if len(args) != 1 || !strings.HasPrefix(args[0], "@") || strings.HasPrefix(args[0], "@@") {
		return args, nil
	}
	data, err := os.ReadFile(args[0][1:])
	if err != nil {
		return nil, fmt.Errorf("param file: %w", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	expanded := lines[:0]
	for _, l := range lines {
		if l != "" {
			expanded = append(expanded, l)
		}
	}
	return expanded, nil
}
