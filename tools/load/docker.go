package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// CLI is a docker or podman client program: the fallback way in, by a
// `load` of a docker-save tarball streamed to its standard input.
type CLI struct {
	// Program is "docker" or "podman", looked up on PATH.
	Program string
	// Address is the daemon's (-H for docker, --url for podman); "" leaves
	// it to the client (DOCKER_HOST, the current context, ...).
	Address string
}

func (c CLI) args(args ...string) []string {
	if c.Address == "" {
		return args
	}
	addr := c.Address
	if strings.HasPrefix(addr, "/") {
		addr = "unix://" + addr
	}
	flag := "-H"
	if c.Program == "podman" {
		flag = "--url"
	}
	return append([]string{flag, addr}, args...)
}

// where names the daemon for messages.
func (c CLI) where() string {
	if c.Address != "" {
		return c.Address
	}
	return "its default address"
}

func (c CLI) command(ctx context.Context, args ...string) (*exec.Cmd, error) {
	path, err := exec.LookPath(c.Program)
	if err != nil {
		return nil, fmt.Errorf("%s is not on PATH: install its client, or load elsewhere with --daemon (containerd, docker, podman, tar)", c.Program)
	}
	return exec.CommandContext(ctx, path, c.args(args...)...), nil
}

// dockerInfo is what `docker info` says that a load needs.
type dockerInfo struct {
	// Name is the host name of the daemon's machine.
	Name         string
	Driver       string
	DriverStatus [][2]string
	OSType       string
	Architecture string
	Containerd   *struct {
		Address    string
		Namespaces struct {
			Containers string
		}
	}
	ServerErrors []string
}

// containerdStore says whether images live in containerd (Docker's
// containerd image store) rather than in a graph driver.
func (i dockerInfo) containerdStore() bool {
	for _, kv := range i.DriverStatus {
		if kv[0] == "driver-type" && kv[1] == "io.containerd.snapshotter.v1" {
			return true
		}
	}
	return false
}

// platform is the daemon's own: that of the machine (or VM) it runs on.
func (i dockerInfo) platform() ocispec.Platform {
	if i.Architecture == "" {
		return HostPlatform()
	}
	os := i.OSType
	if os == "" {
		os = "linux"
	}
	p, err := platforms.Parse(os + "/" + i.Architecture)
	if err != nil {
		return HostPlatform()
	}
	return p
}

func (c CLI) info(ctx context.Context) (dockerInfo, error) {
	var info dockerInfo
	cmd, err := c.command(ctx, "info", "--format", "{{json .}}")
	if err != nil {
		return info, err
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	jsonErr := json.Unmarshal(stdout.Bytes(), &info)
	if runErr != nil || len(info.ServerErrors) > 0 {
		msg := strings.TrimSpace(stderr.String() + " " + strings.Join(info.ServerErrors, "; "))
		if msg == "" && runErr != nil {
			msg = runErr.Error()
		}
		return info, fmt.Errorf("cannot reach %s at %s: %s", c.Program, c.where(), msg)
	}
	if jsonErr != nil {
		return info, fmt.Errorf("%s info: %w", c.Program, jsonErr)
	}
	return info, nil
}

// Load streams the selected image into `docker load` (or `podman load`):
// the tarball is written as the client reads it, never to a file.
func (c CLI) Load(ctx context.Context, sel Selection, names []string, p *progress, stats *Stats) error {
	cmd, err := c.command(ctx, "load")
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	written := make(chan error, 1)
	go func() {
		err := WriteTarball(pw, sel, names, p, stats)
		pw.CloseWithError(err)
		written <- err
	}()
	var out bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pr, &out, &out
	runErr := cmd.Run()
	// A client that stopped reading must not leave the writer blocked.
	pr.CloseWithError(fmt.Errorf("%s load ended", c.Program))
	if err := <-written; err != nil && !strings.Contains(err.Error(), c.Program+" load ended") {
		return fmt.Errorf("writing the image for %s load: %w", c.Program, err)
	}
	if runErr != nil {
		return fmt.Errorf("%s load at %s failed (%v): %s", c.Program, c.where(), runErr, strings.TrimSpace(out.String()))
	}
	return checkLoadOutput(c.Program, out.String(), names)
}

// checkLoadOutput reads what docker load printed: it exits 0 even when
// unpacking a layer failed, so only its words tell.
func checkLoadOutput(program, out string, names []string) error {
	for _, line := range strings.Split(out, "\n") {
		// "Loaded image: localhost/error-pages:1" is no error.
		if !strings.HasPrefix(line, "Loaded image") && strings.Contains(strings.ToLower(line), "error") {
			return fmt.Errorf("%s load failed, whatever its exit status says: %s", program, strings.TrimSpace(out))
		}
	}
	for _, n := range names {
		if !strings.Contains(out, "Loaded image") || (!strings.Contains(out, n) && !strings.Contains(out, Familiar(n))) {
			return fmt.Errorf("%s load did not report loading %s; it printed: %s", program, Familiar(n), strings.TrimSpace(out))
		}
	}
	return nil
}

// single is the one image a docker-save tarball can hold per name.
func single(sel Selection, what string) (PlatformImage, error) {
	if len(sel.Images) == 1 {
		return sel.Images[0], nil
	}
	var chosen []ocispec.Platform
	for _, pi := range sel.Images {
		chosen = append(chosen, pi.Platform)
	}
	return PlatformImage{}, fmt.Errorf("%s takes one platform per image name, and --platform all chose %d (%s): pass --platform with one of them",
		what, len(sel.Images), FormatPlatforms(chosen))
}
