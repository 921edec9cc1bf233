package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/compress"
	"github.com/rules-img/rules_img/tools/layer"
)

// layerJob is one `img layer` invocation.
type layerJob struct {
	inputs        string   // file of the input list, see layer.ParseInputs
	entries       []string // or its lines, as arguments
	workspaceName string
	metadata      string // default and per-path file metadata
	compression   compress.Options
	annotations   map[string]string // the user's, for the layer's descriptor
	parents       bool              // add the parent directories no input names
	blobOut       string
	metaOut       string
}

// runLayer writes one layer. Its input list comes in --inputs=FILE, or as
// the arguments after the flags, one entry each: the form a persistent
// worker receives, in one work request.
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
	if err := requireFlags(fs, "blob", "meta"); err != nil {
		return err
	}
	if job.entries = fs.Args(); job.inputs != "" && len(job.entries) > 0 {
		return fmt.Errorf("%s: the input list comes either in --inputs or as arguments, not both", *label)
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
	inputs, err := job.parseInputs()
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

func (job layerJob) parseInputs() ([]layer.Input, error) {
	var list io.Reader = strings.NewReader(strings.Join(job.entries, "\n"))
	if job.inputs != "" {
		f, err := os.Open(job.inputs)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		list = f
	}
	return layer.ParseInputs(list, job.workspaceName)
}
