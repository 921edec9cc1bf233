package runtest

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/rules-img/rules_img/tools/load"
)

// Containerd runs containers over containerd's API, with the snapshotter
// the image was unpacked for.
type Containerd struct {
	Address, Namespace string
	// ID names the container and its snapshot.
	ID string
	// FIFODir holds the FIFOs of the process's output; it must be a path
	// containerd's shim can open.
	FIFODir string
}

// Run implements Runtime.
func (c Containerd) Run(ctx context.Context, name string, s Spec) (res Result, err error) {
	cl, err := load.DialContainerd(ctx, c.Address)
	if err != nil {
		return res, err
	}
	defer cl.Close()
	ctx = namespaces.WithNamespace(ctx, c.Namespace)
	image, err := cl.GetImage(ctx, name)
	if err != nil {
		return res, fmt.Errorf("containerd at %s: image %s: %w", c.Address, name, err)
	}
	specOpts := []oci.SpecOpts{oci.WithImageConfigArgs(image, s.Args)}
	if len(s.Entrypoint) > 0 {
		specOpts = append(specOpts, oci.WithProcessArgs(append(append([]string{}, s.Entrypoint...), s.Args...)...))
	}
	if len(s.Env) > 0 {
		specOpts = append(specOpts, oci.WithEnv(s.envList()))
	}
	container, err := cl.NewContainer(ctx, c.ID,
		client.WithImage(image),
		client.WithNewSnapshot(c.ID, image),
		client.WithNewSpec(specOpts...))
	if err != nil {
		return res, fmt.Errorf("containerd at %s: container of %s: %w", c.Address, name, err)
	}
	defer func() {
		// A fresh context: the test's may be done.
		cleanup := namespaces.WithNamespace(context.Background(), c.Namespace)
		if derr := container.Delete(cleanup, client.WithSnapshotCleanup); derr != nil && err == nil {
			err = fmt.Errorf("containerd at %s: removing container %s: %w", c.Address, c.ID, derr)
		}
	}()
	if err := os.MkdirAll(c.FIFODir, 0o700); err != nil {
		return res, err
	}
	var stdout, stderr bytes.Buffer
	task, err := container.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &stdout, &stderr), cio.WithFIFODir(c.FIFODir)))
	if err != nil {
		return res, fmt.Errorf("containerd at %s: task of %s: %w", c.Address, name, err)
	}
	defer task.Delete(namespaces.WithNamespace(context.Background(), c.Namespace), client.WithProcessKill)
	exited, err := task.Wait(ctx)
	if err != nil {
		return res, err
	}
	if err := task.Start(ctx); err != nil {
		return res, fmt.Errorf("containerd at %s: starting %s: %w", c.Address, name, err)
	}
	var status client.ExitStatus
	select {
	case status = <-exited:
	case <-ctx.Done():
		return res, fmt.Errorf("the container of %s did not exit: %w", name, ctx.Err())
	}
	code, _, err := status.Result()
	if err != nil {
		return res, err
	}
	// The output is complete once the task's IO is closed.
	task.CloseIO(ctx)
	if io := task.IO(); io != nil {
		io.Wait()
	}
	return Result{ExitCode: int(code), Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}, nil
}
