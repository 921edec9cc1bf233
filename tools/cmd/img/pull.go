package main

import (
	"context"
	"encoding/json"
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

// runFetchImage downloads one platform's manifest and config.
func runFetchImage(args []string) error {
	fs := flag.NewFlagSet("fetch-image", flag.ContinueOnError)
	var registries listFlag
	fs.Var(&registries, "registry", "registry to try, in order (repeated)")
	repository := fs.String("repository", "", "repository in the registries")
	digest := fs.String("digest", "", "manifest digest")
	platform := fs.String("platform", "", "os/arch[/variant], for messages")
	out := fs.String("out", "", "output directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "repository", "digest", "out"); err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	sources := registry.Sources(registries, *repository)
	if err := pull.Platform(registry.New(ctx), sources, *digest, *platform, *out); err != nil {
		return fmt.Errorf("%s (%s): %w", *repository, *platform, err)
	}
	return nil
}

// runPullRepo fills a repository of the `pull` repository rule.
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
	out := fs.String("out", "", "output directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p.Registries, p.Platforms = registries, platforms
	if err := p.Validate(); err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	return pull.Repo(registry.New(ctx), p, *out)
}

// runFetchBlob downloads one blob, verified, for a build action.
func runFetchBlob(args []string) error {
	fs := flag.NewFlagSet("fetch-blob", flag.ContinueOnError)
	var sources listFlag
	fs.Var(&sources, "source", "registry/repository to try, in order (repeated)")
	digest := fs.String("digest", "", "blob digest")
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
	_, err = registry.New(ctx).Blob(srcs, *digest, f)
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
