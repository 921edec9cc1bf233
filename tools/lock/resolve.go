package lock

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/rules-img/rules_img/tools/registry"
)

// Reader gives manifests and small blobs (configs) by digest, their bytes
// checked against it.
// size is what the descriptor declares (0: not known): no more is read.
type Reader interface {
	Manifest(digest string, size int64) ([]byte, error)
	Blob(digest string, size int64) ([]byte, error)
}

// Root is the manifest or index that a pull points at.
type Root struct {
	Digest    string
	MediaType string
	Raw       []byte
}

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
	// What the document is comes from its bytes: some registries answer
	// with a Content-Type that is not its mediaType.
	mediaType, err := MediaTypeOf(desc.Manifest, string(desc.MediaType))
	if err != nil {
		return Image{}, fmt.Errorf("pull %q (%s): %s served %s: %w", p.Name, p.Reference(), src, desc.Digest, err)
	}
	// Read the manifests from where the index was found first.
	ordered := append([]registry.Source{src}, without(sources, src)...)
	root := Root{Digest: desc.Digest.String(), MediaType: mediaType, Raw: desc.Manifest}
	img, err := FromRoot(registryReader{c, ordered}, p, root)
	if err != nil {
		return Image{}, err
	}
	img.FoundAt = src.Registry
	return img, nil
}

// FromRoot works out the Image of p from the manifest or index it points
// at, reading the platforms' manifests (of an index) or the config (of a
// single manifest) from r.
func FromRoot(r Reader, p Pull, root Root) (Image, error) {
	img := Image{
		Registries: p.Registries,
		Repository: p.Repository,
		Tag:        p.Tag,
		Digest:     root.Digest,
		MediaType:  root.MediaType,
		Platforms:  map[string]Platform{},
	}
	var err error
	switch mt := types.MediaType(root.MediaType); {
	case isSchema1(mt):
		err = schema1Error(root.MediaType)
	case mt.IsIndex():
		err = fromIndex(r, p, root.Raw, &img)
	case mt.IsImage():
		err = fromManifest(r, p, root, &img)
	default:
		err = fmt.Errorf("media type %s is neither an image index nor an image manifest", root.MediaType)
	}
	if err != nil {
		return Image{}, fmt.Errorf("pull %q (%s): %w", p.Name, p.Reference(), err)
	}
	return img, nil
}

// Selected is a manifest of an index that a pull takes.
type Selected struct {
	// Name is the platform as the pull names it: the key of its lockfile entry.
	Name string
	// Descriptor is the manifest's descriptor, as the index lists it.
	Descriptor v1.Descriptor
	// Position is the descriptor's place in the index.
	Position int
}

// SelectManifests picks the manifests of an index that p asks for, in the
// order of p.Platforms, or every image of the index in its order when p
// names no platform. Entries without a platform, with platform
// unknown/unknown (attestations) or that are not images are never taken.
func SelectManifests(p Pull, index []byte) ([]Selected, error) {
	var manifest v1.IndexManifest
	if err := json.Unmarshal(index, &manifest); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	available := map[string]Selected{}
	var names []string
	for i, m := range manifest.Manifests {
		if m.Platform == nil || m.Platform.OS == "unknown" || !m.MediaType.IsImage() {
			continue // attestations and other non-images
		}
		name := PlatformString(*m.Platform)
		if _, dup := available[name]; !dup {
			available[name] = Selected{Name: name, Descriptor: m, Position: i}
			names = append(names, name)
		}
	}
	wanted := p.Platforms
	if len(wanted) == 0 {
		wanted = names
	}
	var out []Selected
	for _, want := range wanted {
		s, ok := matchPlatform(available, want)
		if !ok {
			sort.Strings(names)
			return nil, fmt.Errorf("the image has no platform %s; it has %s", want, strings.Join(names, ", "))
		}
		s.Name = want
		out = append(out, s)
	}
	return out, nil
}

func fromIndex(r Reader, p Pull, index []byte, img *Image) error {
	selected, err := SelectManifests(p, index)
	if err != nil {
		return err
	}
	if len(selected) == 0 {
		return fmt.Errorf("the index lists no image with a platform")
	}
	for _, s := range selected {
		d := s.Descriptor.Digest.String()
		raw, err := r.Manifest(d, s.Descriptor.Size)
		if err != nil {
			return err
		}
		entry, err := ParsePlatform(raw, string(s.Descriptor.MediaType), d)
		if err != nil {
			return err
		}
		entry.Platform = FromV1Platform(*s.Descriptor.Platform)
		entry.Position = s.Position
		img.Platforms[s.Name] = entry
	}
	return nil
}

