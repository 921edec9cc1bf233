package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/compress"
	"github.com/rules-img/rules_img/tools/tarlayer"
)

// runTarLayer checks an existing tar and describes it as a layer, or
// writes it anew when --blob is given.
func runTarLayer(args []string) error {
	fs := flag.NewFlagSet("tar-layer", flag.ContinueOnError)
	label := fs.String("label", "", "the Bazel target, for error messages")
	var src tarlayer.Source
	fs.StringVar(&src.Path, "src", "", "the tar, plain, gzip or zstd")
	srcCompression := fs.String("src_compression", "", "what the tar's name says it is: gzip, zstd or none")
	fs.BoolVar(&src.AllowDevices, "allow_devices", false, "let character and block devices through")
	blobOut := fs.String("blob", "", "output: the rewritten blob; without it the tar is the blob, as it is")
	metaOut := fs.String("meta", "", "output: the layer metadata JSON")
	var annotations listFlag
	fs.Var(&annotations, "annotation", "KEY=VALUE annotation of the layer's descriptor (repeated)")
	var rw tarlayer.Rewrite
	algorithm := fs.String("compress", "gzip", "rewrite: gzip, zstd or none")
	fs.IntVar(&rw.Compression.Level, "level", compress.DefaultLevel, "rewrite: compression level; -1 for the default")
	fs.IntVar(&rw.Compression.Jobs, "jobs", 0, "rewrite: compression goroutines; 0 for one per CPU")
	fs.BoolVar(&rw.Compression.EStargz, "estargz", false, "rewrite: write a seekable blob: eStargz with gzip, zstd:chunked with zstd")
	fs.BoolVar(&rw.Deduplicate, "deduplicate", false, "rewrite: store equal files once, as hardlinks")
	fs.BoolVar(&rw.ParentDirectories, "parent_directories", false, "rewrite: add missing parent directories")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "src", "src_compression", "meta"); err != nil {
		return err
	}
	err := func() error {
		var err error
		if src.Compression, err = compress.ParseAlgorithm(*srcCompression); err != nil {
			return err
		}
		if rw.Compression.Algorithm, err = compress.ParseAlgorithm(*algorithm); err != nil {
			return err
		}
		ann, err := parseAnnotations("annotation", annotations)
		if err != nil {
			return err
		}
		var meta blob.LayerMetadata
		if *blobOut == "" {
			meta, err = tarlayer.Describe(src)
		} else if err = rw.Compression.CheckAnnotations(ann); err == nil {
			meta, err = rw.Write(src, *blobOut)
		}
		if err != nil {
			return err
		}
		err = meta.AddAnnotations(ann)
		if err == nil {
			err = blob.WriteJSON(*metaOut, meta)
		}
		if err != nil {
			if *blobOut != "" {
				os.Remove(*blobOut)
			}
			return err
		}
		return nil
	}()
	if err != nil {
		return fmt.Errorf("%s: %w", *label, err)
	}
	return nil
}
