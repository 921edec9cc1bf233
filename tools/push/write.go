package push

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"
)

// write puts t under ref, its blobs and its images' manifests first.
//
// go-containerregistry's Push asks the registry, with a HEAD, about each
// manifest and blob before it writes it. When the push has read the
// manifest that the tag named before (k.read), most answers are known: the
// blobs that manifest named are there, and an image that changed is not.
// So an image not in k.manifests has its manifest PUT with no HEAD before
// it, and its config, a small blob that changes with the image, goes up
// in one POST and one PUT with no HEAD. Its layers that k does not know go
// through go-containerregistry's Upload: a HEAD, then a mount or an upload,
// with retries. Without such a read, Push asks as usual.
func (p *Pusher) write(w *remote.Pusher, rt http.RoundTripper, ref name.Reference, t remote.Taggable, k known) error {
	if !k.read || hasNestedIndex(t) {
		return w.Push(p.ctx, ref, withKnown(t, k.blobs))
	}
	repo := ref.Context()
	c := &http.Client{Transport: rt}
	if idx, ok := t.(v1.ImageIndex); ok {
		m, err := idx.IndexManifest()
		if err != nil {
			return err
		}
		g, ctx := errgroup.WithContext(p.ctx)
		g.SetLimit(Jobs)
		for _, d := range m.Manifests {
			if k.manifests[d.Digest] {
				continue
			}
			img, err := idx.Image(d.Digest)
			if err != nil {
				return fmt.Errorf("manifest %s of the index: %w", d.Digest, err)
			}
			g.Go(func() error {
				return p.writeImage(ctx, w, c, repo.Digest(d.Digest.String()), img, k.blobs)
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		return w.Put(p.ctx, ref, t)
	}
	img, ok := t.(v1.Image)
	if !ok {
		return w.Push(p.ctx, ref, withKnown(t, k.blobs))
	}
	return p.writeImage(p.ctx, w, c, ref, img, k.blobs)
}

// writeImage uploads the blobs of img that blobs does not name, then puts
// its manifest under ref.
func (p *Pusher) writeImage(ctx context.Context, w *remote.Pusher, c *http.Client, ref name.Reference, img v1.Image, blobs map[v1.Hash]bool) error {
	repo := ref.Context()
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(Jobs)
	for _, l := range layers {
		if d, err := l.Digest(); err == nil && blobs[d] {
			continue
		}
		g.Go(func() error { return w.Upload(gctx, repo, l) })
	}
	cfg, err := img.ConfigName()
	if err != nil {
		return err
	}
	if !blobs[cfg] {
		g.Go(func() error {
			raw, err := img.RawConfigFile()
			if err != nil {
				return err
			}
			if putBlob(gctx, c, repo, cfg, raw) {
				return nil
			}
			// go-containerregistry's path, with its retries and errors.
			l, err := partial.ConfigLayer(img)
			if err != nil {
				return err
			}
			return w.Upload(gctx, repo, l)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return w.Put(ctx, ref, img)
}

// putBlob uploads a small blob in one POST and one PUT (the distribution
// spec's monolithic upload) and reports whether the registry took it.
func putBlob(ctx context.Context, c *http.Client, repo name.Repository, digest v1.Hash, data []byte) bool {
	resp, err := startUpload(ctx, c, repo, nil)
	if err != nil {
		return false
	}
	if resp.StatusCode != http.StatusAccepted {
		return false
	}
	loc, err := resp.Location()
	if err != nil {
		return false
	}
	q := loc.Query()
	q.Set("digest", digest.String())
	loc.RawQuery = q.Encode()
	put, err := http.NewRequestWithContext(ctx, http.MethodPut, loc.String(), bytes.NewReader(data))
	if err != nil {
		return false
	}
	put.Header.Set("Content-Type", "application/octet-stream")
	put.Header.Set("Content-Length", strconv.Itoa(len(data)))
	resp, err = c.Do(put)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusCreated
}

// startUpload POSTs to repo's uploads endpoint with query; the answer's
// body is closed.
func startUpload(ctx context.Context, c *http.Client, repo name.Repository, query url.Values) (*http.Response, error) {
	u := url.URL{
		Scheme:   repo.Scheme(),
		Host:     repo.RegistryStr(),
		Path:     fmt.Sprintf("/v2/%s/blobs/uploads/", repo.RepositoryStr()),
		RawQuery: query.Encode(),
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return resp, nil
}

// hasNestedIndex reports whether t is an index with an index in it.
func hasNestedIndex(t remote.Taggable) bool {
	idx, ok := t.(v1.ImageIndex)
	if !ok {
		return false
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return true
	}
	for _, d := range m.Manifests {
		if d.MediaType.IsIndex() {
			return true
		}
	}
	return false
}
