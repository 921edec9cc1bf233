package layer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/rules-img/rules_img/tools/blob"
	"github.com/rules-img/rules_img/tools/compress"
)

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func decompress(t *testing.T, a compress.Algorithm, data []byte) []byte {
	t.Helper()
	var r io.Reader = bytes.NewReader(data)
	switch a {
	case compress.Gzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case compress.Zstd:
		zr, err := zstd.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decompressing %s blob: %v", a, err)
	}
	return out
}

var algorithms = []compress.Algorithm{compress.Gzip, compress.Zstd, compress.None}

func buildBlob(t *testing.T, inputs []Input, meta MetadataSpec, opts compress.Options) (blob.LayerMetadata, []byte) {
	t.Helper()
	entries, err := Plan(inputs, meta)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	path := filepath.Join(t.TempDir(), "layer.blob")
	lm, err := Build(entries, opts, path)
	if err != nil {
		t.Fatalf("Build(%+v): %v", opts, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return lm, data
}

func TestBuildMetadata(t *testing.T) {
	src := t.TempDir()
	big := writeSource(t, src, "big", strings.Repeat("rules_img layer ", 300000), 0o644) // several MiB
	exe := writeSource(t, src, "exe", "#!/bin/sh\n", 0o755)
	copyOfExe := writeSource(t, src, "exe2", "#!/bin/sh\n", 0o755)
	inputs := []Input{
		{Kind: KindFile, Path: "/data/big", Source: big},
		{Kind: KindFile, Path: "/bin/exe", Source: exe},
		{Kind: KindFile, Path: "/bin/exe2", Source: copyOfExe},
		{Kind: KindSymlink, Path: "/bin/sh", Target: "exe"},
	}
	entries, err := Plan(inputs, MetadataSpec{})
	if err != nil {
		t.Fatal(err)
	}
	var tarStream bytes.Buffer
	if err := WriteTar(&tarStream, entries); err != nil {
		t.Fatal(err)
	}
	for _, a := range algorithms {
		for _, jobs := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/jobs%d", a, jobs), func(t *testing.T) {
				lm, data := buildBlob(t, inputs, MetadataSpec{}, compress.Options{Algorithm: a, Level: compress.DefaultLevel, Jobs: jobs})
				if err := lm.Validate(); err != nil {
					t.Errorf("metadata %+v does not validate: %v", lm, err)
				}
				if lm.MediaType != a.MediaType() {
					t.Errorf("media type %q, want %q", lm.MediaType, a.MediaType())
				}
				if want := sha256Hex(data); lm.Digest != want {
					t.Errorf("digest %s, but the blob file hashes to %s", lm.Digest, want)
				}
				if lm.Size != int64(len(data)) {
					t.Errorf("size %d, but the blob file has %d bytes", lm.Size, len(data))
				}
				uncompressed := decompress(t, a, data)
				if want := sha256Hex(uncompressed); lm.DiffID != want {
					t.Errorf("diff_id %s, but the decompressed stream hashes to %s", lm.DiffID, want)
				}
				if !bytes.Equal(uncompressed, tarStream.Bytes()) {
					t.Errorf("decompressed blob (%d bytes) differs from WriteTar's stream (%d bytes)", len(uncompressed), tarStream.Len())
				}
				if a == compress.None && lm.Digest != lm.DiffID {
					t.Errorf("uncompressed layer: digest %s != diff_id %s", lm.Digest, lm.DiffID)
				}
				if a != compress.None && (lm.Digest == lm.DiffID || lm.Size >= int64(len(uncompressed))) {
					t.Errorf("%s layer looks uncompressed: size %d of %d", a, lm.Size, len(uncompressed))
				}
				if lm.Annotations != nil {
					t.Errorf("unexpected annotations %v", lm.Annotations)
				}
			})
		}
	}
}

func TestBuildEmptyLayer(t *testing.T) {
	for _, a := range algorithms {
		lm, data := buildBlob(t, nil, MetadataSpec{}, compress.Options{Algorithm: a, Level: compress.DefaultLevel})
		tarData := decompress(t, a, data)
		if got := readTar(t, tarData); len(got) != 0 {
			t.Errorf("%s: empty layer has entries %q", a, names(got))
		}
		// An empty tar is its two zero blocks.
		if !bytes.Equal(tarData, make([]byte, 1024)) {
			t.Errorf("%s: empty layer is %d bytes, want 1024 zero bytes", a, len(tarData))
		}
		if lm.DiffID != sha256Hex(tarData) || lm.Digest != sha256Hex(data) {
			t.Errorf("%s: wrong digests for the empty layer: %+v", a, lm)
		}
	}
}

