package casregistry

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/rules-img/rules_img/tools/cas"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// disk keeps manifests, tags and the sizes of known blobs below a
// directory. Every file is written to a temporary name and renamed, so a
// crash leaves either the old or the new file, never half of one:
//
//	sizes/sha256/<hex>                                    size of a blob, in decimal, as the cache confirmed it
//	repositories/<name>/_manifests/revisions/sha256/<hex> media type, a newline, the manifest
//	repositories/<name>/_manifests/tags/<tag>             the digest the tag names
//	repositories/<name>/_manifests/referrers/sha256/<subject>/<hex>
//	                                                      the descriptor of manifest <hex>, whose subject is <subject>
//	repositories/<name>/_layers/sha256/<hex>              empty: the repository may serve this blob
//
// Repository name components never start with "_", and tags and hex digests
// never with ".", so these names cannot collide with each other or with
// the temporary files. A size, once written, is never changed. (Earlier
// versions kept sizes, unconfirmed, in blobs/sha256/: they are not
// read, and the images of such a directory are served again once pushed
// again. Manifests with a subject that such versions stored are listed
// as referrers once pushed again.)
type disk struct{ root string }

func (d disk) repoDir(name string) string {
	return filepath.Join(d.root, "repositories", filepath.FromSlash(name), "_manifests")
}

func (d disk) manifestPath(name, hex string) string {
	return filepath.Join(d.repoDir(name), "revisions", "sha256", hex)
}

func (d disk) tagPath(name, tag string) string {
	return filepath.Join(d.repoDir(name), "tags", tag)
}

func (d disk) referrersDir(name, subject string) string {
	return filepath.Join(d.repoDir(name), "referrers", "sha256", subject)
}

func (d disk) sizePath(hex string) string {
	return filepath.Join(d.root, "sizes", "sha256", hex)
}

func (d disk) linkPath(name, hex string) string {
	return filepath.Join(d.root, "repositories", filepath.FromSlash(name), "_layers", "sha256", hex)
}

// hasLink reports whether repository name may serve blob hex: a manifest
// of it names the blob, or the blob was uploaded or mounted into it.
func (d disk) hasLink(name, hex string) bool {
	_, err := os.Stat(d.linkPath(name, hex))
	return err == nil
}

func (d disk) putLink(name, hex string) error {
	if d.hasLink(name, hex) {
		return nil
	}
	return writeAtomic(d.linkPath(name, hex), nil)
}

// repoExists: a repository exists once a manifest was pushed to it.
func (d disk) repoExists(name string) bool {
	info, err := os.Stat(d.repoDir(name))
	return err == nil && info.IsDir()
}

// manifest returns a manifest's media type and bytes; fs.ErrNotExist if
// the repository has no such manifest.
func (d disk) manifest(name, hex string) (string, []byte, error) {
	data, err := os.ReadFile(d.manifestPath(name, hex))
	if err != nil {
		return "", nil, err
	}
	mediaType, raw, ok := bytes.Cut(data, []byte("\n"))
	if !ok {
		return "", nil, fmt.Errorf("manifest file %s is damaged: no media type line", d.manifestPath(name, hex))
	}
	return string(mediaType), raw, nil
}

func (d disk) putManifest(name, hex, mediaType string, raw []byte) error {
	data := append([]byte(mediaType+"\n"), raw...)
	return writeAtomic(d.manifestPath(name, hex), data)
}

// tag returns the hex digest a tag names; fs.ErrNotExist if none.
func (d disk) tag(name, tag string) (string, error) {
	data, err := os.ReadFile(d.tagPath(name, tag))
	if err != nil {
		return "", err
	}
	hex, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "sha256:")
	if !ok || (cas.Digest{Hash: hex}).Validate() != nil {
		return "", fmt.Errorf("tag file %s is damaged", d.tagPath(name, tag))
	}
	return hex, nil
}

func (d disk) putTag(name, tag, hex string) error {
	return writeAtomic(d.tagPath(name, tag), []byte("sha256:"+hex+"\n"))
}

// tags lists a repository's tags in lexical order.
func (d disk) tags(name string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(d.repoDir(name), "tags"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var tags []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			tags = append(tags, e.Name())
		}
	}
	sort.Strings(tags)
	return tags, nil
}

// putReferrer records that manifest hex of repository name has the
// subject subject, with desc, its descriptor in the referrers list.
func (d disk) putReferrer(name, subject, hex string, desc []byte) error {
	return writeAtomic(filepath.Join(d.referrersDir(name, subject), hex), desc)
}

// referrerEntries lists the manifests recorded as referrers of subject in
// repository name, in digest order, with the sizes of their descriptors.
// Entries whose manifest is gone from the repository are left out.
func (d disk) referrerEntries(name, subject string) ([]referrerEntry, error) {
	entries, err := os.ReadDir(d.referrersDir(name, subject))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []referrerEntry
	for _, e := range entries {
		hex := e.Name()
		if (cas.Digest{Hash: hex}).Validate() != nil {
			continue // a temporary file
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(d.manifestPath(name, hex)); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		out = append(out, referrerEntry{hex: hex, size: info.Size()})
	}
	return out, nil
}

// referrerEntry is a manifest recorded as a referrer, and the size of its
// descriptor.
type referrerEntry struct {
	hex  string
	size int64
}

// referrer returns the descriptor recorded for manifest hex as a referrer
// of subject; fs.ErrNotExist if none.
func (d disk) referrer(name, subject, hex string) ([]byte, error) {
	return os.ReadFile(filepath.Join(d.referrersDir(name, subject), hex))
}

// size returns the size of a blob as the cache confirmed it (or an upload
// of its bytes); false if it is unknown here. REAPI caches need the size
// to find a blob, and the blob URLs of the distribution API carry only the hash.
func (d disk) size(hex string) (int64, bool) {
	data, err := os.ReadFile(d.sizePath(hex))
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	return n, err == nil && n >= 0
}

// putSize records the size of a blob, unless one is recorded already: it
// returns the size recorded, which the caller compares with its own.
func (d disk) putSize(dg cas.Digest) (int64, error) {
	if n, ok := d.size(dg.Hash); ok {
		return n, nil
	}
	err := writeNew(d.sizePath(dg.Hash), []byte(strconv.FormatInt(dg.Size, 10)+"\n"))
	if errors.Is(err, fs.ErrExist) {
		// Another request recorded it first.
		if n, ok := d.size(dg.Hash); ok {
			return n, nil
		}
	}
	if err != nil {
		return 0, err
	}
	return dg.Size, nil
}

// writeNew writes data to path as writeAtomic does, but fails with
// fs.ErrExist rather than replace a file that is there: a hard link, not a
// rename, puts it in place.
func writeNew(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	return os.Link(tmp, path)
}

// writeAtomic writes data to a temporary file next to path, syncs it and
// renames it over path.
func writeAtomic(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // no-op after the rename
	return os.Rename(tmp, path)
}

// writeTemp writes and syncs data to a temporary file next to path and
// returns its name.
func writeTemp(path string, data []byte) (string, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
