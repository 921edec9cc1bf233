// Package listing writes and reads the file listing of a layer: one line
// of JSON per tar entry, in the order of the archive, with what an image
// test asks of a file (type, mode, owner, size, link) and none of its
// bytes.
package listing

import (
	"archive/tar"
	"encoding/json"
	"io"
	"path"
	"strings"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/compress"
)

// The types of an entry.
const (
	File     = "file"
	Dir      = "dir"
	Symlink  = "symlink"
	Hardlink = "hardlink" // Link names the earlier entry of the same layer
	Device   = "device"   // character or block device, or fifo
	// Whiteout deletes Path from the layers below; Opaque deletes every
	// entry of the directory Path from them.
	Whiteout = "whiteout"
	Opaque   = "opaque"
)

// Entry is one entry of a layer. Path is clean and relative ("usr/bin/app").
type Entry struct {
	Path string `json:"path"`
	Type string `json:"type"`
	// Mode holds the permission bits with setuid, setgid and sticky.
	Mode int64  `json:"mode"`
	UID  int    `json:"uid"`
	GID  int    `json:"gid"`
	Size int64  `json:"size,omitempty"`
	Link string `json:"link,omitempty"`
}

const whiteoutPrefix = ".wh."

// FromHeader describes a tar header.
func FromHeader(h *tar.Header) Entry {
	clean := path.Clean(strings.TrimPrefix(h.Name, "/"))
	if strings.HasPrefix(clean, "./") {
		clean = strings.TrimPrefix(clean, "./")
	}
	e := Entry{Path: clean, Mode: h.Mode & 0o7777, UID: h.Uid, GID: h.Gid}
	dir, base := path.Split(clean)
	switch {
	case base == whiteoutPrefix+whiteoutPrefix+".opq":
		e.Type, e.Path = Opaque, path.Clean(dir)
	case strings.HasPrefix(base, whiteoutPrefix):
		e.Type, e.Path = Whiteout, path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix))
	default:
		switch h.Typeflag {
		case tar.TypeDir:
			e.Type = Dir
		case tar.TypeSymlink:
			e.Type, e.Link = Symlink, h.Linkname
		case tar.TypeLink:
			e.Type, e.Link = Hardlink, path.Clean(strings.TrimPrefix(strings.TrimPrefix(h.Linkname, "/"), "./"))
		case tar.TypeReg, tar.TypeRegA:
			e.Type, e.Size = File, h.Size
		default:
			e.Type = Device
		}
	}
	return e
}

// Write writes the listing of a layer blob (gzip, zstd or uncompressed) to
// out, whole or not at all. It streams: memory stays flat whatever the
// number of entries.
func Write(blobPath, out string) error {
	return blob.WriteAtomic(out, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		return compress.WalkTar(blobPath, func(h *tar.Header, _ io.Reader) error {
			return enc.Encode(FromHeader(h))
		})
	})
}

// Read reads a listing that Write wrote.
func Read(file string) ([]Entry, error) { return blob.ReadJSONLines[Entry](file) }
