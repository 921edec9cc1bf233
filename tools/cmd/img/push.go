package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"golang.org/x/sync/errgroup"

	"github.com/rules-img/rules_img/tools/attest"
	"github.com/rules-img/rules_img/tools/deploy"
	"github.com/rules-img/rules_img/tools/push"
)

// targetFlags are the run-time overrides of push targets.
type targetFlags struct {
	registry, repository, strategy string
	tags                           listFlag
}

func (f *targetFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.registry, "registry", "", "override the registry")
	fs.StringVar(&f.repository, "repository", "", "override the repository")
	fs.Var(&f.tags, "tag", "override the tags (repeated)")
	fs.StringVar(&f.strategy, "strategy", "", "override the push strategy (eager, lazy, cas_registry, bes)")
}

func (f *targetFlags) apply(t *push.Target, c *push.Config) error {
	if f.strategy != "" {
		if err := push.CheckStrategy(f.strategy); err != nil {
			return fmt.Errorf("--strategy: %w", err)
		}
		c.Strategy = f.strategy
	}
	if f.registry != "" {
		t.Registry = f.registry
	}
	if f.repository != "" {
		t.Repository = f.repository
	}
	if len(f.tags) > 0 {
		t.Tags = f.tags
	}
	return nil
}

func runPush(args []string) error {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	specPath := fs.String("spec", "", "deploy spec written by the rule")
	configPath := fs.String("config", "", "push settings written by the rule")
	runfiles := fs.String("runfiles", "", "runfiles root (default: found from the program)")
	var overrides targetFlags
	overrides.register(fs)
	var signing signFlags
	signing.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "spec", "config"); err != nil {
		return err
	}
	sign, err := signing.options()
	if err != nil {
		return err
	}
	root, err := runfilesRoot(*runfiles)
	if err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	log, updates, meter := push.ProgressWithMeter(os.Stderr)
	pusher, err := push.New(ctx, log, updates)
	if err != nil {
		return err
	}
	pusher.Meter = meter
	if err := pushOne(pusher, root, *specPath, *configPath, "", &overrides, sign, os.Stdout); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%s\n", pusher.Stats.String())
	return nil
}

// pushOne pushes the image of one spec and prints its references to out,
// then signs it and attaches its documents; strategy, if set, overrides
// the config's (multi_deploy's attribute).
func pushOne(pusher *push.Pusher, root, specPath, configPath, strategy string, overrides *targetFlags, sign attest.Options, out io.Writer) error {
	spec, err := deploy.ReadSpec(specPath, root)
	if err != nil {
		return err
	}
	config, target, err := readPushConfig(configPath, root, spec.WorkspaceName)
	if err == nil {
		if strategy != "" {
			config.Strategy = strategy
		}
		err = overrides.apply(&target, &config)
	}
	if err != nil {
		// Run names the target in its own errors; these come before it.
		if config.Label != "" {
			err = fmt.Errorf("%s: %w", config.Label, err)
		}
		return err
	}
	ref, err := pusher.Run(push.Job{
		Label:  config.Label,
		Spec:   spec,
		Target: target,
		Cache:  config.Cache(pusher.Context()),
		// cas_registry: the registry serves the blobs from the cache.
		ManifestsOnly: config.Strategy == push.CASRegistry,
	})
	push.ClearProgress(pusher.Meter)
	if err != nil {
		return err
	}
	if err := attach(pusher.Context(), ref, config, root, spec.WorkspaceName, sign, pusher.RemoteOptions()); err != nil {
		return fmt.Errorf("%s: %w", config.Label, err)
	}
	fmt.Fprintln(out, ref.String())
	for _, tag := range target.Tags {
		fmt.Fprintln(out, ref.Context().Tag(tag).String())
	}
	return nil
}

// runDeploy runs the operations of a multi_deploy plan in order, with one
// pusher, so that shared blobs go up once.
func runDeploy(args []string) error {
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	planPath := fs.String("plan", "", "plan written by multi_deploy")
	jobs := fs.Int("jobs", 8, "pushes to run at once")
	runfiles := fs.String("runfiles", "", "runfiles root (default: found from the program)")
	var overrides targetFlags
	overrides.register(fs)
	var loadOverrides loadFlags
	loadOverrides.register(fs, false)
	var signing signFlags
	signing.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "plan"); err != nil {
		return err
	}
	sign, err := signing.options()
	if err != nil {
		return err
	}
	root, err := runfilesRoot(*runfiles)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(*planPath)
	if err != nil {
		return err
	}
	var plan struct {
		Operations []struct {
			Kind     string `json:"kind"`
			Label    string `json:"label"`
			Spec     string `json:"spec"`
			Config   string `json:"config"`
			Strategy string `json:"strategy"`
		} `json:"operations"`
	}
	if err := json.Unmarshal(data, &plan); err != nil {
		return fmt.Errorf("plan %s: %w", *planPath, err)
	}
	ctx, cancel := interruptible()
	defer cancel()
	log, updates, meter := push.ProgressWithMeter(os.Stderr)
	pusher, err := push.New(ctx, log, updates)
	if err != nil {
		return err
	}
	pusher.Meter = meter
	loads := &loadRun{root: root, flags: &loadOverrides, log: log, updates: updates, remote: pusher.RemoteOptions()}
	for _, op := range plan.Operations {
		if op.Kind != "push" && op.Kind != "load" {
			return fmt.Errorf("%s: unknown operation kind %q", op.Label, op.Kind)
		}
	}
	// The pushes run *jobs at a time, sharing one pusher: a blob goes up
	// once, and later pushes mount it. Their references print in plan order.
	out := make([]bytes.Buffer, len(plan.Operations))
	var g errgroup.Group
	g.SetLimit(max(*jobs, 1))
	var pushes, loaded int
	for i, op := range plan.Operations {
		if op.Kind != "push" {
			continue
		}
		pushes++
		g.Go(func() error {
			// The pusher names the target in its errors.
			return pushOne(pusher, root, root+"/"+op.Spec, root+"/"+op.Config, op.Strategy, &overrides, sign, &out[i])
		})
	}
	err = g.Wait()
	for i := range out {
		os.Stdout.Write(out[i].Bytes())
	}
	if err != nil {
		return err
	}
	for _, op := range plan.Operations {
		if op.Kind != "load" {
			continue
		}
		if err := loads.one(ctx, root+"/"+op.Spec, root+"/"+op.Config, op.Strategy); err != nil {
			return fmt.Errorf("%s: %w", op.Label, err)
		}
		loaded++
	}
	if pushes > 0 {
		fmt.Fprintf(os.Stderr, "\n%s\n", pusher.Stats.String())
	}
	if loaded > 0 {
		fmt.Fprintf(os.Stderr, "\n%s\n", loads.stats.String())
	}
	return nil
}

func runfilesRoot(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	return deploy.RunfilesRoot()
}

func readPushConfig(path, root, workspace string) (push.Config, push.Target, error) {
	c, err := push.ReadConfig(path)
	if err != nil {
		return c, push.Target{}, err
	}
	target, err := c.Target(nil, func(short string) string { return deploy.RunfilesPath(root, workspace, short) })
	return c, target, err
}

// readTags adds the lines of tagsFile (a runfiles short path, or "") to
// tags.
func readTags(tags []string, tagsFile, root, workspace string) ([]string, error) {
	t, err := push.Config{Tags: tags, TagsFile: tagsFile}.Target(nil, func(short string) string {
		return deploy.RunfilesPath(root, workspace, short)
	})
	return t.Tags, err
}
