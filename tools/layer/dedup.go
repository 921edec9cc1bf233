package layer

import (
	"archive/tar"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"syscall"
)

// smallFileSize is the largest file that dedup reads into memory whole,
// hashes, and then writes from memory: one read, whether it turns out to
// be a duplicate or not.
const smallFileSize = 1 << 20

// deduper writes regular files, as hardlinks to an earlier file with the
// same content and attributes where there is one. It never reads a file
// twice, except a large file whose exact size an earlier large file of
// other content already had: that one is hashed before it is written.
//
// Only files whose size occurs more than once are candidates (sizeSet),
// and they are recognized in three ways, cheapest first: the same file on
// disk (device and inode: one source placed twice, or Bazel's links to one
// file), the sha256 of a small file read into memory, and the sha256 of a
// large file computed while it is written.
type deduper struct {
	sizes     *sizeSet
	byFile    map[fileKey]string    // same file on disk and attrs → path written
	byContent map[contentKey]string // same content and attrs → path written
	large     map[int64]bool        // sizes of large files written so far
	small     []byte
}

type fileKey struct {
	dev, ino uint64
	attrs    attrs
}

type contentKey struct {
	sum   [sha256.Size]byte
	size  int64
	attrs attrs
}

func newDeduper(sizes *sizeSet) *deduper {
	return &deduper{sizes: sizes, byFile: map[fileKey]string{}, byContent: map[contentKey]string{}, large: map[int64]bool{}}
}

// write writes the regular file e, whose header is hdr.
func (d *deduper) write(tw *tar.Writer, e *Entry, hdr *tar.Header, buf []byte) error {
	f, err := os.Open(e.Source)
	if err != nil {
		return err
	}
	defer f.Close()
	if !d.sizes.repeated(e.Size) {
		return writeContent(tw, tw, hdr, f, e.Size, buf)
	}
	fk, identified := d.fileKey(f, e)
	if target, ok := d.byFile[fk]; ok && identified {
		return writeLink(tw, hdr, target)
	}
	remember := func(path string) {
		if identified {
			d.byFile[fk] = path
		}
	}
	if e.Size <= smallFileSize {
		if d.small == nil {
			d.small = make([]byte, smallFileSize)
		}
		data := d.small[:e.Size]
		if _, err := io.ReadFull(f, data); err != nil {
			return fmt.Errorf("reading %s: %w (did it shrink while the layer was written?)", e.Source, err)
		}
		if err := checkEOF(f, e.Size, buf); err != nil {
			return err
		}
		ck := contentKey{sha256.Sum256(data), e.Size, e.attrs}
		if target, ok := d.byContent[ck]; ok {
			remember(target)
			return writeLink(tw, hdr, target)
		}
		d.byContent[ck] = e.Path
		remember(e.Path)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if d.large[e.Size] {
		// An earlier large file had this size: hash first, then either
		// link or write.
		h := sha256.New()
		if err := copyFile(h, f, e.Size, buf); err != nil {
			return err
		}
		ck := contentKey{size: e.Size, attrs: e.attrs}
		h.Sum(ck.sum[:0])
		if target, ok := d.byContent[ck]; ok {
			remember(target)
			return writeLink(tw, hdr, target)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		d.byContent[ck] = e.Path
		remember(e.Path)
		return writeContent(tw, tw, hdr, f, e.Size, buf)
	}
	// The first large file of its size: hash it while writing it.
	d.large[e.Size] = true
	h := sha256.New()
	if err := writeContent(tw, io.MultiWriter(tw, h), hdr, f, e.Size, buf); err != nil {
		return err
	}
	ck := contentKey{size: e.Size, attrs: e.attrs}
	h.Sum(ck.sum[:0])
	d.byContent[ck] = e.Path
	remember(e.Path)
	return nil
}

// fileKey identifies the open file on disk, when the platform says.
func (d *deduper) fileKey(f *os.File, e *Entry) (fileKey, bool) {
	info, err := f.Stat()
	if err != nil {
		return fileKey{}, false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, false
	}
	return fileKey{dev: uint64(st.Dev), ino: uint64(st.Ino), attrs: e.attrs}, true
}

func writeLink(tw *tar.Writer, hdr *tar.Header, target string) error {
	hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, target, 0
	return tw.WriteHeader(hdr)
}

// writeContent writes the header to tw, then the file's content to w,
// which is tw or passes its bytes on to tw.
func writeContent(tw *tar.Writer, w io.Writer, hdr *tar.Header, f *os.File, size int64, buf []byte) error {
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	return copyFile(w, f, size, buf)
}

// sizeSet is a fixed-size filter of the file sizes seen: repeated tells
// whether a size was added at least twice. It may say yes for a size seen
// once (then the file is hashed for nothing, never read twice), never no
// for a size seen twice. Its memory does not grow with the number of files.
type sizeSet struct {
	once, twice [sizeSetWords]uint64
}

const (
	sizeSetBits  = 23 // 8 Mbit: 1 MiB per bitmap
	sizeSetWords = 1 << (sizeSetBits - 6)
)

func sizeBit(size int64) (word int, mask uint64) {
	h := uint64(size) * 0x9e3779b97f4a7c15 >> (64 - sizeSetBits)
	return int(h >> 6), 1 << (h & 63)
}

func (s *sizeSet) add(size int64) {
	w, m := sizeBit(size)
	if s.once[w]&m != 0 {
		s.twice[w] |= m
	}
	s.once[w] |= m
}

func (s *sizeSet) repeated(size int64) bool {
	w, m := sizeBit(size)
	return s.twice[w]&m != 0
}
