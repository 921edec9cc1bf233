package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/compress"
	"github.com/rules-img/rules_img/tools/layer"
)

// layerJob is one `img layer` invocation.
type layerJob struct {
	inputs        string // input list, see layer.ParseInputs
	workspaceName string
	metadata      string // default and per-path file metadata
	compression   compress.Options
	annotations   map[string]string // the user's, for the layer's descriptor
	parents       bool              // add the parent directories no input names
	blobOut       string
	metaOut       string
}

func runLayer(args []string) error {
	fs := flag.NewFlagSet("layer", flag.ContinueOnError)
	var job layerJob
	label := fs.String("label", "", "the Bazel target, for error messages")
	fs.StringVar(&job.inputs, "inputs", "", "input list, one entry per line (see layer.ParseInputs)")
	fs.StringVar(&job.workspaceName, "workspace_name", "_main", "the main repository's name in runfiles trees")
	fs.StringVar(&job.metadata, "metadata", "", "JSON file of default and per-path file metadata")
	algorithm := fs.String("compress", "gzip", "gzip, zstd or none")
	fs.IntVar(&job.compression.Level, "level", compress.DefaultLevel, "compression level; -1 for the default")
	fs.IntVar(&job.compression.Jobs, "jobs", 0, "compression goroutines; 0 for one per CPU")
	fs.BoolVar(&job.compression.EStargz, "estargz", false, "write a seekable blob: eStargz with gzip, zstd:chunked with zstd")
	var annotations listFlag
	fs.Var(&annotations, "annotation", "KEY=VALUE annotation of the layer's descriptor (repeated)")
	fs.BoolVar(&job.parents, "parent_directories", true, "add an entry for every parent directory")
	fs.StringVar(&job.blobOut, "blob", "", "output: the layer blob")
	fs.StringVar(&job.metaOut, "meta", "", "output: the layer metadata JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "inputs", "blob", "meta"); err != nil {
		return err
	}
	var err error
	if job.compression.Algorithm, err = compress.ParseAlgorithm(*algorithm); err == nil {
		if job.annotations, err = parseAnnotations("annotation", annotations); err == nil {
			err = job.run()
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", *label, err)
	}
	return nil
}

func (job layerJob) run() error {
	if err := job.compression.CheckAnnotations(job.annotations); err != nil {
		return err
	}
	debug.SetMemoryLimit(layer.MemoryLimit)
	f, err := os.Open(job.inputs)
	if err != nil {
		return err
	}
	inputs, err := layer.ParseInputs(f, job.workspaceName)
	f.Close()
	if err != nil {
		return err
	}
	spec, err := layer.ReadMetadataSpec(job.metadata)
	if err != nil {
		return err
	}
	layout, err := layer.NewLayout(inputs, spec, layer.ParentDirectories(job.parents))
	if err != nil {
		return err
	}
	meta, err := layer.BuildLayout(layout, job.compression, job.blobOut)
	if err != nil {
		return err
	}
	err = meta.AddAnnotations(job.annotations)
	if err == nil {
		err = blob.WriteJSON(job.metaOut, meta)
	}
	if err != nil {
		os.Remove(job.blobOut)
		return err
	}
	return nil
}
