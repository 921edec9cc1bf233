// Package serve holds what the servers of this module (bes, cas-registry)
// share: listening with an --addr_file for tests and scripts, and serving
// until SIGINT or SIGTERM.
package serve

import (
	"context"
	"net"
	"os"
	"os/signal"
	"syscall"
)

// SignalContext is done at SIGINT or SIGTERM.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// Listen listens on addr (port 0: any free port) and, if addrFile is set,
// writes the address it got there, so that a script can wait for it.
func Listen(addr, addrFile string) (net.Listener, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if addrFile != "" {
		if err := os.WriteFile(addrFile, []byte(lis.Addr().String()+"\n"), 0o644); err != nil {
			lis.Close()
			return nil, err
		}
	}
	return lis, nil
}

// Until runs serve until it returns, or until ctx is done: then it calls
// stop, which should end serve gracefully, and returns stop's error.
func Until(ctx context.Context, serve, stop func() error) error {
	done := make(chan error, 1)
	go func() { done <- serve() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return stop()
	}
}
