package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"golang.org/x/sync/errgroup"

	"github.com/rules-img/rules_img/tools/cas"
	"github.com/rules-img/rules_img/tools/deploy"
)

// The push strategies of //img/settings:push_strategy.
const (
	// Eager reads layer blobs from files that Bazel put in the runfiles.
	Eager = "eager"
	// Lazy streams the layers the registry lacks from Bazel's remote cache.
	Lazy = "lazy"
	// CASRegistry pushes lazily to a cas_registry server, which has every
	// blob of the cache already: only manifests are written.
	CASRegistry = "cas_registry"
	// BES is pushed by a Build Event Service server after the build; run
	// by hand, such a target pushes lazily.
	BES = "bes"
)

// Strategies lists the accepted strategies.
var Strategies = []string{Eager, Lazy, CASRegistry, BES}

// FromCache reports whether a strategy reads layer blobs from the remote
// cache rather than from the runfiles.
func FromCache(strategy string) bool { return strategy != Eager && strategy != "" }

// CheckStrategy reports an unknown strategy.
func CheckStrategy(strategy string) error {
	for _, s := range Strategies {
		if strategy == s {
			return nil
		}
	}
	return fmt.Errorf("push strategy %q is not known: use one of %s", strategy, strings.Join(Strategies, ", "))
}

// Job is one push: the image a deploy spec describes, where it goes, and
// where its layer blobs come from.
type Job struct {
	// Label names the push target in errors, as "//pkg:push".
	Label string
	// Spec lists the image's files.
	Spec deploy.Spec
	// Target is the registry, repository and tags.
	Target Target
	// Cache, if set, holds the layers built by Bazel: those the registry
	// lacks are streamed from it (the lazy strategy). Nil reads the blob
	// files of the spec (eager).
	Cache cas.Store
	// ReadFile reads the spec's manifests, configs and layer metadata; nil
	// means os.ReadFile.
	ReadFile func(path string) ([]byte, error)
	// ManifestsOnly writes the manifests and tags and no blob (PutManifests):
	// the cas_registry strategy, whose registry serves blobs from the cache.
	ManifestsOnly bool
}

// Run pushes a job. With a cache, it first asks the registry which layer
// blobs it lacks and the cache whether it has them, so that a blob missing
// from both fails the push before anything is written.
func (p *Pusher) Run(j Job) (name.Digest, error) {
	ref, err := p.run(j)
	if err != nil && j.Label != "" {
		err = fmt.Errorf("%s: %w", j.Label, err)
	}
	return ref, err
}

func (p *Pusher) run(j Job) (name.Digest, error) {
	if err := j.Target.Validate(); err != nil {
		return name.Digest{}, err
	}
	if j.Cache == nil && !j.ManifestsOnly {
		// Eager reads the blob files: a target built for another strategy
		// has none, and would fail halfway through the push.
		if missing := j.Spec.MissingBlobFiles(); len(missing) > 0 {
			more := ""
			if len(missing) > 1 {
				more = fmt.Sprintf(" (nor %d more)", len(missing)-1)
			}
			return name.Digest{}, fmt.Errorf("the eager strategy reads layer blobs from the runfiles, but %s is not there%s: "+
				"the target was built with a push strategy that leaves the blobs in the remote cache. Build it with "+
				"--@rules_img//img/settings:push_strategy=eager (or strategy = \"eager\") to push it eagerly, or push it with its own strategy",
				missing[0], more)
		}
	}
	opts := deploy.Options{
		Remote:      p.opts,
		Destination: j.Target.Registry,
		Mounts:      p.Mounts,
		Meter:       p.Meter,
		Cache:       p.counted(j.Cache),
		ReadFile:    j.ReadFile,
		Context:     p.ctx,
	}
	img, err := j.Spec.Taggable(opts)
	if err != nil {
		return name.Digest{}, err
	}
	if j.ManifestsOnly {
		if err := p.refuseSourceLayers(img, j.Cache); err != nil {
			return name.Digest{}, err
		}
		// The registry checks that the cache has every blob, before it
		// writes a manifest.
		return p.PutManifests(img, j.Target)
	}
	if j.Cache != nil {
		if err := p.checkCache(img, j); err != nil {
			return name.Digest{}, err
		}
	}
	// Blobs that a push running at the same time uploads are mounted from
	// where it put them, once it is done.
	claimed, wait := p.Mounts.claim(layerDigests(img))
	if len(wait) > 0 {
		for _, ch := range wait {
			select {
			case <-ch:
			case <-p.ctx.Done():
				p.Mounts.release(claimed, nil)
				return name.Digest{}, p.ctx.Err()
			}
		}
		if img, err = j.Spec.Taggable(opts); err != nil {
			p.Mounts.release(claimed, nil)
			return name.Digest{}, err
		}
	}
	ref, err := p.Push(img, j.Target)
	if err != nil {
		p.Mounts.release(claimed, nil)
		return ref, err
	}
	repo := ref.Context()
	p.Mounts.release(claimed, &repo)
	return ref, nil
}

