package tarlayer

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/compress"
)

const bufferSize = 64 << 10

// Source is the archive a layer is made from.
type Source struct {
	Path string
	// Compression is what the archive's name says it is; Describe and
	// Rewrite fail when its first bytes say otherwise.
	Compression compress.Algorithm
	// AllowDevices lets character and block devices through.
	AllowDevices bool
}

// Describe reads the archive once and returns its metadata as a layer blob
// of its own: digest and size of the file, diff_id of the decompressed
// stream, media type of its compression. Every entry is checked on the way.
func Describe(src Source) (blob.LayerMetadata, error) {
	var meta blob.LayerMetadata
	f, err := os.Open(src.Path)
	if err != nil {
		return meta, err
	}
	defer f.Close()
	compressed := blob.NewDigestWriter(nil)
	br := bufio.NewReaderSize(io.TeeReader(f, compressed), bufferSize)
	uncompressed := blob.NewDigestWriter(nil)
	err = readAll(br, src, func(zr io.Reader) error {
		tr := NewReader(io.TeeReader(zr, uncompressed), src.AllowDevices)
		for {
			if _, err := tr.Next(); err == io.EOF {
				break
			} else if err != nil {
				return err
			}
			if _, err := io.Copy(io.Discard, tr); err != nil {
				return err
			}
		}
		// Bytes after the end-of-archive blocks are part of the stream,
		// and so of the diff_id.
		_, err := io.Copy(uncompressed, zr)
		return err
	})
	if err != nil {
		return meta, err
	}
	// The same for bytes after the compressed stream.
	if _, err := io.Copy(io.Discard, br); err != nil {
		return meta, err
	}
	return blob.LayerMetadata{
		MediaType: src.Compression.MediaType(),
		Digest:    compressed.Digest(),
		Size:      compressed.Size(),
		DiffID:    uncompressed.Digest(),
	}, nil
}

// readAll checks the compression of br against src and calls read with the
// decompressed stream.
func readAll(br *bufio.Reader, src Source, read func(io.Reader) error) error {
	got, err := compress.Detect(br)
	if err != nil {
		return fmt.Errorf("%s: %w", src.Path, err)
	}
	if got != src.Compression {
		return fmt.Errorf("%s is %s, but its name says %s: rename it to end in %s", src.Path, describe(got), describe(src.Compression), extension(got))
	}
	zr, err := compress.NewReader(br, got)
	if err != nil {
		return fmt.Errorf("%s: %w", src.Path, err)
	}
	defer zr.Close()
	if err := read(zr); err != nil {
		return fmt.Errorf("%s: %w", src.Path, err)
	}
	return nil
}

func describe(a compress.Algorithm) string {
	if a == compress.None {
		return "an uncompressed tar"
	}
	return string(a) + "-compressed"
}

func extension(a compress.Algorithm) string {
	switch a {
	case compress.Gzip:
		return ".tar.gz"
	case compress.Zstd:
		return ".tar.zst"
	}
	return ".tar"
}

// Rewrite says how the archive is written anew.
type Rewrite struct {
	Compression compress.Options
	// Deduplicate stores regular files of equal content and attributes
	// once: later ones become hardlinks to the first.
	Deduplicate bool
	// ParentDirectories adds an entry for each parent directory that the
	// archive lacks (0755, root, the epoch), before its first child.
	ParentDirectories bool
}

// Write checks the archive, then writes it anew as a layer blob at
// blobPath. Entry names become clean paths ("./usr/" → "usr/"); contents
// and attributes stay. The archive is read twice: the first pass checks
// every entry and finds duplicates before anything is written, so a
// refused archive leaves no blob behind.
func (rw Rewrite) Write(src Source, blobPath string) (meta blob.LayerMetadata, err error) {
	if err := rw.Compression.Validate(); err != nil {
		return meta, err
	}
	p, err := rw.plan(src)
	if err != nil {
		return meta, err
	}
	return compress.WriteBlob(blobPath, rw.Compression, func(w io.Writer) error { return rw.copy(src, p, w) })
}

// plan is what the first pass learns.
type plan struct {
	links map[int]string  // entry number → the earlier entry it duplicates
	paths map[string]bool // clean paths of the archive's own entries
}

// dedupKey is what a hardlink shares with its target: content and
// attributes.
type dedupKey struct {
	sum          [sha256.Size]byte
	mode         int64
	uid, gid     int
	uname, gname string
	mtime        time.Time
	xattrs       string
}

