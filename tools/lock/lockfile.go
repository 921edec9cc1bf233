// Package lock holds the images lockfile: which digest each pulled base
// image resolved to, per platform, and the update that refreshes it.
package lock

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/rules-img/rules_img/tools/blob"
)

// Version is the lockfile format version.
const Version = 1

// Pull is one images.pull tag of MODULE.bazel, or one pull repository.
type Pull struct {
	Name       string   `json:"name"`
	Registries []string `json:"registries"`
	Repository string   `json:"repository"`
	Tag        string   `json:"tag,omitempty"`
	Digest     string   `json:"digest,omitempty"`
	// Platforms as os/arch[/variant]; empty takes every platform.
	Platforms []string `json:"platforms,omitempty"`
	// LayerHandling says how the repositories give layer bytes to the
	// build: shallow, eager or lazy. It does not change what the pull
	// resolves to, so a lockfile entry never depends on it.
	LayerHandling string `json:"layer_handling,omitempty"`
	// Downloader is what downloads the repositories' files: img_tool or
	// bazel. Like LayerHandling, it is not part of the lockfile entry.
	Downloader string `json:"downloader,omitempty"`
}

// Values of Pull.LayerHandling and Pull.Downloader.
const (
	Shallow = "shallow"
	Eager   = "eager"
	Lazy    = "lazy"

	ImgTool = "img_tool"
	Bazel   = "bazel"
)

// File is the lockfile. Struct fields are in the order of their JSON
// names, so that every object in the file has sorted keys.
type File struct {
	Images  map[string]Image `json:"images"`
	Version int              `json:"version"`
}

// Image is what one pull resolved to.
type Image struct {
	// Digest is the index digest, or the manifest digest of a single-platform image.
	Digest string `json:"digest"`
	// FoundAt is the registry, of Registries, that served the image.
	FoundAt    string              `json:"found_at"`
	MediaType  string              `json:"mediaType"`
	Platforms  map[string]Platform `json:"platforms"`
	Registries []string            `json:"registries"`
	Repository string              `json:"repository"`
	Tag        string              `json:"tag,omitempty"`
}

// Platform is one platform's manifest, config and layers.
type Platform struct {
	Config   Descriptor   `json:"config"`
	Layers   []Descriptor `json:"layers"`
	Manifest Descriptor   `json:"manifest"`
	// Platform is the manifest's platform exactly as the index's
	// descriptor of it says (for a single manifest, as its config says).
	Platform OCIPlatform `json:"platform"`
	// Position is the manifest's place in the index, from 0 (0 for a
	// single manifest): the order of the pulled index's manifests.
	Position int `json:"position"`
}

// OCIPlatform is an OCI platform, field for field.
type OCIPlatform struct {
	Architecture string   `json:"architecture"`
	Features     []string `json:"features,omitempty"`
	OS           string   `json:"os"`
	OSFeatures   []string `json:"os.features,omitempty"`
	OSVersion    string   `json:"os.version,omitempty"`
	Variant      string   `json:"variant,omitempty"`
}

// FromV1Platform copies a go-containerregistry platform.
func FromV1Platform(p v1.Platform) OCIPlatform {
	return OCIPlatform{
		Architecture: p.Architecture,
		Features:     p.Features,
		OS:           p.OS,
		OSFeatures:   p.OSFeatures,
		OSVersion:    p.OSVersion,
		Variant:      p.Variant,
	}
}

// V1 is the platform as go-containerregistry spells it.
func (p OCIPlatform) V1() v1.Platform {
	return v1.Platform{
		Architecture: p.Architecture,
		Features:     p.Features,
		OS:           p.OS,
		OSFeatures:   p.OSFeatures,
		OSVersion:    p.OSVersion,
		Variant:      p.Variant,
	}
}

// Descriptor names one blob or manifest.
type Descriptor struct {
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
	// URLs are where a layer's bytes are served besides the registry:
	// those of a foreign (non-distributable) layer.
	URLs []string `json:"urls,omitempty"`
}

// Foreign tells a layer whose media type says it is non-distributable
// (Docker's foreign layers, OCI's nondistributable ones): registries do not
// have to hold its bytes, which its URLs serve. Nothing of rules_img
// downloads it with the base image, nor uploads it.
func (d Descriptor) Foreign() bool {
	return d.MediaType != "" && !types.MediaType(d.MediaType).IsDistributable()
}

var (
	namePattern     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]*$`)
	platformPattern = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$`)
)

