package lock

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/rules-img/rules_img/tools/registry"
)

// Resolve asks the registries what p points at now: the index or manifest
// digest, and for each platform its manifest, config and layers.
func Resolve(c *registry.Client, p Pull) (Image, error) {
	sources := registry.Sources(p.Registries, p.Repository)
	ref := p.Digest
	if ref == "" {
		ref = p.Tag
	}
	desc, src, err := c.Get(sources, ref)
	if err != nil {
		return Image{}, fmt.Errorf("pull %q: %w", p.Name, err)
	}
	if p.Digest != "" && desc.Digest.String() != p.Digest {
		return Image{}, fmt.Errorf("pull %q: %s served %s for digest %s", p.Name, src, desc.Digest, p.Digest)
	}
	img := Image{
		Registries: p.Registries,
		Repository: p.Repository,
		Tag:        p.Tag,
		Digest:     desc.Digest.String(),
		MediaType:  string(desc.MediaType),
		FoundAt:    src.Registry,
		Platforms:  map[string]Platform{},
	}
	// Read the manifests from where the index was found first.
	ordered := append([]registry.Source{src}, without(sources, src)...)
	switch {
	case desc.MediaType.IsIndex():
		err = resolveIndex(c, p, desc, ordered, &img)
	case desc.MediaType.IsImage():
		err = resolveManifest(c, p, desc, &img)
	default:
		err = fmt.Errorf("media type %s is neither an image index nor an image manifest", desc.MediaType)
	}
	if err != nil {
		return Image{}, fmt.Errorf("pull %q (%s): %w", p.Name, p.Reference(), err)
	}
	return img, nil
}

func resolveIndex(c *registry.Client, p Pull, desc *remote.Descriptor, sources []registry.Source, img *Image) error {
	idx, err := desc.ImageIndex()
	if err != nil {
		return err
	}
	manifest, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	available := map[string]v1.Descriptor{}
	var names []string
	for _, m := range manifest.Manifests {
		if m.Platform == nil || m.Platform.OS == "unknown" || !m.MediaType.IsImage() {
			continue // attestations and other non-images
		}
		name := PlatformString(*m.Platform)
		if _, dup := available[name]; !dup {
			available[name] = m
			names = append(names, name)
		}
	}
	wanted := p.Platforms
	if len(wanted) == 0 {
		wanted = names
	}
	for _, want := range wanted {
		m, ok := matchPlatform(available, want)
		if !ok {
			sort.Strings(names)
			return fmt.Errorf("the image has no platform %s; it has %s", want, strings.Join(names, ", "))
		}
		entry, err := platformEntry(c, sources, m.Digest.String())
		if err != nil {
			return err
		}
		img.Platforms[want] = entry
	}
	return nil
}

func resolveManifest(c *registry.Client, p Pull, desc *remote.Descriptor, img *Image) error {
	image, err := desc.Image()
	if err != nil {
		return err
	}
	cfg, err := image.ConfigFile()
	if err != nil {
		return err
	}
	have := PlatformString(v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant})
	entry, err := parsePlatform(desc.Manifest, string(desc.MediaType), desc.Digest.String())
	if err != nil {
		return err
	}
	if len(p.Platforms) == 0 {
		img.Platforms[have] = entry
		return nil
	}
	for _, want := range p.Platforms {
		if _, ok := matchPlatform(map[string]v1.Descriptor{have: {}}, want); !ok {
			return fmt.Errorf("the image is for %s only, not %s", have, want)
		}
		img.Platforms[want] = entry
	}
	return nil
}

// matchPlatform finds the platform "os/arch[/variant]"; without a variant
// in want, any variant matches.
func matchPlatform(available map[string]v1.Descriptor, want string) (v1.Descriptor, bool) {
	if d, ok := available[want]; ok {
		return d, true
	}
	if strings.Count(want, "/") == 1 {
		var keys []string
		for k := range available {
			if strings.HasPrefix(k, want+"/") {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		if len(keys) > 0 {
			return available[keys[0]], true
		}
	}
	return v1.Descriptor{}, false
}

func platformEntry(c *registry.Client, sources []registry.Source, digest string) (Platform, error) {
	desc, _, err := c.Manifest(sources, digest)
	if err != nil {
		return Platform{}, err
	}
	return parsePlatform(desc.Manifest, string(desc.MediaType), digest)
}

func parsePlatform(raw []byte, mediaType, digest string) (Platform, error) {
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return Platform{}, fmt.Errorf("manifest %s: %w", digest, err)
	}
	entry := Platform{
		Manifest: Descriptor{MediaType: mediaType, Digest: digest, Size: int64(len(raw))},
		Config:   fromV1(m.Config),
	}
	for _, l := range m.Layers {
		entry.Layers = append(entry.Layers, fromV1(l))
	}
	return entry, nil
}

func fromV1(d v1.Descriptor) Descriptor {
	return Descriptor{MediaType: string(d.MediaType), Digest: d.Digest.String(), Size: d.Size}
}

// PlatformString formats a platform as os/arch[/variant].
func PlatformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

func without(sources []registry.Source, drop registry.Source) []registry.Source {
	var out []registry.Source
	for _, s := range sources {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}
