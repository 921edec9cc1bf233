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
	}}
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

// Manifest fetches the manifest with the given digest and checks its bytes.
func (c *Client) Manifest(sources []Source, digest string) (*remote.Descriptor, Source, error) {
	desc, src, err := c.Get(sources, digest)
	if err != nil {
		return nil, src, err
	}
	if got := sha256Hex(desc.Manifest); "sha256:"+got != digest {
		return nil, src, fmt.Errorf("%s served sha256:%s for manifest %s: the registry or a proxy changed it", src, got, digest)
	}
	return desc, src, nil
}

// Blob streams the blob with the given digest into w from the first source
// that has it, and fails if its bytes do not match the digest. Nothing is
// written to w unless the source answered.
func (c *Client) Blob(sources []Source, digest string, w io.Writer) (Source, error) {
	h, err := v1.NewHash(digest)
	if err != nil {
		return Source{}, err
	}
	var errs []error
	for _, src := range sources {
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
		err = copyVerified(w, rc, h)
		rc.Close()
		if err != nil {
			return src, fmt.Errorf("blob %s from %s: %w", digest, src, explain(src, digest, err))
		}
		return src, nil
	}
	return Source{}, errors.Join(errs...)
}

func copyVerified(w io.Writer, r io.Reader, want v1.Hash) error {
	hasher := sha256.New()
	if _, err := io.Copy(io.MultiWriter(w, hasher), r); err != nil {
		return err
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
