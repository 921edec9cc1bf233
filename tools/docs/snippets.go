package docs

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Snippets in the docs come from e2e workspaces, which CI builds. A region
// of an e2e BUILD, MODULE or .bzl file is marked
//
//	# [snippet: NAME]
//	...
//	# [end snippet]
//
// and a fenced Starlark block in the docs names its region on the line
// above it:
//
//	<!-- snippet: NAME -->
//	<!-- snippet: NAME with OLD=NEW, OLD2=NEW2 -->   (placeholders replaced)
//
// The block must equal the region. A Starlark block without a marker has no
// source, and fails the check.

// UpdateCommand regenerates the generated parts of docs/.
const UpdateCommand = "tools/docs/update.sh"

var (
	startMarker = regexp.MustCompile(`^\s*# \[snippet: ([A-Za-z0-9_.-]+)\]\s*$`)
	endMarker   = regexp.MustCompile(`^\s*# \[end snippet\]\s*$`)
	docMarker   = regexp.MustCompile(`^<!-- snippet: ([A-Za-z0-9_.-]+)(?: with (.+?))? -->$`)
	fence       = regexp.MustCompile("^(```+)\\s*([A-Za-z0-9_+-]*)\\s*$")
)

// starlarkLangs are the fence languages whose blocks must have a source.
var starlarkLangs = map[string]bool{"starlark": true, "python": true, "py": true, "bzl": true, "bazel": true}

// Region is a marked part of an e2e file.
type Region struct {
	File string // relative to the repository root
	Line int    // of the start marker
	Text string // the lines between the markers, dedented, without markers
}

// Regions reads every marked region of the e2e workspaces under root/e2e.
func Regions(root string) (map[string]Region, error) {
	regions := map[string]Region{}
	err := filepath.WalkDir(filepath.Join(root, "e2e"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), "bazel-") || strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !isStarlark(d.Name()) {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		return fileRegions(filepath.ToSlash(rel), data, regions)
	})
	return regions, err
}

func fileRegions(file string, data []byte, regions map[string]Region) error {
	type open struct {
		name  string
		line  int
		lines []string
	}
	var stack []*open
	for i, line := range strings.Split(string(data), "\n") {
		if m := startMarker.FindStringSubmatch(line); m != nil {
			if prev, ok := regions[m[1]]; ok {
				return fmt.Errorf("%s:%d: snippet %q is also marked at %s:%d: give each region its own name", file, i+1, m[1], prev.File, prev.Line)
			}
			regions[m[1]] = Region{File: file, Line: i + 1} // claimed; text set at its end
			stack = append(stack, &open{name: m[1], line: i + 1})
			continue
		}
		if endMarker.MatchString(line) {
			if len(stack) == 0 {
				return fmt.Errorf("%s:%d: [end snippet] without a [snippet: NAME] before it", file, i+1)
			}
			o := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			regions[o.name] = Region{File: file, Line: o.line, Text: dedent(o.lines)}
			continue
		}
		for _, o := range stack {
			o.lines = append(o.lines, line)
		}
	}
	if len(stack) > 0 {
		o := stack[len(stack)-1]
		return fmt.Errorf("%s:%d: snippet %q has no # [end snippet]", file, o.line, o.name)
	}
	return nil
}

// dedent removes the indentation that all non-blank lines share, and blank
// lines at either end.
func dedent(lines []string) string {
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	indent := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " \t"))
		if indent < 0 || n < indent {
			indent = n
		}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		if len(l) >= indent && indent > 0 {
			l = l[indent:]
		}
		out[i] = strings.TrimRight(l, " \t")
	}
	return strings.Join(out, "\n")
}

