// Command lazybench measures the lazy push (layers streamed from a remote
// cache into the registry) against the two eager ways, in the same run:
// pushing layer files already on disk, and downloading them from the cache
// first (what `bazel run` of an eager push does under
// --remote_download_minimal), then pushing.
//
//	lazybench -registry 127.0.0.1:5000 -cache http://127.0.0.1:8080 [-cache grpc://127.0.0.1:9090] -layers 4 -layer-mib 64
//
// Each -cache is filled with the image's blobs first. Every push goes to a
// fresh repository, so every layer is uploaded.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/rules-img/rules_img/bench/imagefiles"
	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/cas"
	"github.com/rules-img/rules_img/tools/deploy"
	"github.com/rules-img/rules_img/tools/push"
)

type caches []string

func (c *caches) String() string     { return strings.Join(*c, ",") }
func (c *caches) Set(v string) error { *c = append(*c, v); return nil }

func main() {
	registry := flag.String("registry", "", "registry host:port (plain http)")
	var urls caches
	flag.Var(&urls, "cache", "remote cache URL (repeated)")
	layers := flag.Int("layers", 4, "number of layers")
	layerMiB := flag.Int("layer-mib", 64, "size of each layer in MiB")
	rounds := flag.Int("rounds", 3, "pushes of each kind")
	flag.Parse()
	if *registry == "" || len(urls) == 0 {
		log.Fatal("-registry and -cache are required")
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "lazybench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	img, err := random.Image(int64(*layerMiB)<<20, int64(*layers))
	if err != nil {
		log.Fatal(err)
	}
	files, size, err := imagefiles.Write(dir, img)
	if err != nil {
		log.Fatal(err)
	}

	stores := map[string]cas.Store{}
	for _, u := range urls {
		s, err := cas.Dial(ctx, cas.Config{URL: u})
		if err != nil {
			log.Fatal(err)
		}
		for _, l := range files.Layers {
			data, _ := os.ReadFile(l.Blob)
			if err := s.(cas.Writer).Put(ctx, cas.Of(data), bytes.NewReader(data)); err != nil {
				log.Fatal(err)
			}
		}
		stores[u] = s
	}

	spec := deploy.Spec{Manifests: []deploy.ManifestFiles{files}}
	times := map[string]time.Duration{}
	for i := 0; i < *rounds; i++ {
		repo := func(kind string) string { return fmt.Sprintf("bench/%s%d-%d", kind, i, time.Now().UnixNano()) }
		times["eager"] += timeIt(func() error { return run(ctx, spec, nil, *registry, repo("eager")) })
		for _, u := range urls {
			times["download "+u] += timeIt(func() error { return downloadThenPush(ctx, spec, stores[u], dir, *registry, repo("download")) })
			times["lazy "+u] += timeIt(func() error { return run(ctx, spec, stores[u], *registry, repo("lazy")) })
		}
	}
	mb := float64(size) / 1e6 * float64(*rounds)
	base := times["eager"]
	fmt.Printf("| push of %d x %d MiB, %d rounds | MB/s | time vs eager from disk |\n|---|---|---|\n", *layers, *layerMiB, *rounds)
	fmt.Printf("| eager, layers on disk (baseline) | %.0f | 1.00 |\n", mb/base.Seconds())
	for _, u := range urls {
		for _, kind := range []string{"download", "lazy"} {
			d := times[kind+" "+u]
			label := map[string]string{"download": "eager, download from " + u + " first", "lazy": "lazy, streamed from " + u}[kind]
			fmt.Printf("| %s | %.0f | %.2f |\n", label, mb/d.Seconds(), d.Seconds()/base.Seconds())
		}
	}
}

func timeIt(f func() error) time.Duration {
	start := time.Now()
	if err := f(); err != nil {
		log.Fatal(err)
	}
	return time.Since(start)
}

func run(ctx context.Context, spec deploy.Spec, cache cas.Store, registry, repository string) error {
	p, err := push.New(ctx, nil, nil)
	if err != nil {
		return err
	}
	_, err = p.Run(push.Job{Label: "//bench:push", Spec: spec, Target: push.Target{Registry: registry, Repository: repository, Tags: []string{"latest"}}, Cache: cache})
	return err
}

// downloadThenPush writes each layer blob from the cache to disk, then
// pushes the files: the eager push of a build without the bytes.
func downloadThenPush(ctx context.Context, spec deploy.Spec, cache cas.Store, dir, registry, repository string) error {
	m := spec.Manifests[0]
	var local deploy.ManifestFiles = m
	local.Layers = nil
	for i, l := range m.Layers {
		meta, err := blob.ReadLayerMetadata(l.Metadata)
		if err != nil {
			return err
		}
		d, err := cas.ParseOCI(meta.Digest, meta.Size)
		if err != nil {
			return err
		}
		rc, err := cache.Open(ctx, d)
		if err != nil {
			return err
		}
		path := filepath.Join(dir, fmt.Sprintf("downloaded%d.blob", i))
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, rc)
		rc.Close()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		local.Layers = append(local.Layers, deploy.LayerFiles{Metadata: l.Metadata, Blob: path})
	}
	return run(ctx, deploy.Spec{Manifests: []deploy.ManifestFiles{local}}, nil, registry, repository)
}
