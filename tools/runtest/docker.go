package runtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
)

// Docker runs containers with the docker client program, which reads
// DOCKER_HOST and its config as it always does.
type Docker struct {
	// ID names the container.
	ID string
}

// Run implements Runtime.
func (d Docker) Run(ctx context.Context, name string, s Spec) (Result, error) {
	args := []string{"run", "--rm", "--name", d.ID}
	for _, kv := range s.envList() {
		args = append(args, "--env", kv)
	}
	rest := s.Args
	if len(s.Entrypoint) > 0 {
		// docker takes one word as the entrypoint: the others lead the args.
		args = append(args, "--entrypoint", s.Entrypoint[0])
		rest = append(append([]string{}, s.Entrypoint[1:]...), s.Args...)
	}
	args = append(append(args, name), rest...)
	cmd := exec.CommandContext(ctx, "docker", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}, nil
	case errors.As(err, &exit) && exit.ExitCode() < 125:
		// 125 and up are docker's own failures, not the program's.
		return Result{ExitCode: exit.ExitCode(), Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}, nil
	}
	return Result{}, fmt.Errorf("docker %v: %v: %s", args, err, bytes.TrimSpace(stderr.Bytes()))
}
