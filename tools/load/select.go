package load

import (
	"fmt"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Choice says which platforms of an image to load.
type Choice struct {
	// All loads every platform of an index.
	All bool
	// Platform is the one platform to load, when not All.
	Platform ocispec.Platform
	// Explicit is true when Platform was asked for by name rather than
	// taken from the host: a single-platform image must then match it.
	Explicit bool
}

// ParseChoice reads a --platform value: "" or "host" for host, "all", or
// os/arch[/variant].
func ParseChoice(flag string, host ocispec.Platform) (Choice, error) {
	switch flag {
	case "", "host":
		return Choice{Platform: platforms.Normalize(host)}, nil
	case "all":
		return Choice{All: true}, nil
	}
	p, err := platforms.Parse(flag)
	if err != nil {
		return Choice{}, fmt.Errorf("--platform %q: %w (write os/arch[/variant], host or all)", flag, err)
	}
	return Choice{Platform: p, Explicit: true}, nil
}

// HostPlatform is the platform that images run on here: this machine's
// architecture, and Linux even on a macOS or Windows host, whose daemons run
// Linux containers in a VM.
func HostPlatform() ocispec.Platform {
	p := platforms.DefaultSpec()
	if p.OS != "linux" {
		p = ocispec.Platform{OS: "linux", Architecture: p.Architecture, Variant: p.Variant}
	}
	return platforms.Normalize(p)
}

// PlatformImage is one platform's image of a selection.
type PlatformImage struct {
	Image v1.Image
	// Descriptor is the manifest's descriptor, with its platform.
	Descriptor ocispec.Descriptor
	Platform   ocispec.Platform
}

// Selection is what a load puts into a daemon.
type Selection struct {
	// Target is what image names point to: the index when the image is one
	// (also when only some of its platforms are loaded, as a pull with a
	// platform does), else the manifest.
	Target ocispec.Descriptor
	// Index is the index's raw JSON when Target is an index.
	Index []byte
	// Images are the chosen platforms' images, in index order.
	Images []PlatformImage
	// Available are the platforms of every image, for messages.
	Available []ocispec.Platform
}

// Select picks the images that c asks for from an image or an index.
func Select(t remote.Taggable, c Choice) (Selection, error) {
	switch v := t.(type) {
	case v1.ImageIndex:
		return selectFromIndex(v, c)
	case v1.Image:
		return selectImage(v, c)
	}
	return Selection{}, fmt.Errorf("cannot load a %T: it is neither an image nor an index", t)
}

func selectImage(img v1.Image, c Choice) (Selection, error) {
	desc, err := partial.Descriptor(img)
	if err != nil {
		return Selection{}, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return Selection{}, fmt.Errorf("config of %s: %w", desc.Digest, err)
	}
	p := platforms.Normalize(ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant})
	if c.Explicit && !platforms.Only(c.Platform).Match(p) {
		return Selection{}, fmt.Errorf("--platform %s: the image is for %s only (it is not an index); pass --platform %s, or leave --platform out",
			platforms.Format(c.Platform), platforms.Format(p), platforms.Format(p))
	}
	target := ociDescriptor(*desc)
	target.Platform = &p
	return Selection{
		Target:    target,
		Images:    []PlatformImage{{Image: img, Descriptor: target, Platform: p}},
		Available: []ocispec.Platform{p},
	}, nil
}

func selectFromIndex(idx v1.ImageIndex, c Choice) (Selection, error) {
	raw, err := idx.RawManifest()
	if err != nil {
		return Selection{}, err
	}
	desc, err := partial.Descriptor(idx)
	if err != nil {
		return Selection{}, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return Selection{}, err
	}
	sel := Selection{Target: ociDescriptor(*desc), Index: raw}
	type candidate struct {
		desc     v1.Descriptor
		platform ocispec.Platform
	}
	var candidates []candidate
	for _, d := range im.Manifests {
		p, err := manifestPlatform(idx, d)
		if err != nil {
			return Selection{}, err
		}
		candidates = append(candidates, candidate{d, p})
		sel.Available = append(sel.Available, p)
	}
	var chosen []candidate
	if c.All {
		chosen = candidates
	} else {
		m := platforms.Only(c.Platform)
		for _, cand := range candidates {
			if m.Match(cand.platform) && (len(chosen) == 0 || m.Less(cand.platform, chosen[0].platform)) {
				chosen = []candidate{cand}
			}
		}
		if len(chosen) == 0 {
			what := "the host platform " + platforms.Format(c.Platform)
			if c.Explicit {
				what = platforms.Format(c.Platform)
			}
			return Selection{}, fmt.Errorf("the index has no image for %s; it has %s: pass --platform with one of them, or --platform all",
				what, FormatPlatforms(sel.Available))
		}
	}
	for _, cand := range chosen {
		img, err := idx.Image(cand.desc.Digest)
		if err != nil {
			return Selection{}, err
		}
		d := ociDescriptor(cand.desc)
		p := cand.platform
		d.Platform = &p
		sel.Images = append(sel.Images, PlatformImage{Image: img, Descriptor: d, Platform: p})
	}
	return sel, nil
}

// manifestPlatform is the platform an index gives a manifest, or else the
// one its config names.
func manifestPlatform(idx v1.ImageIndex, d v1.Descriptor) (ocispec.Platform, error) {
	if d.Platform != nil && d.Platform.OS != "" {
		return platforms.Normalize(ocispec.Platform{OS: d.Platform.OS, Architecture: d.Platform.Architecture, Variant: d.Platform.Variant}), nil
	}
	img, err := idx.Image(d.Digest)
	if err != nil {
		return ocispec.Platform{}, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return ocispec.Platform{}, fmt.Errorf("config of %s: %w", d.Digest, err)
	}
	return platforms.Normalize(ocispec.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}), nil
}

// FormatPlatforms lists platforms as os/arch[/variant], comma-separated.
func FormatPlatforms(ps []ocispec.Platform) string {
	var s []string
	for _, p := range ps {
		s = append(s, platforms.Format(p))
	}
	return strings.Join(slices.Compact(s), ", ")
}

func ociDescriptor(d v1.Descriptor) ocispec.Descriptor {
	o := ocispec.Descriptor{
		MediaType:   string(d.MediaType),
		Size:        d.Size,
		Annotations: d.Annotations,
	}
	o.Digest = digestOf(d.Digest)
	return o
}
