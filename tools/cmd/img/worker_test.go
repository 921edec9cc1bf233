package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rules-img/rules_img/tools/worker"
)

// workerCase is one work request, and what its response must say: "" for
// success, else a part of the error.
type workerCase struct {
	args    []string
	wantErr string
}

// serveAll sends the cases to one worker of run, as Bazel does, and checks
// each response, and that no goroutine or open file is left after them.
func serveAll(t *testing.T, name string, run worker.Run, cases []workerCase) {
	t.Helper()
	goroutines, files := runtime.NumGoroutine(), openFiles(t)
	var requests, responses bytes.Buffer
	enc := json.NewEncoder(&requests)
	for i, c := range cases {
		enc.Encode(worker.Request{Arguments: c.args, RequestID: i + 1})
	}
	if err := worker.Serve(&requests, &responses, name, run); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(&responses)
	for i, c := range cases {
		var r worker.Response
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
		if r.RequestID != i+1 || (c.wantErr == "") != (r.ExitCode == 0) || !strings.Contains(r.Output, c.wantErr) {
			t.Errorf("response %+v to %q, want it to fail with %q (empty: succeed)", r, c.args, c.wantErr)
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

// sameFiles fails unless each pair of files holds the same bytes.
func sameFiles(t *testing.T, pairs ...[2]string) {
	t.Helper()
	for _, p := range pairs {
		a, errA := os.ReadFile(p[0])
		b, errB := os.ReadFile(p[1])
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s and %s differ (%v, %v)", p[0], p[1], errA, errB)
		}
	}
}

// absent fails if any of paths exists.
func absent(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s exists after failed requests", p)
		}
	}
}

// TestLayerWorker: one worker writes many layers, some requests failing.
// Each layer has the bytes a process of its own writes.
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
	out := func(kind, form string) []string {
		p := filepath.Join(dir, kind+"."+form)
		return []string{"--label=//p:" + kind, "--blob=" + p, "--meta=" + p + ".json"}
	}
	failed := filepath.Join(dir, "failed")
	bad := []string{"--label=//p:bad", "--blob=" + failed, "--meta=" + failed + ".json"}
	// The reference: each layer written as a process of its own writes it.
	for kind, flags := range kinds {
		if err := runLayer(append(append(out(kind, "process"), "--inputs="+inputs), flags...)); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
	}
	var cases []workerCase
	for range 3 {
		for kind, flags := range kinds {
			cases = append(cases,
				workerCase{append(append(out(kind, "worker"), flags...), entries...), ""},
				// A source that is gone, after other files were read.
				workerCase{append(append(bad, flags...), append(entries, "file\t/zz/gone\t"+filepath.Join(dir, "gone"))...), "gone"},
				workerCase{append(append(bad, flags...), "--compress=lz4", entries[0]), `"lz4"`})
		}
	}
	serveAll(t, "layer", runLayer, cases)
	for kind := range kinds {
		p, w := filepath.Join(dir, kind+".process"), filepath.Join(dir, kind+".worker")
		sameFiles(t, [2]string{p, w}, [2]string{p + ".json", w + ".json"})
	}
	absent(t, failed, failed+".json")
}

// TestTarLayerWorker: one worker checks and rewrites many tar archives,
// some requests failing. Each result has the bytes of a process's.
func TestTarLayerWorker(t *testing.T) {
	dir := t.TempDir()
	plain := tarOf(t,
		tar.Header{Typeflag: tar.TypeReg, Name: "a", Size: 3 << 20, Mode: 0o644},
		tar.Header{Typeflag: tar.TypeReg, Name: "dir/b", Size: 3 << 20, Mode: 0o644})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	sources := map[string][]string{
		"plain":     {"--src=" + write(t, dir, "src.tar", string(plain)), "--src_compression=none"},
		"gzip":      {"--src=" + write(t, dir, "src.tar.gz", gz.String()), "--src_compression=gzip"},
		"truncated": {"--src=" + write(t, dir, "cut.tar.gz", gz.String()[:gz.Len()/2]), "--src_compression=gzip"},
		"evil": {"--src=" + write(t, dir, "evil.tar", string(tarOf(t,
			tar.Header{Typeflag: tar.TypeReg, Name: "a", Size: 1 << 20, Mode: 0o644},
			tar.Header{Typeflag: tar.TypeSymlink, Name: "x", Linkname: "../../etc", Mode: 0o777}))), "--src_compression=none"},
	}
	rewrites := map[string][]string{
		"kept":    nil,
		"zstd":    {"--compress=zstd", "--parent_directories"},
		"estargz": {"--compress=gzip", "--estargz", "--deduplicate", "--annotation=k=v"},
	}
	wantErr := map[string]string{"truncated": "unexpected EOF", "evil": "leaves the image root"}
	args := func(src, rewrite, form string) []string {
		p := filepath.Join(dir, src+"-"+rewrite+"."+form)
		a := append([]string{"--label=//p:" + src, "--meta=" + p + ".json"}, sources[src]...)
		if rewrite != "kept" {
			a = append(append(a, "--blob="+p), rewrites[rewrite]...)
		}
		return a
	}
	for src := range sources {
		for rewrite := range rewrites {
			if wantErr[src] == "" {
				if err := runTarLayer(args(src, rewrite, "process")); err != nil {
					t.Fatalf("%s %s: %v", src, rewrite, err)
				}
			}
		}
	}
	var cases []workerCase
	for range 3 {
		for src := range sources {
			for rewrite := range rewrites {
				cases = append(cases, workerCase{args(src, rewrite, "worker"), wantErr[src]})
			}
		}
	}
	serveAll(t, "tar-layer", runTarLayer, cases)
	for src := range sources {
		for rewrite := range rewrites {
			p, w := filepath.Join(dir, src+"-"+rewrite+".process"), filepath.Join(dir, src+"-"+rewrite+".worker")
			if wantErr[src] != "" {
				absent(t, w, w+".json")
				continue
			}
			sameFiles(t, [2]string{p + ".json", w + ".json"})
			if rewrite != "kept" {
				sameFiles(t, [2]string{p, w})
			}
		}
	}
}
