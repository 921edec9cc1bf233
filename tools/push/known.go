package push

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// A push of a fleet spends most of its requests asking the registry about
// blobs it has: go-containerregistry HEADs every blob before it uploads or
// mounts it. Two things say so without asking. A registry keeps every blob
// of a manifest that a tag names, so the blobs of the manifest that the
// first tag names now are there; and a mount answers 201 whether the blob
// was mounted or was there already, so a mount needs no HEAD before it.
// The push then leaves those blobs out of what it writes (see write).
// All of it is an optimization: any failure leaves the blob to the usual
// path, with its retries and errors.

// known is what the push learned before it started.
type known struct {
	// tagged: the first tag names this very manifest already.
	tagged bool
	// read: the push knows what the first tag named: another manifest,
	// which was read, or nothing (the registry answered 404).
	read bool
	// blobs the repository has.
	blobs map[v1.Hash]bool
	// manifests the repository has: the images of the index read.
	manifests map[v1.Hash]bool
}

// maxPriorImages bounds the images of a tagged index that are read.
const maxPriorImages = 32

// learn reads the manifest that the first tag names and mounts the
// mountable blobs of t; rt is the push's transport.
func (p *Pusher) learn(rt http.RoundTripper, repo name.Repository, ref name.Digest, t remote.Taggable, target Target) known {
	k := known{blobs: map[v1.Hash]bool{}, manifests: map[v1.Hash]bool{}}
	if len(target.Tags) > 0 {
		p.readPrior(rt, repo.Tag(target.Tags[0]), ref.DigestStr(), t, &k)
		if k.tagged {
			// Every blob of t is there; other tags need only their PUT.
			for _, img := range imagesOf(t) {
				addImageBlobs(img, k.blobs)
			}
			return k
		}
		atomic.AddInt64(&p.Stats.Known, int64(countBlobs(t, k.blobs)))
	}
	p.mountFirst(rt, repo, t, k.blobs)
	return k
}

// countBlobs counts the distinct blobs of t in blobs.
func countBlobs(t remote.Taggable, blobs map[v1.Hash]bool) int {
	mine := map[v1.Hash]bool{}
	for _, img := range imagesOf(t) {
		addImageBlobs(img, mine)
	}
	n := 0
	for d := range mine {
		if blobs[d] {
			n++
		}
	}
	return n
}

// readPrior fills k from the manifest that tag names: whether it is
// digest, and the blobs of it and of its images if it is an index. The
// images are read one by one while two or more layers of t are unknown:
// a read saves at most one HEAD per unknown layer, so with one left it
// cannot save more than the request it costs.
func (p *Pusher) readPrior(rt http.RoundTripper, tag name.Tag, digest string, t remote.Taggable, k *known) {
	reader, err := remote.NewPuller(remote.WithTransport(rt), remote.WithContext(p.ctx))
	if err != nil {
		return
	}
	desc, err := reader.Get(p.ctx, tag)
	if err != nil {
		// No such tag: nothing is known, and that is known. Any other
		// failure: the push asks as usual.
		var terr *transport.Error
		k.read = errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
		return
	}
	if desc.Digest.String() == digest {
		k.tagged = true
		return
	}
	if !desc.MediaType.IsIndex() {
		k.read = addManifestBlobs(desc.Manifest, k.blobs)
		k.manifests[desc.Digest] = k.read
		return
	}
	index, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return
	}
	k.read = true
	ours := map[v1.Hash]v1.Image{}
	for _, img := range imagesOf(t) {
		if d, err := img.Digest(); err == nil {
			ours[d] = img
		}
	}
	var others []v1.Hash
	for _, child := range index.Manifests {
		if !child.MediaType.IsImage() {
			continue
		}
		if img, ok := ours[child.Digest]; ok {
			// The same image: its manifest and blobs are there.
			k.manifests[child.Digest] = true
			addImageBlobs(img, k.blobs)
			continue
		}
		others = append(others, child.Digest)
	}
	for i, d := range others {
		if i == maxPriorImages || unknownLayers(t, k.blobs) < 2 {
			break
		}
		got, err := reader.Get(p.ctx, tag.Context().Digest(d.String()))
		if err != nil {
			continue
		}
		addManifestBlobs(got.Manifest, k.blobs)
	}
}

// unknownLayers counts the distinct distributable layers of t that blobs
// lacks; a manifest that cannot be read counts as many.
func unknownLayers(t remote.Taggable, blobs map[v1.Hash]bool) int {
	unknown := map[v1.Hash]bool{}
	for _, img := range imagesOf(t) {
		m, err := img.Manifest()
		if err != nil {
			return math.MaxInt
		}
		for _, l := range m.Layers {
			if l.MediaType.IsDistributable() && !blobs[l.Digest] {
				unknown[l.Digest] = true
			}
		}
	}
	return len(unknown)
}

