// Package pull fills the repositories of pulled base images: it fetches an
// image's index, manifests and configs (and, for eager layer handling, its
// layers), verified against their digests, and writes the metadata files
// and the BUILD file that the rules of img/private/pulled.bzl read.
//
// What it fetches comes from a Fetcher: the registries (the img tool's
// downloader), or the files that Bazel's downloader put into the
// repository (downloader = "bazel"), in which case it names what is still
// missing instead.
package pull

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/rules-img/rules_img/generator"
	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/lock"
	"github.com/rules-img/rules_img/tools/registry"
)

// Manifest is one platform's manifest to fetch into a repository.
type Manifest struct {
	// Dir is the folder, in the repository, of its descriptor and layer
	// metadata files.
	Dir string
	// Descriptor gives its digest, media type and platform, as the index
	// lists them; the size is taken from the bytes.
	Descriptor v1.Descriptor
}

// Platforms fetches the manifest and config of each platform, and its
// layers when eager (never a foreign layer, which registries need not
// have: the build gets it from its urls when an output needs it), then writes into each platform's Dir the manifest's
// descriptor and one metadata file per layer. Each step is one Fetch for
// every platform, so that Bazel's downloader gets a step's files at once.
func Platforms(f Fetcher, repo string, manifests []Manifest, eager bool, sources []string) error {
	var digests []string
	var wanted []lock.Descriptor
	for _, m := range manifests {
		digests = append(digests, m.Descriptor.Digest.String())
		wanted = append(wanted, lock.Descriptor{Digest: m.Descriptor.Digest.String(), Size: m.Descriptor.Size})
	}
	if err := f.Fetch(KindManifest, wanted); err != nil {
		return err
	}
	parsed := make([]v1.Manifest, len(manifests))
	sizes := make([]int64, len(manifests))
	var configs []string
	var configDescs []lock.Descriptor
	for i, d := range digests {
		raw, err := readVerified(repo, d, bound(manifests[i].Descriptor.Size, registry.MaxManifestSize))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &parsed[i]); err != nil {
			return fmt.Errorf("manifest %s: %w", d, err)
		}
		if parsed[i].Config.Digest.Hex == "" {
			return fmt.Errorf("manifest %s is not an image manifest (it has no config)", d)
		}
		sizes[i] = int64(len(raw))
		config := parsed[i].Config
		if config.Size > registry.MaxConfigSize {
			return fmt.Errorf("manifest %s: its config %s has %d bytes, more than the %d a config may have", d, config.Digest, config.Size, registry.MaxConfigSize)
		}
		configs = append(configs, config.Digest.String())
		configDescs = append(configDescs, lock.Descriptor{Digest: config.Digest.String(), Size: config.Size})
	}
	if err := f.Fetch(KindBlob, configDescs); err != nil {
		return err
	}
	var layers []lock.Descriptor
	files := map[string][]byte{}
	for i, m := range manifests {
		raw, err := readVerified(repo, configs[i], bound(configDescs[i].Size, registry.MaxConfigSize))
		if err != nil {
			return err
		}
		var cfg v1.ConfigFile
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return fmt.Errorf("config %s of manifest %s: %w", configs[i], digests[i], err)
		}
		if len(cfg.RootFS.DiffIDs) != len(parsed[i].Layers) {
			return fmt.Errorf("image %s: its config lists %d diff_ids for %d layers", digests[i], len(cfg.RootFS.DiffIDs), len(parsed[i].Layers))
		}
		desc := m.Descriptor
		desc.Size = sizes[i]
		descriptor, err := json.MarshalIndent(desc, "", "  ")
		if err != nil {
			return err
		}
		files[filepath.Join(m.Dir, generator.DescriptorFile)] = descriptor
		for j, l := range parsed[i].Layers {
			meta, err := json.MarshalIndent(blob.LayerMetadata{
				MediaType:   string(l.MediaType),
				Digest:      l.Digest.String(),
				Size:        l.Size,
				DiffID:      cfg.RootFS.DiffIDs[j].String(),
				Annotations: l.Annotations,
				Sources:     sources,
			}, "", "  ")
			if err != nil {
				return err
			}
			files[filepath.Join(m.Dir, generator.LayerFile(j))] = meta
			if !l.MediaType.IsDistributable() {
				continue // foreign: from its urls, by a remote_blob, if ever
			}
			layers = append(layers, lock.Descriptor{Digest: l.Digest.String(), Size: l.Size})
		}
	}
	if eager {
		if err := f.Fetch(KindBlob, layers); err != nil {
			return err
		}
	}
	return writeAll(repo, files)
}

