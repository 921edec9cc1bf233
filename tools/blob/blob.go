// Package blob holds the small metadata files that rules pass between actions
// instead of blob bytes, and the hashing writer that produces them.
package blob

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
)

// LayerMetadata describes one layer blob: what a manifest needs (the
// descriptor fields) plus the diff_id that the image config needs.
type LayerMetadata struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	DiffID      string            `json:"diff_id"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Sources lists "registry/repository" places that serve the blob, for
	// layers of pulled base images whose bytes are not part of the build.
	Sources []string `json:"sources,omitempty"`
}

// AddAnnotations adds annotations to the descriptor's own. A key that m
// has already, one that the layer's writer set, is an error: the user's
// value would silently replace what readers of the layer rely on.
func (m *LayerMetadata) AddAnnotations(extra map[string]string) error {
	if len(extra) == 0 {
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		if _, ok := m.Annotations[k]; ok {
			return fmt.Errorf("annotation %q is set by the layer writer itself: remove it, or use another key", k)
		}
	}
	merged := maps.Clone(m.Annotations)
	if merged == nil {
		merged = make(map[string]string, len(extra))
	}
	maps.Copy(merged, extra)
	m.Annotations = merged
	return nil
}

var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// ValidateDigest reports whether d is a well-formed sha256 digest.
func ValidateDigest(d string) error {
	if !digestPattern.MatchString(d) {
		return fmt.Errorf("%q is not a sha256 digest (want sha256: and 64 lowercase hex digits)", d)
	}
	return nil
}

// Validate checks that every field a manifest needs is present and well formed.
func (m LayerMetadata) Validate() error {
	if m.MediaType == "" {
		return fmt.Errorf("mediaType is empty")
	}
	if err := ValidateDigest(m.Digest); err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	if err := ValidateDigest(m.DiffID); err != nil {
		return fmt.Errorf("diff_id: %w", err)
	}
	if m.Size < 0 {
		return fmt.Errorf("size %d is negative", m.Size)
	}
	return nil
}

// ReadLayerMetadata reads and validates a layer metadata file.
func ReadLayerMetadata(path string) (LayerMetadata, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return LayerMetadata{}, err
	}
	return ParseLayerMetadata(data, path)
}

// ParseLayerMetadata decodes and validates layer metadata; name, its file,
// is for messages.
func ParseLayerMetadata(data []byte, name string) (LayerMetadata, error) {
	var m LayerMetadata
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("layer metadata %s: %w", name, err)
	}
	if err := m.Validate(); err != nil {
		return m, fmt.Errorf("layer metadata %s: %w", name, err)
	}
	return m, nil
}

// WriteJSON writes v as indented JSON with a trailing newline. The file is
// written under a temporary name and renamed, so a failure leaves nothing
// half-written at path.
func WriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, append(data, '\n'))
}

// WriteFileAtomic writes data to path through a temporary file and a rename.
func WriteFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// DigestWriter counts and hashes everything written through it.
type DigestWriter struct {
	w    io.Writer
	h    hash.Hash
	size int64
}

// NewDigestWriter returns a writer that passes bytes on to w (which may be
// nil, to only hash) while computing their sha256 and count.
func NewDigestWriter(w io.Writer) *DigestWriter {
	return &DigestWriter{w: w, h: sha256.New()}
}

func (d *DigestWriter) Write(p []byte) (int, error) {
	if d.w != nil {
		n, err := d.w.Write(p)
		d.h.Write(p[:n])
		d.size += int64(n)
		return n, err
	}
	d.h.Write(p)
	d.size += int64(len(p))
	return len(p), nil
}

// Digest is the "sha256:<hex>" digest of the bytes written so far.
func (d *DigestWriter) Digest() string {
	return "sha256:" + hex.EncodeToString(d.h.Sum(nil))
}

// Size is the number of bytes written so far.
func (d *DigestWriter) Size() int64 { return d.size }

// WriteAtomic writes path through write and a temporary file, renamed when
// write succeeds: a failure leaves nothing at path.
func WriteAtomic(path string, write func(io.Writer) error) (err error) {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if err := write(w); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadJSONLines decodes a file of one JSON value per line (a layer
// listing, an inventory).
func ReadJSONLines[T any](path string) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []T
	dec := json.NewDecoder(bufio.NewReader(f))
	for {
		var v T
		if err := dec.Decode(&v); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", path, len(out)+1, err)
		}
		out = append(out, v)
	}
}
