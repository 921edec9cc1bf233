// Package load puts images that Bazel built into a local daemon.
//
// containerd is written to over its API: under a lease, only the blobs its
// content store lacks are written (each checked against its digest), the
// image names are created or moved, and the image is unpacked for the
// snapshotter so that it runs at once. Docker with the containerd image
// store is loaded the same way, through its containerd. Docker's classic
// store and podman get a docker-save tarball streamed to `docker load` or
// `podman load`; the tar "daemon" writes that tarball to a file.
package load

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The daemons a load can go to.
const (
	DaemonContainerd = "containerd"
	DaemonDocker     = "docker"
	DaemonPodman     = "podman"
	DaemonTar        = "tar"
)

// Options say where and how to load.
type Options struct {
	// Daemon is one of the Daemon constants.
	Daemon string
	// Address of the daemon. containerd: $CONTAINERD_ADDRESS, else
	// DefaultContainerdAddress. docker and podman: the client's default.
	Address string
	// Namespace in containerd. containerd: $CONTAINERD_NAMESPACE, else
	// "default"; docker with the containerd image store: the one docker
	// names. A namespace named here or in the environment must exist.
	Namespace string
	// Platform: "" (or "host") for the daemon's platform, "all", or
	// os/arch[/variant].
	Platform string
	// Log receives a line per blob; Warn the warnings; Updates the bytes
	// done (for a progress bar). Each may be nil.
	Log     func(string)
	Warn    func(string)
	Updates chan<- v1.Update
}

// Loader loads images; one Loader may load several, and adds up their Stats.
type Loader struct {
	o     Options
	Stats Stats
	// Out receives the tarball of the tar daemon.
	Out io.Writer
}

// New checks the options and returns a Loader.
func New(o Options) (*Loader, error) {
	switch o.Daemon {
	case DaemonContainerd, DaemonDocker, DaemonPodman, DaemonTar:
	default:
		return nil, fmt.Errorf("daemon %q is not one of containerd, docker, podman, tar", o.Daemon)
	}
	if o.Daemon != DaemonContainerd && o.Daemon != DaemonDocker && o.Namespace != "" {
		return nil, fmt.Errorf("--namespace is for containerd (and docker with the containerd image store), not %s", o.Daemon)
	}
	return &Loader{o: o}, nil
}

// Load puts t (an image or an index) into the daemon under each of tags,
// and returns the full image names.
func (l *Loader) Load(ctx context.Context, t remote.Taggable, tags []string) ([]string, error) {
	names, err := Names(tags)
	if err != nil {
		return nil, err
	}
	p := &progress{log: l.o.Log, updates: l.o.Updates}
	if l.o.Daemon == DaemonDocker {
		// Docker's own platform, and its way in, come from docker info.
		if err := l.docker(ctx, t, names, p); err != nil {
			return nil, err
		}
		return names, nil
	}
	sel, err := l.sel(t, HostPlatform())
	if err != nil {
		return nil, err
	}
	switch l.o.Daemon {
	case DaemonContainerd:
		err = l.containerd().Load(ctx, sel, names, p, &l.Stats)
	case DaemonPodman:
		err = CLI{Program: "podman", Address: l.o.Address}.Load(ctx, sel, names, p, &l.Stats)
	default:
		if l.Out == nil {
			return nil, fmt.Errorf("the tar daemon has nowhere to write: set Loader.Out")
		}
		err = WriteTarball(l.Out, sel, names, p, &l.Stats)
	}
	if err != nil {
		return nil, err
	}
	return names, nil
}

func (l *Loader) sel(t remote.Taggable, host ocispec.Platform) (Selection, error) {
	c, err := ParseChoice(l.o.Platform, host)
	if err != nil {
		return Selection{}, err
	}
	return Select(t, c)
}

// containerd is the daemon of --daemon containerd, from the options and
// then the environment, as ctr reads it.
func (l *Loader) containerd() Containerd {
	c := Containerd{Address: l.o.Address, Namespace: l.o.Namespace, NamespaceMustExist: true}
	if c.Address == "" {
		c.Address = os.Getenv("CONTAINERD_ADDRESS")
	}
	if c.Address == "" {
		c.Address = DefaultContainerdAddress
	}
	if c.Namespace == "" {
		c.Namespace = os.Getenv(namespaces.NamespaceEnvVar)
	}
	if c.Namespace == "" {
		c.Namespace, c.NamespaceMustExist = namespaces.Default, false
	}
	return c
}

// docker loads through docker's containerd when it keeps its images there
// and its socket can be reached; else it streams to docker load.
func (l *Loader) docker(ctx context.Context, t remote.Taggable, names []string, p *progress) error {
	cli := CLI{Program: "docker", Address: l.o.Address}
	info, err := cli.info(ctx)
	if err != nil {
		return err
	}
	sel, err := l.sel(t, info.platform())
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	var why string
	switch {
	case !info.containerdStore():
		why = fmt.Sprintf("docker keeps images in its classic store (%s), so", info.Driver)
	case info.Containerd == nil || info.Containerd.Address == "":
		why = "docker does not say where its containerd is, so"
	case info.Name != "" && info.Name != host:
		// A socket of the same name here would be another containerd.
		why = fmt.Sprintf("docker runs on another machine (%s, not %s), so", info.Name, host)
	default:
		// The namespace docker names is its own, and may not exist until
		// docker first uses it; one named by hand must exist.
		c := Containerd{
			Address:            info.Containerd.Address,
			Namespace:          l.o.Namespace,
			NamespaceMustExist: l.o.Namespace != "",
			Snapshotter:        info.Driver,
		}
		if c.Namespace == "" {
			c.Namespace = info.Containerd.Namespaces.Containers
		}
		if c.Namespace == "" {
			return fmt.Errorf("docker at %s keeps images in containerd at %s but names no namespace for them: pass --namespace", cli.where(), c.Address)
		}
		err := c.reachable(ctx)
		if err == nil {
			return c.Load(ctx, sel, names, p, &l.Stats)
		}
		if l.o.Namespace != "" {
			return err
		}
		why = fmt.Sprintf("docker's containerd cannot be used from here (%v), so", err)
	}
	if l.o.Warn != nil {
		l.o.Warn(fmt.Sprintf("%s every load streams the whole image (%s) through `docker load`; "+
			"with the containerd image store and its socket at hand, only missing layers are written", why, humanBytes(imageSize(sel))))
	}
	return cli.Load(ctx, sel, names, p, &l.Stats)
}

// reachable says whether this containerd answers, and has the namespace
// if it must.
func (c Containerd) reachable(ctx context.Context) error {
	cl, err := DialContainerd(ctx, c.Address)
	if err != nil {
		return err
	}
	defer cl.Close()
	if !c.NamespaceMustExist {
		return nil
	}
	return checkNamespace(ctx, cl.NamespaceService(), c.Namespace, c.Address)
}

// imageSize is the bytes of the selected images' configs and layers.
func imageSize(sel Selection) int64 {
	var n int64
	for _, pi := range sel.Images {
		if m, err := pi.Image.Manifest(); err == nil {
			n += m.Config.Size
			for _, l := range m.Layers {
				n += l.Size
			}
		}
	}
	return n
}
