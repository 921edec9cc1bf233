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
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"google.golang.org/grpc"

	"github.com/rules-img/rules_img/tools/bes"
	"github.com/rules-img/rules_img/tools/cas"
)

type headers map[string]string

func (h headers) String() string { return fmt.Sprint(len(h), " headers") }

func (h headers) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("--remote_header %q: want Name=Value", v)
	}
	h[k] = val
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "bes: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	c := cas.ConfigFromEnv()
	if c.Headers == nil {
		c.Headers = map[string]string{}
	}
	addr := flag.String("addr", "127.0.0.1:8980", "host:port to serve the Build Event Service on (port 0: any free port)")
	addrFile := flag.String("addr_file", "", "write the address served on to this file once listening")
	registry := flag.String("registry", "", "push to this registry instead of each target's (a mirror, or a test)")
	flag.StringVar(&c.URL, "remote_cache", c.URL, "the cache Bazel builds with, as its --remote_cache; default $"+cas.EndpointEnv)
	flag.StringVar(&c.InstanceName, "remote_instance_name", c.InstanceName, "REAPI instance name; default $"+cas.InstanceNameEnv)
	flag.StringVar(&c.CredentialHelper, "credential_helper", c.CredentialHelper, "credential helper for the cache, as Bazel's; default $"+cas.CredentialHelperEnv)
	flag.StringVar(&c.TLSCertificate, "tls_certificate", c.TLSCertificate, "PEM file of CAs to trust for the cache; default $"+cas.TLSCertificateEnv)
	flag.Var(headers(c.Headers), "remote_header", "Name=Value header for the cache (repeatable)")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
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
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(lis.Addr().String()+"\n"), 0o644); err != nil {
			return err
		}
	}
	logger.Printf("serving on %s, files and blobs from %s", lis.Addr(), redacted(c.URL))
	done := make(chan error, 1)
	go func() { done <- g.Serve(lis) }()
	select {
	case err := <-done:
		if errors.Is(err, grpc.ErrServerStopped) {
			err = nil
		}
		return err
	case <-ctx.Done():
		g.GracefulStop()
		svc.Wait()
		return nil
	}
}

// redacted hides a password in a URL, for the log.
func redacted(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	return raw
}
