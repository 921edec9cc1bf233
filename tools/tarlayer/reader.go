// Package tarlayer makes a layer from an existing tar archive, plain, gzip
// or zstd. It checks every entry for what would be unsafe to unpack, then
// either describes the archive as it is, or writes it anew: recompressed,
// as eStargz, with duplicate files as hardlinks, with missing parent
// directories added.
package tarlayer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// maxLinkHops bounds symlink resolution, as Linux's ELOOP does (40).
const maxLinkHops = 40

// EntryError is an entry that the layer refuses.
type EntryError struct {
	Name   string // the entry's name as the tar has it
	Reason string
}

func (e *EntryError) Error() string { return fmt.Sprintf("entry %q: %s", e.Name, e.Reason) }

func refuse(name, format string, args ...any) error {
	return &EntryError{Name: name, Reason: fmt.Sprintf(format, args...)}
}

// Entry kinds the reader records by clean path.
type kind uint8

const (
	kindFile kind = iota // regular file, hardlink, fifo or device: something a hardlink may name
	kindDir
	kindSymlink
)

type symlink struct {
	name   string // as in the tar, for messages
	path   string // clean
	target string
}

// Checker is the policy of what a layer may hold, applied to tar headers
// in their order: the Reader applies it to the tars of layer_from_tar, and
// tools/layer to the entries it writes for image_layer, so that both rules
// accept the same names and symlinks. It refuses, with an EntryError:
//
//   - a name with a ".." component, absolute or not, and a whiteout of
//     "." or ".." (".wh..", ".wh..."), which would delete a directory of
//     the lower layers above the entry's own;
//   - an entry below a symlink of the same tar, which an unpacker would
//     write through the link;
//   - a second entry for the same path (directories excepted);
//   - a hardlink to a path that no earlier entry holds, or to a directory;
//   - a symlink whose target, resolved from its directory (and through
//     the tar's other symlinks), leaves the image root;
//   - a character or block device, unless devices are allowed;
//   - entry types a layer cannot hold (volume labels, ...), and sparse
//     files (GNU 'S' entries and PAX GNU.sparse.* records): their logical
//     size is whatever the header says, so reading one could last forever.
//
// Absolute names are read as relative to the image root, as runtimes do.
// The symlink checks run when the tar ends, in Finish.
type Checker struct {
	allowDevices bool
	paths        map[string]kind
	symlinks     []symlink
	targets      map[string]string // symlink path → target
}

// NewChecker starts checking the entries of one tar.
func NewChecker(allowDevices bool) *Checker {
	return &Checker{allowDevices: allowDevices, paths: map[string]kind{}, targets: map[string]string{}}
}

// Reader reads a tar stream like archive/tar's Reader and refuses what the
// Checker refuses. Next returns io.EOF only once the symlink checks passed.
type Reader struct {
	tr    *tar.Reader
	check *Checker
	count int
	name  string // of the current entry
	done  error
}

// NewReader reads the uncompressed tar stream r.
func NewReader(r io.Reader, allowDevices bool) *Reader {
	return &Reader{tr: tar.NewReader(r), check: NewChecker(allowDevices)}
}

// Read reads the content of the current entry.
func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.tr.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("reading entry %q: %w", r.name, err)
	}
	return n, err
}

// Next advances to the next entry and checks it. At the end of the tar it
// checks the symlinks and returns io.EOF, or the first error.
func (r *Reader) Next() (*tar.Header, error) {
	if r.done != nil {
		return nil, r.done
	}
	h, err := r.tr.Next()
	if err == io.EOF {
		err = r.check.Finish()
		if err == nil {
			err = io.EOF
		}
	} else if err != nil {
		err = fmt.Errorf("reading the tar after %d entries: %w", r.count, err)
	} else {
		r.count++
		r.name = h.Name
		err = r.check.Check(h)
	}
	if err != nil {
		r.done = err
		return nil, err
	}
	return h, nil
}

// CleanName is the path an entry name stands for in the image, without
// leading "/" or "./" and without a trailing slash; "." is the root. It
// fails on a ".." component.
func CleanName(name string) (string, error) {
	if name == "" {
		return "", refuse(name, "the name is empty")
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".wh.." || part == ".wh..." {
			return "", refuse(name, "%q would white out %q, a directory above the entry", part, strings.TrimPrefix(part, ".wh."))
		}
		if part == ".." {
			if strings.HasPrefix(name, "/") {
				return "", refuse(name, "the absolute path leaves the image root through '..'")
			}
			return "", refuse(name, "the path contains '..'; write it from the image root, without '..'")
		}
	}
	p := path.Clean("/" + name)
	if p == "/" {
		return ".", nil
	}
	return p[1:], nil
}

