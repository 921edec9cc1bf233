// Package inventory lists the regular files of a layer with their
// digests, and the Go modules of the Go programs among them: what an SBOM
// says of a layer. It is written once per layer blob, like the listing of
// image tests, and read by the SBOM action of every image on that layer.
package inventory

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/compress"
	"github.com/rules-img/rules_img/tools/listing"
)

// File is one regular file of a layer.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA1   string `json:"sha1"`
	SHA256 string `json:"sha256"`
	// Go is set for a Go program: the modules its build info names.
	Go *GoProgram `json:"go,omitempty"`
}

// GoProgram is what a Go program's build info says of its modules.
type GoProgram struct {
	GoVersion string   `json:"go_version"`
	Main      Module   `json:"main"`
	Deps      []Module `json:"deps,omitempty"`
}

// Module is one Go module, as the build info names it.
type Module struct {
	Path    string `json:"path"`
	Version string `json:"version,omitempty"`
	Sum     string `json:"sum,omitempty"`
}

// Executable formats whose files may carry Go build info.
var magics = [][]byte{
	[]byte("\x7fELF"),
	{0xfe, 0xed, 0xfa, 0xce}, {0xfe, 0xed, 0xfa, 0xcf}, {0xce, 0xfa, 0xed, 0xfe}, {0xcf, 0xfa, 0xed, 0xfe}, // Mach-O
	[]byte("MZ"), // PE
}

// Write writes the inventory of a layer blob (gzip, zstd or uncompressed)
// to out, one JSON line per regular file in the archive's order, whole or
// not at all. Memory stays flat: an executable is spooled to a temporary
// file to read its build info.
func Write(blobPath, out string) error {
	spool, err := os.CreateTemp(filepath.Dir(out), ".spool-*")
	if err != nil {
		return err
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()
	return blob.WriteAtomic(out, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		return compress.WalkTar(blobPath, func(h *tar.Header, r io.Reader) error {
			e := listing.FromHeader(h)
			if e.Type != listing.File {
				return nil
			}
			file, err := describe(e.Path, r, spool)
			if err != nil {
				return err
			}
			return enc.Encode(file)
		})
	})
}

// describe hashes one file's bytes; an executable's go through spool too,
// for its build info.
func describe(path string, r io.Reader, spool *os.File) (File, error) {
	s1, s256 := sha1.New(), sha256.New()
	br := bufio.NewReader(r)
	head, _ := br.Peek(4)
	executable := false
	for _, m := range magics {
		if bytes.HasPrefix(head, m) {
			executable = true
		}
	}
	sinks := []io.Writer{s1, s256}
	if executable {
		if err := spool.Truncate(0); err != nil {
			return File{}, err
		}
		if _, err := spool.Seek(0, io.SeekStart); err != nil {
			return File{}, err
		}
		sinks = append(sinks, spool)
	}
	n, err := io.Copy(io.MultiWriter(sinks...), br)
	if err != nil {
		return File{}, err
	}
	file := File{Path: path, Size: n, SHA1: hex.EncodeToString(s1.Sum(nil)), SHA256: hex.EncodeToString(s256.Sum(nil))}
	if executable {
		file.Go = goProgram(io.NewSectionReader(spool, 0, n))
	}
	return file, nil
}

// goProgram reads the build info of a Go program; nil for other files.
func goProgram(r io.ReaderAt) *GoProgram {
	info, err := buildinfo.Read(r)
	if err != nil {
		return nil
	}
	p := &GoProgram{GoVersion: info.GoVersion, Main: Module{Path: info.Main.Path, Version: info.Main.Version, Sum: info.Main.Sum}}
	if p.Main.Path == "" {
		p.Main.Path = info.Path
	}
	for _, d := range info.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		p.Deps = append(p.Deps, Module{Path: d.Path, Version: d.Version, Sum: d.Sum})
	}
	return p
}

// Read reads an inventory.
func Read(path string) ([]File, error) { return blob.ReadJSONLines[File](path) }
