// Package deploy turns the files that Bazel built (manifests, configs,
// layer metadata and blobs, listed in a spec in the runfiles) into
// go-containerregistry images and indexes, for push and load.
//
// Layers of shallow-pulled base images have no local blob: they are read
// from their source registry, as a stream, when a deploy needs them.
package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Spec is what a deploy rule writes for one image.
type Spec struct {
	// WorkspaceName is the main repository's directory in runfiles.
	WorkspaceName string `json:"workspace_name"`
	// Index is the index file of a multi-platform image; empty for a
	// single manifest.
	Index string `json:"index,omitempty"`
	// Manifests are the image's manifests; one unless Index is set.
	Manifests []ManifestFiles `json:"manifests"`
}

// ManifestFiles are one manifest's files, as runfiles short paths.
type ManifestFiles struct {
	Manifest   string       `json:"manifest"`
	Config     string       `json:"config"`
	Descriptor string       `json:"descriptor"`
	Layers     []LayerFiles `json:"layers"`
}

// LayerFiles are a layer's metadata and, for layers built here, its blob.
type LayerFiles struct {
	Metadata string `json:"metadata"`
	Blob     string `json:"blob,omitempty"`
}

// ReadSpec reads a spec and resolves its paths against the runfiles root.
func ReadSpec(path, runfilesRoot string) (Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Spec{}, err
	}
	s, err := ParseSpec(data, path)
	if err != nil {
		return s, err
	}
	r := resolver{root: runfilesRoot, workspace: s.WorkspaceName}
	s.Index = r.path(s.Index)
	for i := range s.Manifests {
		m := &s.Manifests[i]
		m.Manifest, m.Config, m.Descriptor = r.path(m.Manifest), r.path(m.Config), r.path(m.Descriptor)
		for j := range m.Layers {
			l := &m.Layers[j]
			l.Metadata, l.Blob = r.path(l.Metadata), r.path(l.Blob)
		}
	}
	return s, nil
}

// ParseSpec parses a spec and leaves its paths as they are (short paths),
// for readers that find the files elsewhere (Options.ReadFile); name is for
// messages.
func ParseSpec(data []byte, name string) (Spec, error) {
	var s Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("deploy spec %s: %w", name, err)
	}
	if len(s.Manifests) == 0 {
		return s, fmt.Errorf("deploy spec %s lists no manifest", name)
	}
	return s, nil
}

// MissingBlobFiles lists the layer blob files the spec names that do not
// exist: a push target built with a strategy that leaves the blobs in the
// remote cache has none in its runfiles.
func (s Spec) MissingBlobFiles() []string {
	var missing []string
	for _, m := range s.Manifests {
		for _, l := range m.Layers {
			if l.Blob == "" {
				continue
			}
			if _, err := os.Stat(l.Blob); err != nil {
				missing = append(missing, l.Blob)
			}
		}
	}
	return missing
}

type resolver struct{ root, workspace string }

// RunfilesPath maps a short path of the main repository (workspace) or of
// another one ("../repo/f") to its file below the runfiles root.
func RunfilesPath(root, workspace, short string) string {
	return resolver{root: root, workspace: workspace}.path(short)
}

// path maps a short path ("pkg/f" or "../repo/f") to a file in runfiles.
func (r resolver) path(short string) string {
	if short == "" {
		return ""
	}
	if rest, ok := strings.CutPrefix(short, "../"); ok {
		return filepath.Join(r.root, rest)
	}
	return filepath.Join(r.root, r.workspace, short)
}

// RunfilesRoot finds the runfiles tree of the running program: the one
// `bazel run` gives (RUNFILES_DIR), or <program>.runfiles.
func RunfilesRoot() (string, error) {
	if dir := os.Getenv("RUNFILES_DIR"); dir != "" {
		return dir, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	for _, candidate := range []string{os.Args[0] + ".runfiles", exe + ".runfiles"} {
		if info, err := os.Stat(candidate); err == nil && info.IsDir() {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("cannot find the runfiles of %s: run it with bazel run", os.Args[0])
}
