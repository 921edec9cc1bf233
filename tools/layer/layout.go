package layer

import (
	"container/heap"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// Layout is a planned layer whose entries are produced on demand, in tree
// order (see comparePaths), so that memory does not grow with the number of
// files: directory sources are read one directory at a time while the tar
// is written. Walk can run any number of times and gives the same entries
// each time, as long as the sources do not change.
type Layout struct {
	inputs  []layoutInput
	meta    map[string]FileMetadata // clean path → its file_metadata
	def     FileMetadata
	parents bool
}

// layoutInput is one input, cleaned and checked.
type layoutInput struct {
	entry Entry  // the entry itself; a KindDir for a directory source
	tree  string // a directory source, copied whole
	index int    // position in the input list, to break ties deterministically
}

// PlanOption changes how a Layout lays out the entries.
type PlanOption func(*Layout)

// ParentDirectories says whether the layout adds an entry for every parent
// directory that no input names (the default), or leaves them to the
// runtime, which creates them when it unpacks the layer.
func ParentDirectories(create bool) PlanOption {
	return func(l *Layout) { l.parents = create }
}

// NewLayout checks the inputs and the metadata: paths, link targets,
// sources that exist and file_metadata keys. Conflicts between entries and
// bad metadata values are found by Walk.
func NewLayout(inputs []Input, meta MetadataSpec, opts ...PlanOption) (*Layout, error) {
	l := &Layout{meta: map[string]FileMetadata{}, def: meta.Default, parents: true}
	for _, o := range opts {
		o(l)
	}
	if err := checkPAXRecords(meta.Default.PAXRecords); err != nil {
		return nil, fmt.Errorf("default_metadata: %w", err)
	}
	keys := map[string]string{} // clean path → the key that gave it
	// In order, so that of two bad paths the same one is reported each time.
	for _, key := range slices.Sorted(maps.Keys(meta.Paths)) {
		m := meta.Paths[key]
		path, err := CleanPath(key)
		if err != nil {
			return nil, fmt.Errorf("file_metadata: %w", err)
		}
		if err := checkPAXRecords(m.PAXRecords); err != nil {
			return nil, fmt.Errorf("file_metadata for /%s: %w", path, err)
		}
		if prev, ok := keys[path]; ok {
			// Either value could win, depending on map order: refuse both.
			first, second := min(prev, key), max(prev, key)
			return nil, fmt.Errorf("file_metadata gives /%s twice, as %q and %q: give each path once", path, first, second)
		}
		keys[path] = key
		l.meta[path] = m
	}
	for i, in := range inputs {
		path, err := CleanPath(in.Path)
		if err != nil {
			return nil, err
		}
		li, err := newLayoutInput(path, in)
		if err != nil {
			return nil, err
		}
		li.index = i
		l.inputs = append(l.inputs, li)
	}
	sort.SliceStable(l.inputs, func(i, j int) bool {
		return comparePaths(l.inputs[i].entry.Path, l.inputs[j].entry.Path) < 0
	})
	return l, nil
}

func newLayoutInput(path string, in Input) (layoutInput, error) {
	switch in.Kind {
	case KindSymlink:
		if in.Target == "" {
			return layoutInput{}, fmt.Errorf("symlink %s has an empty target", path)
		}
		return layoutInput{entry: Entry{Kind: KindSymlink, Path: path, Target: in.Target, origin: "symlink to " + in.Target}}, nil
	case KindFile:
		if in.Source == "" {
			return layoutInput{entry: Entry{Kind: KindFile, Path: path, origin: "empty file"}}, nil
		}
		info, err := os.Stat(in.Source)
		if err != nil {
			return layoutInput{}, fmt.Errorf("%s: source %w", path, err)
		}
		if info.IsDir() {
			return layoutInput{entry: dirEntry(path, in.Source), tree: in.Source}, nil
		}
		e, err := fileEntry(path, in.Source, info)
		return layoutInput{entry: e}, err
	}
	return layoutInput{}, fmt.Errorf("%s: unknown input kind %d", path, in.Kind)
}

func dirEntry(path, origin string) Entry {
	return Entry{Kind: KindDir, Path: path, attrs: attrs{mode: 0o755}, origin: origin}
}

func fileEntry(path, source string, info fs.FileInfo) (Entry, error) {
	if !info.Mode().IsRegular() {
		return Entry{}, fmt.Errorf("%s: source %s is not a regular file (%s)", path, source, info.Mode().Type())
	}
	mode := int64(0o644)
	if info.Mode()&0o111 != 0 {
		mode = 0o755
	}
	return Entry{Kind: KindFile, Path: path, Source: source, Size: info.Size(), attrs: attrs{mode: mode}, origin: source}, nil
}

// comparePaths orders clean paths as a depth-first walk with sorted
// directories visits them: component by component, so that everything
// below a directory follows it directly ("a", "a/b", "a.txt"). Comparing
// bytes with '/' as the smallest byte gives exactly that.
func comparePaths(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if ca == '/' {
			return -1
		}
		if cb == '/' {
			return 1
		}
		if ca < cb {
			return -1
		}
		return 1
	}
	return len(a) - len(b)
}

