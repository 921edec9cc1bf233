// Package layer writes a deterministic layer tar from a list of inputs:
// files, directories, symlinks and empty files placed at paths in the image.
package layer

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Kind is the type of a tar entry.
type Kind int

const (
	KindFile Kind = iota
	KindDir
	KindSymlink
)

// Input is one line of the layer's input list.
type Input struct {
	Kind Kind
	// Path is where the entry goes in the image.
	Path string
	// Source is the file or directory to copy (KindFile); a directory is
	// copied with everything below it. Empty means an empty file.
	Source string
	// Target is the link target (KindSymlink).
	Target string
}

// Entry is one entry of the planned tar, in final form.
type Entry struct {
	Kind   Kind
	Path   string // clean, relative to the image root
	Source string // KindFile: file on disk, "" for an empty file
	Target string // KindSymlink
	Size   int64
	attrs  attrs
}

// ParseInputs reads the input list: one entry per line, fields separated by
// tabs (Bazel paths cannot contain tabs or newlines):
//
//	file <TAB> path <TAB> source            a file, or a directory copied whole
//	empty <TAB> path                        an empty file
//	symlink <TAB> path <TAB> target
//	runfile <TAB> exe <TAB> rpath <TAB> source
//	rootrunfile <TAB> exe <TAB> rpath <TAB> source
//
// A runfile line places a runfile of the executable at path exe, where
// Bazel's launchers look for it: exe.runfiles/<repo>/<rpath>. rpath is the
// file's short path ("../repo/x" for other repositories); a rootrunfile
// rpath is relative to the runfiles root. An empty source is an empty file.
func ParseInputs(r io.Reader, workspaceName string) ([]Input, error) {
	var inputs []Input
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" {
			continue
		}
		in, err := parseInput(strings.Split(text, "\t"), workspaceName)
		if err != nil {
			return nil, fmt.Errorf("input line %d (%q): %w", line, text, err)
		}
		inputs = append(inputs, in)
	}
	return inputs, sc.Err()
}

func parseInput(f []string, workspaceName string) (Input, error) {
	switch {
	case f[0] == "file" && len(f) == 3:
		return Input{Kind: KindFile, Path: f[1], Source: f[2]}, nil
	case f[0] == "empty" && len(f) == 2:
		return Input{Kind: KindFile, Path: f[1]}, nil
	case f[0] == "symlink" && len(f) == 3:
		return Input{Kind: KindSymlink, Path: f[1], Target: f[2]}, nil
	case f[0] == "runfile" && len(f) == 4:
		rpath, ok := strings.CutPrefix(f[2], "../")
		if !ok {
			rpath = workspaceName + "/" + f[2]
		}
		return Input{Kind: KindFile, Path: f[1] + ".runfiles/" + rpath, Source: f[3]}, nil
	case f[0] == "rootrunfile" && len(f) == 4:
		return Input{Kind: KindFile, Path: f[1] + ".runfiles/" + f[2], Source: f[3]}, nil
	}
	return Input{}, fmt.Errorf("not one of file, empty, symlink, runfile or rootrunfile with its fields")
}

// planner collects entries by path and rejects conflicts.
type planner struct {
	byPath  map[string]*Entry
	origin  map[string]string // what put each path there, for error messages
	walking map[string]bool   // resolved directories that addTree is walking
	parents bool              // add the parent directories no input names
}

// PlanOption changes how Plan lays out the entries.
type PlanOption func(*planner)

// ParentDirectories says whether Plan adds an entry for every parent
// directory that no input names (the default), or leaves them to the
// runtime, which creates them when it unpacks the layer.
func ParentDirectories(create bool) PlanOption {
	return func(p *planner) { p.parents = create }
}

// Plan expands directory sources, adds missing parent directories, checks
// for conflicts, applies metadata and sorts the entries by path.
func Plan(inputs []Input, meta MetadataSpec, opts ...PlanOption) ([]Entry, error) {
	p := &planner{byPath: map[string]*Entry{}, origin: map[string]string{}, walking: map[string]bool{}, parents: true}
	for _, o := range opts {
		o(p)
	}
	for _, in := range inputs {
		path, err := CleanPath(in.Path)
		if err != nil {
			return nil, err
		}
		if err := p.addInput(path, in); err != nil {
			return nil, err
		}
	}
	if p.parents {
		p.addParents()
	}
	return p.finish(meta)
}

func (p *planner) addInput(path string, in Input) error {
	switch in.Kind {
	case KindSymlink:
		if in.Target == "" {
			return fmt.Errorf("symlink %s has an empty target", path)
		}
		return p.add(&Entry{Kind: KindSymlink, Path: path, Target: in.Target}, "symlink to "+in.Target)
	case KindFile:
		if in.Source == "" {
			return p.add(&Entry{Kind: KindFile, Path: path}, "empty file")
		}
		info, err := os.Stat(in.Source)
		if err != nil {
			return fmt.Errorf("%s: source %w", path, err)
		}
		if info.IsDir() {
			return p.addTree(path, in.Source)
		}
		return p.addFile(path, in.Source, info)
	}
	return fmt.Errorf("%s: unknown input kind %d", path, in.Kind)
}

func (p *planner) addFile(path, source string, info fs.FileInfo) error {
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s: source %s is not a regular file (%s)", path, source, info.Mode().Type())
	}
	mode := int64(0o644)
	if info.Mode()&0o111 != 0 {
		mode = 0o755
	}
	e := &Entry{Kind: KindFile, Path: path, Source: source, Size: info.Size(), attrs: attrs{mode: mode}}
	return p.add(e, source)
}

