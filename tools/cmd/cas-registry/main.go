// Command cas-registry is an OCI registry that keeps manifests and tags in
// a directory and serves blobs straight from a Bazel remote cache (see
// package casregistry and docs/guides/push-cas-registry.md).
//
//	cas-registry --dir /var/lib/cas-registry --remote_cache grpcs://cache.example.com [--addr 127.0.0.1:5000]
//	    [--tls_cert cert.pem --tls_key key.pem] [--htpasswd FILE] [--tokens_file FILE] [--auth_reads]
//
// On an address other than loopback it needs --htpasswd or --tokens_file,
// or --allow_unauthenticated.
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
	tokensFile := flag.String("tokens_file", "", "bearer tokens that may write, one a line (TOKEN or NAME TOKEN); also taken as the password of Basic authentication")
	htpasswd := flag.String("htpasswd", "", "htpasswd file of users that may write (bcrypt hashes, htpasswd -B)")
	authReads := flag.Bool("auth_reads", false, "reads need credentials too (with --tokens_file or --htpasswd)")
	allowUnauth := flag.Bool("allow_unauthenticated", false, "serve on a non-loopback --addr without credentials: anyone who reaches it may push")
	maxUploads := flag.Int("max_uploads", casregistry.DefaultMaxUploads, "upload sessions open at once, in all")
	maxUploadsPerClient := flag.Int("max_uploads_per_client", casregistry.DefaultMaxUploadsPerClient, "upload sessions open at once for one client (user, or IP address without authentication)")
	c.RegisterFlags(flag.CommandLine)
	flag.Parse()
	if *dir == "" {
		return errors.New("--dir is required: the directory that keeps manifests and tags")
	}
	if (*certFile == "") != (*keyFile == "") {
		return errors.New("give both --tls_cert and --tls_key, or neither")
	}
	if *maxUploads < 1 || *maxUploadsPerClient < 1 {
		return errors.New("--max_uploads and --max_uploads_per_client must be 1 or more")
	}
	opts := []casregistry.Option{casregistry.WithUploadLimits(*maxUploads, *maxUploadsPerClient)}
	authenticated := *tokensFile != "" || *htpasswd != ""
	if authenticated {
		a, err := casregistry.ReadAuth(*tokensFile, *htpasswd)
		if err != nil {
			return err
		}
		opts = append(opts, casregistry.WithAuth(a, *authReads))
	} else if *authReads {
		return errors.New("--auth_reads needs --tokens_file or --htpasswd")
	}
	if err := serve.CheckExposure(*addr, authenticated, *allowUnauth, "--htpasswd or --tokens_file"); err != nil {
		return err
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
	srv := &http.Server{Handler: casregistry.New(*dir, store, logger, opts...), ReadHeaderTimeout: 30 * time.Second}
	lis, err := serve.Listen(*addr, *addrFile)
	if err != nil {
		return err
	}
	access := "anyone may read and write"
	switch {
	case authenticated && *authReads:
		access = "reads and writes need credentials"
	case authenticated:
		access = "writes need credentials"
	}
	logger.Printf("serving %s on %s (%s), blobs from %s", *dir, lis.Addr(), access, c.RedactedURL())
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
