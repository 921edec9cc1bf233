// Command release builds the files of a rules_img release: the img tool for
// each platform, the prebuilt lockfile, and the source archive with the
// version and the lockfile in it.
//
//	go run ./tools/cmd/release --version 1.2.3 --out dist
//	go run ./tools/cmd/release --version 1.2.3 --out dist --platforms linux/amd64 \
//	    --url-template 'file:///tmp/dist/{file}'
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/rules-img/rules_img/tools/release"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run() error {
	var o release.Options
	platforms := flag.String("platforms", "all", "comma-separated os/arch to build the img tool for, or all")
	flag.StringVar(&o.Version, "version", "", "the version to release, like 1.2.3 (no leading v)")
	flag.StringVar(&o.OutDir, "out", "", "directory for the release files; must be empty or absent")
	flag.StringVar(&o.RepoDir, "repo", ".", "git checkout of rules_img")
	flag.StringVar(&o.Ref, "ref", "HEAD", "commit or tag to release; uncommitted changes are never included")
	flag.StringVar(&o.URLTemplate, "url-template", release.DefaultURLTemplate,
		"where the files will be downloaded from: {version}, {os}, {arch} and {file} (the file name) are filled in")
	flag.Parse()
	if flag.NArg() > 0 || o.Version == "" || o.OutDir == "" {
		flag.Usage()
		return fmt.Errorf("--version and --out are required, and there are no arguments")
	}
	var err error
	if o.Platforms, err = release.ParsePlatforms(*platforms); err != nil {
		return err
	}
	o.Builder = release.GoBuilder{Version: o.Version}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := release.Run(ctx, o)
	if err != nil {
		return err
	}
	for _, name := range res.Files {
		fmt.Println(name)
	}
	return nil
}
