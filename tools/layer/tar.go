package layer

import (
	"archive/tar"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
)

// copyBufferSize is the size of reads from source files. 64 KiB keeps
// kernel time low without holding much memory.
const copyBufferSize = 64 << 10

// WriteTar writes entries, already planned and sorted, as a tar stream.
// Regular files whose content and attributes equal an earlier file's are
// written as hardlinks to it, so their bytes are stored once.
func WriteTar(w io.Writer, entries []Entry) error {
	tw := tar.NewWriter(w)
	d := newDeduper(entries)
	buf := make([]byte, copyBufferSize)
	for i := range entries {
		e := &entries[i]
		hdr := header(e)
		var content string
		if e.Kind == KindFile && e.Size > 0 {
			target, err := d.linkTarget(e, buf)
			if err != nil {
				return err
			}
			if target != "" {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, target, 0
			} else {
				content = e.Source
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("/%s: %w", e.Path, err)
		}
		if content != "" {
			if err := copyFile(tw, content, e.Size, buf); err != nil {
				return fmt.Errorf("/%s: %w", e.Path, err)
			}
		}
	}
	return tw.Close()
}

// header builds a tar header that depends only on the entry: no host
// user names, ids or times leak in.
func header(e *Entry) *tar.Header {
	h := &tar.Header{
		Name:    e.Path,
		Mode:    e.attrs.mode,
		Uid:     e.attrs.uid,
		Gid:     e.attrs.gid,
		Uname:   e.attrs.uname,
		Gname:   e.attrs.gname,
		ModTime: e.attrs.mtime,
	}
	switch e.Kind {
	case KindDir:
		h.Typeflag, h.Name = tar.TypeDir, e.Path+"/"
	case KindSymlink:
		h.Typeflag, h.Linkname = tar.TypeSymlink, e.Target
	default:
		h.Typeflag, h.Size = tar.TypeReg, e.Size
	}
	return h
}

// copyFile copies exactly size bytes of a source file, failing if the file
// changed size since it was planned.
func copyFile(w io.Writer, path string, size int64, buf []byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.CopyBuffer(w, io.LimitReader(onlyReader{f}, size), buf)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("source %s shrank from %d to %d bytes while the layer was written", path, size, n)
	}
	if m, _ := f.Read(buf[:1]); m > 0 {
		return fmt.Errorf("source %s grew beyond %d bytes while the layer was written", path, size)
	}
	return nil
}

// onlyReader hides *os.File's WriterTo/ReaderFrom so CopyBuffer uses buf.
type onlyReader struct{ io.Reader }

// deduper finds files that can be hardlinks to an earlier file. Only files
// that share their size with another file are ever hashed, so a layer of
// distinct files is read exactly once.
type deduper struct {
	sizeCount map[int64]int
	bySource  map[dedupKey]string // same source file and attrs → first path
	byContent map[dedupKey]string // same sha256 and attrs → first path
}

type dedupKey struct {
	id    string // source path or content digest
	attrs attrs
}

func newDeduper(entries []Entry) *deduper {
	d := &deduper{sizeCount: map[int64]int{}, bySource: map[dedupKey]string{}, byContent: map[dedupKey]string{}}
	for _, e := range entries {
		if e.Kind == KindFile && e.Size > 0 {
			d.sizeCount[e.Size]++
		}
	}
	return d
}

// linkTarget returns the path that e should hardlink to, or "" when e must
// be written with its content (and then becomes a target for later files).
func (d *deduper) linkTarget(e *Entry, buf []byte) (string, error) {
	if d.sizeCount[e.Size] < 2 {
		return "", nil
	}
	srcKey := dedupKey{e.Source, e.attrs}
	if target, ok := d.bySource[srcKey]; ok {
		return target, nil
	}
	d.bySource[srcKey] = e.Path
	sum, err := hashFile(e.Source, buf)
	if err != nil {
		return "", fmt.Errorf("/%s: %w", e.Path, err)
	}
	contentKey := dedupKey{sum, e.attrs}
	if target, ok := d.byContent[contentKey]; ok {
		d.bySource[srcKey] = target
		return target, nil
	}
	d.byContent[contentKey] = e.Path
	return "", nil
}

func hashFile(path string, buf []byte) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, onlyReader{f}, buf); err != nil {
		return "", err
	}
	return string(h.Sum(nil)), nil
}
