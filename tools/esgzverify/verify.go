// Package esgzverify checks a seekable layer blob, eStargz or zstd:chunked,
// with the upstream estargz package, the code containerd's stargz
// snapshotter runs: the footer, the table of contents against its digest,
// and the digest of every chunk of every file. It also computes the diff_id
// from the blob with the standard library's gzip or klauspost's zstd
// decoder, so that nothing of rules_img's own writing is trusted.
package esgzverify

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/containerd/stargz-snapshotter/estargz"
	"github.com/containerd/stargz-snapshotter/estargz/zstdchunked"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
)

// Result is what a verified blob holds.
type Result struct {
	Files  int    // regular files with content
	Chunks int    // chunks verified
	DiffID string // sha256 of the whole uncompressed stream
	Size   int64  // bytes of the uncompressed stream
}

// File verifies the eStargz or zstd:chunked blob at path against tocDigest.
func File(blobPath, tocDigest string) (Result, error) {
	f, err := os.Open(blobPath)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Result{}, err
	}
	return Verify(io.NewSectionReader(f, 0, st.Size()), tocDigest)
}

// Verify checks the blob in sr against tocDigest.
func Verify(sr *io.SectionReader, tocDigest string) (Result, error) {
	var res Result
	want, err := digest.Parse(tocDigest)
	if err != nil {
		return res, fmt.Errorf("TOC digest: %w", err)
	}
	// Open tries the gzip footers first, then zstd:chunked's.
	r, err := estargz.Open(sr, estargz.WithDecompressors(new(zstdchunked.Decompressor)))
	if err != nil {
		return res, fmt.Errorf("opening eStargz or zstd:chunked: %w", err)
	}
	v, err := r.VerifyTOC(want)
	if err != nil {
		return res, fmt.Errorf("verifying the TOC: %w", err)
	}
	root, ok := r.Lookup("")
	if !ok {
		return res, fmt.Errorf("the TOC has no root entry")
	}
	if err := walk(r, v, "", root, &res); err != nil {
		return res, err
	}
	res.DiffID, res.Size, err = diffID(io.NewSectionReader(sr, 0, sr.Size()))
	return res, err
}

// diffID hashes the whole decompressed stream: for eStargz the tar and the
// table of contents, for zstd:chunked the tar (its table is in a skippable
// frame, which decoders pass over).
func diffID(r io.Reader) (string, int64, error) {
	var head [2]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return "", 0, fmt.Errorf("reading the blob: %w", err)
	}
	r = io.MultiReader(bytes.NewReader(head[:]), r)
	var plain io.Reader
	name := "gunzip"
	if head == [2]byte{0x1f, 0x8b} {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return "", 0, fmt.Errorf("gunzip: %w", err)
		}
		plain = zr
	} else {
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return "", 0, fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		plain, name = zr, "zstd"
	}
	h := sha256.New()
	n, err := io.Copy(h, plain)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", name, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), n, nil
}

func walk(r *estargz.Reader, v estargz.TOCEntryVerifier, dir string, e *estargz.TOCEntry, res *Result) error {
	var err error
	e.ForeachChild(func(base string, ent *estargz.TOCEntry) bool {
		name := path.Join(dir, base)
		switch {
		case ent.Type == "dir":
			err = walk(r, v, name, ent, res)
		case ent.Type == "reg" && ent.Size > 0:
			res.Files++
			// A hardlink's child is its target's entry, and the reader
			// keeps chunks under the target's name: read by that.
			err = verifyFile(r, v, ent.Name, ent, res)
		}
		return err == nil
	})
	return err
}

func verifyFile(r *estargz.Reader, v estargz.TOCEntryVerifier, name string, ent *estargz.TOCEntry, res *Result) error {
	sr, err := r.OpenFile(name)
	if err != nil {
		return fmt.Errorf("opening %s: %w", name, err)
	}
	for off := int64(0); off < ent.Size; {
		ce, ok := r.ChunkEntryForOffset(name, off)
		if !ok {
			return fmt.Errorf("%s: no chunk at offset %d", name, off)
		}
		size := ce.ChunkSize
		if size == 0 {
			size = ent.Size - ce.ChunkOffset
		}
		vr, err := v.Verifier(ce)
		if err != nil {
			return fmt.Errorf("%s@%d: %w", name, off, err)
		}
		// One read per chunk: each ReadAt decompresses from the start of
		// its chunk, so small reads would make this quadratic.
		buf := make([]byte, size)
		if _, err := sr.ReadAt(buf, ce.ChunkOffset); err != nil && err != io.EOF {
			return fmt.Errorf("reading %s@%d: %w", name, off, err)
		}
		vr.Write(buf)
		if !vr.Verified() {
			return fmt.Errorf("%s@%d: the chunk does not match its digest", name, ce.ChunkOffset)
		}
		res.Chunks++
		off = ce.ChunkOffset + size
	}
	return nil
}
