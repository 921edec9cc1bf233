// Command cas-registry is an OCI registry that keeps manifests and tags in
// a directory and serves blobs straight from a Bazel remote cache (see
// package casregistry and docs/guides/push-cas-registry.md).
//
//	cas-registry --dir /var/lib/cas-registry --remote_cache grpcs://cache.example.com [--addr 127.0.0.1:5000]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/rules-img/rules_img/tools/cas"
	"github.com/rules-img/rules_img/tools/casregistry"
	"github.com/rules-img/rules_img/tools/serve"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "cas-registry: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	c := cas.ConfigFromEnv()
	addr := flag.String("addr", "127.0.0.1:5000", "host:port to serve the registry on (port 0: any free port)")
	addrFile := flag.String("addr_file", "", "write the address served on to this file once listening")
	dir := flag.String("dir", "", "directory for manifests and tags (created if absent)")
	certFile := flag.String("tls_cert", "", "serve HTTPS with this certificate (PEM)")
	keyFile := flag.String("tls_key", "", "the key of --tls_cert (PEM)")
	c.RegisterFlags(flag.CommandLine)
	flag.Parse()
	if *dir == "" {
		return errors.New("--dir is required: the directory that keeps manifests and tags")
	}
	if (*certFile == "") != (*keyFile == "") {
		return errors.New("give both --tls_cert and --tls_key, or neither")
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}

	ctx, stop := serve.SignalContext()
	defer stop()
	store, err := cas.Dial(ctx, c)
	if err != nil {
		return err
	}
	logger := log.New(os.Stderr, "cas-registry: ", log.LstdFlags)
	srv := &http.Server{Handler: casregistry.New(*dir, store, logger), ReadHeaderTimeout: 30 * time.Second}
	lis, err := serve.Listen(*addr, *addrFile)
	if err != nil {
		return err
	}
	logger.Printf("serving %s on %s, blobs from %s", *dir, lis.Addr(), c.RedactedURL())
	return serve.Until(ctx, func() error {
		if *certFile != "" {
			return srv.ServeTLS(lis, *certFile, *keyFile)
		}
		return srv.Serve(lis)
	}, func() error {
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	})
}
