package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

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
	var parsed []*structuretest.Config
	for _, c := range configs {
		cfg, err := structuretest.ReadConfig(c)
		if err != nil {
			return err
		}
		parsed = append(parsed, cfg)
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
