package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/defaults"
	"github.com/containerd/containerd/v2/pkg/identifiers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// DefaultContainerdAddress is containerd's own default socket.
const DefaultContainerdAddress = "/run/containerd/containerd.sock"

// Jobs bounds the blobs written into containerd at once.
const Jobs = 4

// Containerd loads images into a containerd, over its API: only the blobs
// its content store lacks are written.
type Containerd struct {
	// Address is containerd's socket.
	Address string
	// Namespace holds the image names.
	Namespace string
	// NamespaceMustExist makes a missing namespace an error that lists the
	// ones there are, rather than a new namespace: for a namespace that was
	// named by hand, where a typo should not go unnoticed.
	NamespaceMustExist bool
	// Snapshotter to unpack for; "" for the namespace's default.
	Snapshotter string
}

// services are the parts of containerd that a load writes to.
type services struct {
	content content.Store
	images  images.Store
	leases  leases.Manager
}

// Load writes sel's blobs, names the image, and unpacks it, all under one
// lease.
func (c Containerd) Load(ctx context.Context, sel Selection, names []string, p *progress, stats *Stats) error {
	if err := identifiers.Validate(c.Namespace); err != nil {
		return fmt.Errorf("namespace %q: %w", c.Namespace, err)
	}
	cl, err := DialContainerd(ctx, c.Address)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx = namespaces.WithNamespace(ctx, c.Namespace)
	if c.NamespaceMustExist {
		if err := checkNamespace(ctx, cl.NamespaceService(), c.Namespace, c.Address); err != nil {
			return err
		}
	}
	svc := services{content: cl.ContentStore(), images: cl.ImageService(), leases: cl.LeasesService()}
	snapshotter, err := c.snapshotter(ctx, cl)
	if err != nil {
		return err
	}
	err = leased(ctx, svc.leases, func(ctx context.Context) error {
		if err := writeBlobs(ctx, svc, sel, p, stats); err != nil {
			return err
		}
		if err := setNames(ctx, svc.images, sel.Target, names, stats); err != nil {
			return err
		}
		for _, pi := range toUnpack(sel) {
			img := client.NewImageWithPlatform(cl, images.Image{Name: names[0], Target: sel.Target}, platforms.OnlyStrict(pi.Platform))
			if err := img.Unpack(ctx, snapshotter); err != nil {
				return fmt.Errorf("unpacking %s for %s (%s): %w", names[0], snapshotter, platforms.Format(pi.Platform), err)
			}
			p.logf("unpacked %s for %s", platforms.Format(pi.Platform), snapshotter)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("containerd at %s: %w", c.Address, err)
	}
	return nil
}

// leased runs fn under a new lease, which keeps what fn writes from the
// garbage collector until the image names hold it, and deletes the lease
// afterwards, also when ctx was cancelled (Ctrl-C). A lease left behind by
// a killed process expires after an hour.
func leased(ctx context.Context, lm leases.Manager, fn func(context.Context) error) (err error) {
	l, err := lm.Create(ctx, leases.WithRandomID(), leases.WithExpiration(time.Hour))
	if err != nil {
		return fmt.Errorf("taking a lease: %w", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := lm.Delete(rctx, l); derr != nil && err == nil {
			err = fmt.Errorf("releasing lease %s: %w", l.ID, derr)
		}
	}()
	return fn(leases.WithLease(ctx, l.ID))
}

// snapshotter is the one to unpack for: the configured one, else the
// namespace's default, else containerd's.
func (c Containerd) snapshotter(ctx context.Context, cl *client.Client) (string, error) {
	if c.Snapshotter != "" {
		return c.Snapshotter, nil
	}
	label, err := cl.GetLabel(ctx, defaults.DefaultSnapshotterNSLabel)
	if err != nil {
		return "", fmt.Errorf("containerd at %s: %w", c.Address, err)
	}
	if label != "" {
		return label, nil
	}
	return defaults.DefaultSnapshotter, nil
}

// toUnpack are the images to unpack: the chosen platform, or with --platform
// all those that run here.
func toUnpack(sel Selection) []PlatformImage {
	if len(sel.Images) == 1 {
		return sel.Images
	}
	host := platforms.Default()
	var out []PlatformImage
	for _, pi := range sel.Images {
		if host.Match(pi.Platform) {
			out = append(out, pi)
		}
	}
	return out
}

// DialContainerd connects and checks that containerd answers. A missing or
// closed socket is named in the error.
func DialContainerd(ctx context.Context, address string) (*client.Client, error) {
	path, isUnix := strings.CutPrefix(address, "unix://")
	if isUnix || !strings.Contains(address, "://") {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("cannot reach containerd at %s: there is no socket there (is containerd running? pass --address, or set CONTAINERD_ADDRESS)", address)
		}
		conn, err := net.DialTimeout("unix", path, 5*time.Second)
		if err != nil {
			return nil, fmt.Errorf("cannot reach containerd at %s: %w", address, err)
		}
		conn.Close()
		address = path
	}
	cl, err := client.New(address, client.WithTimeout(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("cannot reach containerd at %s: %w", address, err)
	}
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cl.Version(vctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("containerd at %s does not answer: %w", address, err)
	}
	return cl, nil
}

type namespaceLister interface {
	List(context.Context) ([]string, error)
}

func checkNamespace(ctx context.Context, ns namespaceLister, namespace, address string) error {
	list, err := ns.List(ctx)
	if err != nil {
		return fmt.Errorf("containerd at %s: listing namespaces: %w", address, err)
	}
	if slices.Contains(list, namespace) {
		return nil
	}
	have := "none"
	if len(list) > 0 {
		sort.Strings(list)
		have = strings.Join(list, ", ")
	}
	return fmt.Errorf("containerd at %s has no namespace %q; it has %s (for a new one: ctr namespaces create %s)", address, namespace, have, namespace)
}

// blob is one blob to write, and how to read it.
type blob struct {
	desc ocispec.Descriptor
	open func() (io.ReadCloser, error)
}

// writeBlobs writes the blobs the content store lacks: layers and configs,
// several at a time, then each manifest and the index, whose garbage
// collection labels keep their children once the lease is gone.
func writeBlobs(ctx context.Context, svc services, sel Selection, p *progress, stats *Stats) error {
	var leaves []blob
	seen := map[digest.Digest]bool{}
	type parent struct {
		blob
		children []ocispec.Descriptor
	}
	var manifests []parent
	for _, pi := range sel.Images {
		raw, err := pi.Image.RawManifest()
		if err != nil {
			return err
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("manifest %s: %w", pi.Descriptor.Digest, err)
		}
		layers, err := pi.Image.Layers()
		if err != nil {
			return err
		}
		if len(layers) != len(m.Layers) {
			return fmt.Errorf("manifest %s has %d layers, the image %d", pi.Descriptor.Digest, len(m.Layers), len(layers))
		}
		img := pi.Image
		if !seen[m.Config.Digest] {
			seen[m.Config.Digest] = true
			leaves = append(leaves, blob{m.Config, func() (io.ReadCloser, error) {
				cfg, err := img.RawConfigFile()
				return io.NopCloser(bytes.NewReader(cfg)), err
			}})
		}
		for i, d := range m.Layers {
			if !seen[d.Digest] {
				seen[d.Digest] = true
				leaves = append(leaves, blob{d, layers[i].Compressed})
			}
		}
		children := append([]ocispec.Descriptor{m.Config}, m.Layers...)
		manifests = append(manifests, parent{blob{pi.Descriptor, bytesOpener(raw)}, children})
	}

	lease, _ := leases.FromContext(ctx)
	var missing []blob
	for _, b := range leaves {
		ok, err := have(ctx, svc, lease, b.desc)
		if err != nil {
			return err
		}
		if ok {
			addInt(&stats.Present, 1)
			p.logf("exists   %s", b.desc.Digest)
		} else {
			missing = append(missing, b)
			p.total += b.desc.Size
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(Jobs)
	for _, b := range missing {
		g.Go(func() error { return writeBlob(gctx, svc.content, b, nil, p, stats) })
	}
	if err := g.Wait(); err != nil {
		return err
	}

	var selected []ocispec.Descriptor
	for _, m := range manifests {
		if err := ensure(ctx, svc, lease, m.blob, gcLabels(m.children), p, stats); err != nil {
			return err
		}
		selected = append(selected, m.desc)
	}
	if sel.Index == nil {
		return nil
	}
	// The index's labels name the manifests loaded now and those loaded
	// before (another platform), in the index's order.
	labels := gcLabels(selected)
	if info, err := svc.content.Info(ctx, sel.Target.Digest); err == nil {
		labels = gcLabels(mergeLoaded(sel, info.Labels, selected))
	}
	return ensure(ctx, svc, lease, blob{sel.Target, bytesOpener(sel.Index)}, labels, p, stats)
}

// have says whether the content store has a blob, and if so adds it to the
// lease, so that nothing collects it before the image names hold it.
func have(ctx context.Context, svc services, lease string, desc ocispec.Descriptor) (bool, error) {
	_, err := svc.content.Info(ctx, desc.Digest)
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	if lease != "" {
		err := svc.leases.AddResource(ctx, leases.Lease{ID: lease}, leases.Resource{ID: desc.Digest.String(), Type: "content"})
		if err != nil && !errdefs.IsAlreadyExists(err) {
			return false, fmt.Errorf("blob %s: adding it to the lease: %w", desc.Digest, err)
		}
	}
	return true, nil
}

// ensure writes a manifest or index if it is missing, and sets its labels.
func ensure(ctx context.Context, svc services, lease string, b blob, labels map[string]string, p *progress, stats *Stats) error {
	ok, err := have(ctx, svc, lease, b.desc)
	if err != nil {
		return err
	}
	if ok {
		addInt(&stats.Present, 1)
		p.logf("exists   %s", b.desc.Digest)
	} else if err := writeBlob(ctx, svc.content, b, labels, p, stats); err != nil {
		return err
	}
	info := content.Info{Digest: b.desc.Digest, Labels: labels}
	var fields []string
	for k := range labels {
		fields = append(fields, "labels."+k)
	}
	sort.Strings(fields)
	if _, err := svc.content.Update(ctx, info, fields...); err != nil {
		return fmt.Errorf("labels of %s: %w", b.desc.Digest, err)
	}
	return nil
}

// writeBlob copies one blob into the content store, which checks its size
// and digest on commit.
func writeBlob(ctx context.Context, cs content.Store, b blob, labels map[string]string, p *progress, stats *Stats) error {
	d := b.desc
	cw, err := content.OpenWriter(ctx, cs, content.WithRef("rules_img-"+d.Digest.String()), content.WithDescriptor(d))
	if errdefs.IsAlreadyExists(err) {
		addInt(&stats.Present, 1)
		p.logf("exists   %s", d.Digest)
		return nil
	}
	if err != nil {
		return fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	defer cw.Close()
	st, err := cw.Status()
	if err != nil {
		return fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	var opts []content.Opt
	if labels != nil {
		opts = append(opts, content.WithLabels(labels))
	}
	if d.Size > 0 && st.Offset == d.Size {
		// containerd has it in another namespace: committing shares it.
		if err := cw.Commit(ctx, d.Size, d.Digest, opts...); err != nil && !errdefs.IsAlreadyExists(err) {
			return fmt.Errorf("blob %s: %w", d.Digest, err)
		}
		addInt(&stats.Present, 1)
		p.logf("shared   %s", d.Digest)
		return nil
	}
	if st.Offset != 0 {
		if err := cw.Truncate(0); err != nil {
			return fmt.Errorf("blob %s: restarting an earlier ingest: %w", d.Digest, err)
		}
	}
	rc, err := b.open()
	if err != nil {
		return fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	defer rc.Close()
	cr := &countingReader{r: ctxReader{ctx, rc}, p: p}
	if _, err := io.CopyBuffer(cw, io.LimitReader(cr, d.Size+1), make([]byte, 1<<20)); err != nil {
		return fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	if cr.n != d.Size {
		return fmt.Errorf("blob %s: read %d bytes, its descriptor says %d", d.Digest, cr.n, d.Size)
	}
	if err := cw.Commit(ctx, d.Size, d.Digest, opts...); err != nil && !errdefs.IsAlreadyExists(err) {
		return fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	addInt(&stats.Written, 1)
	addInt(&stats.Bytes, d.Size)
	p.logf("written  %s (%s)", d.Digest, humanBytes(d.Size))
	return nil
}

// gcLabels are the labels by which containerd's garbage collector follows a
// manifest to its config and layers, or an index to its manifests: the keys
// containerd's own pull and import write.
func gcLabels(children []ocispec.Descriptor) map[string]string {
	labels := map[string]string{}
	counts := map[string]int{}
	for _, ch := range children {
		for _, key := range images.ChildGCLabels(ch) {
			i := counts[key]
			counts[key] = i + 1
			if i > 0 || strings.HasSuffix(key, ".") {
				key = fmt.Sprintf("%s%d", key, i)
			}
			labels[key] = ch.Digest.String()
		}
	}
	return labels
}

// mergeLoaded adds to selected the manifests of the index that an earlier
// load put there (found in the index's labels), in the index's order.
func mergeLoaded(sel Selection, labels map[string]string, selected []ocispec.Descriptor) []ocispec.Descriptor {
	loaded := map[digest.Digest]bool{}
	for _, d := range selected {
		loaded[d.Digest] = true
	}
	for k, v := range labels {
		if strings.HasPrefix(k, "containerd.io/gc.ref.content.m.") {
			loaded[digest.Digest(v)] = true
		}
	}
	var idx ocispec.Index
	if err := json.Unmarshal(sel.Index, &idx); err != nil {
		return selected
	}
	var out []ocispec.Descriptor
	for _, d := range idx.Manifests {
		if loaded[d.Digest] {
			out = append(out, d)
		}
	}
	return out
}

// setNames points each image name at the target, creating or moving it.
func setNames(ctx context.Context, is images.Store, target ocispec.Descriptor, names []string, stats *Stats) error {
	for _, n := range names {
		rec := images.Image{Name: n, Target: target}
		if _, err := is.Create(ctx, rec); err != nil {
			if !errdefs.IsAlreadyExists(err) {
				return fmt.Errorf("image %s: %w", n, err)
			}
			if _, err := is.Update(ctx, rec, "target"); err != nil {
				return fmt.Errorf("image %s: %w", n, err)
			}
		}
		addInt(&stats.Names, 1)
	}
	return nil
}

func bytesOpener(data []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
}

// ctxReader stops reading once ctx is done (Ctrl-C), whether or not the
// daemon notices.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}
