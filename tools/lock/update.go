package lock

import (
	"fmt"
	"sort"

	"github.com/rules-img/rules_img/tools/registry"
)

// Change is what an update did to one platform of one image.
type Change struct {
	Image, Platform string
	Old, New        string // manifest digests; "" when absent
}

func (c Change) String() string {
	switch {
	case c.Old == "":
		return fmt.Sprintf("%s %s: added %s", c.Image, c.Platform, c.New)
	case c.New == "":
		return fmt.Sprintf("%s %s: removed (was %s)", c.Image, c.Platform, c.Old)
	case c.Old == c.New:
		return fmt.Sprintf("%s %s: unchanged %s", c.Image, c.Platform, c.New)
	}
	return fmt.Sprintf("%s %s: %s -> %s", c.Image, c.Platform, c.Old, c.New)
}

// Update resolves every pull and returns the new lockfile with the change
// of each platform. Entries of pulls that no longer exist are dropped.
func Update(c *registry.Client, pulls []Pull, old File) (File, []Change, error) {
	if err := ValidatePulls(pulls); err != nil {
		return File{}, nil, err
	}
	next := File{Version: Version, Images: map[string]Image{}}
	for _, p := range pulls {
		img, err := Resolve(c, p)
		if err != nil {
			return File{}, nil, err
		}
		next.Images[p.Name] = img
	}
	return next, Diff(old, next), nil
}

// Diff lists per image and platform how the manifest digest moved, sorted.
func Diff(old, next File) []Change {
	var changes []Change
	names := map[string]bool{}
	for n := range old.Images {
		names[n] = true
	}
	for n := range next.Images {
		names[n] = true
	}
	for n := range names {
		platforms := map[string]bool{}
		for p := range old.Images[n].Platforms {
			platforms[p] = true
		}
		for p := range next.Images[n].Platforms {
			platforms[p] = true
		}
		for p := range platforms {
			changes = append(changes, Change{
				Image: n, Platform: p,
				Old: old.Images[n].Platforms[p].Manifest.Digest,
				New: next.Images[n].Platforms[p].Manifest.Digest,
			})
		}
	}
	sort.Slice(changes, func(i, j int) bool {
		if changes[i].Image != changes[j].Image {
			return changes[i].Image < changes[j].Image
		}
		return changes[i].Platform < changes[j].Platform
	})
	return changes
}
