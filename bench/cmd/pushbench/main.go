// Command pushbench measures rules_img's push against `crane push` of the
// same image, over loopback, in the same run.
//
//	pushbench -registry 127.0.0.1:5000 -crane /path/to/crane -layers 4 -layer-mib 64
//
// It writes a random image as Bazel would (manifest, config, layer blobs and
// metadata), and its OCI layout for crane, then pushes each to fresh
// repositories, several times, and prints MB/s and the ratio.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/rules-img/rules_img/bench/imagefiles"
	"github.com/rules-img/rules_img/tools/deploy"
	"github.com/rules-img/rules_img/tools/push"
)

func main() {
	registry := flag.String("registry", "", "registry host:port (plain http)")
	crane := flag.String("crane", "crane", "the crane binary")
	layers := flag.Int("layers", 4, "number of layers")
	layerMiB := flag.Int("layer-mib", 64, "size of each layer in MiB")
	rounds := flag.Int("rounds", 3, "pushes of each kind")
	flag.Parse()
	if *registry == "" {
		log.Fatal("-registry is required")
	}
	dir, err := os.MkdirTemp("", "pushbench")
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
	if _, err := layout.Write(filepath.Join(dir, "layout"), empty.Index); err != nil {
		log.Fatal(err)
	}
	p, _ := layout.FromPath(filepath.Join(dir, "layout"))
	if err := p.AppendImage(img); err != nil {
		log.Fatal(err)
	}

	var ours, theirs time.Duration
	for i := 0; i < *rounds; i++ {
		ours += timeIt(func() error {
			return pushOurs(files, *registry, fmt.Sprintf("bench/ours%d-%d", i, time.Now().UnixNano()))
		})
		theirs += timeIt(func() error {
			ref := fmt.Sprintf("%s/bench/crane%d-%d:latest", *registry, i, time.Now().UnixNano())
			out, err := exec.Command(*crane, "push", "--insecure", filepath.Join(dir, "layout"), ref).CombinedOutput()
			if err != nil {
				return fmt.Errorf("crane push: %v: %s", err, out)
			}
			return nil
		})
	}
	mb := float64(size) / 1e6 * float64(*rounds)
	fmt.Printf("| push of %d x %d MiB | MB/s | ratio |\n|---|---|---|\n", *layers, *layerMiB)
	fmt.Printf("| crane push (baseline) | %.0f | 1.00 |\n", mb/theirs.Seconds())
	fmt.Printf("| rules_img push | %.0f | %.2f |\n", mb/ours.Seconds(), theirs.Seconds()/ours.Seconds())
}

func timeIt(f func() error) time.Duration {
	start := time.Now()
	if err := f(); err != nil {
		log.Fatal(err)
	}
	return time.Since(start)
}

func pushOurs(files deploy.ManifestFiles, registry, repository string) error {
	p, err := push.New(context.Background(), nil, nil)
	if err != nil {
		return err
	}
	img, err := deploy.Image(files, deploy.Options{Remote: p.RemoteOptions(), Destination: registry})
	if err != nil {
		return err
	}
	_, err = p.Push(img, push.Target{Registry: registry, Repository: repository, Tags: []string{"latest"}})
	return err
}
