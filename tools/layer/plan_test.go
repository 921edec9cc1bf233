package layer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlanErrors(t *testing.T) {
	src := t.TempDir()
	a := writeSource(t, src, "a", "a", 0o644)
	b := writeSource(t, src, "b", "b", 0o644)
	writeSource(t, src, "tree/f", "f", 0o644)
	tree := filepath.Join(src, "tree")
	missing := filepath.Join(src, "missing")
	file := func(path, source string) Input { return Input{Kind: KindFile, Path: path, Source: source} }
	onX := func(m FileMetadata) MetadataSpec { return MetadataSpec{Paths: map[string]FileMetadata{"/app/x": m}} }
	inX := []Input{file("/app/x", a)}

	for _, tc := range []struct {
		name   string
		inputs []Input
		meta   MetadataSpec
		want   []string
	}{
		{"two sources at one path", []Input{file("/app/x", a), file("app//x", b)},
			MetadataSpec{}, []string{"two inputs map to /app/x", a, b}},
		{"file and symlink at one path", []Input{file("/app/x", a), {Kind: KindSymlink, Path: "/app/x", Target: "y"}},
			MetadataSpec{}, []string{"two inputs map to /app/x", a, "symlink to y"}},
		{"file and empty file at one path", []Input{{Kind: KindFile, Path: "/app/x"}, file("/app/x", a)},
			MetadataSpec{}, []string{"two inputs map to /app/x", "empty file", a}},
		{"symlinks with different targets", []Input{{Kind: KindSymlink, Path: "/l", Target: "a"}, {Kind: KindSymlink, Path: "/l", Target: "b"}},
			MetadataSpec{}, []string{"two inputs map to /l", "symlink to a", "symlink to b"}},
		{"file inside a tree", []Input{file("/opt", tree), file("/opt/f", b)},
			MetadataSpec{}, []string{"two inputs map to /opt/f", filepath.Join(tree, "f"), b}},
		{"file where a tree goes", []Input{file("/opt", a), file("/opt", tree)},
			MetadataSpec{}, []string{"two inputs map to /opt", a, tree}},
		{"'..' in a path", []Input{file("/app/../etc/passwd", a)},
			MetadataSpec{}, []string{`"/app/../etc/passwd"`, "'..'"}},
		{"the image root", []Input{file("/", a)},
			MetadataSpec{}, []string{`"/"`, "image root"}},
		{"mode 0999", inX, onX(FileMetadata{Mode: ptr("0999")}), []string{"file_metadata for /app/x", `"0999"`}},
		{"mode abc", inX, onX(FileMetadata{Mode: ptr("abc")}), []string{"file_metadata for /app/x", `"abc"`}},
		{"mode 77777", inX, onX(FileMetadata{Mode: ptr("77777")}), []string{"file_metadata for /app/x", `"77777"`}},
		{"default mode 0999", inX, MetadataSpec{Default: FileMetadata{Mode: ptr("0999")}}, []string{"default_metadata", `"0999"`}},
		{"default mode abc", inX, MetadataSpec{Default: FileMetadata{Mode: ptr("abc")}}, []string{"default_metadata", `"abc"`}},
		{"default mode 77777", inX, MetadataSpec{Default: FileMetadata{Mode: ptr("77777")}}, []string{"default_metadata", `"77777"`}},
		{"negative uid", inX, onX(FileMetadata{UID: ptr(-1)}), []string{"file_metadata for /app/x", "uid -1"}},
		{"bad mtime", inX, onX(FileMetadata{Mtime: ptr("noon")}), []string{"file_metadata for /app/x", `"noon"`}},
		{"default bad mtime", inX, MetadataSpec{Default: FileMetadata{Mtime: ptr("noon")}}, []string{"default_metadata", `"noon"`}},
		{"file_metadata matching nothing", inX,
			MetadataSpec{Paths: map[string]FileMetadata{"/zzz": {}, "/app/x": {}, "/app/nope": {UID: ptr(1)}}},
			[]string{"file_metadata for /app/nope, /zzz matches no path"}},
		{"file_metadata for a source path", inX,
			MetadataSpec{Paths: map[string]FileMetadata{a: {}}},
			[]string{"file_metadata for /" + strings.TrimPrefix(a, "/") + " matches no path"}},
		{"file_metadata with '..'", inX,
			MetadataSpec{Paths: map[string]FileMetadata{"/app/../x": {}}},
			[]string{"file_metadata", `"/app/../x"`}},
		{"file_metadata given twice for one path", inX,
			MetadataSpec{Paths: map[string]FileMetadata{"/app/x": {Mode: ptr("0600")}, "app//x/": {Mode: ptr("0644")}}},
			[]string{"file_metadata", `"/app/x"`, `"app//x/"`, "/app/x"}},
		{"parent is a file", []Input{file("/a", a), file("/a/b/c", b)},
			MetadataSpec{}, []string{"/a/b/c needs /a to be a directory, but it is a file (" + a + ")"}},
		{"parent is a symlink", []Input{{Kind: KindSymlink, Path: "/lib", Target: "usr/lib"}, file("/lib/x", a)},
			MetadataSpec{}, []string{"/lib/x needs /lib to be a directory, but it is a symlink"}},
		{"parent is an empty file", []Input{{Kind: KindFile, Path: "/etc/conf"}, file("/etc/conf/x", a)},
			MetadataSpec{}, []string{"/etc/conf/x needs /etc/conf to be a directory, but it is a file (empty file)"}},
		{"missing source", []Input{file("/app/x", missing)},
			MetadataSpec{}, []string{"app/x", missing}},
		{"source not a regular file", []Input{file("/app/null", os.DevNull)},
			MetadataSpec{}, []string{"app/null", os.DevNull, "not a regular file"}},
		{"symlink without target", []Input{{Kind: KindSymlink, Path: "/app/l"}},
			MetadataSpec{}, []string{"app/l", "empty target"}},
		{"unknown kind", []Input{{Kind: Kind(7), Path: "/app/k"}},
			MetadataSpec{}, []string{"app/k", "unknown input kind 7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries, err := Plan(tc.inputs, tc.meta)
			if err == nil {
				t.Fatalf("Plan succeeded with %d entries, want an error containing %q", len(entries), tc.want)
			}
			wantErr(t, err, tc.want...)
		})
	}
}

