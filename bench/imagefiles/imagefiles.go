// Package imagefiles writes an image as the files a Bazel build of it
// produces (manifest, config, and per layer its metadata and blob), for the
// push benchmarks.
package imagefiles

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/deploy"
)

// Write stores img under dir and returns the files and the layers' total
// compressed size.
func Write(dir string, img v1.Image) (deploy.ManifestFiles, int64, error) {
	var files deploy.ManifestFiles
	write := func(name string, data []byte) (string, error) {
		path := filepath.Join(dir, name)
		return path, os.WriteFile(path, data, 0o644)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return files, 0, err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return files, 0, err
	}
	if files.Manifest, err = write("manifest.json", raw); err != nil {
		return files, 0, err
	}
	if files.Config, err = write("config.json", cfg); err != nil {
		return files, 0, err
	}
	layers, err := img.Layers()
	if err != nil {
		return files, 0, err
	}
	var total int64
	for i, l := range layers {
		lf, n, err := writeLayer(dir, i, l)
		if err != nil {
			return files, 0, err
		}
		files.Layers = append(files.Layers, lf)
		total += n
	}
	return files, total, nil
}

func writeLayer(dir string, i int, l v1.Layer) (deploy.LayerFiles, int64, error) {
	var lf deploy.LayerFiles
	d, err := l.Digest()
	if err != nil {
		return lf, 0, err
	}
	diff, err := l.DiffID()
	if err != nil {
		return lf, 0, err
	}
	n, err := l.Size()
	if err != nil {
		return lf, 0, err
	}
	meta, err := json.Marshal(blob.LayerMetadata{MediaType: string(types.DockerLayer), Digest: d.String(), Size: n, DiffID: diff.String()})
	if err != nil {
		return lf, 0, err
	}
	lf.Metadata = filepath.Join(dir, fmt.Sprintf("layer%d.json", i))
	if err := os.WriteFile(lf.Metadata, meta, 0o644); err != nil {
		return lf, 0, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return lf, 0, err
	}
	defer rc.Close()
	lf.Blob = filepath.Join(dir, fmt.Sprintf("layer%d.blob", i))
	f, err := os.Create(lf.Blob)
	if err != nil {
		return lf, 0, err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return lf, 0, err
	}
	return lf, n, f.Close()
}
