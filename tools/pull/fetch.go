package pull

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/rules-img/rules_img/generator"
	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/lock"
	"github.com/rules-img/rules_img/tools/registry"
)

// Kind says at which registry endpoint a digest is read: manifests
// (indexes included) and blobs (configs, layers) are served apart.
type Kind string

// Kinds of content.
const (
	KindManifest Kind = "manifest"
	KindBlob     Kind = "blob"
)

// A Fetcher puts manifests and blobs into a repository, each at its
// generator.BlobFile path, their bytes checked against their digests.
type Fetcher interface {
	// Fetch makes sure that every descriptor's digest is in the
	// repository. Digests already there are left as they are. No more
	// than a descriptor's size is read, nor more than
	// registry.MaxManifestSize for a manifest (size 0: not known).
	Fetch(kind Kind, descs []lock.Descriptor) error
}

// Need is a download that Bazel's downloader is still to do.
type Need struct {
	Kind   Kind   `json:"kind"`
	Digest string `json:"digest"`
	// Size is what the descriptor declares; 0 for a manifest whose
	// descriptor is not at hand.
	Size int64 `json:"size,omitempty"`
	// Path is where to put it, relative to the repository.
	Path string `json:"path"`
}

// MissingError lists what a Downloaded fetcher lacks. The repository rule
// downloads it and runs the img tool again; each run gets one step
// further (the index, its manifests, their configs, the layers), so a
// pull takes a few rounds.
type MissingError struct {
	Needs []Need
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%d manifests or blobs are still to be downloaded, the first %s", len(e.Needs), e.Needs[0].Digest)
}

// FromRegistries downloads from the registries, mirrors first: the img
// tool's downloader.
func FromRegistries(c *registry.Client, sources []registry.Source, repo string) Fetcher {
	return registryFetcher{c: c, sources: sources, repo: repo}
}

// Downloaded takes the files that Bazel's downloader put into the
// repository, and fails with a *MissingError naming those it lacks.
func Downloaded(repo string) Fetcher { return downloaded{repo: repo} }

type registryFetcher struct {
	c       *registry.Client
	sources []registry.Source
	repo    string
}

func (r registryFetcher) Fetch(kind Kind, descs []lock.Descriptor) error {
	for _, d := range unique(descs) {
		path := filepath.Join(r.repo, generator.BlobFile(d.Digest))
		if exists(path) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		var err error
		switch kind {
		case KindManifest:
			err = r.manifest(d, path)
		case KindBlob:
			err = r.blob(d, path)
		default:
			err = fmt.Errorf("unknown kind %q", kind)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (r registryFetcher) manifest(d lock.Descriptor, path string) error {
	desc, _, err := r.c.Manifest(r.sources, d.Digest, d.Size)
	if err != nil {
		return err
	}
	return blob.WriteFileAtomic(path, desc.Manifest)
}

// blob streams the blob to a temporary file, renamed once its digest
// matched.
func (r registryFetcher) blob(d lock.Descriptor, path string) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = r.c.Blob(r.sources, d.Digest, d.Size, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

type downloaded struct{ repo string }

func (d downloaded) Fetch(kind Kind, descs []lock.Descriptor) error {
	var needs []Need
	for _, desc := range unique(descs) {
		path := generator.BlobFile(desc.Digest)
		if !exists(filepath.Join(d.repo, path)) {
			needs = append(needs, Need{Kind: kind, Digest: desc.Digest, Size: desc.Size, Path: path})
		}
	}
	if len(needs) > 0 {
		return &MissingError{Needs: needs}
	}
	return nil
}

// readVerified reads a fetched manifest or config, at most limit bytes
// (what the descriptor declares, or the most such a file may have), and
// checks its digest. Bazel's downloader checks only the digest, so a file
// it wrote may be of any size.
func readVerified(repo, digest string, limit int64) ([]byte, error) {
	path := filepath.Join(repo, generator.BlobFile(digest))
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s has more than the %d bytes %s may have", generator.BlobFile(digest), limit, digest)
	}
	sum := sha256.Sum256(data)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != digest {
		return nil, fmt.Errorf("%s holds %s, not %s", generator.BlobFile(digest), got, digest)
	}
	return data, nil
}

// dirReader reads what a Fetcher put into the repository, for lock.FromRoot.
type dirReader string

func (r dirReader) Manifest(digest string, size int64) ([]byte, error) {
	return readVerified(string(r), digest, bound(size, registry.MaxManifestSize))
}
func (r dirReader) Blob(digest string, size int64) ([]byte, error) {
	return readVerified(string(r), digest, bound(size, registry.MaxConfigSize))
}

// bound is the declared size when one is known and within max, else max.
func bound(declared, max int64) int64 {
	if declared > 0 && declared < max {
		return declared
	}
	return max
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

func unique(descs []lock.Descriptor) []lock.Descriptor {
	seen := map[string]bool{}
	var out []lock.Descriptor
	for _, d := range descs {
		if !seen[d.Digest] {
			seen[d.Digest] = true
			out = append(out, d)
		}
	}
	return out
}

// sourceStrings renders registry/repository places for layer metadata.
func sourceStrings(sources []registry.Source) []string {
	var out []string
	for _, s := range sources {
		out = append(out, s.String())
	}
	return out
}
