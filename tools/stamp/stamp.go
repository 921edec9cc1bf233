// Package stamp expands {VAR} in tags and labels from Bazel's workspace
// status files (stable-status.txt, volatile-status.txt).
package stamp

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
)

var variable = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// ReadStatus reads "KEY value" lines from workspace status files; later
// files override earlier ones.
func ReadStatus(paths ...string) (map[string]string, error) {
	vars := map[string]string{}
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			key, value, _ := strings.Cut(sc.Text(), " ")
			if key != "" {
				vars[key] = value
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return vars, nil
}

// Expand replaces every {VAR} in s; an unknown variable is an error.
func Expand(s string, vars map[string]string) (string, error) {
	var missing []string
	out := variable.ReplaceAllStringFunc(s, func(m string) string {
		key := m[1 : len(m)-1]
		value, ok := vars[key]
		if !ok {
			missing = append(missing, key)
		}
		return value
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("%q uses %s, which the workspace status does not define (see --workspace_status_command)", s, strings.Join(missing, ", "))
	}
	return out, nil
}

// Unexpanded returns the first {VAR} left in s, or "".
func Unexpanded(s string) string {
	return variable.FindString(s)
}
