// Package pull downloads what a build needs of a base image, and nothing
// more: each platform's manifest and config, checked against their digests.
// Layer blobs are left to actions that need their bytes.
package pull

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rules-img/rules_img/generator"
	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/lock"
	"github.com/rules-img/rules_img/tools/registry"
)

// Platform downloads one platform's manifest (by digest) and config into
// dir, and writes the manifest's descriptor and one metadata file per layer.
func Platform(c *registry.Client, sources []registry.Source, digest, platform, dir string) error {
	desc, src, err := c.Manifest(sources, digest)
	if err != nil {
		return err
	}
	var m v1.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		return fmt.Errorf("manifest %s from %s: %w", digest, src, err)
	}
	if m.Config.Digest.Hex == "" {
		return fmt.Errorf("manifest %s from %s is not an image manifest (it has no config)", digest, src)
	}
	config, err := readBlob(c, sources, m.Config.Digest.String())
	if err != nil {
		return err
	}
	var cfg v1.ConfigFile
	if err := json.Unmarshal(config, &cfg); err != nil {
		return fmt.Errorf("config %s from %s: %w", m.Config.Digest, src, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return fmt.Errorf("image %s from %s: its config lists %d diff_ids for %d layers", digest, src, len(cfg.RootFS.DiffIDs), len(m.Layers))
	}
	var where []string
	for _, s := range sources {
		where = append(where, s.String())
	}
	files := map[string][]byte{
		generator.ManifestFile: desc.Manifest,
		generator.ConfigFile:   config,
	}
	descriptor, err := json.MarshalIndent(v1.Descriptor{
		MediaType: desc.MediaType,
		Digest:    desc.Digest,
		Size:      desc.Size,
		Platform:  &v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant},
	}, "", "  ")
	if err != nil {
		return err
	}
	files[generator.DescriptorFile] = descriptor
	for i, l := range m.Layers {
		meta, err := json.MarshalIndent(blob.LayerMetadata{
			MediaType:   string(l.MediaType),
			Digest:      l.Digest.String(),
			Size:        l.Size,
			DiffID:      cfg.RootFS.DiffIDs[i].String(),
			Annotations: l.Annotations,
			Sources:     where,
		}, "", "  ")
		if err != nil {
			return err
		}
		files[generator.LayerFile(i)] = meta
	}
	return writeAll(dir, files)
}

func readBlob(c *registry.Client, sources []registry.Source, digest string) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := c.Blob(sources, digest, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeAll writes every file, or none: on error, those written are removed.
func writeAll(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var written []string
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := blob.WriteFileAtomic(path, data); err != nil {
			for _, w := range written {
				os.Remove(w)
			}
			return err
		}
		written = append(written, path)
	}
	return nil
}

// Repo fills a `pull` repository at dir: it resolves p, downloads each
// platform's manifest and config, and writes the BUILD file.
func Repo(c *registry.Client, p lock.Pull, dir string) error {
	img, err := lock.Resolve(c, p)
	if err != nil {
		return err
	}
	sources := registry.Sources(p.Registries, p.Repository)
	for _, platform := range img.PlatformNames() {
		err := Platform(c, sources, img.Platforms[platform].Manifest.Digest, platform, filepath.Join(dir, generator.PlatformDir(platform)))
		if err != nil {
			return err
		}
	}
	build, err := generator.PullRepoBUILD(p.Name, p, img)
	if err != nil {
		return err
	}
	return blob.WriteFileAtomic(filepath.Join(dir, "BUILD.bazel"), []byte(build))
}