// Walk calls fn with every entry in order, metadata applied. It expands
// directory sources, adds missing parent directories, and fails on
// conflicts: two inputs at one path, or a path below a file or symlink.
// fn must not keep the *Entry; it is reused.
func (l *Layout) Walk(fn func(*Entry) error) error {
	m := &merger{}
	for i := range l.inputs {
		c := &cursor{input: &l.inputs[i]}
		if err := c.advance(); err != nil {
			return err
		}
		if c.cur != nil {
			m.cursors = append(m.cursors, c)
		}
	}
	heap.Init(m)
	used := map[string]bool{}
	var ancestors []Entry // the chain of entries above the current one
	emit := func(e *Entry) error {
		if err := l.applyMetadata(e, used); err != nil {
			return err
		}
		ancestors = append(ancestors, *e)
		return fn(e)
	}
	for m.Len() > 0 {
		e, err := m.next()
		if err != nil {
			return err
		}
		for len(ancestors) > 0 && !strings.HasPrefix(e.Path, ancestors[len(ancestors)-1].Path+"/") {
			ancestors = ancestors[:len(ancestors)-1]
		}
		if n := len(ancestors); n > 0 && ancestors[n-1].Kind != KindDir {
			parent := ancestors[n-1]
			return fmt.Errorf("/%s needs /%s to be a directory, but it is a %s (%s)", e.Path, parent.Path, parent.Kind, parent.origin)
		}
		if l.parents {
			have := ""
			if n := len(ancestors); n > 0 {
				have = ancestors[n-1].Path
			}
			for _, dir := range parentDirs(e.Path) {
				if len(dir) <= len(have) {
					continue
				}
				parent := dirEntry(dir, "parent of /"+e.Path)
				if err := emit(&parent); err != nil {
					return err
				}
			}
		}
		if err := emit(&e); err != nil {
			return err
		}
	}
	if len(used) < len(l.meta) {
		var unused []string
		for path := range l.meta {
			if !used[path] {
				unused = append(unused, "/"+path)
			}
		}
		sort.Strings(unused)
		return fmt.Errorf("file_metadata for %s matches no path in the layer: check the path against srcs and symlinks", strings.Join(unused, ", "))
	}
	return nil
}

func (l *Layout) applyMetadata(e *Entry, used map[string]bool) error {
	if e.Kind == KindSymlink {
		e.attrs.mode = 0o777
	}
	if e.attrs.mode == 0 {
		e.attrs.mode = 0o644 // empty files
	}
	e.attrs.mtime = time.Unix(0, 0).UTC()
	defaults := l.def
	if e.Kind != KindFile {
		defaults.Mode = nil // a file default mode must not make directories unsearchable
	}
	var err error
	if e.attrs, err = defaults.apply(e.attrs); err != nil {
		return fmt.Errorf("default_metadata: %w", err)
	}
	if m, ok := l.meta[e.Path]; ok {
		if e.attrs, err = m.apply(e.attrs); err != nil {
			return fmt.Errorf("file_metadata for /%s: %w", e.Path, err)
		}
		used[e.Path] = true
	}
	return nil
}

// merger merges the cursors of all inputs, smallest path first.
type merger struct{ cursors []*cursor }

