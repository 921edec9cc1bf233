// Package layer writes a deterministic layer tar from a list of inputs:
// files, directories, symlinks and empty files placed at paths in the image.
package layer

import (
	"bufio"
	"fmt"
	"io"
	"strings"
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
	origin string // what put the entry there, for error messages
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
