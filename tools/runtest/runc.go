package runtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/archive"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/sys/user"
)

// Runc runs the image's program with runc, on a root file system unpacked
// from its layers: the runtime of a test that runs as root on a machine
// with neither containerd nor Docker. Nothing is loaded anywhere.
type Runc struct {
	// Path is the runc program.
	Path string
	// Dir holds the bundle and runc's state; the test's temporary
	// directory. Removed afterwards.
	Dir string
	// ID names the container.
	ID string
}

// FindRunc is the runc program: $RUNC when set, else runc on PATH or in
// the sbin directories where distributions install it.
func FindRunc() (string, error) {
	if p, ok := os.LookupEnv("RUNC"); ok {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("RUNC names %q: %w", p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("runc"); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/local/bin", "/usr/bin"} {
		p := filepath.Join(dir, "runc")
		if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("no runc: not on PATH nor in /usr/sbin, /usr/local/sbin, /sbin")
}

// RunImage unpacks img and runs its program.
func (r Runc) RunImage(ctx context.Context, img v1.Image, s Spec) (res Result, err error) {
	bundle := filepath.Join(r.Dir, "bundle")
	rootfs := filepath.Join(bundle, "rootfs")
	defer func() {
		if rerr := os.RemoveAll(r.Dir); rerr != nil && err == nil {
			err = rerr
		}
	}()
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return res, err
	}
	if err := unpack(ctx, img, rootfs); err != nil {
		return res, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return res, err
	}
	spec, err := r.spec(ctx, cfg.Config, rootfs, s)
	if err != nil {
		return res, err
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return res, err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o644); err != nil {
		return res, err
	}
	pidFile := filepath.Join(r.Dir, "pid")
	cmd := exec.CommandContext(ctx, r.Path, "--root", filepath.Join(r.Dir, "state"), "run", "--bundle", bundle, "--pid-file", pidFile, r.ID)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	// runc writes the pid file once the container runs: without one, the
	// failure is runc's, not the program's.
	if _, err := os.Stat(pidFile); err != nil {
		return res, fmt.Errorf("runc did not start the container: %v: %s", runErr, bytes.TrimSpace(stderr.Bytes()))
	}
	var exit *exec.ExitError
	switch {
	case runErr == nil:
	case errors.As(runErr, &exit):
		res.ExitCode = exit.ExitCode()
	default:
		return res, fmt.Errorf("runc: %w", runErr)
	}
	res.Stdout, res.Stderr = stdout.Bytes(), stderr.Bytes()
	return res, nil
}

// unpack applies the layers in order, whiteouts included.
func unpack(ctx context.Context, img v1.Image, rootfs string) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
		_, err = archive.Apply(ctx, rootfs, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("unpacking layer %d: %w", i, err)
		}
	}
	return nil
}

// spec is the runtime spec of the process: the image's entrypoint, cmd,
// env, working directory and user, with the test's over them; no network
// but loopback.
func (r Runc) spec(ctx context.Context, c v1.Config, rootfs string, s Spec) (*oci.Spec, error) {
	entrypoint, args := c.Entrypoint, c.Cmd
	if len(s.Entrypoint) > 0 {
		entrypoint, args = s.Entrypoint, nil
	}
	if len(s.Args) > 0 {
		args = s.Args
	}
	process := append(append([]string{}, entrypoint...), args...)
	if len(process) == 0 {
		return nil, errors.New("the image has no entrypoint or cmd, and the test gives none")
	}
	cwd := c.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	uid, gid, groups, err := resolveUser(rootfs, c.User)
	if err != nil {
		return nil, err
	}
	ctx = namespaces.WithNamespace(ctx, "rules-img-test")
	return oci.GenerateSpec(ctx, nil, &containers.Container{ID: r.ID},
		oci.WithRootFSPath("rootfs"),
		oci.WithProcessArgs(process...),
		oci.WithEnv(c.Env),
		oci.WithEnv(s.envList()),
		oci.WithProcessCwd(cwd),
		oci.WithHostname("rules-img-test"),
		func(_ context.Context, _ oci.Client, _ *containers.Container, spec *oci.Spec) error {
			spec.Process.User.UID, spec.Process.User.GID = uid, gid
			spec.Process.User.AdditionalGids = groups
			return nil
		})
}

// resolveUser turns the config's User (name or uid, with an optional
// group) into ids, from the image's /etc/passwd and /etc/group, read
// within the root file system.
func resolveUser(rootfs, spec string) (uid, gid uint32, groups []uint32, err error) {
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return 0, 0, nil, err
	}
	defer root.Close()
	passwd, _ := root.ReadFile("etc/passwd")
	group, _ := root.ReadFile("etc/group")
	u, err := user.GetExecUser(spec, &user.ExecUser{Uid: 0, Gid: 0, Home: "/"}, bytes.NewReader(passwd), bytes.NewReader(group))
	if err != nil {
		return 0, 0, nil, fmt.Errorf("user %q of the image: %w", spec, err)
	}
	for _, g := range u.Sgids {
		if g != u.Gid {
			groups = append(groups, uint32(g))
		}
	}
	return uint32(u.Uid), uint32(u.Gid), groups, nil
}

// Platform picks the image of an index that runc runs here: the first for
// the machine's os and architecture.
func Platform(idx v1.ImageIndex, host v1.Platform) (v1.Image, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var found []string
	for _, d := range m.Manifests {
		if d.Platform == nil {
			continue
		}
		found = append(found, d.Platform.String())
		if d.Platform.OS == host.OS && d.Platform.Architecture == host.Architecture {
			return idx.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("the index has no image for %s/%s: it has %s", host.OS, host.Architecture, strings.Join(found, ", "))
}
