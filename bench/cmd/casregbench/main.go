// Command casregbench measures the cas_registry strategy against the lazy
// strategy, in the same run, over loopback: both push an image whose layers
// are in a remote cache (nginx as Bazel's HTTP cache). Lazy streams the
// layers from the cache into a distribution registry; cas_registry writes
// only the manifest to cas-registry, which serves the blobs from the cache.
// It also times `crane pull` of the pushed image from each registry.
//
//	casregbench -cache http://127.0.0.1:P -registry 127.0.0.1:R -casreg 127.0.0.1:C -crane crane
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/cas"
	"github.com/rules-img/rules_img/tools/deploy"
	"github.com/rules-img/rules_img/tools/push"
)

func main() {
	cacheURL := flag.String("cache", "", "the HTTP cache (http://host:port)")
	registry := flag.String("registry", "", "a distribution registry host:port (plain http)")
	casreg := flag.String("casreg", "", "a cas-registry host:port serving -cache")
	crane := flag.String("crane", "crane", "the crane binary")
	layers := flag.Int("layers", 4, "number of layers")
	layerMiB := flag.Int("layer-mib", 64, "size of each layer in MiB")
	rounds := flag.Int("rounds", 3, "pushes of each kind")
	flag.Parse()
	if *cacheURL == "" || *registry == "" || *casreg == "" {
		log.Fatal("-cache, -registry and -casreg are required")
	}
	ctx := context.Background()
	store, err := cas.Dial(ctx, cas.Config{URL: *cacheURL})
	if err != nil {
		log.Fatal(err)
	}
	writer, ok := store.(cas.Writer)
	if !ok {
		log.Fatalf("%T cannot write to the cache", store)
	}
	dir, err := os.MkdirTemp("", "casregbench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	var push1, push2, pull1, pull2 []time.Duration
	var size int64
	for i := 0; i < *rounds; i++ {
		// A new image each round, so that no registry has its blobs yet.
		files, n := build(ctx, dir, writer, *layers, *layerMiB)
		size = n
		repo := fmt.Sprintf("bench/r%d-%d", i, time.Now().UnixNano())
		push1 = append(push1, timeIt(func() error { return pushJob(ctx, files, store, *registry, repo, false) }))
		push2 = append(push2, timeIt(func() error { return pushJob(ctx, files, store, *casreg, repo, true) }))
		pull1 = append(pull1, timeIt(func() error { return pull(*crane, *registry+"/"+repo+":latest", dir) }))
		pull2 = append(pull2, timeIt(func() error { return pull(*crane, *casreg+"/"+repo+":latest", dir) }))
	}
	mb := float64(size) / 1e6
	fmt.Printf("| %d x %d MiB, median of %d | seconds | ratio to lazy |\n|---|---|---|\n", *layers, *layerMiB, *rounds)
	row := func(what string, d, base time.Duration) {
		fmt.Printf("| %s | %.3f | %.3f |\n", what, d.Seconds(), d.Seconds()/base.Seconds())
	}
	row(fmt.Sprintf("push, lazy to distribution (baseline, %.0f MB/s)", mb/median(push1).Seconds()), median(push1), median(push1))
	row("push, cas_registry (manifest only)", median(push2), median(push1))
	row(fmt.Sprintf("crane pull from distribution (baseline, %.0f MB/s)", mb/median(pull1).Seconds()), median(pull1), median(pull1))
	row(fmt.Sprintf("crane pull from cas-registry (%.0f MB/s)", mb/median(pull2).Seconds()), median(pull2), median(pull1))
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration{}, ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func timeIt(f func() error) time.Duration {
	start := time.Now()
	if err := f(); err != nil {
		log.Fatal(err)
	}
	return time.Since(start)
}

// build writes a random image's metadata as a lazy push target's runfiles
// hold it, and puts its config and layers in the cache, as Bazel would.
func build(ctx context.Context, dir string, cache cas.Writer, layers, layerMiB int) (deploy.ManifestFiles, int64) {
	img, err := random.Image(int64(layerMiB)<<20, int64(layers))
	if err != nil {
		log.Fatal(err)
	}
	put := func(data []byte) {
		if err := cache.Put(ctx, cas.Of(data), bytes.NewReader(data)); err != nil {
			log.Fatal(err)
		}
	}
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			log.Fatal(err)
		}
		return path
	}
	raw, _ := img.RawManifest()
	cfg, _ := img.RawConfigFile()
	put(cfg)
	files := deploy.ManifestFiles{Manifest: write("manifest.json", raw), Config: write("config.json", cfg)}
	ls, _ := img.Layers()
	var total int64
	for i, l := range ls {
		d, _ := l.Digest()
		diff, _ := l.DiffID()
		n, _ := l.Size()
		rc, _ := l.Compressed()
		data, _ := io.ReadAll(rc)
		put(data)
		total += n
		meta, _ := json.Marshal(blob.LayerMetadata{MediaType: string(types.DockerLayer), Digest: d.String(), Size: n, DiffID: diff.String()})
		files.Layers = append(files.Layers, deploy.LayerFiles{Metadata: write(fmt.Sprintf("layer%d.json", i), meta)})
	}
	return files, total
}

func pushJob(ctx context.Context, files deploy.ManifestFiles, store cas.Store, registry, repo string, manifestsOnly bool) error {
	p, err := push.New(ctx, nil, nil)
	if err != nil {
		return err
	}
	_, err = p.Run(push.Job{
		Label:         "//bench:push",
		Spec:          deploy.Spec{Manifests: []deploy.ManifestFiles{files}},
		Target:        push.Target{Registry: registry, Repository: repo, Tags: []string{"latest"}},
		Cache:         store,
		ManifestsOnly: manifestsOnly,
	})
	return err
}

func pull(crane, ref, dir string) error {
	out, err := exec.Command(crane, "pull", "--insecure", "--format", "oci", ref, filepath.Join(dir, "pulled")).CombinedOutput()
	os.RemoveAll(filepath.Join(dir, "pulled"))
	if err != nil {
		return fmt.Errorf("crane pull %s: %v: %s", ref, err, out)
	}
	return nil
}