// Index fetches the index with the given digest and writes the
// repository's index file and its descriptor. The index file holds the
// source index's bytes (same digest) when every manifest it lists was
// pulled; when some were left out (platforms the pull did not ask for,
// attestations), it is a new index that lists the pulled ones: same media
// type, same order, every other field and annotation kept.
func Index(f Fetcher, repo, digest string, pulled []string) error {
	if err := f.Fetch(KindManifest, []lock.Descriptor{{Digest: digest}}); err != nil {
		return err
	}
	raw, err := readVerified(repo, digest, registry.MaxManifestSize)
	if err != nil {
		return err
	}
	mediaType, err := lock.SniffMediaType(raw)
	if err != nil {
		return fmt.Errorf("index %s: %w", digest, err)
	}
	index, err := keepManifests(raw, pulled)
	if err != nil {
		return fmt.Errorf("index %s: %w", digest, err)
	}
	d, size, err := v1.SHA256(bytes.NewReader(index))
	if err != nil {
		return err
	}
	descriptor, err := json.MarshalIndent(v1.Descriptor{MediaType: types.MediaType(mediaType), Digest: d, Size: size}, "", "  ")
	if err != nil {
		return err
	}
	return writeAll(repo, map[string][]byte{generator.IndexFile: index, generator.DescriptorFile: descriptor})
}

// keepManifests returns the index with only the manifests whose digests
// are in keep; the index itself when it lists nothing else.
func keepManifests(raw []byte, keep []string) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	var manifests []json.RawMessage
	if err := json.Unmarshal(doc["manifests"], &manifests); err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	wanted := map[string]bool{}
	for _, d := range keep {
		wanted[d] = true
	}
	found := map[string]bool{}
	var kept []json.RawMessage
	for _, m := range manifests {
		var desc struct {
			Digest string `json:"digest"`
		}
		if err := json.Unmarshal(m, &desc); err != nil {
			return nil, fmt.Errorf("manifests: %w", err)
		}
		if wanted[desc.Digest] {
			kept = append(kept, m)
			found[desc.Digest] = true
		}
	}
	for _, d := range keep {
		if !found[d] {
			return nil, fmt.Errorf("it does not list the manifest %s", d)
		}
	}
	if len(kept) == len(manifests) {
		return raw, nil
	}
	list, err := json.Marshal(kept)
	if err != nil {
		return nil, err
	}
	doc["manifests"] = list
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// Repo fills a `pull` repository at repo with the image p.Digest names,
// and writes its BUILD file.
func Repo(f Fetcher, p lock.Pull, repo string) error {
	if p.Digest == "" {
		return fmt.Errorf("pull %q: no digest: resolve the tag first (ResolveTag)", p.Name)
	}
	if err := f.Fetch(KindManifest, []lock.Descriptor{{Digest: p.Digest}}); err != nil {
		return err
	}
	raw, err := readVerified(repo, p.Digest, registry.MaxManifestSize)
	if err != nil {
		return err
	}
	mediaType, err := lock.SniffMediaType(raw)
	if err != nil {
		return fmt.Errorf("pull %q: %s: %w", p.Name, p.Digest, err)
	}
	// Fetch what lock.FromRoot reads: the manifests that the pull takes
	// from an index, or the config of a single manifest.
	if types.MediaType(mediaType).IsIndex() {
		selected, err := lock.SelectManifests(p, raw)
		if err != nil {
			return fmt.Errorf("pull %q (%s): %w", p.Name, p.Reference(), err)
		}
		var descs []lock.Descriptor
		for _, s := range selected {
			descs = append(descs, lock.Descriptor{Digest: s.Descriptor.Digest.String(), Size: s.Descriptor.Size})
		}
		if err := f.Fetch(KindManifest, descs); err != nil {
			return err
		}
	} else if entry, err := lock.ParsePlatform(raw, mediaType, p.Digest); err != nil {
		return fmt.Errorf("pull %q: %w", p.Name, err)
	} else if entry.Config.Size > registry.MaxConfigSize {
		return fmt.Errorf("pull %q: config %s has %d bytes, more than the %d a config may have", p.Name, entry.Config.Digest, entry.Config.Size, registry.MaxConfigSize)
	} else if err := f.Fetch(KindBlob, []lock.Descriptor{entry.Config}); err != nil {
		return err
	}
	img, err := lock.FromRoot(dirReader(repo), p, lock.Root{Digest: p.Digest, MediaType: mediaType, Raw: raw})
	if err != nil {
		return err
	}
	var manifests []Manifest
	for _, name := range img.InIndexOrder() {
		m, err := manifestOf(generator.PlatformDir(name), img.Platforms[name])
		if err != nil {
			return err
		}
		manifests = append(manifests, m)
	}
	sources := sourceStrings(registry.Sources(p.Registries, p.Repository))
	if err := Platforms(f, repo, manifests, p.LayerHandling == lock.Eager, sources); err != nil {
		return err
	}
	if img.IsIndex() {
		if err := Index(f, repo, p.Digest, generator.PulledDigests(img)); err != nil {
			return err
		}
	}
	build, err := generator.PullRepoBUILD(p, img)
	if err != nil {
		return err
	}
	return blob.WriteFileAtomic(filepath.Join(repo, "BUILD.bazel"), []byte(build))
}

