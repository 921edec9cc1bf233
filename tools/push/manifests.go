package push

import (
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/rules-img/rules_img/tools/registry"
)

// PutManifests writes t's manifests and tags and no blob, for a
// cas_registry server: it serves every blob from the remote cache, and
// checks that the cache has each one a manifest names. The manifests of an
// index go first, by digest, then the index; the tags last.
func (p *Pusher) PutManifests(t remote.Taggable, target Target) (name.Digest, error) {
	repo, ref, err := destination(t, target)
	if err != nil {
		return ref, err
	}
	src := registry.Source{Registry: target.Registry, Repository: target.Repository}
	_, w, done, err := p.connect(repo, nil)
	if err != nil {
		return ref, explain(src, ref.DigestStr(), err)
	}
	defer done()
	if idx, ok := t.(v1.ImageIndex); ok {
		m, err := idx.IndexManifest()
		if err != nil {
			return ref, err
		}
		for _, d := range m.Manifests {
			img, err := idx.Image(d.Digest)
			if err != nil {
				return ref, fmt.Errorf("manifest %s of the index: %w", d.Digest, err)
			}
			if err := w.Put(p.ctx, repo.Digest(d.Digest.String()), img); err != nil {
				return ref, explain(src, d.Digest.String(), err)
			}
		}
	}
	if err := w.Put(p.ctx, ref, t); err != nil {
		return ref, explain(src, ref.DigestStr(), err)
	}
	for _, tag := range target.Tags {
		if err := w.Put(p.ctx, repo.Tag(tag), t); err != nil {
			return ref, explain(src, tag, err)
		}
	}
	return ref, nil
}
