package casregistry

import (
	"context"
	"errors"
	"io"
)

// Digest names a blob in the remote cache: its sha256 in lowercase hex and
// its size, as REAPI keys blobs.
type Digest struct {
	Hash string
	Size int64
}

// Store is where blob bytes come from: Bazel's remote cache.
type Store interface {
	// Missing returns the digests the cache lacks.
	Missing(ctx context.Context, ds []Digest) ([]Digest, error)
	// Open reads a blob; its error wraps ErrNotFound if the cache lacks it.
	Open(ctx context.Context, d Digest) (io.ReadCloser, error)
}

// ErrNotFound is what Store.Open wraps when the cache lacks a blob.
var ErrNotFound = errors.New("blob not found in the remote cache")