// Check checks the next entry's header.
func (r *Checker) Check(h *tar.Header) error {
	if h.Typeflag == tar.TypeXGlobalHeader {
		return nil // PAX defaults for later entries, not a file
	}
	if sparse(h) {
		return refuse(h.Name, "it is a sparse file; a layer holds regular files only: make the tar without --sparse (GNU tar -S)")
	}
	p, err := CleanName(h.Name)
	if err != nil {
		return err
	}
	var k kind
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeFifo:
		k = kindFile
	case tar.TypeDir:
		k = kindDir
	case tar.TypeSymlink:
		k = kindSymlink
		if h.Linkname == "" {
			return refuse(h.Name, "the symlink has an empty target")
		}
	case tar.TypeLink:
		k = kindFile
		if err := r.checkHardlink(h); err != nil {
			return err
		}
	case tar.TypeChar, tar.TypeBlock:
		k = kindFile
		if !r.allowDevices {
			return refuse(h.Name, "it is a %s device (%d, %d); allow devices (allow_devices = True) if the layer must hold it",
				map[byte]string{tar.TypeChar: "character", tar.TypeBlock: "block"}[h.Typeflag], h.Devmajor, h.Devminor)
		}
	default:
		return refuse(h.Name, "tar entry type %q is not one a layer holds (file, directory, symlink, hardlink, fifo or device)", string(h.Typeflag))
	}
	if p == "." && k != kindDir {
		return refuse(h.Name, "a %s cannot be the image root", kindName(k))
	}
	if link, ok := r.linkAbove(p); ok {
		return refuse(h.Name, "it is below the symlink %q of the same tar: unpacking would write through the link", link)
	}
	if prev, ok := r.paths[p]; ok && !(prev == kindDir && k == kindDir) {
		return refuse(h.Name, "a second entry for /%s (the first is a %s); keep one", p, kindName(prev))
	}
	r.paths[p] = k
	if k == kindSymlink {
		r.symlinks = append(r.symlinks, symlink{name: h.Name, path: p, target: h.Linkname})
		r.targets[p] = h.Linkname
	}
	return nil
}

func (r *Checker) checkHardlink(h *tar.Header) error {
	if h.Linkname == "" {
		return refuse(h.Name, "the hardlink has an empty target")
	}
	target, err := CleanName(h.Linkname)
	if err != nil {
		return refuse(h.Name, "hardlink target %q: %s", h.Linkname, err.(*EntryError).Reason)
	}
	k, ok := r.paths[target]
	if !ok {
		return refuse(h.Name, "hardlink to %q, which no earlier entry of the tar holds", h.Linkname)
	}
	if k == kindDir {
		return refuse(h.Name, "hardlink to the directory %q", h.Linkname)
	}
	return nil
}

// linkAbove returns the path of a symlink of the tar that is a parent of p.
func (r *Checker) linkAbove(p string) (string, bool) {
	if len(r.symlinks) == 0 {
		return "", false
	}
	for i := strings.IndexByte(p, '/'); i >= 0; i = nextSlash(p, i) {
		if r.paths[p[:i]] == kindSymlink {
			return "/" + p[:i], true
		}
	}
	return "", false
}

func nextSlash(p string, i int) int {
	j := strings.IndexByte(p[i+1:], '/')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// Finish checks, once every entry was checked, that every symlink
// resolves inside the image root.
func (r *Checker) Finish() error {
	for _, l := range r.symlinks {
		if err := r.resolve(l); err != nil {
			return err
		}
	}
	return nil
}

// resolve follows l's target from l's directory, component by component,
// the way the kernel would once the layer is unpacked, and fails when it
// climbs above the root. A symlink of the tar in the middle of the path is
// followed; the last component is not, as a symlink there is checked on
// its own. Paths the tar does not hold (lower layers) are taken for
// directories.
func (r *Checker) resolve(l symlink) error {
	var stack []string // resolved components below the root
	if !strings.HasPrefix(l.target, "/") {
		if dir := path.Dir(l.path); dir != "." {
			stack = strings.Split(dir, "/")
		}
	}
	pending := strings.Split(l.target, "/")
	hops := 0
	for len(pending) > 0 {
		part := pending[0]
		pending = pending[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			if len(stack) == 0 {
				return refuse(l.name, "symlink to %q leaves the image root when the layer is unpacked", l.target)
			}
			stack = stack[:len(stack)-1]
			continue
		}
		stack = append(stack, part)
		if len(pending) == 0 {
			break
		}
		p := strings.Join(stack, "/")
		target, ok := r.targets[p]
		if !ok {
			continue
		}
		hops++
		if hops > maxLinkHops {
			return refuse(l.name, "symlink to %q does not resolve within %d links (a loop?)", l.target, maxLinkHops)
		}
		stack = stack[:len(stack)-1]
		if strings.HasPrefix(target, "/") {
			stack = stack[:0]
		}
		pending = append(strings.Split(target, "/"), pending...)
	}
	return nil
}

// sparse reports a sparse file: GNU's old 'S' type, or the PAX records of
// GNU sparse formats 0.0, 0.1 and 1.0, which archive/tar turns into a
// regular file whose holes it makes up from the header's real size.
func sparse(h *tar.Header) bool {
	if h.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

func kindName(k kind) string {
	switch k {
	case kindDir:
		return "directory"
	case kindSymlink:
		return "symlink"
	}
	return "file"
}

// IsEntryError reports whether err refuses an entry.
func IsEntryError(err error) bool {
	var e *EntryError
	return errors.As(err, &e)
}
