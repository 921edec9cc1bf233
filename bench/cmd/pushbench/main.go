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
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/rules-img/rules_img/tools/blob"
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
	files, size := writeFiles(dir, img)
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

// writeFiles stores img as the files a Bazel build produces.
func writeFiles(dir string, img v1.Image) (deploy.ManifestFiles, int64) {
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			log.Fatal(err)
		}
		return path
	}
	raw, _ := img.RawManifest()
	cfg, _ := img.RawConfigFile()
	files := deploy.ManifestFiles{Manifest: write("manifest.json", raw), Config: write("config.json", cfg)}
	layers, _ := img.Layers()
	var total int64
	for i, l := range layers {
		d, _ := l.Digest()
		diff, _ := l.DiffID()
		n, _ := l.Size()
		rc, _ := l.Compressed()
		data, _ := io.ReadAll(rc)
		total += n
		meta, _ := json.Marshal(blob.LayerMetadata{MediaType: string(types.DockerLayer), Digest: d.String(), Size: n, DiffID: diff.String()})
		files.Layers = append(files.Layers, deploy.LayerFiles{
			Metadata: write(fmt.Sprintf("layer%d.json", i), meta),
			Blob:     write(fmt.Sprintf("layer%d.blob", i), data),
		})
	}
	return files, total
}
