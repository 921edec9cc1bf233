package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/listing"
	"github.com/rules-img/rules_img/tools/structuretest"
)

func runLayerListing(args []string) error {
	fs := flag.NewFlagSet("layer-listing", flag.ContinueOnError)
	blobPath := fs.String("blob", "", "the layer blob: gzip, zstd or an uncompressed tar")
	out := fs.String("out", "", "output: the listing, one JSON line per entry")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "blob", "out"); err != nil {
		return err
	}
	return listing.Write(*blobPath, *out)
}

// runStructurePlan writes, per layer of one image, the files that the
// configs' content tests read from it: a build action of
// image_structure_test, so that the test itself reads no layer blob.
func runStructurePlan(args []string) error {
	fs := flag.NewFlagSet("structure-plan", flag.ContinueOnError)
	image := fs.String("image", "", "JSON of the image (structuretest.Image, listings only)")
	var configs, outs listFlag
	fs.Var(&configs, "config", "a container-structure-test config, YAML or JSON (repeated)")
	fs.Var(&outs, "out", "output: the plan of each layer, in order (repeated)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "image", "config"); err != nil {
		return err
	}
	parsed, err := readConfigs(configs)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(*image)
	if err != nil {
		return err
	}
	var img structuretest.Image
	if err := json.Unmarshal(raw, &img); err != nil {
		return fmt.Errorf("%s: %w", *image, err)
	}
	if len(outs) != len(img.Layers) {
		return fmt.Errorf("%d --out for %d layers", len(outs), len(img.Layers))
	}
	plan, err := structuretest.Plan(img, parsed)
	if err != nil {
		return err
	}
	for i, paths := range plan {
		if err := blob.WriteJSON(outs[i], append([]string{}, paths...)); err != nil {
			return err
		}
	}
	return nil
}

// runLayerContents takes from a layer blob the files its plan names.
func runLayerContents(args []string) error {
	fs := flag.NewFlagSet("layer-contents", flag.ContinueOnError)
	plan := fs.String("plan", "", "the layer's plan, as structure-plan writes it")
	blobPath := fs.String("blob", "", "the layer blob: gzip, zstd or an uncompressed tar")
	out := fs.String("out", "", "output: JSON {path: bytes}")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "plan", "blob", "out"); err != nil {
		return err
	}
	raw, err := os.ReadFile(*plan)
	if err != nil {
		return err
	}
	var paths []string
	if err := json.Unmarshal(raw, &paths); err != nil {
		return fmt.Errorf("%s: %w", *plan, err)
	}
	return structuretest.ExtractContents(paths, *blobPath, *out)
}

func readConfigs(paths []string) ([]*structuretest.Config, error) {
	var parsed []*structuretest.Config
	for _, c := range paths {
		cfg, err := structuretest.ReadConfig(c)
		if err != nil {
			return nil, err
		}
		parsed = append(parsed, cfg)
	}
	return parsed, nil
}

// runStructureTest is image_structure_test's test: it prints one line per
// test and platform, and fails when one of them failed.
func runStructureTest(args []string) error {
	fs := flag.NewFlagSet("structure-test", flag.ContinueOnError)
	images := fs.String("images", "", "JSON list of the images to check (structuretest.Image), one per platform")
	var configs listFlag
	fs.Var(&configs, "config", "a container-structure-test config, YAML or JSON (repeated)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "images", "config"); err != nil {
		return err
	}
	parsed, err := readConfigs(configs)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(*images)
	if err != nil {
		return err
	}
	var imgs []structuretest.Image
	if err := json.Unmarshal(raw, &imgs); err != nil {
		return fmt.Errorf("%s: %w", *images, err)
	}
	passed, failed := 0, 0
	for _, img := range imgs {
		results, err := structuretest.Run(img, parsed)
		if err != nil {
			return err
		}
		for _, r := range results {
			if r.Pass() {
				passed++
				fmt.Printf("PASS [%s] %s\n", r.Platform, r.Name)
				continue
			}
			failed++
			fmt.Printf("FAIL [%s] %s\n", r.Platform, r.Name)
			for _, e := range r.Errors {
				fmt.Printf("    %s\n", e)
			}
		}
	}
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if passed+failed == 0 {
		return fmt.Errorf("the configs hold no test")
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d tests failed", failed, passed+failed)
	}
	return nil
}
