package tarlayer

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rules-img/rules_img/tools/compress"
)

// paxSparseTar is a 10 KB tar with one PAX GNU sparse 1.0 file, "big",
// whose header claims a logical size of 2^62 bytes: one byte of data
// after a hole that archive/tar would make up as zeros, for years.
// archive/tar does not write sparse files, so the PAX header is written as
// a regular file and its type flag patched to 'x'.
func paxSparseTar(t testing.TB) []byte {
	t.Helper()
	const realSize = int64(1) << 62
	var records strings.Builder
	for _, kv := range [][2]string{
		{"GNU.sparse.major", "1"}, {"GNU.sparse.minor", "0"},
		{"GNU.sparse.name", "big"}, {"GNU.sparse.realsize", fmt.Sprint(realSize)},
	} {
		records.WriteString(paxRecord(kv[0], kv[1]))
	}
	// Sparse 1.0: the map (entries, then offset and length of each) in the
	// first block of the data, then the data of each entry.
	sparseMap := fmt.Sprintf("1\n%d\n1\n", realSize-1)
	data := sparseMap + strings.Repeat("\x00", 512-len(sparseMap)) + "x"

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	write := func(h *tar.Header, content string) {
		h.Size, h.Mode = int64(len(content)), 0o644
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, content); err != nil {
			t.Fatal(err)
		}
	}
	write(&tar.Header{Typeflag: tar.TypeReg, Name: "PaxHeaders.0/big", Format: tar.FormatUSTAR}, records.String())
	write(&tar.Header{Typeflag: tar.TypeReg, Name: "GNUSparseFile.0/big", Format: tar.FormatUSTAR}, data)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	out := buf.Bytes()
	setTypeflag(out[:512], tar.TypeXHeader)
	// Pad to 10 KB with zero blocks, as tar(1) pads to its record size.
	return append(out, make([]byte, 10240-len(out))...)
}

func paxRecord(k, v string) string {
	rest := " " + k + "=" + v + "\n"
	n := len(rest)
	for len(fmt.Sprint(n))+len(rest) != n {
		n = len(fmt.Sprint(n)) + len(rest)
	}
	return fmt.Sprint(n) + rest
}

// setTypeflag changes the type flag of a ustar header block and its
// checksum.
func setTypeflag(block []byte, flag byte) {
	block[156] = flag
	copy(block[148:156], "        ")
	sum := 0
	for _, b := range block[:512] {
		sum += int(b)
	}
	copy(block[148:156], fmt.Sprintf("%06o\x00 ", sum))
}

// gnuSparseTar is a tar with an old GNU sparse ('S') entry.
func gnuSparseTar(t testing.TB) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "old", Mode: 0o644, Format: tar.FormatGNU}); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	out := buf.Bytes()
	setTypeflag(out[:512], tar.TypeGNUSparse)
	return out
}

func TestReaderRefusesSparseFiles(t *testing.T) {
	for name, data := range map[string][]byte{"big": paxSparseTar(t), "old": gnuSparseTar(t)} {
		_, err := readChecked(data, false)
		if !IsEntryError(err) || !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) || !strings.Contains(err.Error(), "sparse") {
			t.Errorf("%s: got %v, want a sparse entry refused by name", name, err)
		}
	}
}

// TestDescribeRefusesPAXSparse is the regression test of a 10 KB tar
// that made `img tar-layer` run forever.
func TestDescribeRefusesPAXSparse(t *testing.T) {
	data := paxSparseTar(t)
	if len(data) != 10240 {
		t.Fatalf("the crafted tar has %d bytes", len(data))
	}
	// archive/tar reads it as a regular file of 2^62 bytes.
	h, err := tar.NewReader(bytes.NewReader(data)).Next()
	if err != nil || h.Name != "big" || h.Typeflag != tar.TypeReg || h.Size != 1<<62 {
		t.Fatalf("the crafted tar reads as %+v, %v", h, err)
	}
	path := filepath.Join(t.TempDir(), "sparse.tar")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Describe(Source{Path: path, Compression: compress.None})
	if !IsEntryError(err) || !strings.Contains(err.Error(), `"big"`) {
		t.Fatalf("Describe = %v, want the sparse entry \"big\" refused", err)
	}
}
