package docs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	mdLink     = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	htmlAnchor = regexp.MustCompile(`<a (?:id|name)="([^"]+)"`)
	heading    = regexp.MustCompile(`^#{1,6}\s+(.+?)\s*#*\s*$`)
	slugDrop   = regexp.MustCompile(`[^\p{L}\p{N}_\- ]`)
)

// CheckLinks checks the relative links of every Markdown file under
// root/docs: the file must exist and, for a link with #anchor into a
// Markdown file, the anchor too (an <a id> or a heading's GitHub slug).
// Problems are printed to w, one a line.
func CheckLinks(root string, w io.Writer) error {
	var files []string
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), "bazel-") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	anchors := map[string]map[string]bool{}
	problems, links := 0, 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, file)
		inFence := false
		for n, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				inFence = !inFence
			}
			if inFence {
				continue
			}
			for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				links++
				path, anchor, _ := strings.Cut(target, "#")
				dest := file
				if path != "" {
					dest = filepath.Join(filepath.Dir(file), path)
				}
				if _, err := os.Stat(dest); err != nil {
					fmt.Fprintf(w, "%s:%d: link %q: %s does not exist\n", rel, n+1, target, path)
					problems++
					continue
				}
				if anchor == "" || !strings.HasSuffix(dest, ".md") {
					continue
				}
				if anchors[dest] == nil {
					anchors[dest], err = fileAnchors(dest)
					if err != nil {
						return err
					}
				}
				if !anchors[dest][anchor] {
					fmt.Fprintf(w, "%s:%d: link %q: no anchor %q in %s\n", rel, n+1, target, anchor, filepath.Base(dest))
					problems++
				}
			}
		}
	}
	if problems > 0 {
		return fmt.Errorf("%d of %d links are broken (listed above)", problems, links)
	}
	fmt.Fprintf(w, "%d links in %d files resolve\n", links, len(files))
	return nil
}

// fileAnchors are the anchors a Markdown file defines: explicit <a id>
// and the slugs GitHub gives its headings.
func fileAnchors(path string) (map[string]bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	anchors := map[string]bool{}
	seen := map[string]int{}
	inFence := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
		}
		if inFence {
			continue
		}
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			anchors[m[1]] = true
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			slug := strings.ReplaceAll(slugDrop.ReplaceAllString(strings.ToLower(m[1]), ""), " ", "-")
			if n := seen[slug]; n > 0 {
				anchors[fmt.Sprintf("%s-%d", slug, n)] = true
			} else {
				anchors[slug] = true
			}
			seen[slug]++
		}
	}
	return anchors, nil
}