// addTree copies a directory (a Bazel tree artifact) to path, keeping
// its inner structure, empty directories included.
func (p *planner) addTree(path, root string) error {
	if err := p.add(&Entry{Kind: KindDir, Path: path, attrs: attrs{mode: 0o755}}, root); err != nil {
		return err
	}
	// WalkDir does not descend into a root that is a symlink, and a tree
	// (or a directory inside one) may be staged as a link: walk the
	// directory it resolves to, refusing links back to a directory that
	// is being walked.
	dir, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if p.walking[dir] {
		return fmt.Errorf("%s: source %s is a symlink cycle: it links to %s, which contains it", path, root, dir)
	}
	p.walking[dir] = true
	defer delete(p.walking, dir)
	return filepath.WalkDir(dir, func(src string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if src == dir {
			return nil
		}
		rel, err := filepath.Rel(dir, src)
		if err != nil {
			return err
		}
		dest := path + "/" + filepath.ToSlash(rel)
		// Follow symlinks: Bazel may stage tree contents as links to the cache.
		info, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("%s: %w", dest, err)
		}
		if info.IsDir() {
			if d.Type()&fs.ModeSymlink != 0 {
				return p.addTree(dest, src)
			}
			return p.add(&Entry{Kind: KindDir, Path: dest, attrs: attrs{mode: 0o755}}, src)
		}
		return p.addFile(dest, src, info)
	})
}

// add records e, or fails when another input already claimed its path. The
// same file placed twice at one path (as runfiles of two binaries can be) is
// not a conflict.
func (p *planner) add(e *Entry, origin string) error {
	if prev, ok := p.byPath[e.Path]; ok {
		same := prev.Kind == e.Kind && prev.Source == e.Source && prev.Target == e.Target
		if e.Kind == KindDir && prev.Kind == KindDir {
			same = true
		}
		if !same {
			return fmt.Errorf("two inputs map to /%s: %s and %s; give each a path of its own", e.Path, p.origin[e.Path], origin)
		}
		return nil
	}
	p.byPath[e.Path] = e
	p.origin[e.Path] = origin
	return nil
}

// addParents creates every missing parent directory, and fails when a parent
// is a file or symlink.
func (p *planner) addParents() {
	for path := range p.byPath {
		for _, dir := range parentDirs(path) {
			if _, ok := p.byPath[dir]; !ok {
				p.byPath[dir] = &Entry{Kind: KindDir, Path: dir, attrs: attrs{mode: 0o755}}
				p.origin[dir] = "parent of /" + path
			}
		}
	}
}

func (p *planner) finish(meta MetadataSpec) ([]Entry, error) {
	entries := make([]Entry, 0, len(p.byPath))
	for _, e := range p.byPath {
		entries = append(entries, *e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Path < entries[j].Path })
	// Checked in sorted order, so that the error names the same path on
	// every run.
	for _, e := range entries {
		for _, dir := range parentDirs(e.Path) {
			if parent := p.byPath[dir]; parent != nil && parent.Kind != KindDir {
				return nil, fmt.Errorf("/%s needs /%s to be a directory, but it is a %s (%s)", e.Path, dir, parent.Kind, p.origin[dir])
			}
		}
	}
	if err := applyMetadata(entries, meta); err != nil {
		return nil, err
	}
	return entries, nil
}

func applyMetadata(entries []Entry, meta MetadataSpec) error {
	perPath := map[string]FileMetadata{}
	keys := map[string]string{} // clean path → the key that gave it
	for key, m := range meta.Paths {
		path, err := CleanPath(key)
		if err != nil {
			return fmt.Errorf("file_metadata: %w", err)
		}
		if prev, ok := keys[path]; ok {
			// Either value could win, depending on map order: refuse both.
			first, second := min(prev, key), max(prev, key)
			return fmt.Errorf("file_metadata gives /%s twice, as %q and %q: give each path once", path, first, second)
		}
		keys[path] = key
		perPath[path] = m
	}
	for i := range entries {
		e := &entries[i]
		if e.Kind == KindSymlink {
			e.attrs.mode = 0o777
		}
		if e.attrs.mode == 0 {
			e.attrs.mode = 0o644 // empty files
		}
		e.attrs.mtime = time.Unix(0, 0).UTC()
		var err error
		defaults := meta.Default
		if e.Kind != KindFile {
			defaults.Mode = nil // a file default mode must not make directories unsearchable
		}
		if e.attrs, err = defaults.apply(e.attrs); err != nil {
			return fmt.Errorf("default_metadata: %w", err)
		}
		if m, ok := perPath[e.Path]; ok {
			if e.attrs, err = m.apply(e.attrs); err != nil {
				return fmt.Errorf("file_metadata for /%s: %w", e.Path, err)
			}
			delete(perPath, e.Path)
		}
	}
	if len(perPath) > 0 {
		unused := make([]string, 0, len(perPath))
		for path := range perPath {
			unused = append(unused, "/"+path)
		}
		sort.Strings(unused)
		return fmt.Errorf("file_metadata for %s matches no path in the layer: check the path against srcs and symlinks", strings.Join(unused, ", "))
	}
	return nil
}

func (k Kind) String() string {
	switch k {
	case KindFile:
		return "file"
	case KindDir:
		return "directory"
	case KindSymlink:
		return "symlink"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}