func TestBuildErrorRemovesBlob(t *testing.T) {
	for _, tc := range []struct {
		name string
		// setup returns the entries to build and the options; it may
		// change the sources after planning.
		setup func(t *testing.T, src string) ([]Entry, compress.Options)
		want  []string
	}{
		{
			name: "source removed after planning",
			setup: func(t *testing.T, src string) ([]Entry, compress.Options) {
				f := writeSource(t, src, "f", "content", 0o644)
				entries := mustPlan(t, Input{Kind: KindFile, Path: "/app/f", Source: f})
				os.Remove(f)
				return entries, compress.Options{Algorithm: compress.Gzip, Level: compress.DefaultLevel, Jobs: 2}
			},
			want: []string{"/app/f", "no such file"},
		},
		{
			name: "source removed before it is hashed for a hardlink",
			setup: func(t *testing.T, src string) ([]Entry, compress.Options) {
				f := writeSource(t, src, "f", "same", 0o644)
				g := writeSource(t, src, "g", "same", 0o644)
				entries := mustPlan(t, Input{Kind: KindFile, Path: "/a", Source: f}, Input{Kind: KindFile, Path: "/b", Source: g})
				os.Remove(f)
				return entries, compress.Options{Algorithm: compress.Zstd, Level: compress.DefaultLevel, Jobs: 2}
			},
			want: []string{"/a", "no such file"},
		},
		{
			name: "source shrank",
			setup: func(t *testing.T, src string) ([]Entry, compress.Options) {
				f := writeSource(t, src, "f", strings.Repeat("x", 100000), 0o644)
				entries := mustPlan(t, Input{Kind: KindFile, Path: "/app/f", Source: f})
				os.WriteFile(f, []byte("short"), 0o644)
				return entries, compress.Options{Algorithm: compress.None, Level: compress.DefaultLevel}
			},
			want: []string{"/app/f", "shrank"},
		},
		{
			name: "invalid level",
			setup: func(t *testing.T, src string) ([]Entry, compress.Options) {
				return mustPlan(t, Input{Kind: KindFile, Path: "/e"}), compress.Options{Algorithm: compress.Gzip, Level: 12}
			},
			want: []string{"gzip level 12"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := t.TempDir()
			entries, opts := tc.setup(t, src)
			out := filepath.Join(t.TempDir(), "layer.tar.gz")
			// A stale blob from an earlier run must not survive a failure.
			if err := os.WriteFile(out, []byte("stale"), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Build(entries, opts, out)
			wantErr(t, err, tc.want...)
			if _, statErr := os.Stat(out); !errors.Is(statErr, fs.ErrNotExist) {
				t.Errorf("blob %s still exists after the error (stat: %v)", out, statErr)
			}
		})
	}
}

func TestBuildUnwritableBlob(t *testing.T) {
	out := filepath.Join(t.TempDir(), "no", "such", "dir", "layer.tar")
	_, err := Build(nil, compress.Options{Algorithm: compress.None, Level: compress.DefaultLevel}, out)
	wantErr(t, err, out)
}

func mustPlan(t *testing.T, inputs ...Input) []Entry {
	t.Helper()
	entries, err := Plan(inputs, MetadataSpec{})
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// sourceVariant describes how the files on disk differ between two copies
// of the same sources: everything here must not show in the layer.
type sourceVariant struct {
	dir          string
	filePerm     os.FileMode // non-executable files
	execPerm     os.FileMode
	dirPerm      os.FileMode
	mtime        time.Time
	uid, gid     int // -1 to keep
	reverseInput bool
}

// makeSources writes the same tree of sources under v.dir, with v's
// permissions, times and owners, and returns the layer inputs.
func makeSources(t *testing.T, v sourceVariant) []Input {
	t.Helper()
	files := map[string]string{
		"bin/server":                       "#!/bin/sh\nexec server\n",
		"bin/server-copy":                  "#!/bin/sh\nexec server\n",
		"etc/config.json":                  `{"a": 1}`,
		"etc/config-copy.json":             `{"a": 1}`,
		"tree/nested/deep/file":            "deep",
		"tree/top":                         "top",
		"big":                              strings.Repeat("0123456789", 50000),
		"long/" + strings.Repeat("n", 150): "long name",
	}
	var paths []string
	for rel := range files {
		paths = append(paths, rel)
	}
	slices.Sort(paths)
	for _, rel := range paths {
		perm := v.filePerm
		if strings.HasPrefix(rel, "bin/") {
			perm = v.execPerm
		}
		writeSource(t, v.dir, rel, files[rel], perm)
	}
	for _, d := range []string{"tree/empty", "tree/nested/empty"} {
		if err := os.MkdirAll(filepath.Join(v.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Times, owners and directory modes last, deepest first.
	err := filepath.WalkDir(v.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if v.uid >= 0 {
			if err := os.Lchown(p, v.uid, v.gid); err != nil {
				t.Logf("cannot chown (%v): the owner part of the check is skipped", err)
				v.uid = -1
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	filepath.WalkDir(v.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			dirs = append(dirs, p)
		}
		return nil
	})
	slices.Reverse(dirs)
	for _, p := range dirs {
		if err := os.Chtimes(p, v.mtime, v.mtime); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range dirs {
		if info, err := os.Stat(p); err == nil && info.IsDir() && p != v.dir {
			if err := os.Chmod(p, v.dirPerm); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(func() {
		// Let t.TempDir remove directories whose mode was narrowed.
		filepath.WalkDir(v.dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})

	s := func(rel string) string { return filepath.Join(v.dir, filepath.FromSlash(rel)) }
	inputs := []Input{
		{Kind: KindFile, Path: "/usr/bin/server", Source: s("bin/server")},
		{Kind: KindFile, Path: "/usr/bin/server2", Source: s("bin/server-copy")},
		{Kind: KindFile, Path: "/etc/app/config.json", Source: s("etc/config.json")},
		{Kind: KindFile, Path: "/etc/app/config2.json", Source: s("etc/config-copy.json")},
		{Kind: KindFile, Path: "/opt/tree", Source: s("tree")},
		{Kind: KindFile, Path: "/var/lib/big", Source: s("big")},
		{Kind: KindFile, Path: "/var/lib/big-again", Source: s("big")},
		{Kind: KindFile, Path: "/" + strings.Repeat("p", 120) + "/" + strings.Repeat("q", 150), Source: s("long/" + strings.Repeat("n", 150))},
		{Kind: KindFile, Path: "/var/empty"},
		{Kind: KindSymlink, Path: "/usr/bin/sh", Target: "server"},
	}
	if v.reverseInput {
		slices.Reverse(inputs)
	}
	return inputs
}

// TestBuildDeterministic builds the same layer twice from the same sources,
// and from a second copy of the sources that differs in everything a layer
// must not depend on: location, input order, mtimes, owners, and permission
// bits other than the executable bit.
func TestBuildDeterministic(t *testing.T) {
	uid := -1
	if os.Geteuid() == 0 {
		uid = 4321
	}
	v1 := sourceVariant{
		dir: t.TempDir(), filePerm: 0o644, execPerm: 0o755, dirPerm: 0o755,
		mtime: time.Date(2001, 2, 3, 4, 5, 6, 789, time.UTC), uid: -1, gid: -1,
	}
	v2 := sourceVariant{
		dir: filepath.Join(t.TempDir(), "elsewhere", "deeper"), filePerm: 0o600, execPerm: 0o711, dirPerm: 0o700,
		mtime: time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC), uid: uid, gid: uid + 1, reverseInput: true,
	}
	in1, in2 := makeSources(t, v1), makeSources(t, v2)
	meta := MetadataSpec{
		Default: FileMetadata{UID: ptr(1000), Uname: ptr("app")},
		Paths:   map[string]FileMetadata{"/etc/app": {Mode: ptr("0750")}},
	}
	for _, a := range algorithms {
		t.Run(string(a), func(t *testing.T) {
			opts := compress.Options{Algorithm: a, Level: compress.DefaultLevel, Jobs: 2}
			m1, b1 := buildBlob(t, in1, meta, opts)
			m1again, b1again := buildBlob(t, in1, meta, opts)
			opts.Jobs = 4
			m2, b2 := buildBlob(t, in2, meta, opts)
			if !bytes.Equal(b1, b1again) || !reflect.DeepEqual(m1, m1again) {
				t.Errorf("two builds of the same sources differ: %s vs %s", m1.Digest, m1again.Digest)
			}
			if !bytes.Equal(b1, b2) || !reflect.DeepEqual(m1, m2) {
				t.Errorf("sources differing only in location, order, mtime, owner and permissions give different layers: %s vs %s",
					m1.Digest, m2.Digest)
				diffTars(t, decompress(t, a, b1), decompress(t, a, b2))
			}
		})
	}
	// The layer is not trivially empty: it holds what makeSources wrote.
	_, b := buildBlob(t, in1, meta, compress.Options{Algorithm: compress.None, Level: compress.DefaultLevel})
	got := byName(t, readTar(t, b))
	for _, name := range []string{"usr/bin/server", "opt/tree/nested/empty", "var/lib/big-again", "etc/app"} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s is missing from the layer", name)
		}
	}
	if e := got["usr/bin/server"]; e.hdr.Mode != 0o755 || e.hdr.Uid != 1000 || e.hdr.Uname != "app" {
		t.Errorf("usr/bin/server: mode %o uid %d uname %q, want 755 1000 app", e.hdr.Mode, e.hdr.Uid, e.hdr.Uname)
	}
}

// diffTars logs the first header that differs, to make a failure readable.
func diffTars(t *testing.T, a, b []byte) {
	t.Helper()
	ea, eb := readTar(t, a), readTar(t, b)
	for i := 0; i < min(len(ea), len(eb)); i++ {
		ha, hb := *ea[i].hdr, *eb[i].hdr
		if ha.Name != hb.Name || ha.Mode != hb.Mode || ha.Uid != hb.Uid || !ha.ModTime.Equal(hb.ModTime) ||
			ha.Typeflag != hb.Typeflag || ha.Linkname != hb.Linkname || ea[i].content != eb[i].content {
			t.Logf("first difference at entry %d:\n  %+v\n  %+v", i, ha, hb)
			return
		}
	}
	t.Logf("entry counts: %d vs %d", len(ea), len(eb))
}
