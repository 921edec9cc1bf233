package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/generator"
	"github.com/rules-img/rules_img/tools/pull"
)

func readNeeds(t *testing.T, path string) []pull.Need {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var needs []pull.Need
	if err := json.Unmarshal(data, &needs); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return needs
}

// With --missing, fetch-image reads only the repository and lists what
// Bazel's downloader is to fetch; nothing is written but that list.
func TestFetchImageMissing(t *testing.T) {
	repo := t.TempDir()
	digest := "sha256:" + strings.Repeat("1", 64)
	spec, _ := json.Marshal(generator.Fetch{
		Kind: generator.FetchIndex, Registries: []string{"127.0.0.1:1"}, Repository: "x/y",
		Downloader: "bazel", Digest: digest, Manifests: []string{"sha256:" + strings.Repeat("2", 64)},
	})
	specFile := filepath.Join(t.TempDir(), "fetch.json")
	if err := os.WriteFile(specFile, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.json")
	if err := runFetchImage([]string{"--spec", specFile, "--out", repo, "--missing", missing}); err != nil {
		t.Fatal(err)
	}
	want := []pull.Need{{Kind: pull.KindManifest, Digest: digest, Path: generator.BlobFile(digest)}}
	if got := readNeeds(t, missing); !reflect.DeepEqual(got, want) {
		t.Errorf("missing = %+v, want %+v", got, want)
	}
	if entries, _ := os.ReadDir(repo); len(entries) != 0 {
		t.Errorf("the repository has %v", entries)
	}
}

func TestReportMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.json")
	if err := reportMissing(path, nil); err != nil {
		t.Fatal(err)
	}
	if got := readNeeds(t, path); len(got) != 0 {
		t.Errorf("complete: %+v", got)
	}
	other := errors.New("boom")
	if err := reportMissing(path, other); err != other {
		t.Errorf("another error: %v", err)
	}
	if err := reportMissing("", other); err != other {
		t.Errorf("without --missing: %v", err)
	}
}
