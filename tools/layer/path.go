package layer

import (
	"fmt"
	"strings"
)

// CleanPath turns a path in the image ("/app/bin/x", "app//bin/x") into the
// form a tar entry uses ("app/bin/x"). It refuses paths that could escape the
// image root or that name the root itself.
func CleanPath(p string) (string, error) {
	if strings.ContainsAny(p, "\x00\n\t") {
		return "", fmt.Errorf("path %q contains a NUL, tab or newline", p)
	}
	var parts []string
	for _, part := range strings.Split(p, "/") {
		switch part {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("path %q contains '..': write the path from the image root without '..'", p)
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("path %q names the image root: give a file path such as /app/bin/server", p)
	}
	return strings.Join(parts, "/"), nil
}

// parentDirs lists the parents of a clean path, outermost first.
func parentDirs(p string) []string {
	var dirs []string
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			dirs = append(dirs, p[:i])
		}
	}
	return dirs
}
