package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/rules-img/rules_img/bench/corpus"
	"github.com/rules-img/rules_img/tools/compress"
	"github.com/rules-img/rules_img/tools/esgzverify"
)

// BenchmarkCompression/<variant> writes a layer of the whole corpus with
// each of rules_img's compressions, in one run: single-stream gzip, pgzip
// on 2 goroutines, zstd and eStargz. MB/s and out-bytes as in
// BenchmarkLayer.
func BenchmarkCompression(b *testing.B) {
	c, err := CorpusFromEnv()
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range Variants {
		b.Run(v.Name, func(b *testing.B) {
			out := filepath.Join(b.TempDir(), "blob")
			b.SetBytes(c.Stats.Bytes)
			var res Result
			n, cpu0 := 0, cpuTime()
			for b.Loop() {
				if res, err = RulesImgWith(c.Root, v.Options, out); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(res.Size), "out-bytes")
			b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(n), "cpu-s/op")
		})
	}
}

// TestVariants builds every variant of a small corpus and checks its
// digests: each blob decompresses to its diff_id, and the eStargz one
// passes the estargz verifier. The gzip variants hold the same tar.
func TestVariants(t *testing.T) {
	c, err := corpus.Ensure(filepath.Join(t.TempDir(), "corpus"), corpus.Params{Bytes: 2 << 20, Dups: true})
	if err != nil {
		t.Fatal(err)
	}
	diffIDs := map[string]string{}
	for _, v := range Variants {
		out := filepath.Join(t.TempDir(), "blob")
		res, err := RulesImgWith(c.Root, v.Options, out)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := compress.NewReader(f, v.Options.Algorithm)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.Copy(h, zr); err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		zr.Close()
		f.Close()
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != res.DiffID {
			t.Errorf("%s: blob decompresses to %s, diff_id %s", v.Name, got, res.DiffID)
		}
		diffIDs[v.Name] = res.DiffID
		if v.Options.EStargz {
			if _, err := esgzverify.File(out, res.TOCDigest); err != nil {
				t.Errorf("%s: %v", v.Name, err)
			}
		}
	}
	if diffIDs["gzip"] != diffIDs["pgzip2"] || diffIDs["gzip"] != diffIDs["zstd"] {
		t.Errorf("the variants hold different tars: %v", diffIDs)
	}
}
