package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/rules-img/rules_img/generator"
	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/lock"
	"github.com/rules-img/rules_img/tools/pull"
	"github.com/rules-img/rules_img/tools/registry"
)

// interruptible is a context that ends on Ctrl-C.
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt)
}

// runGenerate plans the images extension's repositories.
func runGenerate(args []string) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	request := fs.String("request", "", "JSON request from the images extension")
	out := fs.String("out", "", "output: the plan JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "request", "out"); err != nil {
		return err
	}
	data, err := os.ReadFile(*request)
	if err != nil {
		return err
	}
	var req generator.Request
	if err := json.Unmarshal(data, &req); err != nil {
		return fmt.Errorf("request %s: %w", *request, err)
	}
	plan, err := generator.Generate(req)
	if err != nil {
		return err
	}
	return blob.WriteJSON(*out, plan)
}

// runFetchImage does what the images extension planned for one
// repository: it downloads an index, or one platform's manifest and
// config (and its layers, when eager).
func runFetchImage(args []string) error {
	fs := flag.NewFlagSet("fetch-image", flag.ContinueOnError)
	specFile := fs.String("spec", "", "JSON: the repository's fetch, from the plan")
	out := fs.String("out", "", "the repository")
	missing := fs.String("missing", "", "take the files that Bazel downloaded into the repository, and list in this file those still to download")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "spec", "out"); err != nil {
		return err
	}
	data, err := os.ReadFile(*specFile)
	if err != nil {
		return err
	}
	var spec generator.Fetch
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("%s: %w", *specFile, err)
	}
	ctx, cancel := interruptible()
	defer cancel()
	f := fetcher(ctx, spec.Registries, spec.Repository, *out, *missing)
	err = pull.Fetch(f, *out, spec)
	if err != nil {
		err = fmt.Errorf("%s@%s: %w", spec.Repository, spec.Digest, err)
	}
	return reportMissing(*missing, err)
}

// runPullRepo fills a repository of the `pull` repository rule; with
// --resolve it only prints the digest that the tag points at now.
func runPullRepo(args []string) error {
	fs := flag.NewFlagSet("pull-repo", flag.ContinueOnError)
	var p lock.Pull
	var registries, platforms listFlag
	fs.StringVar(&p.Name, "name", "", "repository name")
	fs.Var(&registries, "registry", "registry to try, in order (repeated)")
	fs.StringVar(&p.Repository, "repository", "", "repository in the registries")
	fs.StringVar(&p.Tag, "tag", "", "tag")
	fs.StringVar(&p.Digest, "digest", "", "index or manifest digest")
	fs.Var(&platforms, "platform", "os/arch[/variant] (repeated; none: all)")
	fs.StringVar(&p.LayerHandling, "layer-handling", "", "shallow, eager or lazy")
	resolve := fs.Bool("resolve", false, "only print the digest that --tag points at now")
	out := fs.String("out", "", "output directory")
	missing := fs.String("missing", "", "take the files that Bazel downloaded into the repository, and list in this file those still to download")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p.Registries, p.Platforms = registries, platforms
	if err := p.Validate(); err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	if *resolve {
		if err := requireFlags(fs, "tag"); err != nil {
			return err
		}
		d, err := pull.ResolveTag(registry.New(ctx), p)
		if err != nil {
			return err
		}
		fmt.Println(d)
		return nil
	}
	if err := requireFlags(fs, "digest", "layer-handling", "out"); err != nil {
		return err
	}
	return reportMissing(*missing, pull.Repo(fetcher(ctx, p.Registries, p.Repository, *out, *missing), p, *out))
}

// fetcher reads from the registries, or with --missing from what Bazel
// downloaded into the repository.
func fetcher(ctx context.Context, registries []string, repository, repo, missing string) pull.Fetcher {
	if missing != "" {
		return pull.Downloaded(repo)
	}
	return pull.FromRegistries(registry.New(ctx), registry.Sources(registries, repository), repo)
}

// reportMissing writes the downloads still to do to the --missing file
// (an empty list when the repository is complete); other errors pass.
func reportMissing(path string, err error) error {
	if path == "" {
		return err
	}
	needs := []pull.Need{}
	var m *pull.MissingError
	if errors.As(err, &m) {
		needs, err = m.Needs, nil
	}
	if err != nil {
		return err
	}
	return blob.WriteJSON(path, needs)
}

// runFetchBlob downloads one blob, verified, for a build action.
func runFetchBlob(args []string) error {
	fs := flag.NewFlagSet("fetch-blob", flag.ContinueOnError)
	var sources listFlag
	fs.Var(&sources, "source", "registry/repository to try, in order (repeated)")
	digest := fs.String("digest", "", "blob digest")
	size := fs.Int64("size", registry.SizeUnknown, "blob size as its descriptor declares it; no more is read (default: read to the end)")
	out := fs.String("out", "", "output file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "digest", "out"); err != nil {
		return err
	}
	var srcs []registry.Source
	for _, s := range sources {
		reg, repo, ok := strings.Cut(s, "/")
		if !ok {
			return fmt.Errorf("--source %q is not registry/repository", s)
		}
		srcs = append(srcs, registry.Source{Registry: reg, Repository: repo})
	}
	ctx, cancel := interruptible()
	defer cancel()
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	_, err = registry.New(ctx).Blob(srcs, *digest, *size, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(*out)
	}
	return err
}

// runLock updates or checks the images lockfile.
func runLock(args []string) error {
	fs := flag.NewFlagSet("lock", flag.ContinueOnError)
	pullsFile := fs.String("pulls", "", "JSON with the pulls of MODULE.bazel")
	lockfile := fs.String("lockfile", "", "the lockfile to rewrite")
	check := fs.Bool("check", false, "only check: exit non-zero when the lockfile is stale")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "pulls", "lockfile"); err != nil {
		return err
	}
	data, err := os.ReadFile(*pullsFile)
	if err != nil {
		return err
	}
	var request struct {
		Pulls []lock.Pull `json:"pulls"`
	}
	if err := json.Unmarshal(data, &request); err != nil {
		return fmt.Errorf("%s: %w", *pullsFile, err)
	}
	old, err := lock.Read(*lockfile)
	if err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	next, changes, err := lock.Update(registry.New(ctx), request.Pulls, old)
	if err != nil {
		return err
	}
	for _, c := range changes {
		fmt.Println(c)
	}
	want, err := next.Encode()
	if err != nil {
		return err
	}
	have, _ := os.ReadFile(*lockfile)
	if string(have) == string(want) {
		fmt.Printf("%s is up to date\n", *lockfile)
		return nil
	}
	if *check {
		return fmt.Errorf("%s is stale: run bazel run @images//:update", *lockfile)
	}
	if err := next.Write(*lockfile); err != nil {
		return err
	}
	fmt.Printf("wrote %s\n", *lockfile)
	return nil
}
