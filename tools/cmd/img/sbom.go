package main

import (
	"flag"
	"fmt"

	"github.com/rules-img/rules_img/tools/inventory"
	"github.com/rules-img/rules_img/tools/provenance"
	"github.com/rules-img/rules_img/tools/sbom"
)

func runLayerInventory(args []string) error {
	fs := flag.NewFlagSet("layer-inventory", flag.ContinueOnError)
	blobPath := fs.String("blob", "", "the layer blob: gzip, zstd or an uncompressed tar")
	out := fs.String("out", "", "output: one JSON line per regular file, with its digests and Go build info")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "blob", "out"); err != nil {
		return err
	}
	return inventory.Write(*blobPath, *out)
}

// runSBOM writes the SPDX 2.3 document of one image (image_sbom).
func runSBOM(args []string) error {
	fs := flag.NewFlagSet("sbom", flag.ContinueOnError)
	request := fs.String("request", "", "JSON naming the image's manifest, config, layer inventories and base (sbom.Request)")
	out := fs.String("out", "", "output: the SPDX 2.3 JSON document")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "request", "out"); err != nil {
		return err
	}
	r, err := sbom.ReadRequest(*request)
	if err != nil {
		return err
	}
	doc, err := sbom.Build(r)
	if err != nil {
		return fmt.Errorf("%s: %w", r.Name, err)
	}
	return sbom.Write(doc, *out)
}

// runProvenance writes the SLSA provenance statement of one image
// (image_provenance).
func runProvenance(args []string) error {
	fs := flag.NewFlagSet("provenance", flag.ContinueOnError)
	request := fs.String("request", "", "JSON naming the image's manifest, the expanded source fields and the base (provenance.Request)")
	out := fs.String("out", "", "output: the in-toto statement")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "request", "out"); err != nil {
		return err
	}
	return provenance.Write(*request, *out)
}
