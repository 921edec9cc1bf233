package bench

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/rules-img/rules_img/bench/corpus"
	"github.com/rules-img/rules_img/tools/compress"
)

// BenchmarkLayer/<algorithm>/<pipeline> writes a layer of the whole corpus
// per iteration. MB/s is corpus bytes (file content) per second, the same
// for both pipelines; out-bytes is the size of the blob; cpu-s/op is the
// user plus system CPU time of one iteration, on all cores.
func BenchmarkLayer(b *testing.B) {
	c, err := CorpusFromEnv()
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("corpus %s: %d files (%d small, %d duplicates), %d dirs, %d bytes",
		c.Root, c.Stats.Files, c.Stats.SmallFiles, c.Stats.DupFiles, c.Stats.Dirs, c.Stats.Bytes)
	for _, alg := range Algorithms {
		b.Run(string(alg), func(b *testing.B) {
			for _, name := range []string{"baseline", "rules_img"} {
				run := Pipelines[name]
				b.Run(name, func(b *testing.B) {
					out := filepath.Join(b.TempDir(), "blob")
					b.SetBytes(c.Stats.Bytes)
					var res Result
					n, cpu0 := 0, cpuTime()
					for b.Loop() {
						if res, err = run(c.Root, alg, out); err != nil {
							b.Fatal(err)
						}
						n++
					}
					b.ReportMetric(float64(res.Size), "out-bytes")
					// CPU time is less disturbed than wall time by other
					// work on the machine.
					b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(n), "cpu-s/op")
				})
			}
		})
	}
}

// TestPipelines runs every pipeline on a ~5 MiB corpus with duplicates and
// checks each blob: its digests, that it decompresses to a tar, and that
// the tar holds exactly the corpus.
func TestPipelines(t *testing.T) {
	c, err := corpus.Ensure(filepath.Join(t.TempDir(), "corpus"), corpus.Params{Bytes: 5 << 20, Dups: true})
	if err != nil {
		t.Fatal(err)
	}
	want := walkCorpus(t, c.Root)
	if len(want) != 1+c.Stats.Dirs+c.Stats.Files {
		t.Fatalf("corpus walk found %d entries, stats say %d", len(want), 1+c.Stats.Dirs+c.Stats.Files)
	}
	for _, alg := range Algorithms {
		diffIDs := map[string]string{}
		for _, name := range []string{"baseline", "rules_img"} {
			t.Run(string(alg)+"/"+name, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "blob")
				res, err := Pipelines[name](c.Root, alg, out)
				if err != nil {
					t.Fatal(err)
				}
				diffIDs[name] = res.DiffID
				checkBlob(t, out, alg, res, want, name == "rules_img")
			})
		}
		// Both write the same entries with the same attributes, but rules_img
		// sorts by full path and hardlinks duplicates; the baseline does not.
		// Their tars may differ, but each must be stable.
		for _, name := range []string{"baseline", "rules_img"} {
			res, err := Pipelines[name](c.Root, alg, filepath.Join(t.TempDir(), "again"))
			if err != nil {
				t.Fatal(err)
			}
			if res.DiffID != diffIDs[name] {
				t.Errorf("%s/%s: a second run gave diff_id %s, the first %s", alg, name, res.DiffID, diffIDs[name])
			}
		}
	}
}

// walkCorpus lists the entries a layer of root must hold: tar name → size
// (-1 for a directory).
func walkCorpus(t *testing.T, root string) map[string]int64 {
	t.Helper()
	want := map[string]int64{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		name := LayerPath
		if rel != "." {
			name += "/" + filepath.ToSlash(rel)
		}
		if d.IsDir() {
			want[name+"/"] = -1
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want[name] = info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return want
}

func checkBlob(t *testing.T, path string, alg compress.Algorithm, res Result, want map[string]int64, mayLink bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	blobHash := sha256.New()
	size, err := io.Copy(blobHash, f)
	if err != nil {
		t.Fatal(err)
	}
	if got := "sha256:" + hex.EncodeToString(blobHash.Sum(nil)); got != res.Digest || size != res.Size {
		t.Errorf("blob is %s, %d bytes; pipeline reported %s, %d bytes", got, size, res.Digest, res.Size)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var r io.Reader = f
	switch alg {
	case compress.Gzip:
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case compress.Zstd:
		zr, err := zstd.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	tarHash := sha256.New()
	tr := tar.NewReader(io.TeeReader(r, tarHash))
	got := map[string]int64{}
	contentSize := map[string]int64{} // regular files, for hardlink targets
	var links int
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		if _, dup := got[hdr.Name]; dup {
			t.Errorf("tar holds %s twice", hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			got[hdr.Name] = -1
		case tar.TypeReg:
			n, err := io.Copy(io.Discard, tr)
			if err != nil || n != hdr.Size {
				t.Fatalf("%s: read %d of %d bytes: %v", hdr.Name, n, hdr.Size, err)
			}
			got[hdr.Name] = n
			contentSize[hdr.Name] = n
		case tar.TypeLink:
			if !mayLink {
				t.Errorf("%s: unexpected hardlink", hdr.Name)
			}
			target, ok := contentSize[hdr.Linkname]
			if !ok {
				t.Errorf("%s links to %s, which is no earlier regular file", hdr.Name, hdr.Linkname)
			}
			got[hdr.Name] = target
			links++
		default:
			t.Errorf("%s: unexpected type %c", hdr.Name, hdr.Typeflag)
		}
	}
	// Drain the padding so the diff_id covers the whole stream.
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	if got := "sha256:" + hex.EncodeToString(tarHash.Sum(nil)); got != res.DiffID {
		t.Errorf("tar is %s; pipeline reported diff_id %s", got, res.DiffID)
	}
	if len(got) != len(want) {
		t.Errorf("tar holds %d entries, corpus has %d", len(got), len(want))
	}
	var wrong []string
	for name, size := range want {
		if got[name] != size {
			wrong = append(wrong, name)
		}
	}
	sort.Strings(wrong)
	if len(wrong) > 0 {
		t.Errorf("%d entries missing or of the wrong size, first %s", len(wrong), wrong[0])
	}
	t.Logf("%d entries (%d hardlinks), blob %d bytes", len(got), links, res.Size)
}
