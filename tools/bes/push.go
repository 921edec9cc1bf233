package bes

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/rules-img/rules_img/tools/cas"
	"github.com/rules-img/rules_img/tools/deploy"
	"github.com/rules-img/rules_img/tools/push"
)

// maxFileSize bounds the metadata files read from the cache (specs,
// manifests, configs, layer metadata); layer blobs are streamed, never read whole.
const maxFileSize = 64 << 20

// CachePusher pushes a push target whose files and layer blobs are all in
// the remote cache: nothing is read from disk. Registry credentials come
// from the server's environment (docker config, credential helpers), as
// for `bazel run` of a push target.
type CachePusher struct {
	// Cache is the remote cache Bazel built with.
	Cache cas.Store
	// Registry, if set, replaces every target's registry (a mirror, or a test).
	Registry string
}

// Push reads the target's spec and settings from the cache and pushes its
// image, streaming the layers the registry lacks from the cache.
func (c CachePusher) Push(ctx context.Context, t Target) (string, error) {
	read := func(path string) ([]byte, error) {
		d, err := t.Files.Digest(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.Label, err)
		}
		rc, err := c.Cache.Open(ctx, d)
		if err != nil {
			return nil, fmt.Errorf("%s: reading %s (%s) from the remote cache: %w", t.Label, path, d, err)
		}
		defer rc.Close()
		data, err := io.ReadAll(io.LimitReader(rc, maxFileSize+1))
		if err != nil {
			return nil, fmt.Errorf("%s: reading %s (%s) from the remote cache: %w", t.Label, path, d, err)
		}
		if len(data) > maxFileSize {
			return nil, fmt.Errorf("%s: %s is larger than %d bytes; it is not a metadata file", t.Label, path, maxFileSize)
		}
		return data, nil
	}
	data, err := read(t.Spec)
	if err != nil {
		return "", err
	}
	spec, err := deploy.ParseSpec(data, t.Spec)
	if err != nil {
		return "", fmt.Errorf("%s: %w", t.Label, err)
	}
	data, err = read(t.Config)
	if err != nil {
		return "", err
	}
	var config push.Config
	if err := json.Unmarshal(data, &config); err != nil {
		return "", fmt.Errorf("%s: push settings %s: %w", t.Label, t.Config, err)
	}
	tags := append([]string{}, config.Tags...)
	if t.Tags != "" {
		data, err := read(t.Tags)
		if err != nil {
			return "", err
		}
		tags = append(tags, lines(data)...)
	} else if config.TagsFile != "" {
		return "", fmt.Errorf("%s: the build reported no tags file (%s)", t.Label, TagsSuffix)
	}
	target := push.Target{Registry: config.Registry, Repository: config.Repository, Tags: tags}
	if c.Registry != "" {
		target.Registry = c.Registry
	}
	p, err := push.New(ctx, nil, nil)
	if err != nil {
		return "", err
	}
	ref, err := p.Run(push.Job{Label: t.Label, Spec: spec, Target: target, Cache: c.Cache, ReadFile: read})
	if err != nil {
		return "", err
	}
	refs := []string{ref.String()}
	for _, tag := range tags {
		refs = append(refs, ref.Context().Tag(tag).String())
	}
	return strings.Join(refs, ", "), nil
}

func lines(data []byte) []string {
	var out []string
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		if l := strings.TrimSpace(s.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}
