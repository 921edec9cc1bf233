// Command layerbench builds one layer from a directory and prints its
// throughput, so that run.sh can measure a build's peak memory under
// /usr/bin/time -v. With -gen it only makes sure the corpus exists.
//
//	layerbench -dir DIR -compress gzip|zstd|none [-impl rules_img|baseline] [-out BLOB]
//	layerbench -dir DIR -variant gzip|pgzip2|zstd|estargz|zstdchunked [-out BLOB]   (rules_img, see bench.Variants)
//	layerbench -gen   (corpus from IMG_BENCH_CORPUS, IMG_BENCH_BYTES, IMG_BENCH_DUPS)
package main

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/rules-img/rules_img/bench"
	"github.com/rules-img/rules_img/tools/compress"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "layerbench:", err)
		os.Exit(1)
	}
}

func run() error {
	gen := flag.Bool("gen", false, "generate the corpus (if needed) and print its root")
	dir := flag.String("dir", "", "directory to put in the layer")
	algorithm := flag.String("compress", "gzip", "gzip, zstd or none")
	impl := flag.String("impl", "rules_img", "rules_img or baseline")
	variant := flag.String("variant", "", "a rules_img compression variant (bench.Variants); overrides -compress and -impl")
	out := flag.String("out", "", "blob to write (default: a temporary file, removed afterwards)")
	inBytesFlag := flag.Int64("bytes", 0, "bytes of file content in -dir, if known (saves a walk)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the build here")
	table := flag.Bool("table", false, "run every benchmark, interleaved, and print one table (see table.go)")
	flag.Parse()

	if *table {
		return runTable()
	}

	if *gen {
		start := time.Now()
		c, err := bench.CorpusFromEnv()
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "corpus ready in %.1fs: %d files (%d small, %d duplicates), %d dirs, %d bytes\n",
			time.Since(start).Seconds(), c.Stats.Files, c.Stats.SmallFiles, c.Stats.DupFiles, c.Stats.Dirs, c.Stats.Bytes)
		fmt.Println(c.Root)
		return nil
	}

	if *dir == "" {
		return fmt.Errorf("-dir is required")
	}
	alg, err := compress.ParseAlgorithm(*algorithm)
	if err != nil {
		return err
	}
	pipeline, ok := bench.Pipelines[*impl]
	if !ok {
		return fmt.Errorf("unknown -impl %q: use rules_img or baseline", *impl)
	}
	if *variant != "" {
		v, err := findVariant(*variant)
		if err != nil {
			return err
		}
		alg, *impl = v.Options.Algorithm, "rules_img/"+v.Name
		pipeline = func(root string, _ compress.Algorithm, out string) (bench.Result, error) {
			return bench.RulesImgWith(root, v.Options, out)
		}
	}
	blobPath := *out
	if blobPath == "" {
		tmp, err := os.MkdirTemp("", "layerbench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		blobPath = filepath.Join(tmp, "blob")
	}
	// The input size is counted outside the timed part, as the benchmarks
	// take it from the corpus stamp.
	inBytes := *inBytesFlag
	if inBytes == 0 {
		var err error
		if inBytes, err = treeBytes(*dir); err != nil {
			return err
		}
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	res, err := pipeline(*dir, alg, blobPath)
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("impl=%s compress=%s in_bytes=%d out_bytes=%d seconds=%.3f MB/s=%.2f digest=%s\n",
		*impl, alg, inBytes, res.Size, secs, float64(inBytes)/1e6/secs, res.Digest)
	return nil
}

func treeBytes(root string) (int64, error) {
	var n int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	return n, err
}

func findVariant(name string) (bench.Variant, error) {
	var names []string
	for _, v := range bench.Variants {
		if v.Name == name {
			return v, nil
		}
		names = append(names, v.Name)
	}
	return bench.Variant{}, fmt.Errorf("unknown -variant %q: use one of %v", name, names)
}
