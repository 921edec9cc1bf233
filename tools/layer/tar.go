package layer

import (
	"archive/tar"
	"fmt"
	"io"
	"os"

	"github.com/rules-img/rules_img/tools/tarlayer"
)

// copyBufferSize is the size of reads from source files. 64 KiB keeps
// kernel time low without holding much memory.
const copyBufferSize = 64 << 10

// WriteTar writes entries, already planned and in order, as a tar stream.
// Regular files whose content and attributes equal an earlier file's are
// written as hardlinks to it, so their bytes are stored once.
func WriteTar(w io.Writer, entries []Entry) error {
	return writeTar(w, func(fn func(*Entry) error) error {
		for i := range entries {
			if err := fn(&entries[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// WriteLayout writes a layout as a tar stream, like WriteTar, reading each
// directory source as it goes.
func WriteLayout(w io.Writer, l *Layout) error {
	return writeTar(w, l.Walk)
}

// writeTar writes the entries that walk gives. walk runs twice: first to
// learn which file sizes occur more than once (only those files can be
// duplicates), then to write. Every header passes layer_from_tar's policy
// (tarlayer.Checker) first, so that image_layer accepts the same names and
// symlink targets: none that leaves the image root once unpacked.
func writeTar(w io.Writer, walk func(func(*Entry) error) error) error {
	sizes := &sizeSet{}
	err := walk(func(e *Entry) error {
		if e.Kind == KindFile && e.Size > 0 {
			sizes.add(e.Size)
		}
		return nil
	})
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	d := newDeduper(sizes)
	buf := make([]byte, copyBufferSize)
	check := tarlayer.NewChecker(false)
	err = walk(func(e *Entry) error {
		hdr := header(e)
		if err := check.Check(hdr); err != nil {
			return err
		}
		if e.Kind != KindFile || e.Size == 0 {
			if err := tw.WriteHeader(hdr); err != nil {
				return fmt.Errorf("/%s: %w", e.Path, err)
			}
			return nil
		}
		if err := d.write(tw, e, hdr, buf); err != nil {
			return fmt.Errorf("/%s: %w", e.Path, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := check.Finish(); err != nil {
		return err
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
		// Records make archive/tar write the header as PAX, keys sorted.
		PAXRecords: decodePAX(e.attrs.pax),
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

// copyFile copies exactly size bytes of an open source file, failing if the
// file changed size since it was planned.
func copyFile(w io.Writer, f *os.File, size int64, buf []byte) error {
	n, err := io.CopyBuffer(w, io.LimitReader(onlyReader{f}, size), buf)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("source %s shrank from %d to %d bytes while the layer was written", f.Name(), size, n)
	}
	return checkEOF(f, size, buf)
}

func checkEOF(f *os.File, size int64, buf []byte) error {
	if m, _ := f.Read(buf[:1]); m > 0 {
		return fmt.Errorf("source %s grew beyond %d bytes while the layer was written", f.Name(), size)
	}
	return nil
}

// onlyReader hides *os.File's WriterTo/ReaderFrom so CopyBuffer uses buf.
type onlyReader struct{ io.Reader }
