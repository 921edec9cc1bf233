// Package push publishes images and indexes to registries with
// go-containerregistry: blobs the registry has are skipped, blobs in
// another repository of the same registry are mounted, the rest are
// uploaded in parallel with retries; tags are written last.
package push

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/rules-img/rules_img/tools/auth"
	"github.com/rules-img/rules_img/tools/cas"
	"github.com/rules-img/rules_img/tools/deploy"
	"github.com/rules-img/rules_img/tools/registry"
)

// Target is where an image goes.
type Target struct {
	Registry   string
	Repository string
	Tags       []string
}

var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// Validate checks the target's names before anything is sent.
func (t Target) Validate() error {
	if t.Registry == "" || t.Repository == "" {
		return fmt.Errorf("push needs a registry and a repository (set them on the rule, or with --registry and --repository)")
	}
	if _, err := name.NewRepository(t.Registry + "/" + t.Repository); err != nil {
		return fmt.Errorf("%s/%s is not a valid repository: %w", t.Registry, t.Repository, err)
	}
	for _, tag := range t.Tags {
		if !tagPattern.MatchString(tag) {
			return fmt.Errorf("tag %q is not valid: use letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-' (a template such as {{.VERSION}} that expanded to nothing? workspace status keys are empty unless Bazel stamps: --stamp)", tag)
		}
	}
	return nil
}

// Pusher pushes images; one Pusher shared by several pushes uploads each
// blob once.
type Pusher struct {
	ctx    context.Context
	opts   []remote.Option
	prober *remote.Puller // HEADs of the lazy strategy's check
	Stats  Stats
	// Mounts records where each pushed blob now is, for later pushes.
	Mounts *Mounts
	// Meter, if set, shows each blob's upload (see ProgressWithMeter).
	Meter deploy.Meter
	// transport counts the requests and writes the log lines.
	transport *countingTransport
	// base is transport with retries and the user agent, under the
	// authentication of transportFor.
	base http.RoundTripper
	// shared holds, by registry, the transport for all its repositories.
	shared   map[string]*sharedTransport
	sharedMu sync.Mutex
	// progress sums the writers' updates; nil without a terminal.
	progress *progressSum
}

// Jobs bounds the number of blobs uploaded at once.
const Jobs = 4

// New returns a Pusher; log, if not nil, receives one line per blob, and
// updates, if not nil, the bytes done so far.
func New(ctx context.Context, log func(string), updates chan<- v1.Update) (*Pusher, error) {
	p := &Pusher{ctx: ctx, Mounts: NewMounts(), shared: map[string]*sharedTransport{}}
	p.transport = &countingTransport{next: remote.DefaultTransport, stats: &p.Stats, log: log}
	// More patient than the default (3 tries): a fault fails the whole
	// attempt of a blob (HEAD, POST, PATCH, PUT), so allow 20 attempts,
	// about 30 s in all. (No Cap: reaching it would end the retries.)
	backoff := remote.Backoff{Duration: 50 * time.Millisecond, Factor: 1.3, Jitter: 0.2, Steps: 20}
	p.base = transport.NewUserAgent(transport.NewRetry(p.transport,
		transport.WithRetryBackoff(backoff),
		transport.WithRetryPredicate(retryable),
		transport.WithRetryStatusCodes(retryStatusCodes...)), "rules_img")
	p.opts = []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(auth.Keychain()),
		remote.WithUserAgent("rules_img"),
		remote.WithJobs(Jobs),
		remote.WithTransport(p.transport),
		remote.WithRetryBackoff(backoff),
	}
	if updates != nil {
		p.progress = &progressSum{out: updates}
	}
	// The lazy strategy's HEADs: the same retries, keychain and jobs, but
	// not counted, as they are no part of the push.
	var err error
	p.prober, err = remote.NewPuller(append(append([]remote.Option{}, p.opts...), remote.WithTransport(http.DefaultTransport))...)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// RemoteOptions are the options for reading source registries with the
// same credentials, for layers of pulled bases.
func (p *Pusher) RemoteOptions() []remote.Option { return p.opts }

