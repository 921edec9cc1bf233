package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/rules-img/rules_img/tools/auth"
	"github.com/rules-img/rules_img/tools/deploy"
	"github.com/rules-img/rules_img/tools/load"
	"github.com/rules-img/rules_img/tools/runtest"
)

// runTestConfig is what image_run_test writes next to the deploy spec.
type runTestConfig struct {
	Label string       `json:"label"`
	Run   runtest.Spec `json:"run"`
}

// noRuntime says how to give a run test a runtime.
var noRuntime = errors.New("image_run_test needs a container runtime, and the test environment names none: " +
	"pass --test_env=CONTAINERD_ADDRESS=/run/containerd/containerd.sock (and --test_env=CONTAINERD_NAMESPACE=NAME " +
	"for a namespace other than default), or --test_env=DOCKER_HOST=unix:///var/run/docker.sock, " +
	"or run the test as root on a machine with runc (--test_env=RUNC=/path/to/runc if it is not in /usr/sbin)")

// runRunTest is image_run_test's test: it loads the image into the
// runtime the environment names (only the blobs it lacks), runs the
// process and judges its exit code and output.
func runRunTest(args []string) error {
	fs := flag.NewFlagSet("run-test", flag.ContinueOnError)
	specPath := fs.String("spec", "", "deploy spec written by the rule")
	loadPath := fs.String("load", "", "load settings written by the rule")
	testPath := fs.String("test", "", "the process and what it must do, written by the rule")
	runfiles := fs.String("runfiles", "", "runfiles root (default: found from the program)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "spec", "load", "test"); err != nil {
		return err
	}
	var cfg runTestConfig
	data, err := os.ReadFile(*testPath)
	if err == nil {
		err = json.Unmarshal(data, &cfg)
	}
	if err == nil {
		err = cfg.Run.Validate()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", *testPath, err)
	}
	root, err := runfilesRoot(*runfiles)
	if err != nil {
		return err
	}
	nonce := strconv.FormatInt(time.Now().UnixNano(), 36)
	id := runtest.ContainerID(cfg.Label, nonce)
	name := runtest.ImageName(cfg.Label)
	flags := &loadFlags{tags: listFlag{name}}
	var rt runtest.Runtime
	switch {
	case os.Getenv("CONTAINERD_ADDRESS") != "":
		flags.daemon, flags.address = load.DaemonContainerd, os.Getenv("CONTAINERD_ADDRESS")
		namespace := os.Getenv("CONTAINERD_NAMESPACE")
		if namespace == "" {
			namespace = "default"
		}
		fifos := os.Getenv("TEST_TMPDIR")
		if fifos == "" {
			fifos = os.TempDir()
		}
		rt = runtest.Containerd{Address: flags.address, Namespace: namespace, ID: id, FIFODir: filepath.Join(fifos, "fifo")}
	case os.Getenv("DOCKER_HOST") != "":
		flags.daemon = load.DaemonDocker
		rt = runtest.Docker{ID: id}
	case os.Geteuid() != 0:
		return noRuntime
	}
	ctx, cancel := interruptible()
	defer cancel()
	remoteOptions := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(auth.Keychain()), remote.WithUserAgent("rules_img")}
	var res runtest.Result
	if rt == nil {
		res, err = runInRunc(ctx, cfg, *specPath, root, id, remoteOptions)
	} else {
		run := &loadRun{root: root, flags: flags, remote: remoteOptions}
		fmt.Printf("loading %s into %s as %s\n", cfg.Label, flags.daemon, name)
		if err := run.one(ctx, *specPath, *loadPath, ""); err != nil {
			return err
		}
		fmt.Printf("loaded: %s\n", run.stats.String())
		res, err = rt.Run(ctx, name, cfg.Run)
	}
	if err != nil {
		return err
	}
	fmt.Printf("exit code %d\n--- standard output\n%s--- standard error\n%s---\n", res.ExitCode, res.Stdout, res.Stderr)
	if problems := runtest.Judge(cfg.Run, res); len(problems) > 0 {
		return fmt.Errorf("%s:\n  %s", cfg.Label, strings.Join(problems, "\n  "))
	}
	fmt.Println("PASS")
	return nil
}

// runInRunc runs the test's image with runc, unpacked from the runfiles'
// layers: for a test that runs as root and names no runtime.
func runInRunc(ctx context.Context, cfg runTestConfig, specPath, root, id string, remoteOptions []remote.Option) (runtest.Result, error) {
	runc, err := runtest.FindRunc()
	if err != nil {
		return runtest.Result{}, fmt.Errorf("%w (%v)", noRuntime, err)
	}
	spec, err := deploy.ReadSpec(specPath, root)
	if err != nil {
		return runtest.Result{}, err
	}
	taggable, err := spec.Taggable(deploy.Options{Remote: remoteOptions, Context: ctx})
	if err != nil {
		return runtest.Result{}, err
	}
	var img v1.Image
	switch t := taggable.(type) {
	case v1.ImageIndex:
		host := v1.Platform{OS: goruntime.GOOS, Architecture: goruntime.GOARCH}
		if img, err = runtest.Platform(t, host); err != nil {
			return runtest.Result{}, err
		}
	case v1.Image:
		img = t
	default:
		return runtest.Result{}, fmt.Errorf("%s is neither an image nor an index", specPath)
	}
	dir := os.Getenv("TEST_TMPDIR")
	if dir == "" {
		dir = os.TempDir()
	}
	fmt.Printf("running %s in runc (%s), unpacked under %s\n", cfg.Label, runc, dir)
	return runtest.Runc{Path: runc, Dir: filepath.Join(dir, "runc-"+id), ID: id}.RunImage(ctx, img, cfg.Run)
}
