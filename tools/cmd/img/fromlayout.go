package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/rules-img/rules_img/tools/convert"
	"github.com/rules-img/rules_img/tools/index"
)

// runFromLayout converts one image of an OCI layout (image_manifest_from_oci_layout),
// or writes the index over several (image_index_from_oci_layout).
func runFromLayout(args []string) error {
	fs := flag.NewFlagSet("from-layout", flag.ContinueOnError)
	label := fs.String("label", "", "the Bazel target, for error messages")
	dir := fs.String("layout", "", "the OCI layout directory")
	var platforms, mediaTypes, blobs, metas listFlag
	fs.Var(&platforms, "platform", "os/architecture[/variant] of the image to take (repeated for --index: in index order)")
	fs.Var(&mediaTypes, "media_type", "declared media type of each layer, in order (repeated)")
	fs.Var(&blobs, "layer_blob", "output: blob of each layer, in order (repeated)")
	fs.Var(&metas, "layer_meta", "output: metadata of each layer, in order (repeated)")
	link := fs.Bool("link", false, "hard-link layer blobs instead of copying them, where possible")
	indexOut := fs.String("index", "", "output: the index over the --platform images (instead of one image's files)")
	var out convert.Outputs
	fs.StringVar(&out.Manifest, "manifest", "", "output: the manifest")
	fs.StringVar(&out.Config, "config", "", "output: the config")
	fs.StringVar(&out.Descriptor, "descriptor", "", "output: the manifest's or index's descriptor")
	fs.StringVar(&out.Digest, "digest", "", "output: the manifest's or index's digest, sha256:...")
	if err := fs.Parse(args); err != nil {
		return err
	}
	out.LayerBlobs, out.LayerMetadata = blobs, metas
	if err := requireFlags(fs, "layout", "descriptor"); err != nil {
		return err
	}
	if len(platforms) == 0 {
		return fmt.Errorf("missing --platform")
	}
	if err := fromLayout(*dir, platforms, mediaTypes, *indexOut, out, *link); err != nil {
		return fmt.Errorf("%s: %w", *label, err)
	}
	return nil
}

func fromLayout(dir string, platforms, mediaTypes []string, indexOut string, out convert.Outputs, link bool) error {
	layout, err := convert.Open(dir)
	if err != nil {
		return err
	}
	contents, err := layout.Read()
	if err != nil {
		return err
	}
	images := make([]convert.Image, len(platforms))
	for i, p := range platforms {
		parts := strings.Split(p, "/")
		if len(parts) < 2 || len(parts) > 3 {
			return fmt.Errorf("platform %q is not os/architecture or os/architecture/variant", p)
		}
		parts = append(parts, "")
		if images[i], err = contents.Select(parts[0], parts[1], parts[2]); err != nil {
			return err
		}
		if err := images[i].CheckLayers(mediaTypes); err != nil {
			return err
		}
	}
	if indexOut != "" {
		res, err := contents.Index(images)
		if err != nil {
			return err
		}
		return res.Write(index.Outputs{Index: indexOut, Descriptor: out.Descriptor, Digest: out.Digest})
	}
	if len(images) != 1 {
		return fmt.Errorf("%d --platform for one image: give one, or --index", len(images))
	}
	if err := layout.Write(images[0], out, link); err != nil {
		for _, f := range append(append([]string{out.Manifest, out.Config, out.Descriptor, out.Digest}, out.LayerBlobs...), out.LayerMetadata...) {
			if f != "" {
				os.Remove(f)
			}
		}
		return err
	}
	return nil
}