// DocFiles are the Markdown files whose snippets are checked: docs/**/*.md
// except the generated reference.
func DocFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() && (rel == "docs/reference" || strings.HasPrefix(d.Name(), "bazel-")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(rel, ".md") {
			files = append(files, rel)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// CheckSnippets checks every Starlark block of the doc files against its
// region, and with write set rewrites the blocks that differ. Problems are
// printed to w, one a line, naming the file and line; the error says how
// many there were.
func CheckSnippets(root string, write bool, w io.Writer) error {
	regions, err := Regions(root)
	if err != nil {
		return err
	}
	files, err := DocFiles(root)
	if err != nil {
		return err
	}
	problems, blocks := 0, 0
	for _, file := range files {
		data, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			return err
		}
		out, found, errs := checkDoc(file, data, regions, write)
		blocks += found
		for _, e := range errs {
			fmt.Fprintln(w, e)
		}
		problems += len(errs)
		if write && !bytes.Equal(out, data) {
			if err := os.WriteFile(filepath.Join(root, file), out, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(w, "%s: snippets updated\n", file)
		}
	}
	if problems > 0 {
		return fmt.Errorf("%d of %d snippets have problems (listed above)", problems, blocks)
	}
	fmt.Fprintf(w, "%d snippets in %d files match their e2e sources\n", blocks, len(files))
	return nil
}

// checkDoc returns the document with stale blocks rewritten (when write is
// set), the number of Starlark blocks, and the problems found.
func checkDoc(file string, data []byte, regions map[string]Region, write bool) ([]byte, int, []string) {
	lines := strings.Split(string(data), "\n")
	var out, errs []string
	blocks := 0
	for i := 0; i < len(lines); i++ {
		out = append(out, lines[i])
		m := fence.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		end := i + 1
		for end < len(lines) && strings.TrimSpace(lines[end]) != m[1] {
			end++
		}
		if end == len(lines) {
			errs = append(errs, fmt.Sprintf("%s:%d: code block is not closed", file, i+1))
			out = append(out, lines[i+1:]...)
			break
		}
		body := strings.Join(lines[i+1:end], "\n")
		if !starlarkLangs[m[2]] {
			out = append(out, lines[i+1:end+1]...)
			i = end
			continue
		}
		blocks++
		want, problem := expected(file, lines, i, regions)
		switch {
		case problem != "":
			errs = append(errs, problem)
		case want != body && write:
			body = want
		case want != body:
			errs = append(errs, fmt.Sprintf("%s:%d: the %s block differs from its source (%s); run %s",
				file, i+1, m[2], source(lines, i, regions), UpdateCommand))
		}
		if body != "" {
			out = append(out, strings.Split(body, "\n")...)
		}
		out = append(out, lines[end])
		i = end
	}
	return []byte(strings.Join(out, "\n")), blocks, errs
}

// marker is the snippet marker above the fence at line i, if any.
func marker(lines []string, i int) []string {
	for j := i - 1; j >= 0; j-- {
		if strings.TrimSpace(lines[j]) == "" {
			continue
		}
		return docMarker.FindStringSubmatch(strings.TrimSpace(lines[j]))
	}
	return nil
}

func source(lines []string, i int, regions map[string]Region) string {
	m := marker(lines, i)
	r := regions[m[1]]
	return fmt.Sprintf("snippet %q, %s:%d", m[1], r.File, r.Line)
}

// expected is the text that the block at line i must have, or a problem.
func expected(file string, lines []string, i int, regions map[string]Region) (string, string) {
	m := marker(lines, i)
	if m == nil {
		return "", fmt.Sprintf("%s:%d: this Starlark block has no source: mark a region of an e2e workspace with "+
			"\"# [snippet: NAME]\" ... \"# [end snippet]\", put \"<!-- snippet: NAME -->\" above the block and run %s",
			file, i+1, UpdateCommand)
	}
	r, ok := regions[m[1]]
	if !ok {
		return "", fmt.Sprintf("%s:%d: no e2e workspace marks a snippet %q: mark one with \"# [snippet: %s]\" ... \"# [end snippet]\"",
			file, i+1, m[1], m[1])
	}
	text := r.Text
	if m[2] != "" {
		for _, pair := range strings.Split(m[2], ",") {
			old, repl, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if !ok || old == "" {
				return "", fmt.Sprintf("%s:%d: %q is not OLD=NEW in the snippet marker", file, i, pair)
			}
			if !strings.Contains(text, old) {
				return "", fmt.Sprintf("%s:%d: snippet %q (%s:%d) has no %q to replace", file, i, m[1], r.File, r.Line, old)
			}
			text = strings.ReplaceAll(text, old, repl)
		}
	}
	return text, ""
}

// isStarlark reports whether a file of this name holds Starlark.
func isStarlark(name string) bool {
	switch name {
	case "BUILD.bazel", "BUILD", "MODULE.bazel", "WORKSPACE.bazel", "WORKSPACE":
		return true
	}
	return strings.HasSuffix(name, ".bzl")
}