func fromManifest(r Reader, p Pull, root Root, img *Image) error {
	entry, err := ParsePlatform(root.Raw, root.MediaType, root.Digest)
	if err != nil {
		return err
	}
	if entry.Config.Size > registry.MaxConfigSize {
		return fmt.Errorf("config %s: its descriptor declares %d bytes, more than the %d a config may have", entry.Config.Digest, entry.Config.Size, registry.MaxConfigSize)
	}
	raw, err := r.Blob(entry.Config.Digest, entry.Config.Size)
	if err != nil {
		return err
	}
	var cfg v1.ConfigFile
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("config %s: %w", entry.Config.Digest, err)
	}
	entry.Platform = FromV1Platform(v1.Platform{
		OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant,
		OSVersion: cfg.OSVersion, OSFeatures: cfg.OSFeatures,
	})
	have := PlatformString(entry.Platform.V1())
	if len(p.Platforms) == 0 {
		img.Platforms[have] = entry
		return nil
	}
	for _, want := range p.Platforms {
		if _, ok := matchPlatform(map[string]Selected{have: {}}, want); !ok {
			return fmt.Errorf("the image is for %s only, not %s", have, want)
		}
		img.Platforms[want] = entry
	}
	return nil
}

// matchPlatform finds the platform "os/arch[/variant]"; without a variant
// in want, any variant matches.
func matchPlatform(available map[string]Selected, want string) (Selected, bool) {
	if s, ok := available[want]; ok {
		return s, true
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
	return Selected{}, false
}

// ParsePlatform reads the lockfile entry of an image manifest (without its
// platform and position, which the index or the config give).
func ParsePlatform(raw []byte, mediaType, digest string) (Platform, error) {
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return Platform{}, fmt.Errorf("manifest %s: %w", digest, err)
	}
	if m.SchemaVersion == 1 || isSchema1(types.MediaType(mediaType)) {
		return Platform{}, fmt.Errorf("manifest %s: %w", digest, schema1Error(mediaType))
	}
	if m.Config.Digest.Hex == "" {
		return Platform{}, fmt.Errorf("manifest %s is not an image manifest (it has no config)", digest)
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
	return Descriptor{MediaType: string(d.MediaType), Digest: d.Digest.String(), Size: d.Size, URLs: d.URLs}
}

// PlatformString formats a platform as os/arch[/variant].
func PlatformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// SniffMediaType says what a manifest or index is from its bytes alone
// (MediaTypeOf without a Content-Type header).
func SniffMediaType(raw []byte) (string, error) { return MediaTypeOf(raw, "") }

// MediaTypeOf says what a manifest or index is from its bytes: its
// mediaType field, whatever header (the Content-Type a registry answered
// with, or "") says. A document without one (OCI allows that) is what the
// header says when that fits its fields, else an OCI index when it lists
// manifests, an OCI manifest when it has a config. Docker schema 1, by
// header, mediaType or schemaVersion, is an error that says what to do.
func MediaTypeOf(raw []byte, header string) (string, error) {
	var doc struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		Manifests     json.RawMessage `json:"manifests"`
		Config        json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return "", err
	}
	header = strings.TrimSpace(strings.Split(header, ";")[0])
	switch {
	case isSchema1(types.MediaType(doc.MediaType)):
		return "", schema1Error(doc.MediaType)
	case doc.SchemaVersion == 1, doc.MediaType == "" && isSchema1(types.MediaType(header)):
		return "", schema1Error(or(header, "schemaVersion 1"))
	case doc.MediaType != "":
		return doc.MediaType, nil
	case len(doc.Manifests) > 0:
		if types.MediaType(header).IsIndex() {
			return header, nil
		}
		return string(types.OCIImageIndex), nil
	case len(doc.Config) > 0:
		if types.MediaType(header).IsImage() {
			return header, nil
		}
		return string(types.OCIManifestSchema1), nil
	}
	return "", fmt.Errorf("neither an index nor a manifest: it has no mediaType, manifests or config")
}

func isSchema1(mt types.MediaType) bool {
	return mt == types.DockerManifestSchema1 || mt == types.DockerManifestSchema1Signed
}

// ErrSchema1 is the error of a Docker schema 1 manifest.
var ErrSchema1 = errors.New("Docker schema 1 manifests are not supported")

// schema1Error refuses a Docker image manifest of schema 1, which Docker
// itself stopped pushing in 2017 and no longer pulls.
func schema1Error(what string) error {
	return fmt.Errorf("%w (%s): it is an image manifest of Docker's first format, which rules_img does not read. "+
		"Get a schema 2 image: pick another tag of the image, or convert it (skopeo copy --format v2s2 docker://SOURCE docker://DESTINATION, "+
		"then pull DESTINATION), or build and push it again with a current docker, buildah or crane, which write schema 2", ErrSchema1, what)
}

func or(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}

// registryReader reads from registries, in order.
type registryReader struct {
	c       *registry.Client
	sources []registry.Source
}

func (r registryReader) Manifest(digest string, size int64) ([]byte, error) {
	desc, _, err := r.c.Manifest(r.sources, digest, size)
	if err != nil {
		return nil, err
	}
	return desc.Manifest, nil
}

func (r registryReader) Blob(digest string, size int64) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := r.c.Blob(r.sources, digest, size, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
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