// TestRunfileEscapesRejected checks that a runfile path with '..' past the
// repository prefix cannot leave the runfiles tree.
func TestRunfileEscapesRejected(t *testing.T) {
	inputs, err := ParseInputs(strings.NewReader("runfile\t/app/bin/s\t../../../etc/passwd\t\n"), "_main")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Plan(inputs, MetadataSpec{})
	wantErr(t, err, "/app/bin/s.runfiles/../../etc/passwd", "'..'")
}

// TestDuplicateInputsAreNotConflicts checks that repeating an identical
// input (the same file, empty file, symlink or tree) is accepted.
func TestDuplicateInputsAreNotConflicts(t *testing.T) {
	src := t.TempDir()
	a := writeSource(t, src, "a", "a", 0o644)
	writeSource(t, src, "tree/f", "f", 0o644)
	tree := filepath.Join(src, "tree")
	for _, in := range []Input{
		{Kind: KindFile, Path: "/x", Source: a},
		{Kind: KindFile, Path: "/x"},
		{Kind: KindSymlink, Path: "/x", Target: "y"},
		{Kind: KindFile, Path: "/x", Source: tree},
	} {
		entries, err := Plan([]Input{in, in}, MetadataSpec{})
		if err != nil {
			t.Errorf("%+v twice: %v", in, err)
			continue
		}
		if in.Source == tree {
			if len(entries) != 2 {
				t.Errorf("tree twice: %d entries, want 2", len(entries))
			}
		} else if len(entries) != 1 {
			t.Errorf("%+v twice: %d entries, want 1", in, len(entries))
		}
	}
	// A directory created as a parent and given as a tree is one entry.
	entries, err := Plan([]Input{{Kind: KindFile, Path: "/x/f2", Source: a}, {Kind: KindFile, Path: "/x", Source: tree}}, MetadataSpec{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Path)
	}
	if strings.Join(got, " ") != "x x/f x/f2" {
		t.Errorf("entries %q, want x x/f x/f2", got)
	}
}