// Validate checks a pull on its own.
func (p Pull) Validate() error {
	if !namePattern.MatchString(p.Name) {
		return fmt.Errorf("pull name %q: use letters, digits, '_', '-' and '.', starting with a letter", p.Name)
	}
	if len(p.Registries) == 0 {
		return fmt.Errorf("pull %q: give registry or registries", p.Name)
	}
	for _, r := range p.Registries {
		if r == "" || strings.ContainsAny(r, "/ ") {
			return fmt.Errorf("pull %q: registry %q is not a host[:port]", p.Name, r)
		}
	}
	if p.Repository == "" {
		return fmt.Errorf("pull %q: repository is empty", p.Name)
	}
	if p.Tag == "" && p.Digest == "" {
		return fmt.Errorf("pull %q: give a tag, a digest or both", p.Name)
	}
	if p.Digest != "" {
		if err := blob.ValidateDigest(p.Digest); err != nil {
			return fmt.Errorf("pull %q: digest %w", p.Name, err)
		}
	}
	switch p.LayerHandling {
	case "", Shallow, Eager, Lazy:
	default:
		return fmt.Errorf("pull %q: layer_handling %q is not shallow, eager or lazy", p.Name, p.LayerHandling)
	}
	switch p.Downloader {
	case "", ImgTool, Bazel:
	default:
		return fmt.Errorf("pull %q: downloader %q is not img_tool or bazel", p.Name, p.Downloader)
	}
	seen := map[string]bool{}
	for _, pl := range p.Platforms {
		if !platformPattern.MatchString(pl) {
			return fmt.Errorf("pull %q: platform %q is not os/arch or os/arch/variant, for example linux/amd64", p.Name, pl)
		}
		if seen[pl] {
			return fmt.Errorf("pull %q: platform %q is listed twice", p.Name, pl)
		}
		seen[pl] = true
	}
	return nil
}

// Reference is the human-readable image reference of the pull.
func (p Pull) Reference() string {
	ref := p.Registries[len(p.Registries)-1] + "/" + p.Repository
	if p.Tag != "" {
		ref += ":" + p.Tag
	}
	if p.Digest != "" {
		ref += "@" + p.Digest
	}
	return ref
}

// ValidatePulls checks each pull and that names are unique.
func ValidatePulls(pulls []Pull) error {
	seen := map[string]bool{}
	for _, p := range pulls {
		if err := p.Validate(); err != nil {
			return err
		}
		if seen[p.Name] {
			return fmt.Errorf("two pulls are named %q: give each a name of its own", p.Name)
		}
		seen[p.Name] = true
	}
	return nil
}

// Read reads a lockfile; a missing file is an empty lockfile.
func Read(path string) (File, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return File{Version: Version, Images: map[string]Image{}}, nil
	}
	if err != nil {
		return File{}, err
	}
	return Parse(data, path)
}

// Parse decodes a lockfile; name is used in messages.
func Parse(data []byte, name string) (File, error) {
	f := File{Version: Version, Images: map[string]Image{}}
	if len(strings.TrimSpace(string(data))) == 0 {
		return f, nil
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("lockfile %s: %w", name, err)
	}
	if f.Version != Version {
		return f, fmt.Errorf("lockfile %s has version %d; this rules_img reads version %d", name, f.Version, Version)
	}
	if f.Images == nil {
		f.Images = map[string]Image{}
	}
	return f, nil
}

// Encode renders the lockfile in its one stable form: sorted keys, two
// spaces, a final newline.
func (f File) Encode() ([]byte, error) {
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// Write stores the lockfile atomically.
func (f File) Write(path string) error {
	data, err := f.Encode()
	if err != nil {
		return err
	}
	return blob.WriteFileAtomic(path, data)
}

// Stale says why entry no longer answers pull, or returns "".
func (img Image) Stale(p Pull) string {
	switch {
	case strings.Join(img.Registries, ",") != strings.Join(p.Registries, ","):
		return fmt.Sprintf("its registries are %v, MODULE.bazel says %v", img.Registries, p.Registries)
	case img.Repository != p.Repository:
		return fmt.Sprintf("its repository is %q, MODULE.bazel says %q", img.Repository, p.Repository)
	case img.Tag != p.Tag:
		return fmt.Sprintf("its tag is %q, MODULE.bazel says %q", img.Tag, p.Tag)
	case p.Digest != "" && img.Digest != p.Digest:
		return fmt.Sprintf("its digest is %s, MODULE.bazel says %s", img.Digest, p.Digest)
	}
	for _, pl := range p.Platforms {
		if _, ok := img.Platforms[pl]; !ok {
			return fmt.Sprintf("it has no entry for platform %s", pl)
		}
	}
	for _, name := range img.PlatformNames() {
		if img.Platforms[name].Platform.OS == "" {
			return fmt.Sprintf("its entry for %s has no platform: it was written by an older rules_img", name)
		}
	}
	if len(p.Platforms) > 0 && len(img.Platforms) != len(p.Platforms) {
		return fmt.Sprintf("it has platforms %s, MODULE.bazel asks for %s", strings.Join(img.PlatformNames(), ", "), strings.Join(p.Platforms, ", "))
	}
	return ""
}

// IsIndex says whether the image is an index (else a single manifest).
func (img Image) IsIndex() bool { return types.MediaType(img.MediaType).IsIndex() }

// InIndexOrder lists the image's platforms in the order of their manifests
// in the index, by name for a shared manifest.
func (img Image) InIndexOrder() []string {
	names := img.PlatformNames()
	sort.SliceStable(names, func(i, j int) bool {
		return img.Platforms[names[i]].Position < img.Platforms[names[j]].Position
	})
	return names
}

// PlatformNames lists the image's platforms, sorted.
func (img Image) PlatformNames() []string {
	names := make([]string, 0, len(img.Platforms))
	for name := range img.Platforms {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