func (rw Rewrite) plan(src Source) (*plan, error) {
	p := &plan{links: map[int]string{}, paths: map[string]bool{}}
	first := map[dedupKey]string{}
	err := rw.read(src, func(i int, h *tar.Header, clean string, tr *Reader) error {
		p.paths[clean] = true
		if !rw.Deduplicate || h.Typeflag != tar.TypeReg || h.Size == 0 {
			return nil
		}
		hash := sha256.New()
		if _, err := io.Copy(hash, tr); err != nil {
			return err
		}
		k := dedupKey{mode: h.Mode, uid: h.Uid, gid: h.Gid, uname: h.Uname, gname: h.Gname, mtime: h.ModTime, xattrs: xattrs(h)}
		hash.Sum(k.sum[:0])
		if target, ok := first[k]; ok {
			p.links[i] = target
		} else {
			first[k] = clean
		}
		return nil
	})
	return p, err
}

// read calls fn for each checked entry, with its number and clean path.
func (rw Rewrite) read(src Source, fn func(i int, h *tar.Header, clean string, tr *Reader) error) error {
	f, err := os.Open(src.Path)
	if err != nil {
		return err
	}
	defer f.Close()
	return readAll(bufio.NewReaderSize(f, bufferSize), src, func(zr io.Reader) error {
		tr := NewReader(zr, src.AllowDevices)
		for i := 0; ; i++ {
			h, err := tr.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			clean := ""
			if h.Typeflag != tar.TypeXGlobalHeader {
				clean, _ = CleanName(h.Name) // checked by Next
			}
			if err := fn(i, h, clean, tr); err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
		}
	})
}

// copy is the second pass: it writes the entries as the plan says.
func (rw Rewrite) copy(src Source, p *plan, w io.Writer) error {
	tw := tar.NewWriter(w)
	made := map[string]bool{}
	buf := make([]byte, bufferSize)
	err := rw.read(src, func(i int, h *tar.Header, clean string, tr *Reader) error {
		if h.Typeflag == tar.TypeXGlobalHeader {
			return tw.WriteHeader(h)
		}
		if rw.ParentDirectories {
			if err := addParents(tw, clean, p.paths, made); err != nil {
				return err
			}
		}
		made[clean] = true
		hdr := *h
		hdr.Name = clean
		if hdr.Typeflag == tar.TypeDir && clean != "." {
			hdr.Name += "/"
		} else if hdr.Typeflag == tar.TypeDir {
			hdr.Name = "./"
		}
		if hdr.Typeflag == tar.TypeLink {
			hdr.Linkname, _ = CleanName(h.Linkname)
		}
		if target, ok := p.links[i]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, target, 0
		}
		if err := tw.WriteHeader(&hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
			_, err := io.CopyBuffer(tw, onlyReader{tr}, buf)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// addParents writes the parent directories of clean that the archive lacks
// and that are not written yet.
func addParents(tw *tar.Writer, clean string, own, made map[string]bool) error {
	for i := strings.IndexByte(clean, '/'); i >= 0; i = nextSlash(clean, i) {
		dir := clean[:i]
		if own[dir] || made[dir] {
			continue
		}
		made[dir] = true
		err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: time.Unix(0, 0)})
		if err != nil {
			return err
		}
	}
	return nil
}

// xattrs is the header's attribute records in a fixed order: extended
// attributes of any tar dialect (SCHILY.xattr., LIBARCHIVE.xattr.) and any
// other PAX record, except those that archive/tar reads into the header's
// own fields (compared already, or different by nature: path, size).
func xattrs(h *tar.Header) string {
	var keys []string
	for k := range h.PAXRecords {
		if !headerKeys[k] && !strings.HasPrefix(k, "GNU.sparse.") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%d:%s=%d:%s;", len(k), k, len(h.PAXRecords[k]), h.PAXRecords[k])
	}
	return b.String()
}

// headerKeys are the PAX keys that archive/tar turns into Header fields.
var headerKeys = map[string]bool{
	"path": true, "linkpath": true, "size": true, "uid": true, "gid": true,
	"uname": true, "gname": true, "mtime": true, "atime": true, "ctime": true,
}

// onlyReader hides WriterTo so that CopyBuffer uses the buffer.
type onlyReader struct{ io.Reader }
