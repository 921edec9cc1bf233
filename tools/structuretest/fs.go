package structuretest

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/rules-img/rules_img/tools/listing"
)

// node is a path of the unpacked image: the entry that put it there, and
// where its bytes are (a hardlink's are those of its target).
type node struct {
	entry        listing.Entry
	layer        int
	contentPath  string
	contentLayer int
}

// tree is the image's file system as the layers, applied in order, leave
// it: whiteouts and opaque directories delete what lower layers put there.
type tree map[string]*node

func buildTree(layers [][]listing.Entry) tree {
	t := tree{}
	for i, entries := range layers {
		// Whiteouts apply to the layers below, whatever their place in the
		// archive.
		for _, e := range entries {
			switch e.Type {
			case listing.Whiteout:
				t.deleteUnder(e.Path, true)
			case listing.Opaque:
				t.deleteUnder(e.Path, false)
				// The marker is in the directory: it stays.
				if _, ok := t[e.Path]; !ok {
					t[e.Path] = &node{entry: listing.Entry{Path: e.Path, Type: listing.Dir, Mode: 0o755}, layer: i, contentLayer: i}
				}
			}
		}
		for _, e := range entries {
			switch e.Type {
			case listing.Whiteout, listing.Opaque:
				continue
			case listing.Hardlink:
				n := &node{entry: e, layer: i, contentPath: e.Link, contentLayer: i}
				if target, ok := t[e.Link]; ok {
					n.entry = target.entry
					n.entry.Path = e.Path
					n.contentPath, n.contentLayer = target.contentPath, target.contentLayer
				}
				t[e.Path] = n
			default:
				t[e.Path] = &node{entry: e, layer: i, contentPath: e.Path, contentLayer: i}
			}
		}
	}
	return t
}

func (t tree) deleteUnder(p string, self bool) {
	if self {
		delete(t, p)
	}
	prefix := p + "/"
	if p == "." {
		prefix = ""
	}
	for k := range t {
		if strings.HasPrefix(k, prefix) {
			delete(t, k)
		}
	}
}

// hasChildren tells a directory that no entry names but whose files are
// there (layers need not list parent directories).
func (t tree) hasChildren(p string) bool {
	prefix := p + "/"
	for k := range t {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

const maxSymlinks = 40

// lookup finds an absolute path, following symlinks in its directories,
// and in its last element too when follow is set. It returns nil for a
// path that does not exist, and for "/" or an implied directory a node
// with no layer (-1).
func (t tree) lookup(p string, follow bool) (*node, string, error) {
	hops := 0
	parts := splitPath(p)
	cur := ""
	for i := 0; i < len(parts); i++ {
		next := path.Join(cur, parts[i])
		if cur == "" {
			next = parts[i]
		}
		n, ok := t[next]
		if !ok {
			if t.hasChildren(next) {
				cur = next
				continue
			}
			return nil, "/" + next, nil
		}
		last := i == len(parts)-1
		if n.entry.Type == listing.Symlink && (!last || follow) {
			if hops++; hops > maxSymlinks {
				return nil, "", fmt.Errorf("%s: more than %d symlinks", p, maxSymlinks)
			}
			target := n.entry.Link
			if !strings.HasPrefix(target, "/") {
				target = path.Join("/", cur, target)
			}
			parts = append(splitPath(target), parts[i+1:]...)
			cur, i = "", -1
			continue
		}
		if last {
			return n, "/" + next, nil
		}
		if n.entry.Type != listing.Dir {
			return nil, "/" + next, nil
		}
		cur = next
	}
	// The root, or a directory only its children imply.
	return &node{entry: listing.Entry{Path: cur, Type: listing.Dir, Mode: 0o755}, layer: -1}, "/" + cur, nil
}

func splitPath(p string) []string {
	var out []string
	for _, part := range strings.Split(path.Clean("/"+p), "/") {
		if part != "" {
			out = append(out, part)
		}
	}
	return out
}

// mode is the entry's mode as Go's fs.FileMode, whose String() is what
// container-structure-test's permissions compare with ("-rwxr-xr-x").
func mode(e listing.Entry) fs.FileMode {
	m := fs.FileMode(e.Mode & 0o777)
	if e.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if e.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if e.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch e.Type {
	case listing.Dir:
		m |= fs.ModeDir
	case listing.Symlink:
		m |= fs.ModeSymlink
	case listing.Device:
		m |= fs.ModeDevice
	}
	return m
}
