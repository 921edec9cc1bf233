// Package stamp reads Bazel's workspace status files (stable-status.txt,
// volatile-status.txt), whose keys templates may use when a target stamps.
package stamp

import (
	"bufio"
	"os"
	"strings"
)

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
