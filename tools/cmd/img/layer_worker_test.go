package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rules-img/rules_img/tools/worker"
)

// TestLayerWorker sends one worker many layer requests, as Bazel does, some
// of them failing: each must write the bytes a process of its own writes,
// and none may leave a goroutine or an open file behind.
func TestLayerWorker(t *testing.T) {
	dir := t.TempDir()
	big := make([]byte, 3<<20) // several compression blocks
	for i := range big {
		big[i] = byte(i * 7 % 251)
	}
	data := write(t, dir, "data.bin", string(big))
	small := write(t, dir, "small.txt", "small")
	entries := []string{"file\t/app/data.bin\t" + data, "file\t/app/small.txt\t" + small, "symlink\t/app/link\tsmall.txt"}
	inputs := write(t, dir, "inputs.txt", strings.Join(entries, "\n")+"\n")
	kinds := map[string][]string{
		"gzip":     {"--compress=gzip", "--jobs=2"},
		"zstd":     {"--compress=zstd"},
		"none":     {"--compress=none"},
		"estargz":  {"--compress=gzip", "--estargz"},
		"chunked":  {"--compress=zstd", "--estargz", "--annotation=a=b"},
		"metadata": {"--compress=gzip", "--metadata=" + write(t, dir, "m.json", `{"default": {"uid": 7}, "paths": {"/app/small.txt": {"mode": "0600"}}}`)},
	}
	out := func(kind, form string) (string, string) {
		p := filepath.Join(dir, kind+"."+form)
		return p, p + ".json"
	}
	// The reference: each layer written as a process of its own writes it.
	for kind, flags := range kinds {
		blobPath, metaPath := out(kind, "process")
		if err := runLayer(append([]string{"--label=//p:" + kind, "--inputs=" + inputs, "--blob=" + blobPath, "--meta=" + metaPath}, flags...)); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
	}

	goroutines, files := runtime.NumGoroutine(), openFiles(t)
	var requests bytes.Buffer
	enc := json.NewEncoder(&requests)
	var want []string // per request: "" for success, else a part of the error
	id := 0
	send := func(args []string, wantErr string) {
		id++
		enc.Encode(worker.Request{Arguments: args, RequestID: id})
		want = append(want, wantErr)
	}
	missing := filepath.Join(dir, "missing")
	for round := range 3 {
		for kind, flags := range kinds {
			blobPath, metaPath := out(kind, "worker")
			send(append(append([]string{"--label=//p:" + kind, "--blob=" + blobPath, "--meta=" + metaPath}, flags...), entries...), "")
			// Failures mid-stream: a source that is gone (after other
			// files were read), an unknown compression.
			failed := filepath.Join(dir, fmt.Sprintf("failed%d", round))
			bad := []string{"--label=//p:bad", "--blob=" + failed, "--meta=" + failed + ".json"}
			send(append(append(bad, flags...), append(entries, "file\t/zz/gone\t"+missing)...), missing)
			send(append(append(bad, flags...), "--compress=lz4", entries[0]), `"lz4"`)
		}
	}
	var responses bytes.Buffer
	if err := worker.Serve(&requests, &responses, "layer", runLayer); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&responses)
	for i, w := range want {
		var r worker.Response
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
		if r.RequestID != i+1 || (w == "") != (r.ExitCode == 0) || !strings.Contains(r.Output, w) {
			t.Errorf("response %+v, want request %d to fail with %q (empty: succeed)", r, i+1, w)
		}
	}
	for kind := range kinds {
		pb, pm := out(kind, "process")
		wb, wm := out(kind, "worker")
		for _, p := range [][2]string{{pb, wb}, {pm, wm}} {
			a, _ := os.ReadFile(p[0])
			b, err := os.ReadFile(p[1])
			if err != nil || !bytes.Equal(a, b) {
				t.Errorf("%s: the worker wrote other bytes than a process (%v)", filepath.Base(p[1]), err)
			}
		}
	}
	for round := range 3 {
		failed := filepath.Join(dir, fmt.Sprintf("failed%d", round))
		for _, p := range []string{failed, failed + ".json"} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("%s exists after failed requests", p)
			}
		}
	}
	// Goroutines end shortly after the request that started them.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after the requests, %d before:\n%s", n, goroutines, buf[:runtime.Stack(buf, true)])
	}
	if n := openFiles(t); n > files {
		t.Errorf("%d open files after the requests, %d before", n, files)
	}
}

func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(fds)
}
