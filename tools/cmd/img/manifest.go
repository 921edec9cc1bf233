package main

import (
	"flag"
	"fmt"

	"github.com/rules-img/rules_img/tools/manifest"
)

func runManifest(args []string) error {
	fs := flag.NewFlagSet("manifest", flag.ContinueOnError)
	request := fs.String("request", "", "JSON request written by image_manifest")
	var out manifest.Outputs
	fs.StringVar(&out.Manifest, "manifest", "", "output: the manifest")
	fs.StringVar(&out.Config, "config", "", "output: the config")
	fs.StringVar(&out.Descriptor, "descriptor", "", "output: the manifest's descriptor, with its platform")
	fs.StringVar(&out.Digest, "digest", "", "output: the manifest's digest, sha256:...")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "request", "manifest", "config", "descriptor"); err != nil {
		return err
	}
	r, err := manifest.ReadRequest(*request)
	if err != nil {
		return err
	}
	res, err := manifest.Build(r)
	if err != nil {
		return fmt.Errorf("%s: %w", r.Label, err)
	}
	return res.Write(out)
}
