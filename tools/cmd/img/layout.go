package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/layout"
)

func runLayout(args []string) (err error) {
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
	request := fs.String("index_request", "", "JSON naming the files of an index and its images (see indexRequest), instead of the flags of one image")
	out := fs.String("out", "", "output: the layout directory")
	asTar := fs.Bool("tar", false, "write --out as a tar archive of the layout (oci_tarball) instead of a directory")
	fs.BoolVar(&img.AllowMissing, "allow_missing_blobs", false, "leave out layers without a blob (shallow_oci_layout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *asTar {
		// The layout is written beside the archive, then packed.
		final := *out
		*out = final + ".dir"
		defer os.RemoveAll(*out)
		defer func() {
			if err == nil {
				err = tarLayout(*out, final)
			}
		}()
	}
	if *request != "" {
		if err := requireFlags(fs, "out"); err != nil {
			return err
		}
		if err := writeIndexLayout(*request, *name, *out, img.AllowMissing); err != nil {
			os.RemoveAll(*out)
			return fmt.Errorf("%s: %w", *label, err)
		}
		return nil
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

// indexRequest is what image_index writes for the layout of an index.
type indexRequest struct {
	Index      string `json:"index"`
	Descriptor string `json:"descriptor"`
	Images     []struct {
		Descriptor string `json:"descriptor"`
		Manifest   string `json:"manifest"`
		Config     string `json:"config"`
		Layers     []struct {
			Metadata string `json:"metadata"`
			Blob     string `json:"blob"`
		} `json:"layers"`
	} `json:"images"`
}

// tarLayout packs the layout directory dir into the archive out, written
// whole or not at all.
func tarLayout(dir, out string) error {
	f, err := os.CreateTemp(filepath.Dir(out), ".layout-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := layout.Tar(dir, f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), out)
}

func writeIndexLayout(requestPath, name, out string, allowMissing bool) error {
	data, err := os.ReadFile(requestPath)
	if err != nil {
		return err
	}
	var req indexRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return fmt.Errorf("request %s: %w", requestPath, err)
	}
	idx := layout.Index{Index: req.Index}
	if data, err = os.ReadFile(req.Descriptor); err != nil {
		return err
	}
	if err := json.Unmarshal(data, &idx.Descriptor); err != nil {
		return fmt.Errorf("descriptor %s: %w", req.Descriptor, err)
	}
	for _, r := range req.Images {
		img := layout.Image{Manifest: r.Manifest, Config: r.Config, AllowMissing: allowMissing}
		var metas, blobs []string
		for _, l := range r.Layers {
			metas, blobs = append(metas, l.Metadata), append(blobs, l.Blob)
		}
		if err := readLayoutInputs(&img, r.Descriptor, metas, blobs); err != nil {
			return err
		}
		idx.Images = append(idx.Images, img)
	}
	return layout.WriteIndex(out, name, idx)
}
