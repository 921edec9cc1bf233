package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/compress"
	"github.com/rules-img/rules_img/tools/layer"
)

func runLayer(args []string) error {
	fs := flag.NewFlagSet("layer", flag.ContinueOnError)
	label := fs.String("label", "", "the Bazel target, for error messages")
	inputs := fs.String("inputs", "", "input list, one entry per line (see layer.ParseInputs)")
	workspaceName := fs.String("workspace_name", "_main", "the main repository's name in runfiles trees")
	metadata := fs.String("metadata", "", "JSON file of default and per-path file metadata")
	algorithm := fs.String("compress", "gzip", "gzip, zstd or none")
	level := fs.Int("level", compress.DefaultLevel, "compression level; -1 for the default")
	jobs := fs.Int("jobs", 0, "compression goroutines; 0 for one per CPU")
	blobOut := fs.String("blob", "", "output: the layer blob")
	metaOut := fs.String("meta", "", "output: the layer metadata JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "inputs", "blob", "meta"); err != nil {
		return err
	}
	if err := buildLayer(*inputs, *workspaceName, *metadata, *algorithm, *level, *jobs, *blobOut, *metaOut); err != nil {
		return fmt.Errorf("%s: %w", *label, err)
	}
	return nil
}

func buildLayer(inputsPath, workspaceName, metadataPath, algorithm string, level, jobs int, blobOut, metaOut string) error {
	alg, err := compress.ParseAlgorithm(algorithm)
	if err != nil {
		return err
	}
	f, err := os.Open(inputsPath)
	if err != nil {
		return err
	}
	inputs, err := layer.ParseInputs(f, workspaceName)
	f.Close()
	if err != nil {
		return err
	}
	spec, err := layer.ReadMetadataSpec(metadataPath)
	if err != nil {
		return err
	}
	entries, err := layer.Plan(inputs, spec)
	if err != nil {
		return err
	}
	meta, err := layer.Build(entries, compress.Options{Algorithm: alg, Level: level, Jobs: jobs}, blobOut)
	if err != nil {
		return err
	}
	if err := blob.WriteJSON(metaOut, meta); err != nil {
		os.Remove(blobOut)
		return err
	}
	return nil
}