// refuseSourceLayers fails for an image with layers of a pulled base that
// are not in the remote cache (shallow ones, which Bazel never
// downloaded): a cas-registry serves blobs from the cache only, and would
// refuse the manifest, maybe after an index's first manifests were written.
func (p *Pusher) refuseSourceLayers(t remote.Taggable, cache cas.Store) error {
	sources := map[cas.Digest]name.Digest{}
	var ds []cas.Digest
	for _, img := range imagesOf(t) {
		layers, err := img.Layers()
		if err != nil {
			return err
		}
		for _, l := range layers {
			src, ok := deploy.SourceOf(l)
			if !ok {
				continue
			}
			size, err := l.Size()
			if err != nil {
				return err
			}
			d, err := cas.ParseOCI(src.DigestStr(), size)
			if err != nil {
				return err
			}
			if _, seen := sources[d]; !seen {
				sources[d] = src
				ds = append(ds, d)
			}
		}
	}
	if len(ds) == 0 {
		return nil
	}
	missing, err := cache.Missing(p.ctx, ds)
	if err != nil || len(missing) == 0 {
		return err
	}
	src := sources[missing[0]]
	return missingError(fmt.Sprintf("layer %s of the base image (%s) is not in the remote cache %v, and a cas-registry serves "+
		"blobs from the remote cache only; nothing was pushed. Push this target with the lazy strategy "+
		"(--@rules_img//img/settings:push_strategy=lazy, or --strategy=lazy at run time), which copies base layers "+
		"from their registry", src.DigestStr(), src.Context(), cache))
}

// checkCache fails if a layer blob that must be streamed from the cache is
// not in it.
func (p *Pusher) checkCache(t remote.Taggable, j Job) error {
	repo, err := name.NewRepository(j.Target.Registry + "/" + j.Target.Repository)
	if err != nil {
		return err
	}
	var wanted []v1.Descriptor
	seen := map[v1.Hash]bool{}
	for _, img := range imagesOf(t) {
		layers, err := img.Layers()
		if err != nil {
			return err
		}
		for _, l := range layers {
			if _, ok := l.(*deploy.CacheLayer); !ok {
				continue // a file, a mount, or a source registry
			}
			d, _ := l.Digest()
			size, _ := l.Size()
			if !seen[d] {
				seen[d] = true
				wanted = append(wanted, v1.Descriptor{Digest: d, Size: size})
			}
		}
	}
	if len(wanted) == 0 {
		return nil
	}
	lacking, err := p.lackingBlobs(repo, wanted)
	if err != nil {
		return err
	}
	if len(lacking) == 0 {
		return nil
	}
	var ds []cas.Digest
	for _, desc := range lacking {
		d, err := cas.ParseOCI(desc.Digest.String(), desc.Size)
		if err != nil {
			return err
		}
		ds = append(ds, d)
	}
	missing, err := j.Cache.Missing(p.ctx, ds)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		var names []string
		for _, d := range missing {
			names = append(names, d.OCI())
		}
		return missingError(fmt.Sprintf("the remote cache %v lacks layer blob %s, which %s does not have either; nothing was pushed. "+
			"Build %s with this remote cache (it uploads the layers), or push with --@rules_img//img/settings:push_strategy=eager",
			j.Cache, strings.Join(names, ", "), repo, or(j.Label, "the image")))
	}
	return nil
}

// missingError says that blobs are missing from the remote cache: it is
// cas.ErrNotFound, so that callers can wait for uploads still under way.
type missingError string

func (e missingError) Error() string { return string(e) }

func (e missingError) Is(target error) bool { return target == cas.ErrNotFound }

// lackingBlobs asks the registry, with HEAD, which blobs repo lacks. The
// HEADs go through go-containerregistry's transport, with the retries of
// the push itself (429, 5xx, connection resets).
func (p *Pusher) lackingBlobs(repo name.Repository, blobs []v1.Descriptor) ([]v1.Descriptor, error) {
	present := make([]bool, len(blobs))
	g, ctx := errgroup.WithContext(p.ctx)
	g.SetLimit(Jobs * 4)
	for i, b := range blobs {
		g.Go(func() error {
			l, err := p.prober.Layer(ctx, repo.Digest(b.Digest.String()))
			if err != nil {
				return Unreachable(repo.RegistryStr(), err)
			}
			_, err = l.Size()
			var terr *transport.Error
			switch {
			case err == nil:
				present[i] = true
			case errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound:
			case errors.As(err, &terr):
				return fmt.Errorf("%s: HEAD of blob %s: %w", repo, b.Digest, err)
			default:
				return Unreachable(repo.RegistryStr(), err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var lacking []v1.Descriptor
	for i, b := range blobs {
		if !present[i] {
			lacking = append(lacking, b)
		}
	}
	return lacking, nil
}

// Unreachable says that a registry could not be reached when err is a
// network error, and otherwise returns err naming the registry.
func Unreachable(registry string, err error) error {
	if unreachable(err) {
		return fmt.Errorf("registry %s is not reachable; check that it runs and that the address is right: %w", registry, err)
	}
	return fmt.Errorf("registry %s: %w", registry, err)
}

// unreachable tells whether err is a failure to reach a server (refused,
// unknown host, timed out) rather than an answer from it.
func unreachable(err error) bool {
	var opErr *net.OpError
	var dnsErr *net.DNSError
	return errors.As(err, &opErr) || errors.As(err, &dnsErr) || errors.Is(err, os.ErrDeadlineExceeded)
}

func or(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}

// counted wraps a cache so that Stats count the blobs streamed from it.
func (p *Pusher) counted(c cas.Store) cas.Store {
	if c == nil {
		return nil
	}
	return &countingStore{Store: c, stats: &p.Stats}
}

type countingStore struct {
	cas.Store
	stats *Stats
	seen  sync.Map
}

func (s *countingStore) Open(ctx context.Context, d cas.Digest) (io.ReadCloser, error) {
	rc, err := s.Store.Open(ctx, d)
	if err == nil {
		if _, again := s.seen.LoadOrStore(d, true); !again {
			atomic.AddInt64(&s.stats.FromCache, 1)
		}
	}
	return rc, err
}

func (s *countingStore) String() string { return fmt.Sprint(s.Store) }
