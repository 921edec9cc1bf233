package structuretest

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/tools/listing"
)

type entry struct {
	name, body, link string
	typ              byte
	mode             int64
	uid              int
}

// writeLayer writes a gzip layer blob and its listing.
func writeLayer(t *testing.T, dir, name string, entries []entry) Layer {
	t.Helper()
	blob := filepath.Join(dir, name+".tar.gz")
	f, err := os.Create(blob)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Linkname: e.link, Size: int64(len(e.body))}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	zw.Close()
	f.Close()
	l := Layer{Listing: filepath.Join(dir, name+".listing")}
	if err := listing.Write(blob, l.Listing); err != nil {
		t.Fatal(err)
	}
	return l
}

// blobOf is the blob writeLayer wrote beside the listing.
func blobOf(l Layer) string { return strings.TrimSuffix(l.Listing, ".listing") + ".tar.gz" }

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func testImage(t *testing.T) (Image, string) {
	dir := t.TempDir()
	base := writeLayer(t, dir, "base", []entry{
		{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		{name: "etc/os-release", typ: tar.TypeReg, mode: 0o644, body: "ID=debian\nVERSION_ID=12\n"},
		{name: "etc/secret", typ: tar.TypeReg, mode: 0o600, body: "x"},
		{name: "var/cache/apt/pkg.bin", typ: tar.TypeReg, mode: 0o644, body: "cache"},
		{name: "bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "bin/sh", typ: tar.TypeReg, mode: 0o755, body: "#!shell"},
	})
	app := writeLayer(t, dir, "app", []entry{
		{name: "etc/.wh.secret", typ: tar.TypeReg},
		{name: "var/cache/apt/.wh..wh..opq", typ: tar.TypeReg},
		{name: "app/", typ: tar.TypeDir, mode: 0o755, uid: 1000},
		{name: "app/server", typ: tar.TypeReg, mode: 0o4755, uid: 1000, body: "hello from the server"},
		{name: "app/copy", typ: tar.TypeLink, link: "app/server"},
		{name: "usr/bin/server", typ: tar.TypeSymlink, mode: 0o777, link: "../../app/server"},
		{name: "lib", typ: tar.TypeSymlink, mode: 0o777, link: "/app"},
	})
	config := writeFile(t, dir, "config.json", `{"architecture":"amd64","os":"linux","config":{
	  "Env":["PATH=/usr/bin:/bin","APP_HOME=/app"],"Entrypoint":["/app/server"],"Cmd":["--port=8080"],
	  "WorkingDir":"/app","User":"1000","Labels":{"version":"1.2.3"},
	  "ExposedPorts":{"8080/tcp":{}},"Volumes":{"/data":{}}},
	  "rootfs":{"type":"layers","diff_ids":[]}}`)
	return Image{Platform: "linux/amd64", Config: config, Layers: []Layer{base, app}}, dir
}

func run(t *testing.T, img Image, dir, yaml string) map[string][]string {
	t.Helper()
	c, err := ReadConfig(writeFile(t, dir, "test.yaml", yaml))
	if err != nil {
		t.Fatal(err)
	}
	// As the rule does: plan, one extraction per layer, then the test.
	plan, err := Plan(img, []*Config{c})
	if err != nil {
		t.Fatal(err)
	}
	img.Layers = slices.Clone(img.Layers)
	for i := range img.Layers {
		img.Layers[i].Contents = filepath.Join(dir, fmt.Sprintf("contents%d.json", i))
		if err := ExtractContents(plan[i], blobOf(img.Layers[i]), img.Layers[i].Contents); err != nil {
			t.Fatal(err)
		}
	}
	results, err := Run(img, []*Config{c})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, r := range results {
		out[r.Name] = r.Errors
	}
	return out
}

func TestPassing(t *testing.T) {
	img, dir := testImage(t)
	got := run(t, img, dir, `
schemaVersion: 2.0.0
metadataTest:
  envVars:
    - key: PATH
      value: /usr/bin:/bin
    - key: APP_HOME
      value: "^/a.p$"
      isRegex: true
  labels:
    - key: version
      value: 1.2.3
  entrypoint: ["/app/server"]
  cmd: ["--port=8080"]
  workdir: /app
  user: "1000"
  exposedPorts: ["8080", "8080/tcp"]
  unexposedPorts: ["9090"]
  volumes: ["/data"]
fileExistenceTests:
  - name: server
    path: /app/server
    permissions: "urwxr-xr-x"
    uid: 1000
    gid: 0
    isExecutableBy: other
  - name: env in path
    path: $APP_HOME/server
  - name: whited out
    path: /etc/secret
    shouldExist: false
  - name: opaque directory
    path: /var/cache/apt/pkg.bin
    shouldExist: false
  - name: the opaque directory stays
    path: /var/cache/apt
  - name: symlink itself
    path: /usr/bin/server
    permissions: Lrwxrwxrwx
  - name: implied parent
    path: /usr/bin
    permissions: drwxr-xr-x
  - name: through a symlinked directory
    path: /lib/server
fileContentTests:
  - name: os-release
    path: /etc/os-release
    expectedContents: ["ID=debian"]
    excludedContents: ["ID=ubuntu"]
  - name: through a symlink
    path: /usr/bin/server
    expectedContents: ["^hello from"]
  - name: hardlink
    path: /app/copy
    expectedContents: ["server$"]
`)
	for name, errs := range got {
		if len(errs) > 0 {
			t.Errorf("%s: %v", name, errs)
		}
	}
	if len(got) != 12 {
		t.Errorf("%d results, want 12: %v", len(got), got)
	}
}

func TestFailingNamesPathExpectedAndFound(t *testing.T) {
	img, dir := testImage(t)
	got := run(t, img, dir, `
schemaVersion: 2.0.0
metadataTest:
  env:
    - key: PATH
      value: /bin
    - key: MISSING
      value: x
  entrypoint: ["/bin/sh"]
  workdir: /
fileExistenceTests:
  - name: secret gone
    path: /etc/secret
  - name: os-release mode
    path: /etc/os-release
    permissions: "-rwxr-xr-x"
    uid: 5
  - name: not executable
    path: /etc/os-release
    isExecutableBy: any
  - name: should not exist
    path: /bin/sh
    shouldExist: false
fileContentTests:
  - name: wrong content
    path: /etc/os-release
    expectedContents: ["ID=alpine"]
    excludedContents: ["VERSION_ID=\\d+"]
  - name: a directory
    path: /etc
    expectedContents: ["x"]
`)
	want := map[string][]string{
		"Metadata Test": {`env PATH: expected "/bin", found "/usr/bin:/bin"`, "env MISSING: expected \"x\", found no such variable (the image has APP_HOME, PATH)",
			`entrypoint: expected ["/bin/sh"], found ["/app/server"]`, `workdir: expected "/", found "/app"`},
		"File Existence Test: secret gone":      {"/etc/secret: expected to exist, found nothing at /etc/secret"},
		"File Existence Test: os-release mode":  {"/etc/os-release: expected permissions -rwxr-xr-x, found -rw-r--r--", "/etc/os-release: expected uid 5, found 0"},
		"File Existence Test: not executable":   {"/etc/os-release: expected to be executable by any, found permissions -rw-r--r--"},
		"File Existence Test: should not exist": {"/bin/sh: expected not to exist, found a file (layer 0)"},
		"File Content Test: wrong content": {`/etc/os-release: expected contents matching /ID=alpine/, found "ID=debian\nVERSION_ID=12\n"`,
			`/etc/os-release: expected no contents matching /VERSION_ID=\d+/, found "VERSION_ID=12"`},
		"File Content Test: a directory": {"/etc: expected a file, found a dir at /etc"},
	}
	for name, w := range want {
		if strings.Join(got[name], "\n") != strings.Join(w, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", name, got[name], w)
		}
	}
}

// A content test reads only the layers that hold its files: the other
// blob may be missing, and the plan names no file of it.
func TestContentReadsOnlyTheLayerThatHoldsTheFile(t *testing.T) {
	img, dir := testImage(t)
	if err := os.Remove(blobOf(img.Layers[1])); err != nil {
		t.Fatal(err)
	}
	got := run(t, img, dir, "schemaVersion: 2.0.0\nfileContentTests:\n  - {name: base file, path: /etc/os-release, expectedContents: [debian]}\n")
	if errs := got["File Content Test: base file"]; len(errs) > 0 {
		t.Errorf("%v", errs)
	}
	c, _ := ReadConfig(filepath.Join(dir, "test.yaml"))
	plan, err := Plan(img, []*Config{c})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(plan) != "[[etc/os-release] []]" {
		t.Errorf("plan %q, want etc/os-release of the base and nothing of the other layer", plan)
	}
}

func TestReadConfigRefuses(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ yaml, want string }{
		{"schemaVersion: 1.0.0\n", `schemaVersion "1.0.0": only 2.0.0 is supported`},
		{"schemaVersion: 2.0.0\ncommandTests:\n  - name: x\n    command: ls\n", "commandTests run a container, which image_structure_test never does: move them to an image_run_test"},
		{"schemaVersion: 2.0.0\nlicenseTests:\n  - debian: true\n", "licenseTests scan"},
		{"schemaVersion: 2.0.0\nfileExistenceTests:\n  - name: x\n    path: /x\n    isExecutableBy: everyone\n", `isExecutableBy "everyone" is not any, owner, group or other`},
		{"schemaVersion: 2.0.0\nfileExistenceTest: []\n", `unknown field "fileExistenceTest"`},
		{"schemaVersion: 2.0.0\nfileContentTests:\n  - name: x\n    path: /x\n    expectedContents: ['(']\n", "fileContentTests[0] (x): error parsing regexp"},
		{"schemaVersion: 2.0.0\nfileExistenceTests:\n  - path: /x\n", "fileExistenceTests[0] needs a name and a path"},
	} {
		p := writeFile(t, dir, "c.yaml", tc.yaml)
		_, err := ReadConfig(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%q: %v, want %q naming the file", tc.yaml, err, tc.want)
		}
	}
	// JSON is YAML too.
	if _, err := ReadConfig(writeFile(t, dir, "c.json", `{"schemaVersion": "2.0.0", "metadataTest": {"cmd": []}}`)); err != nil {
		t.Errorf("JSON config: %v", err)
	}
}
