// Package release builds the files of a rules_img release: the img tool for
// every platform, the prebuilt lockfile that points at them, and a source
// archive of the module with its version stamped in. Every file is
// reproducible: the same commit and version give the same bytes.
package release

import (
	"fmt"
	"strings"
)

// Platform is a target of the img tool, in Go's GOOS/GOARCH names (the
// names the prebuilt lockfile uses).
type Platform struct {
	OS   string
	Arch string
}

// AllPlatforms are the platforms a release ships binaries for.
var AllPlatforms = []Platform{
	{"linux", "amd64"}, {"linux", "arm64"},
	{"darwin", "amd64"}, {"darwin", "arm64"},
	{"windows", "amd64"}, {"windows", "arm64"},
}

func (p Platform) String() string { return p.OS + "/" + p.Arch }

// BinaryName is the release asset name of the img tool for p.
func (p Platform) BinaryName() string {
	name := "img_" + p.OS + "_" + p.Arch
	if p.OS == "windows" {
		name += ".exe"
	}
	return name
}

// ParsePlatforms reads a comma-separated list of os/arch; "all" is every
// platform of AllPlatforms.
func ParsePlatforms(s string) ([]Platform, error) {
	if s == "all" {
		return AllPlatforms, nil
	}
	var out []Platform
	seen := map[Platform]bool{}
	for _, field := range strings.Split(s, ",") {
		os, arch, ok := strings.Cut(strings.TrimSpace(field), "/")
		p := Platform{os, arch}
		if !ok || !supported(p) {
			return nil, fmt.Errorf("platform %q: want os/arch, one of %s (or all)", field, AllPlatforms)
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out, nil
}

func supported(p Platform) bool {
	for _, q := range AllPlatforms {
		if p == q {
			return true
		}
	}
	return false
}
