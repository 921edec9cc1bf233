// Command bes is a Build Event Service that pushes the images of the push
// targets (push strategy "bes") of every successful build Bazel streams to
// it, with their files and blobs read from the remote cache (see package
// bes and docs/guides/push-bes.md).
//
//	bes --addr 127.0.0.1:8980 --remote_cache grpcs://cache.example.com --allow_push registry.example.com/team
//	bazel build --bes_backend=grpc://127.0.0.1:8980 --remote_cache=grpcs://cache.example.com //...
//
// On a shared network it serves TLS (--tls_cert, --tls_key) and admits
// only clients with a token of --tokens_file or a certificate of
// --client_ca; it refuses to listen elsewhere than on loopback without
// either, unless --allow_unauthenticated.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

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
	var allow bes.AllowList
	limits := bes.DefaultLimits
	addr := flag.String("addr", "127.0.0.1:8980", "host:port to serve the Build Event Service on (port 0: any free port)")
	addrFile := flag.String("addr_file", "", "write the address served on to this file once listening")
	registry := flag.String("registry", "", "push to this registry instead of each target's (a mirror, or a test); --allow_push applies to it")
	tlsCert := flag.String("tls_cert", "", "serve TLS with this certificate (PEM; with --tls_key)")
	tlsKey := flag.String("tls_key", "", "the private key of --tls_cert (PEM)")
	clientCA := flag.String("client_ca", "", "admit clients with a certificate signed by these CAs (PEM; mTLS, needs --tls_cert); without --tokens_file, clients must present one")
	tokensFile := flag.String("tokens_file", "", "admit clients that send one of these bearer tokens (one a line; Bazel: --bes_header=Authorization=\"Bearer TOKEN\")")
	allowUnauthenticated := flag.Bool("allow_unauthenticated", false, "serve a non-loopback --addr without --tokens_file or --client_ca: anyone who can reach it can make it push")
	flag.Var(&allow, "allow_push", "push only to REGISTRY or REGISTRY/REPOSITORY-PREFIX (repeated); none: every push is refused")
	flag.IntVar(&limits.Invocations, "max_invocations", limits.Invocations, "invocations tracked at once; past it the one idle the longest is dropped")
	flag.IntVar(&limits.FileSets, "max_file_sets", limits.FileSets, "named sets of files one invocation may send; past it the invocation is dropped")
	flag.Int64Var(&limits.Bytes, "max_invocation_bytes", limits.Bytes, "about how many bytes of files and targets one invocation may hold; past it the invocation is dropped")
	flag.DurationVar(&limits.Idle, "invocation_idle_timeout", limits.Idle, "drop an invocation that sends no event for this long")
	c.RegisterFlags(flag.CommandLine)
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}

	auth := bes.Authenticator{ClientCerts: *clientCA != ""}
	if *tokensFile != "" {
		tokens, err := serve.LoadTokens(*tokensFile)
		if err != nil {
			return err
		}
		auth.Tokens = tokens
	}
	authenticated := auth.Tokens != nil || auth.ClientCerts
	if err := serve.CheckExposure(*addr, authenticated, *allowUnauthenticated, "--tokens_file or --client_ca (and --tls_cert, --tls_key)"); err != nil {
		return err
	}
	// A client CA alone: a client without a certificate is refused in the
	// handshake. With tokens too, either admits.
	tlsConfig, err := serve.TLSConfig(*tlsCert, *tlsKey, *clientCA, auth.Tokens == nil)
	if err != nil {
		return err
	}
	var opts []grpc.ServerOption
	if tlsConfig != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConfig)))
	}
	if authenticated {
		opts = append(opts, auth.ServerOptions()...)
	}

	ctx, stop := serve.SignalContext()
	defer stop()
	store, err := cas.Dial(ctx, c)
	if err != nil {
		return err
	}
	logger := log.New(os.Stderr, "bes: ", log.LstdFlags)
	if tlsConfig == nil && auth.Tokens != nil && !serve.Loopback(*addr) {
		logger.Printf("warning: no --tls_cert: the bearer tokens cross the network in the clear")
	}
	if len(allow) == 0 {
		logger.Printf("no --allow_push: every push will be refused; add --allow_push REGISTRY/REPOSITORY-PREFIX for each place to push to")
	}
	pusher := bes.CachePusher{Cache: store, Registry: *registry, Allow: allow, Log: logger.Printf}
	// Pushes outlive a stop signal: they finish before the server exits.
	svc := bes.New(context.WithoutCancel(ctx), pusher, logger, limits)
	g := grpc.NewServer(opts...)
	svc.Register(g)
	lis, err := serve.Listen(*addr, *addrFile)
	if err != nil {
		return err
	}
	security := "no TLS"
	if tlsConfig != nil {
		security = "TLS"
	}
	switch {
	case auth.Tokens != nil && auth.ClientCerts:
		security += ", bearer tokens or client certificates"
	case auth.Tokens != nil:
		security += ", bearer tokens"
	case auth.ClientCerts:
		security += ", client certificates"
	default:
		security += ", no authentication"
	}
	to := allow.String()
	if to == "" {
		to = "nowhere (no --allow_push)"
	}
	logger.Printf("serving on %s (%s), pushing to %s, files and blobs from %s", lis.Addr(), security, to, c.RedactedURL())
	return serve.Until(ctx, func() error { return g.Serve(lis) }, func() error {
		g.GracefulStop()
		svc.Wait()
		return nil
	})
}
