// Package registry reads images and blobs from registries, trying mirrors in
// order, and verifies every byte against its digest.
package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/rules-img/rules_img/tools/auth"
)

// Source is one place where an image can be found.
type Source struct {
	Registry   string
	Repository string
}

func (s Source) String() string { return s.Registry + "/" + s.Repository }

// URL tells a source that is the url of a blob (one of a foreign layer's
// urls) rather than a repository of a registry, and gives it. Such a
// source is URLSource(u), whose String() is u: written as a
// "registry/repository" place (fetch-blob's --source), a url splits at
// its first '/' into "http:" and "/host/path".
func (s Source) URL() (string, bool) {
	u := s.String()
	if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
		return u, true
	}
	return "", false
}

// URLSource is the source of a blob at the url u.
func URLSource(u string) Source {
	reg, rest, _ := strings.Cut(u, "/")
	return Source{Registry: reg, Repository: rest}
}

func (s Source) repository() (name.Repository, error) {
	repo, err := name.NewRepository(s.String())
	if err != nil {
		return repo, fmt.Errorf("%s is not a valid repository: %w", s, err)
	}
	return repo, nil
}

// Sources lists the same repository on several registries, mirrors first.
func Sources(registries []string, repository string) []Source {
	sources := make([]Source, len(registries))
	for i, r := range registries {
		sources[i] = Source{Registry: r, Repository: repository}
	}
	return sources
}

// Caps on what is read for a descriptor whose size is not known first, or
// whose declared size is not to be trusted with memory.
const (
	// MaxManifestSize bounds manifests and indexes, as distribution does
	// (4 MiB): a registry that serves more is refused.
	MaxManifestSize = 4 << 20
	// MaxConfigSize bounds image configs, which are read into memory:
	// 8 MiB is many times the largest known (history of 127 layers,
	// labels, environment), far from what a hostile registry would send.
	MaxConfigSize = 8 << 20
	// SizeUnknown is the size of a blob whose descriptor is not at hand.
	SizeUnknown = -1
)

// Client reads from registries with rules_img's keychain.
type Client struct {
	ctx  context.Context
	opts []remote.Option
}

// New returns a client whose requests end with ctx.
func New(ctx context.Context) *Client {
	return &Client{ctx: ctx, opts: []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(auth.Keychain()),
		remote.WithUserAgent("rules_img"),
		remote.WithTransport(manifestLimit{http.DefaultTransport}),
	}}
}

// manifestLimit caps the body of every manifest GET at MaxManifestSize, so
// that remote.Get (which itself stops at 100 MiB) never holds more.
type manifestLimit struct{ next http.RoundTripper }

func (t manifestLimit) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || req.Method != http.MethodGet || !strings.Contains(req.URL.Path, "/manifests/") {
		return resp, err
	}
	if resp.ContentLength > MaxManifestSize {
		resp.Body.Close()
		return nil, fmt.Errorf("%s: the manifest has %d bytes, more than the %d a manifest may have", req.URL.Redacted(), resp.ContentLength, MaxManifestSize)
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: MaxManifestSize, what: "manifest " + req.URL.Redacted()}
	return resp, nil
}

// limitedBody fails once more than left bytes come.
type limitedBody struct {
	io.ReadCloser
	left int64
	what string
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	if int64(n) > b.left {
		return 0, fmt.Errorf("%s: more than %d bytes", b.what, MaxManifestSize)
	}
	b.left -= int64(n)
	return n, err
}

// Get resolves ref, a tag or a digest, at the first source that has it.
func (c *Client) Get(sources []Source, ref string) (*remote.Descriptor, Source, error) {
	var errs []error
	for _, src := range sources {
		repo, err := src.repository()
		if err != nil {
			return nil, src, err
		}
		var r name.Reference
		if strings.HasPrefix(ref, "sha256:") {
			r = repo.Digest(ref)
		} else {
			r = repo.Tag(ref)
		}
		desc, err := remote.Get(r, c.opts...)
		if err == nil {
			return desc, src, nil
		}
		errs = append(errs, explain(src, ref, err))
	}
	return nil, Source{}, errors.Join(errs...)
}

