package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/layout"
)

func runLayout(args []string) error {
	fs := flag.NewFlagSet("layout", flag.ContinueOnError)
	label := fs.String("label", "", "the Bazel target, for error messages")
	descriptor := fs.String("descriptor", "", "the manifest's descriptor JSON")
	var img layout.Image
	fs.StringVar(&img.Manifest, "manifest", "", "the image manifest")
	fs.StringVar(&img.Config, "config", "", "the image config")
	name := fs.String("name", "latest", "org.opencontainers.image.ref.name of the image")
	var metas, blobs listFlag
	fs.Var(&metas, "layer_meta", "layer metadata file (repeated, paired with --layer_blob)")
	fs.Var(&blobs, "layer_blob", "layer blob file (repeated, paired with --layer_meta)")
	out := fs.String("out", "", "output: the layout directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "descriptor", "manifest", "config", "out"); err != nil {
		return err
	}
	if err := readLayoutInputs(&img, *descriptor, metas, blobs); err != nil {
		return fmt.Errorf("%s: %w", *label, err)
	}
	img.Descriptor.Annotations = map[string]string{layout.RefName: *name}
	if err := layout.Write(*out, []layout.Image{img}); err != nil {
		os.RemoveAll(*out)
		return fmt.Errorf("%s: %w", *label, err)
	}
	return nil
}

func readLayoutInputs(img *layout.Image, descriptor string, metas, blobs []string) error {
	data, err := os.ReadFile(descriptor)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, &img.Descriptor); err != nil {
		return fmt.Errorf("descriptor %s: %w", descriptor, err)
	}
	if len(metas) != len(blobs) {
		return fmt.Errorf("%d --layer_meta but %d --layer_blob", len(metas), len(blobs))
	}
	img.Blobs = map[v1.Hash]string{}
	for i, path := range metas {
		m, err := blob.ReadLayerMetadata(path)
		if err != nil {
			return err
		}
		h, err := v1.NewHash(m.Digest)
		if err != nil {
			return err
		}
		img.Blobs[h] = blobs[i]
	}
	return nil
}
