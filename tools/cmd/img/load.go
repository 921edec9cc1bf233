package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/rules-img/rules_img/tools/auth"
	"github.com/rules-img/rules_img/tools/cas"
	"github.com/rules-img/rules_img/tools/deploy"
	"github.com/rules-img/rules_img/tools/load"
	"github.com/rules-img/rules_img/tools/push"
)

// loadConfig is what image_load writes next to the deploy spec.
type loadConfig struct {
	// Daemon is //img/settings:load_daemon.
	Daemon string   `json:"daemon"`
	Tags   []string `json:"tags"`
	// TagsFile, a runfiles short path, holds more tags, one per line.
	TagsFile string `json:"tags_file,omitempty"`
	// Platform, when set, is used unless --platform is given (the
	// tarball output group of an index names its first platform).
	Platform string `json:"platform,omitempty"`
	// Strategy is //img/settings:load_strategy: "lazy" streams the layers
	// the daemon lacks from the remote cache; empty or "eager" reads them
	// from the runfiles.
	Strategy         string `json:"strategy,omitempty"`
	RemoteCache      string `json:"remote_cache,omitempty"`
	CredentialHelper string `json:"credential_helper,omitempty"`
}

// cache is where a lazy load reads layer blobs; nil when eager.
func (c loadConfig) cache(ctx context.Context) (cas.Store, error) {
	switch c.Strategy {
	case "", push.Eager:
		return nil, nil
	case push.Lazy:
		return push.Config{Strategy: push.Lazy, RemoteCache: c.RemoteCache, CredentialHelper: c.CredentialHelper}.Cache(ctx), nil
	}
	return nil, fmt.Errorf("load strategy %q is not known: use eager or lazy", c.Strategy)
}

// loadFlags are the run-time overrides of load targets.
type loadFlags struct {
	daemon, address, namespace, platform, output string
	tags                                         listFlag
}

func (f *loadFlags) register(fs *flag.FlagSet, withTags bool) {
	fs.StringVar(&f.daemon, "daemon", "", "containerd, docker, podman, or tar (a docker-save tarball); default: the rule's setting")
	fs.StringVar(&f.address, "address", "", "the daemon's socket; containerd: default $CONTAINERD_ADDRESS, else "+load.DefaultContainerdAddress)
	fs.StringVar(&f.namespace, "namespace", "", "containerd namespace; default $CONTAINERD_NAMESPACE, else default (docker: the one docker names)")
	fs.StringVar(&f.platform, "platform", "", "which platform of an index: os/arch[/variant], host (the default) or all")
	fs.StringVar(&f.output, "output", "", "tar: the file to write; default standard output")
	if withTags {
		fs.Var(&f.tags, "tag", "name:tag to load the image as, instead of the rule's (repeated)")
	}
}

// loadRun is what every load of one process shares.
type loadRun struct {
	root    string
	flags   *loadFlags
	log     func(string)
	updates chan v1.Update
	remote  []remote.Option
	stats   load.Stats
}

func runLoad(args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	specPath := fs.String("spec", "", "deploy spec written by the rule")
	configPath := fs.String("config", "", "load settings written by the rule")
	runfiles := fs.String("runfiles", "", "runfiles root (default: found from the program)")
	quiet := fs.Bool("quiet", false, "no line per blob and no progress bar (for build actions)")
	var flags loadFlags
	flags.register(fs, true)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "spec", "config"); err != nil {
		return err
	}
	root, err := runfilesRoot(*runfiles)
	if err != nil {
		return err
	}
	ctx, cancel := interruptible()
	defer cancel()
	run := &loadRun{root: root, flags: &flags}
	if !*quiet {
		run.log, run.updates = push.Progress(os.Stderr)
	}
	run.remote = []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(auth.Keychain()), remote.WithUserAgent("rules_img")}
	if err := run.one(ctx, *specPath, *configPath, ""); err != nil {
		return err
	}
	if !*quiet {
		fmt.Fprintf(os.Stderr, "\n%s\n", run.stats.String())
	}
	return nil
}

// one loads the image of one spec, and prints its names. strategy, if set,
// overrides the config's (multi_deploy's load_strategy).
func (r *loadRun) one(ctx context.Context, specPath, configPath, strategy string) (err error) {
	spec, err := deploy.ReadSpec(specPath, r.root)
	if err != nil {
		return err
	}
	var c loadConfig
	data, err := os.ReadFile(configPath)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return fmt.Errorf("load config %s: %w", configPath, err)
	}
	if strategy != "" {
		c.Strategy = strategy
	}
	tags := []string(r.flags.tags)
	if len(tags) == 0 {
		if tags, err = readTags(c.Tags, c.TagsFile, r.root, spec.WorkspaceName); err != nil {
			return err
		}
	}
	o := load.Options{
		Daemon:    firstOf(r.flags.daemon, c.Daemon),
		Address:   r.flags.address,
		Namespace: r.flags.namespace,
		Platform:  firstOf(r.flags.platform, c.Platform),
		Log:       r.log,
		Updates:   r.updates,
		Warn: func(s string) {
			if r.log != nil {
				r.log("WARNING: " + s)
			} else {
				fmt.Fprintln(os.Stderr, "WARNING: "+s)
			}
		},
	}
	loader, err := load.New(o)
	if err != nil {
		return err
	}
	// Names go to standard output, unless the tarball does.
	names := os.Stdout
	if o.Daemon == load.DaemonTar {
		out, done, oerr := tarOutput(r.flags.output)
		if oerr != nil {
			return oerr
		}
		if out == os.Stdout {
			names = os.Stderr
		}
		loader.Out = out
		defer done(&err)
	} else if r.flags.output != "" {
		return fmt.Errorf("--output is for --daemon tar, not %s", o.Daemon)
	}
	cache, err := c.cache(ctx)
	if err != nil {
		return err
	}
	image, err := spec.Taggable(deploy.Options{Remote: r.remote, Cache: cache, Context: ctx})
	if err != nil {
		return err
	}
	loaded, err := loader.Load(ctx, image, tags)
	r.stats.Add(&loader.Stats)
	if err != nil {
		return err
	}
	if r.updates != nil && names == os.Stdout && isTerminal(os.Stdout) {
		// The progress bar is on this line of the same terminal: clear it.
		fmt.Fprint(os.Stdout, "\r\033[K")
	}
	for _, n := range loaded {
		fmt.Fprintln(names, n)
	}
	return nil
}

func isTerminal(f *os.File) bool {
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// tarOutput opens where the tarball goes: a file, written under a temporary
// name and renamed when whole, or standard output when it is no terminal.
// done(&err) closes it, and removes the file if err is set.
func tarOutput(path string) (io.Writer, func(*error), error) {
	if path == "" || path == "-" {
		if isTerminal(os.Stdout) {
			return nil, nil, fmt.Errorf("not writing a tarball to a terminal: pass --output FILE, or redirect standard output")
		}
		return os.Stdout, func(*error) {}, nil
	}
	// bazel run starts the program in its runfiles: a relative path is the
	// user's, from where bazel was run.
	if dir := os.Getenv("BUILD_WORKING_DIRECTORY"); dir != "" && !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, nil, err
	}
	return f, func(err *error) {
		cerr := f.Close()
		if *err == nil && cerr != nil {
			*err = cerr
		}
		if *err == nil {
			*err = os.Rename(f.Name(), path)
		}
		if *err != nil {
			os.Remove(f.Name())
		}
	}, nil
}