// mountFirst mounts, without asking first, each layer of t that a push of
// this run put in another repository of the registry; the mounted ones
// join blobs.
func (p *Pusher) mountFirst(rt http.RoundTripper, repo name.Repository, t remote.Taggable, blobs map[v1.Hash]bool) {
	var todo []mountable
	for _, m := range mountablesOf(t, repo) {
		if !blobs[m.digest] {
			todo = append(todo, m)
		}
	}
	if len(todo) == 0 {
		return
	}
	c := &http.Client{Transport: rt}
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(Jobs * 4)
	for _, m := range todo {
		g.Go(func() error {
			if mountBlob(p.ctx, c, repo, m.digest, m.from.RepositoryStr()) {
				mu.Lock()
				blobs[m.digest] = true
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
}

// mountBlob asks the registry to mount digest from another repository
// (the distribution spec's cross-repository mount) and reports whether it
// is in repo now. A registry that opened an upload instead has it
// cancelled.
func mountBlob(ctx context.Context, c *http.Client, repo name.Repository, digest v1.Hash, from string) bool {
	resp, err := startUpload(ctx, c, repo, url.Values{"mount": {digest.String()}, "from": {from}})
	if err != nil {
		return false
	}
	if resp.StatusCode == http.StatusAccepted {
		if loc, err := resp.Location(); err == nil {
			if del, err := http.NewRequestWithContext(ctx, http.MethodDelete, loc.String(), nil); err == nil {
				if r, err := c.Do(del); err == nil {
					r.Body.Close()
				}
			}
		}
	}
	return resp.StatusCode == http.StatusCreated
}

// mountable is a layer blob of t that another repository of the
// registry has.
type mountable struct {
	digest v1.Hash
	from   name.Repository
}

// mountablesOf lists the distinct blobs of t that can be mounted into
// repo from another repository of its registry.
func mountablesOf(t remote.Taggable, repo name.Repository) []mountable {
	var out []mountable
	seen := map[v1.Hash]bool{}
	for _, img := range imagesOf(t) {
		layers, err := img.Layers()
		if err != nil {
			continue
		}
		for _, l := range layers {
			ml, ok := l.(*remote.MountableLayer)
			if !ok {
				continue
			}
			from := ml.Reference.Context()
			d, err := l.Digest()
			if err != nil || seen[d] || from.RegistryStr() != repo.RegistryStr() || from == repo {
				continue
			}
			seen[d] = true
			out = append(out, mountable{d, from})
		}
	}
	return out
}

// mountSources lists the repositories that t's layers can be mounted
// into repo from.
func mountSources(t remote.Taggable, repo name.Repository) []name.Repository {
	var sources []name.Repository
	seen := map[name.Repository]bool{}
	for _, m := range mountablesOf(t, repo) {
		if !seen[m.from] {
			seen[m.from] = true
			sources = append(sources, m.from)
		}
	}
	return sources
}

// addManifestBlobs adds the blobs of manifest raw; false if it is none.
func addManifestBlobs(raw []byte, blobs map[v1.Hash]bool) bool {
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil || m.Config.Digest.Hex == "" {
		return false
	}
	blobs[m.Config.Digest] = true
	for _, l := range m.Layers {
		if l.MediaType.IsDistributable() {
			blobs[l.Digest] = true
		}
	}
	return true
}

func addImageBlobs(img v1.Image, blobs map[v1.Hash]bool) {
	if raw, err := img.RawManifest(); err == nil {
		addManifestBlobs(raw, blobs)
	}
}

// withKnown hides from go-containerregistry the layers of t that the
// repository has, so that it neither asks about them nor sends them; the
// manifests stay whole.
func withKnown(t remote.Taggable, blobs map[v1.Hash]bool) remote.Taggable {
	if len(blobs) == 0 {
		return t
	}
	switch v := t.(type) {
	case v1.ImageIndex:
		return knownIndex{v, blobs}
	case v1.Image:
		return knownImage{v, blobs}
	}
	return t
}

type knownImage struct {
	v1.Image
	blobs map[v1.Hash]bool
}

func (i knownImage) Layers() ([]v1.Layer, error) {
	layers, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	var rest []v1.Layer
	for _, l := range layers {
		if d, err := l.Digest(); err == nil && i.blobs[d] {
			continue
		}
		rest = append(rest, l)
	}
	return rest, nil
}

type knownIndex struct {
	index v1.ImageIndex
	blobs map[v1.Hash]bool
}

func (i knownIndex) MediaType() (types.MediaType, error)       { return i.index.MediaType() }
func (i knownIndex) Digest() (v1.Hash, error)                  { return i.index.Digest() }
func (i knownIndex) Size() (int64, error)                      { return i.index.Size() }
func (i knownIndex) IndexManifest() (*v1.IndexManifest, error) { return i.index.IndexManifest() }
func (i knownIndex) RawManifest() ([]byte, error)              { return i.index.RawManifest() }

func (i knownIndex) Image(h v1.Hash) (v1.Image, error) {
	img, err := i.index.Image(h)
	if err != nil {
		return nil, err
	}
	return knownImage{img, i.blobs}, nil
}

func (i knownIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	idx, err := i.index.ImageIndex(h)
	if err != nil {
		return nil, err
	}
	return knownIndex{idx, i.blobs}, nil
}
