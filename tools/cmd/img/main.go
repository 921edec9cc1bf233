// Command img is the rules_img tool: Bazel actions call one subcommand each.
package main

import (
	"fmt"
	"os"
	"slices"
	"sort"

	"github.com/rules-img/rules_img/tools/worker"
)

type subcommand struct {
	run     func(args []string) error
	summary string
}

var subcommands = map[string]subcommand{
	"layer":           {runLayer, "write a layer blob and its metadata from a list of inputs"},
	"manifest":        {runManifest, "write an image config, manifest and descriptor"},
	"layout":          {runLayout, "write an OCI image layout directory"},
	"index":           {runIndex, "write an image index and its descriptor from manifest descriptors"},
	"tar-layer":       {runTarLayer, "check an existing tar and describe it as a layer, or write it anew"},
	"generate":        {runGenerate, "plan the repositories of the images module extension"},
	"fetch-image":     {runFetchImage, "download an index or a platform's manifest and config, verified"},
	"fetch-blob":      {runFetchBlob, "download one blob, verified"},
	"pull-repo":       {runPullRepo, "fill a repository of the pull repository rule"},
	"lock":            {runLock, "update or check the images lockfile"},
	"push":            {runPush, "push an image or index to a registry (bazel run of image_push)"},
	"expand":          {runExpand, "expand {{.NAME}} templates of a rule from build settings and workspace status"},
	"deploy":          {runDeploy, "run the pushes and loads of a multi_deploy"},
	"load":            {runLoad, "load an image or index into containerd, docker or podman (bazel run of image_load)"},
	"from-layout":     {runFromLayout, "take an image, or the index of several, from an OCI layout another tool wrote"},
	"version":         {runVersion, "print the version of this img tool"},
	"layer-listing":   {runLayerListing, "list the entries of a layer blob, for image tests"},
	"run-test":        {runRunTest, "load an image into containerd or docker, run it and judge its exit code and output (image_run_test)"},
	"structure-plan":  {runStructurePlan, "say which files of each layer the content tests of image_structure_test read"},
	"layer-contents":  {runLayerContents, "take from a layer blob the files a structure-plan names"},
	"layer-inventory": {runLayerInventory, "list the regular files of a layer blob with their digests and Go modules, for SBOMs"},
	"provenance":      {runProvenance, "write the SLSA provenance statement of an image (image_provenance)"},
	"sbom":            {runSBOM, "write the SPDX 2.3 document of an image (image_sbom)"},
	"structure-test":  {runStructureTest, "check images against container-structure-test configs (image_structure_test)"},
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	cmd, ok := subcommands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "img: unknown subcommand %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	args := os.Args[2:]
	if slices.Contains(args, worker.Flag) {
		os.Exit(serveWorker(os.Args[1], cmd))
	}
	args, err := worker.ExpandParamFile(args)
	if err == nil {
		err = cmd.run(args)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "img %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// serveWorker answers Bazel's work requests for one subcommand. Only work
// responses may reach stdout, so anything else written there goes to
// stderr, which Bazel keeps in the worker's log.
func serveWorker(name string, cmd subcommand) int {
	responses := os.Stdout
	os.Stdout = os.Stderr
	if err := worker.Serve(os.Stdin, responses, name, cmd.run); err != nil {
		fmt.Fprintf(os.Stderr, "img %s worker: %v\n", name, err)
		return 1
	}
	return 0
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: img SUBCOMMAND [flags]")
	names := make([]string, 0, len(subcommands))
	for name := range subcommands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(os.Stderr, "  %-12s %s\n", name, subcommands[name].summary)
	}
}
