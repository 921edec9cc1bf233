// Package bench measures how fast rules_img writes layers, against a
// baseline built only from standard and stock libraries. The benchmarks are
// in layer_test.go; run.sh runs them on a 1 GiB corpus and prints a table.
package bench

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

	"github.com/rules-img/rules_img/bench/corpus"
	"github.com/rules-img/rules_img/tools/compress"
	"github.com/rules-img/rules_img/tools/layer"
)

// Corpus environment: where the corpus lives and how big it is.
const (
	EnvCorpus = "IMG_BENCH_CORPUS"
	EnvBytes  = "IMG_BENCH_BYTES"
	EnvDups   = "IMG_BENCH_DUPS"
)

// LayerPath is where the corpus goes inside the layer.
const LayerPath = "corpus"

// Result is what one pipeline run produced.
type Result struct {
	Digest string // sha256 of the blob
	DiffID string // sha256 of the uncompressed tar
	Size   int64  // bytes of the blob
	// TOCDigest is the eStargz table of contents' digest, if any.
	TOCDigest string
}

// Pipeline writes a layer blob at out from the tree at root.
type Pipeline func(root string, alg compress.Algorithm, out string) (Result, error)

// Pipelines by name, as benchmarks and layerbench name them.
var Pipelines = map[string]Pipeline{
	"baseline":  Baseline,
	"rules_img": RulesImg,
}

// Algorithms in table order.
var Algorithms = []compress.Algorithm{compress.Gzip, compress.Zstd, compress.None}

// RulesImg builds the layer the way the img tool does: an input list with
// the tree as one directory source, then Plan and Build with the default
// compression settings (all cores).
func RulesImg(root string, alg compress.Algorithm, out string) (Result, error) {
	return RulesImgWith(root, compress.Options{Algorithm: alg, Level: compress.DefaultLevel, Jobs: 0}, out)
}

// Variant is one way rules_img compresses a layer, as the settings select
// it (compress, compression_jobs, estargz).
type Variant struct {
	Name    string
	Options compress.Options
}

// Variants in table order: single-stream gzip (compression_jobs=1), pgzip
// on 2 goroutines, zstd, eStargz and zstd:chunked (zstd with estargz
// enabled); all at their default levels.
var Variants = []Variant{
	{"gzip", compress.Options{Algorithm: compress.Gzip, Level: compress.DefaultLevel, Jobs: 1}},
	{"pgzip2", compress.Options{Algorithm: compress.Gzip, Level: compress.DefaultLevel, Jobs: 2}},
	{"zstd", compress.Options{Algorithm: compress.Zstd, Level: compress.DefaultLevel, Jobs: 0}},
	{"estargz", compress.Options{Algorithm: compress.Gzip, Level: compress.DefaultLevel, EStargz: true}},
	{"zstdchunked", compress.Options{Algorithm: compress.Zstd, Level: compress.DefaultLevel, EStargz: true}},
}

// RulesImgWith is RulesImg with the given compression options. Like the
// img tool, it sets layer.MemoryLimit.
func RulesImgWith(root string, opts compress.Options, out string) (Result, error) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(layer.MemoryLimit))
	inputs, err := layer.ParseInputs(strings.NewReader("file\t"+LayerPath+"\t"+root+"\n"), "_main")
	if err != nil {
		return Result{}, err
	}
	layout, err := layer.NewLayout(inputs, layer.MetadataSpec{})
	if err != nil {
		return Result{}, err
	}
	meta, err := layer.BuildLayout(layout, opts, out)
	if err != nil {
		return Result{}, err
	}
	return Result{Digest: meta.Digest, DiffID: meta.DiffID, Size: meta.Size, TOCDigest: meta.Annotations[compress.AnnotationTOCDigest]}, nil
}

// Baseline is the plain pipeline anyone would write with stock libraries:
// filepath.WalkDir (sorted per directory) → archive/tar → sha256 of the tar
// → compressor (pgzip level 6 on all cores, zstd default, or none) →
// sha256 of the output → 64 KiB bufio.Writer → file. Headers carry the same
// fixed attributes rules_img writes, so both tars are alike in size.
func Baseline(root string, alg compress.Algorithm, out string) (res Result, err error) {
	f, err := os.Create(out)
	if err != nil {
		return res, err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	bw := bufio.NewWriterSize(f, 64<<10)
	outHash := &hashWriter{h: sha256.New()}
	var cw io.WriteCloser
	switch alg {
	case compress.Gzip:
		zw, err := pgzip.NewWriterLevel(io.MultiWriter(bw, outHash), 6)
		if err != nil {
			return res, err
		}
		cw = zw
	case compress.Zstd:
		zw, err := zstd.NewWriter(io.MultiWriter(bw, outHash))
		if err != nil {
			return res, err
		}
		cw = zw
	case compress.None:
		cw = nopCloser{io.MultiWriter(bw, outHash)}
	default:
		return res, fmt.Errorf("unknown compression %q", alg)
	}
	tarHash := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(cw, tarHash))
	epoch := time.Unix(0, 0)
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name := LayerPath
		if rel != "." {
			name += "/" + filepath.ToSlash(rel)
		}
		switch {
		case d.IsDir():
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: epoch})
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: info.Size(), ModTime: epoch}); err != nil {
				return err
			}
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			defer src.Close()
			_, err = io.Copy(tw, src)
			return err
		}
		return fmt.Errorf("%s: unexpected file type %s", p, d.Type())
	})
	if err != nil {
		return res, err
	}
	if err := tw.Close(); err != nil {
		return res, err
	}
	if err := cw.Close(); err != nil {
		return res, err
	}
	if err := bw.Flush(); err != nil {
		return res, err
	}
	return Result{
		Digest: "sha256:" + hex.EncodeToString(outHash.h.Sum(nil)),
		DiffID: "sha256:" + hex.EncodeToString(tarHash.Sum(nil)),
		Size:   outHash.n,
	}, nil
}

type hashWriter struct {
	h hash.Hash
	n int64
}

func (w *hashWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return w.h.Write(p)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// CorpusFromEnv returns the benchmark corpus, generating it on first use:
// IMG_BENCH_CORPUS is its directory (default: one per size under the
// temporary directory), IMG_BENCH_BYTES its size (default 1 GiB), and
// IMG_BENCH_DUPS=1 selects the variant with 30% duplicate small files.
func CorpusFromEnv() (*corpus.Corpus, error) {
	p := corpus.Params{Bytes: corpus.DefaultBytes}
	if s := os.Getenv(EnvBytes); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s=%q is not a positive number of bytes", EnvBytes, s)
		}
		p.Bytes = n
	}
	if s := os.Getenv(EnvDups); s != "" {
		dups, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("%s=%q is not a boolean", EnvDups, s)
		}
		p.Dups = dups
	}
	dir := os.Getenv(EnvCorpus)
	if dir == "" {
		dir = CorpusDir(p)
	}
	return corpus.Ensure(dir, p)
}

// CorpusDir is the default directory of the corpus with parameters p.
func CorpusDir(p corpus.Params) string {
	name := fmt.Sprintf("corpus-%d", p.Bytes)
	if p.Dups {
		name += "-dups"
	}
	if p.SingleFile {
		name += "-single"
	}
	return filepath.Join(os.TempDir(), "rules_img_bench", name)
}
