package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// GitTree is the tar stream of `git archive` for ref in repoDir: the
// committed files only, with their modes and the commit's time.
func GitTree(ctx context.Context, repoDir, ref string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "git", "-C", repoDir, "archive", "--format=tar", ref)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("git archive %s in %s: %v: %s", ref, repoDir, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// treeEntry is one file, directory or symlink of a tree.
type treeEntry struct {
	hdr  *tar.Header
	data []byte
}

// readTree reads a git archive tar, skipping its global (commit id) header,
// with the file contents in replace put in place of the tree's.
func readTree(tree []byte, replace map[string][]byte) ([]treeEntry, error) {
	tr := tar.NewReader(bytes.NewReader(tree))
	var entries []treeEntry
	replaced := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the git tree: %w", err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		if !filepath.IsLocal(name) {
			return nil, fmt.Errorf("git tree entry %q leaves the tree", hdr.Name)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("reading %s from the git tree: %w", name, err)
		}
		if content, ok := replace[name]; ok {
			if hdr.Typeflag != tar.TypeReg {
				return nil, fmt.Errorf("%s is not a regular file in the git tree", name)
			}
			data = content
			replaced[name] = true
		}
		entries = append(entries, treeEntry{hdr, data})
	}
	for name := range replace {
		if !replaced[name] {
			return nil, fmt.Errorf("the git tree has no %s", name)
		}
	}
	return entries, nil
}

// writeArchive writes entries as a tar.gz under prefix/. Only the name,
// type, mode, link target and modification time of each entry are kept,
// and gzip gets no name or time, so the bytes depend on the tree alone.
func writeArchive(w io.Writer, entries []treeEntry, prefix string) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeDir, Name: prefix + "/", Mode: 0o755, ModTime: entries[0].hdr.ModTime,
	}); err != nil {
		return err
	}
	for _, e := range entries {
		hdr := &tar.Header{
			Typeflag: e.hdr.Typeflag,
			Name:     path.Join(prefix, e.hdr.Name),
			Linkname: e.hdr.Linkname,
			Mode:     normalMode(e.hdr),
			ModTime:  e.hdr.ModTime,
			Format:   tar.FormatPAX,
		}
		switch e.hdr.Typeflag {
		case tar.TypeDir:
			hdr.Name += "/"
		case tar.TypeReg:
			hdr.Size = int64(len(e.data))
		case tar.TypeSymlink:
		default:
			return fmt.Errorf("git tree entry %s has unsupported type %q", e.hdr.Name, e.hdr.Typeflag)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// normalMode is 0755 for directories and executables, 0644 for other
// files: git records only the executable bit, and its archives apply the
// umask of the machine (tar.umask).
func normalMode(hdr *tar.Header) int64 {
	switch {
	case hdr.Typeflag == tar.TypeSymlink:
		return 0o777
	case hdr.Typeflag == tar.TypeDir || hdr.Mode&0o111 != 0:
		return 0o755
	}
	return 0o644
}

// extractTree writes entries below dir, for building the binaries from
// exactly the sources of the archive.
func extractTree(entries []treeEntry, dir string) error {
	for _, e := range entries {
		target := filepath.Join(dir, filepath.FromSlash(strings.TrimSuffix(e.hdr.Name, "/")))
		var err error
		switch e.hdr.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(target, 0o755)
		case tar.TypeReg:
			if err = os.MkdirAll(filepath.Dir(target), 0o755); err == nil {
				err = os.WriteFile(target, e.data, os.FileMode(normalMode(e.hdr)))
			}
		case tar.TypeSymlink:
			if err = os.MkdirAll(filepath.Dir(target), 0o755); err == nil {
				err = os.Symlink(e.hdr.Linkname, target)
			}
		default:
			err = fmt.Errorf("unsupported type %q", e.hdr.Typeflag)
		}
		if err != nil {
			return fmt.Errorf("extracting %s: %w", e.hdr.Name, err)
		}
	}
	return nil
}
