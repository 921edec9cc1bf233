package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"strings"

	"github.com/rules-img/rules_img/tools/index"
)

// runIndex writes an image index from its manifests' descriptors.
func runIndex(args []string) error {
	fs := flag.NewFlagSet("index", flag.ContinueOnError)
	label := fs.String("label", "", "the Bazel target, for error messages")
	var descriptors, names, annotations listFlag
	fs.Var(&descriptors, "manifest_descriptor", "descriptor of a manifest, in index order (repeated)")
	fs.Var(&names, "manifest_name", "what to call that manifest in messages (repeated, paired with --manifest_descriptor)")
	fs.Var(&annotations, "annotation", "KEY=VALUE annotation of the index (repeated)")
	annotationsFile := fs.String("annotations_file", "", `JSON {"annotations": {KEY: VALUE}}, as img expand writes it`)
	var out index.Outputs
	fs.StringVar(&out.Index, "index", "", "output: the index")
	fs.StringVar(&out.Descriptor, "descriptor", "", "output: the index's descriptor")
	fs.StringVar(&out.Digest, "digest", "", "output: the index's digest, sha256:...")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "index", "descriptor"); err != nil {
		return err
	}
	if err := writeIndex(descriptors, names, annotations, *annotationsFile, out); err != nil {
		return fmt.Errorf("%s: %w", *label, err)
	}
	return nil
}

func writeIndex(descriptors, names, annotations []string, annotationsFile string, out index.Outputs) error {
	if len(names) != len(descriptors) {
		return fmt.Errorf("%d --manifest_descriptor but %d --manifest_name", len(descriptors), len(names))
	}
	manifests := make([]index.Manifest, len(descriptors))
	for i, path := range descriptors {
		d, err := index.ReadDescriptor(path)
		if err != nil {
			return err
		}
		manifests[i] = index.Manifest{Descriptor: d, Name: names[i]}
	}
	ann := map[string]string{}
	if annotationsFile != "" {
		data, err := os.ReadFile(annotationsFile)
		if err != nil {
			return err
		}
		var f struct {
			Annotations map[string]string `json:"annotations"`
		}
		if err := json.Unmarshal(data, &f); err != nil {
			return fmt.Errorf("annotations file %s: %w", annotationsFile, err)
		}
		maps.Copy(ann, f.Annotations)
	}
	for _, kv := range annotations {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("annotation %q is not KEY=VALUE", kv)
		}
		ann[k] = v
	}
	res, err := index.Build(manifests, ann)
	if err != nil {
		return err
	}
	return res.Write(out)
}
