package bes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

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
//
// What the cache holds is written by whoever builds with it, so the push
// settings are trusted for what to push and where, within Allow, and for
// nothing else: the remote cache and credential helper they name are
// ignored (the server reads its own cache, with its own credentials).
type CachePusher struct {
	// Cache is the remote cache Bazel built with.
	Cache cas.Store
	// Registry, if set, replaces every target's registry (a mirror, or a test).
	Registry string
	// Allow is where pushes may go (after Registry replaced the
	// target's); empty refuses every push.
	Allow AllowList
	// Log, if set, is told what the push settings named and the server
	// ignored.
	Log func(format string, args ...any)
	// NotFoundWait bounds how long a push is retried while a blob is not
	// in the cache: Bazel uploads outputs asynchronously, and may report a
	// build finished before its uploads are. Zero means DefaultNotFoundWait;
	// negative, no retry.
	NotFoundWait time.Duration
}

// DefaultNotFoundWait is how long a push waits for blobs that Bazel is
// still uploading.
const DefaultNotFoundWait = 60 * time.Second

// Push pushes t, again with backoff while a file or blob it needs is not
// yet in the cache (nothing is written to the registry before every blob
// is known to be there). Its errors start with the target's label.
func (c CachePusher) Push(ctx context.Context, t Target) (string, error) {
	wait := c.NotFoundWait
	if wait == 0 {
		wait = DefaultNotFoundWait
	}
	deadline := time.Now().Add(wait)
	delay := 250 * time.Millisecond
	for attempt := c; ; attempt.Log = nil { // what was ignored is logged once
		ref, err := attempt.pushOnce(ctx, t)
		if !errors.Is(err, cas.ErrNotFound) || time.Now().Add(delay).After(deadline) {
			return ref, err
		}
		select {
		case <-ctx.Done():
			return ref, err
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

// pushOnce reads the target's spec and settings from the cache and pushes
// its image, streaming the layers the registry lacks from the cache.
func (c CachePusher) pushOnce(ctx context.Context, t Target) (string, error) {
	read := func(path string) ([]byte, error) {
		d, err := t.Files.Digest(path)
		if err != nil {
			return nil, err
		}
		rc, err := c.Cache.Open(ctx, d)
		if err != nil {
			return nil, fmt.Errorf("reading %s (%s) from the remote cache: %w", path, d, err)
		}
		defer rc.Close()
		data, err := io.ReadAll(io.LimitReader(rc, maxFileSize+1))
		if err != nil {
			return nil, fmt.Errorf("reading %s (%s) from the remote cache: %w", path, d, err)
		}
		if len(data) > maxFileSize {
			return nil, fmt.Errorf("%s is larger than %d bytes; it is not a metadata file", path, maxFileSize)
		}
		return data, nil
	}
	job, err := c.job(t, read)
	if err != nil {
		return "", fmt.Errorf("%s: %w", t.Label, err)
	}
	p, err := push.New(ctx, nil, nil)
	if err != nil {
		return "", fmt.Errorf("%s: %w", t.Label, err)
	}
	// Run names the target in its errors.
	ref, err := p.Run(job)
	if err != nil {
		return "", err
	}
	refs := []string{ref.String()}
	for _, tag := range job.Target.Tags {
		refs = append(refs, ref.Context().Tag(tag).String())
	}
	return strings.Join(refs, ", "), nil
}

// job reads what pushing t takes: its spec, its settings and its tags.
// The destination is checked against the allow-list before anything else
// is read.
func (c CachePusher) job(t Target, read func(string) ([]byte, error)) (push.Job, error) {
	data, err := read(t.Config)
	if err != nil {
		return push.Job{}, err
	}
	config, err := push.ParseConfig(data, t.Config)
	if err != nil {
		return push.Job{}, err
	}
	if c.Registry != "" {
		config.Registry = c.Registry
	}
	if err := c.Allow.Check(config.Registry, config.Repository); err != nil {
		return push.Job{}, err
	}
	if config.RemoteCache != "" && c.Log != nil {
		c.Log("%s: the push settings name a remote cache (remote_cache); ignored: the server reads its own (--remote_cache)", t.Label)
	}
	if config.CredentialHelper != "" && c.Log != nil {
		c.Log("%s: the push settings name a credential helper (%q); ignored: the server runs none that a build names", t.Label, config.CredentialHelper)
	}
	data, err = read(t.Spec)
	if err != nil {
		return push.Job{}, err
	}
	spec, err := deploy.ParseSpec(data, t.Spec)
	if err != nil {
		return push.Job{}, err
	}
	if config.TagsFile != "" && t.Tags == "" {
		return push.Job{}, fmt.Errorf("the build reported no tags file (%s)", TagsSuffix)
	}
	// The tags file is the one the build reported, not the runfiles path
	// the config names.
	target, err := config.Target(read, func(string) string { return t.Tags })
	if err != nil {
		return push.Job{}, err
	}
	return push.Job{Label: t.Label, Spec: spec, Target: target, Cache: c.Cache, ReadFile: read}, nil
}