func (m *merger) Len() int { return len(m.cursors) }
func (m *merger) Less(i, j int) bool {
	a, b := m.cursors[i], m.cursors[j]
	if c := comparePaths(a.cur.Path, b.cur.Path); c != 0 {
		return c < 0
	}
	return a.input.index < b.input.index
}
func (m *merger) Swap(i, j int) { m.cursors[i], m.cursors[j] = m.cursors[j], m.cursors[i] }
func (m *merger) Push(x any)    { m.cursors = append(m.cursors, x.(*cursor)) }
func (m *merger) Pop() any {
	c := m.cursors[len(m.cursors)-1]
	m.cursors = m.cursors[:len(m.cursors)-1]
	return c
}

// next returns the smallest entry, once, after checking that every input
// that gives the same path gives the same thing. The same file placed
// twice at one path (as runfiles of two binaries can be) is not a conflict.
func (m *merger) next() (Entry, error) {
	first := *m.cursors[0].cur
	for m.Len() > 0 && m.cursors[0].cur.Path == first.Path {
		c := m.cursors[0]
		e := c.cur
		same := first.Kind == e.Kind && first.Source == e.Source && first.Target == e.Target
		if first.Kind == KindDir && e.Kind == KindDir {
			same = true
		}
		if !same {
			return first, fmt.Errorf("two inputs map to /%s: %s and %s; give each a path of its own", e.Path, first.origin, e.origin)
		}
		if err := c.advance(); err != nil {
			return first, err
		}
		if c.cur == nil {
			heap.Pop(m)
		} else {
			heap.Fix(m, 0)
		}
	}
	return first, nil
}

// cursor yields one input's entries in order: the input itself and, for a
// directory source, everything below it, one directory listing at a time.
type cursor struct {
	input   *layoutInput
	cur     *Entry
	started bool
	stack   []frame
	entry   Entry // storage for cur
}

// frame is a directory being listed.
type frame struct {
	dir   string // resolved directory on disk
	dest  string // its path in the layer
	names []fs.DirEntry
}

func (c *cursor) advance() error {
	if !c.started {
		c.started = true
		c.entry = c.input.entry
		c.cur = &c.entry
		if c.input.tree != "" {
			return c.push(c.entry.Path, c.input.tree, true)
		}
		return nil
	}
	for len(c.stack) > 0 {
		top := &c.stack[len(c.stack)-1]
		if len(top.names) == 0 {
			c.stack = c.stack[:len(c.stack)-1]
			continue
		}
		d := top.names[0]
		top.names = top.names[1:]
		src := filepath.Join(top.dir, d.Name())
		dest := top.dest + "/" + d.Name()
		// Follow symlinks: Bazel may stage tree contents as links to the cache.
		info, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("%s: %w", dest, err)
		}
		if info.IsDir() {
			c.entry = dirEntry(dest, src)
			c.cur = &c.entry
			return c.push(dest, src, d.Type()&fs.ModeSymlink != 0)
		}
		if c.entry, err = fileEntry(dest, src, info); err != nil {
			return err
		}
		c.cur = &c.entry
		return nil
	}
	c.cur = nil
	return nil
}

// push starts listing the directory src, placed at dest. A directory (or a
// tree) may be staged as a symlink (link): it is listed where it resolves
// to, and refused when that contains it.
func (c *cursor) push(dest, src string, link bool) error {
	dir := src
	if link {
		var err error
		if dir, err = filepath.EvalSymlinks(src); err != nil {
			return fmt.Errorf("%s: %w", dest, err)
		}
	}
	for _, f := range c.stack {
		if f.dir == dir || strings.HasPrefix(f.dir, dir+string(filepath.Separator)) {
			return fmt.Errorf("%s: source %s is a symlink cycle: it links to %s, which contains it", dest, src, dir)
		}
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%s: %w", dest, err)
	}
	c.stack = append(c.stack, frame{dir: dir, dest: dest, names: names})
	return nil
}

// Plan lays out every entry at once; see Layout for the streaming form.
func Plan(inputs []Input, meta MetadataSpec, opts ...PlanOption) ([]Entry, error) {
	l, err := NewLayout(inputs, meta, opts...)
	if err != nil {
		return nil, err
	}
	var entries []Entry
	err = l.Walk(func(e *Entry) error {
		entries = append(entries, *e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return entries, nil
}