// Fetch does what a repository of the images extension was planned to
// fetch: an index, or one platform's manifest.
func Fetch(f Fetcher, repo string, spec generator.Fetch) error {
	switch spec.Kind {
	case generator.FetchIndex:
		return Index(f, repo, spec.Digest, spec.Manifests)
	case generator.FetchManifest:
		if spec.Platform == nil {
			return fmt.Errorf("manifest %s: the fetch gives no platform", spec.Digest)
		}
		entry := lock.Platform{
			Manifest: lock.Descriptor{Digest: spec.Digest, MediaType: spec.MediaType},
			Platform: *spec.Platform,
		}
		m, err := manifestOf(".", entry)
		if err != nil {
			return err
		}
		sources := sourceStrings(registry.Sources(spec.Registries, spec.Repository))
		return Platforms(f, repo, []Manifest{m}, spec.Layers, sources)
	}
	return fmt.Errorf("unknown fetch kind %q", spec.Kind)
}

func manifestOf(dir string, entry lock.Platform) (Manifest, error) {
	d, err := v1.NewHash(entry.Manifest.Digest)
	if err != nil {
		return Manifest{}, fmt.Errorf("manifest digest %q: %w", entry.Manifest.Digest, err)
	}
	pl := entry.Platform.V1()
	return Manifest{Dir: dir, Descriptor: v1.Descriptor{
		MediaType: types.MediaType(entry.Manifest.MediaType),
		Digest:    d,
		Size:      entry.Manifest.Size,
		Platform:  &pl,
	}}, nil
}

// ResolveTag asks the registries, in order, which digest p's tag points at.
func ResolveTag(c *registry.Client, p lock.Pull) (string, error) {
	desc, _, err := c.Get(registry.Sources(p.Registries, p.Repository), p.Tag)
	if err != nil {
		return "", fmt.Errorf("pull %q: %w", p.Name, err)
	}
	return desc.Digest.String(), nil
}

// writeAll writes every file (paths relative to dir), or none: on error,
// those written are removed.
func writeAll(dir string, files map[string][]byte) error {
	var written []string
	for name, data := range files {
		path := filepath.Join(dir, name)
		err := os.MkdirAll(filepath.Dir(path), 0o755)
		if err == nil {
			err = blob.WriteFileAtomic(path, data)
		}
		if err != nil {
			for _, w := range written {
				os.Remove(w)
			}
			return err
		}
		written = append(written, path)
	}
	return nil
}
