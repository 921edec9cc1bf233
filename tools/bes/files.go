package bes

import (
	"fmt"
	"sort"
	"strings"

	"github.com/rules-img/rules_img/tools/cas"
)

// Files are a target's files, by their path in the output tree
// (bazel-out/<configuration>/bin/<package>/<name>).
type Files map[string]file

// Digest finds a file by its path in the output tree or by its short path
// ("pkg/name", or "../repo/pkg/name" in another repository), as deploy
// specs name files. A short path that several configurations built is
// ambiguous.
func (f Files) Digest(path string) (cas.Digest, error) {
	if got, ok := f[path]; ok {
		return got.digest, got.err
	}
	rel := path
	if rest, ok := strings.CutPrefix(path, "../"); ok {
		rel = "external/" + rest
	}
	var matches []string
	for p := range f {
		// bazel-out/<configuration>/bin/<rel>
		parts := strings.SplitN(p, "/", 4)
		if len(parts) == 4 && parts[0] == "bazel-out" && parts[2] == "bin" && parts[3] == rel {
			matches = append(matches, p)
		}
	}
	switch len(matches) {
	case 0:
		return cas.Digest{}, fmt.Errorf("the build reported no file %s", path)
	case 1:
		got := f[matches[0]]
		return got.digest, got.err
	}
	sort.Strings(matches)
	return cas.Digest{}, fmt.Errorf("%s is ambiguous: the build reported %s", path, strings.Join(matches, ", "))
}
