// Package esgzverify checks an eStargz layer blob with the upstream estargz
// package, the code containerd's stargz snapshotter runs: the footer, the
// table of contents against its digest, and the digest of every chunk of
// every file. It also computes the diff_id from the blob with the standard
// library's gzip, so that nothing of rules_img's own writing is trusted.
package esgzverify

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/containerd/stargz-snapshotter/estargz"
	digest "github.com/opencontainers/go-digest"
)

// Result is what a verified blob holds.
type Result struct {
	Files  int    // regular files with content
	Chunks int    // chunks verified
	DiffID string // sha256 of the whole uncompressed stream
	Size   int64  // bytes of the uncompressed stream
}

// File verifies the eStargz blob at path against tocDigest.
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
	r, err := estargz.Open(sr)
	if err != nil {
		return res, fmt.Errorf("opening eStargz: %w", err)
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
	zr, err := gzip.NewReader(io.NewSectionReader(sr, 0, sr.Size()))
	if err != nil {
		return res, fmt.Errorf("gunzip: %w", err)
	}
	h := sha256.New()
	if res.Size, err = io.Copy(h, zr); err != nil {
		return res, fmt.Errorf("gunzip: %w", err)
	}
	res.DiffID = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return res, nil
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
			err = verifyFile(r, v, name, ent, res)
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