// Push uploads t's blobs and then its manifests, under its first tag (or
// its digest when it has none), then writes the other tags; no tag ever
// names an image that is not whole.
func (p *Pusher) Push(t remote.Taggable, target Target) (name.Digest, error) {
	repo, ref, err := destination(t, target)
	if err != nil {
		return ref, err
	}
	src := registry.Source{Registry: target.Registry, Repository: target.Repository}
	p.skipForeign(t)
	rt, w, done, err := p.connect(repo, mountSources(t, repo))
	if err != nil {
		return ref, explain(src, ref.DigestStr(), err)
	}
	defer done()
	k := p.learn(rt, repo, ref, t, target)
	first, rest := name.Reference(ref), target.Tags
	if len(rest) > 0 {
		first, rest = repo.Tag(rest[0]), rest[1:]
	}
	if !k.tagged {
		if err := p.write(w, rt, first, t, k); err != nil {
			return ref, explain(src, first.Identifier(), err)
		}
	}
	// t is whole in the registry now: each other tag is one PUT.
	for _, tag := range rest {
		if err := w.Put(p.ctx, repo.Tag(tag), t); err != nil {
			return ref, explain(src, tag, err)
		}
	}
	p.remember(repo, t)
	return ref, nil
}

// explain says what a failed push means: an unreachable registry, a blob
// missing from the remote cache, or what the registry answered.
func explain(src registry.Source, ref string, err error) error {
	if errors.Is(err, cas.ErrNotFound) {
		return fmt.Errorf("%s: %w; nothing was tagged", src, err)
	}
	if unreachable(err) {
		// The request in err names the registry: the destination, or the
		// source of a pulled base layer.
		host := src.Registry
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			if u, perr := url.Parse(urlErr.URL); perr == nil && u.Host != "" {
				host = u.Host
			}
		}
		return fmt.Errorf("pushing to %s: %w", src, Unreachable(host, err))
	}
	return registry.Explain(src, ref, err)
}

// skipForeign says, a line each, which layers of t the push leaves out:
// foreign (non-distributable) layers, which go-containerregistry never
// uploads. The manifest keeps their descriptors, urls included, and
// runtimes fetch them from their urls.
func (p *Pusher) skipForeign(t remote.Taggable) {
	seen := map[v1.Hash]bool{}
	for _, img := range imagesOf(t) {
		m, err := img.Manifest()
		if err != nil {
			continue
		}
		for _, l := range m.Layers {
			if l.MediaType.IsDistributable() || seen[l.Digest] {
				continue
			}
			seen[l.Digest] = true
			atomic.AddInt64(&p.Stats.Foreign, 1)
			where := "it has no urls"
			if len(l.URLs) > 0 {
				where = "its urls: " + strings.Join(l.URLs, " ")
			}
			p.transport.logf("foreign  %s not uploaded: a non-distributable layer (%s), which runtimes fetch from its urls; %s", l.Digest, l.MediaType, where)
		}
	}
}

// remember records the blobs of t as present in repo.
func (p *Pusher) remember(repo name.Repository, t remote.Taggable) {
	p.Mounts.record(layerDigests(t), repo)
}

// layerDigests lists the blobs of t's layers that a push uploads.
func layerDigests(t remote.Taggable) []string {
	var digests []string
	for _, img := range imagesOf(t) {
		m, err := img.Manifest()
		if err != nil {
			continue
		}
		for _, l := range m.Layers {
			if l.MediaType.IsDistributable() { // foreign ones are never uploaded
				digests = append(digests, l.Digest.String())
			}
		}
	}
	return digests
}

// imagesOf lists the image, or the images of the index.
func imagesOf(t remote.Taggable) []v1.Image {
	var images []v1.Image
	switch v := t.(type) {
	case v1.Image:
		images = append(images, v)
	case v1.ImageIndex:
		m, err := v.IndexManifest()
		if err != nil {
			return nil
		}
		for _, d := range m.Manifests {
			if img, err := v.Image(d.Digest); err == nil {
				images = append(images, img)
			}
		}
	}
	return images
}

func digestOf(t remote.Taggable) (v1.Hash, error) {
	if d, ok := t.(interface{ Digest() (v1.Hash, error) }); ok {
		return d.Digest()
	}
	return v1.Hash{}, fmt.Errorf("cannot compute the digest of %T", t)
}

// Context is the context the Pusher was made with.
func (p *Pusher) Context() context.Context { return p.ctx }

// destination checks target and names t's repository and digest there.
func destination(t remote.Taggable, target Target) (name.Repository, name.Digest, error) {
	if err := target.Validate(); err != nil {
		return name.Repository{}, name.Digest{}, err
	}
	repo, err := name.NewRepository(target.Registry + "/" + target.Repository)
	if err != nil {
		return repo, name.Digest{}, err
	}
	digest, err := digestOf(t)
	if err != nil {
		return repo, name.Digest{}, err
	}
	return repo, repo.Digest(digest.String()), nil
}