// Manifest fetches the manifest with the given digest and checks its bytes;
// size, when above 0, is the size its descriptor declares. No manifest is
// read beyond MaxManifestSize.
func (c *Client) Manifest(sources []Source, digest string, size int64) (*remote.Descriptor, Source, error) {
	if size > MaxManifestSize {
		return nil, Source{}, fmt.Errorf("manifest %s: its descriptor declares %d bytes, more than the %d a manifest may have", digest, size, MaxManifestSize)
	}
	desc, src, err := c.Get(sources, digest)
	if err != nil {
		return nil, src, err
	}
	if size > 0 && int64(len(desc.Manifest)) != size {
		return nil, src, fmt.Errorf("%s served %d bytes for manifest %s, whose descriptor declares %d", src, len(desc.Manifest), digest, size)
	}
	if got := sha256Hex(desc.Manifest); "sha256:"+got != digest {
		return nil, src, fmt.Errorf("%s served sha256:%s for manifest %s: the registry or a proxy changed it", src, got, digest)
	}
	return desc, src, nil
}

// Blob streams the blob with the given digest and declared size into w
// from the first source that has it, and fails if its bytes do not match
// the digest or the size: no more than size bytes are read. SizeUnknown
// reads to the end (fetch-blob of a remote_blob without a size). Nothing
// is written to w unless the source answered.
func (c *Client) Blob(sources []Source, digest string, size int64, w io.Writer) (Source, error) {
	h, err := v1.NewHash(digest)
	if err != nil {
		return Source{}, err
	}
	if size < 0 && size != SizeUnknown {
		return Source{}, fmt.Errorf("blob %s: declared size %d", digest, size)
	}
	var errs []error
	for _, src := range sources {
		if u, ok := src.URL(); ok {
			rc, err := OpenURL(c.ctx, u)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			err = copyVerified(w, rc, h, size)
			rc.Close()
			if err != nil {
				return src, fmt.Errorf("blob %s from %s: %w", digest, u, err)
			}
			return src, nil
		}
		repo, err := src.repository()
		if err != nil {
			return src, err
		}
		layer, err := remote.Layer(repo.Digest(digest), c.opts...)
		if err != nil {
			errs = append(errs, explain(src, digest, err))
			continue
		}
		rc, err := layer.Compressed()
		if err != nil {
			errs = append(errs, explain(src, digest, err))
			continue
		}
		err = copyVerified(w, rc, h, size)
		rc.Close()
		if err != nil {
			return src, fmt.Errorf("blob %s from %s: %w", digest, src, explain(src, digest, err))
		}
		return src, nil
	}
	return Source{}, errors.Join(errs...)
}

// OpenURL GETs a blob from one of a foreign layer's urls: a plain HTTP(S)
// download, without registry credentials (the url's server is not the
// registry). Unlike go-containerregistry, it allows any host, private
// addresses included: the urls come from a manifest pinned by digest (the
// lockfile's), and what they serve is checked against the layer's digest.
func OpenURL(ctx context.Context, u string) (io.ReadCloser, error) {
	parsed, err := url.Parse(u)
	if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
		return nil, fmt.Errorf("foreign layer url %q is not an http or https url", u)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "rules_img")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("foreign layer url %s: %w", parsed.Redacted(), err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("foreign layer url %s answered %s", parsed.Redacted(), resp.Status)
	}
	return resp.Body, nil
}

// copyVerified copies r to w, reading at most size+1 bytes: a blob
// longer or shorter than its descriptor says is refused, whatever the
// source sends.
func copyVerified(w io.Writer, r io.Reader, want v1.Hash, size int64) error {
	hasher := sha256.New()
	if size != SizeUnknown {
		r = io.LimitReader(r, size+1)
	}
	n, err := io.Copy(io.MultiWriter(w, hasher), r)
	if err != nil {
		return err
	}
	if size != SizeUnknown && n != size {
		if n > size {
			return fmt.Errorf("it has more than the %d bytes its descriptor declares", size)
		}
		return fmt.Errorf("it has %d bytes, its descriptor declares %d", n, size)
	}
	if got := hex.EncodeToString(hasher.Sum(nil)); got != want.Hex {
		return fmt.Errorf("its content has digest sha256:%s", got)
	}
	return nil
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Explain turns a registry error about ref at src into a message that says
// what to check.
func Explain(src Source, ref string, err error) error { return explain(src, ref, err) }

// explain turns a registry error into a message that says what to check.
func explain(src Source, ref string, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%s refused access to %s (HTTP %d): check the credentials for %s in Docker's config.json, its credential helpers, or $%s",
				src.Registry, src.Repository, terr.StatusCode, src.Registry, auth.CredentialHelperEnv)
		case http.StatusNotFound:
			return fmt.Errorf("%s has no %s in %s", src.Registry, ref, src.Repository)
		}
	}
	return fmt.Errorf("%s: %s: %w", src, ref, err)
}
