// Command bes is a Build Event Service that pushes the images of the push
// targets (push strategy "bes") of every successful build Bazel streams to
// it, with their files and blobs read from the remote cache (see package
// bes and docs/guides/push-bes.md).
//
//	bes --addr 127.0.0.1:8980 --remote_cache grpcs://cache.example.com
//	bazel build --bes_backend=grpc://127.0.0.1:8980 --remote_cache=grpcs://cache.example.com //...
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"

	"google.golang.org/grpc"

	"github.com/rules-img/rules_img/tools/bes"
	"github.com/rules-img/rules_img/tools/cas"
	"github.com/rules-img/rules_img/tools/serve"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "bes: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	c := cas.ConfigFromEnv()
	addr := flag.String("addr", "127.0.0.1:8980", "host:port to serve the Build Event Service on (port 0: any free port)")
	addrFile := flag.String("addr_file", "", "write the address served on to this file once listening")
	registry := flag.String("registry", "", "push to this registry instead of each target's (a mirror, or a test)")
	c.RegisterFlags(flag.CommandLine)
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}

	ctx, stop := serve.SignalContext()
	defer stop()
	store, err := cas.Dial(ctx, c)
	if err != nil {
		return err
	}
	logger := log.New(os.Stderr, "bes: ", log.LstdFlags)
	// Pushes outlive a stop signal: they finish before the server exits.
	svc := bes.New(context.WithoutCancel(ctx), bes.CachePusher{Cache: store, Registry: *registry}, logger)
	g := grpc.NewServer()
	svc.Register(g)
	lis, err := serve.Listen(*addr, *addrFile)
	if err != nil {
		return err
	}
	logger.Printf("serving on %s, files and blobs from %s", lis.Addr(), c.RedactedURL())
	return serve.Until(ctx, func() error { return g.Serve(lis) }, func() error {
		g.GracefulStop()
		svc.Wait()
		return nil
	})
}
