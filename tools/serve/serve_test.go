package serve

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListenWritesTheAddress(t *testing.T) {
	file := filepath.Join(t.TempDir(), "addr")
	lis, err := Listen("127.0.0.1:0", file)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	data, err := os.ReadFile(file)
	if err != nil || strings.TrimSpace(string(data)) != lis.Addr().String() {
		t.Errorf("addr file %q, %v; listening on %s", data, err, lis.Addr())
	}
}

func TestUntilStopsWhenTheContextIsDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	cancel()
	err := Until(ctx, func() error { <-stopped; return nil }, func() error { close(stopped); return errors.New("stopped") })
	if err == nil || err.Error() != "stopped" {
		t.Errorf("Until = %v, want stop's error", err)
	}
	boom := errors.New("boom")
	if err := Until(context.Background(), func() error { return boom }, nil); err != boom {
		t.Errorf("Until = %v, want serve's error", err)
	}
}
