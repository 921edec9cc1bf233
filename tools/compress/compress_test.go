package compress

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// testData returns n bytes that compress somewhat (repeated words mixed with
// noise), the same on every run, so that both algorithms find matches that
// cross block boundaries.
func testData(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"layer", "image", "bazel", "manifest", "config", "digest", "sha256", "tar", "\n", " "}
	var b bytes.Buffer
	for b.Len() < n {
		if r.IntN(8) == 0 {
			var noise [16]byte
			for i := range noise {
				noise[i] = byte(r.Uint32())
			}
			b.Write(noise[:])
			continue
		}
		b.WriteString(words[r.IntN(len(words))])
	}
	return b.Bytes()[:n]
}

// compressBytes compresses data with o, writing it in chunks of chunk bytes
// (0 for one write).
func compressBytes(t *testing.T, data []byte, o Options, chunk int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, o)
	if err != nil {
		t.Fatalf("NewWriter(%+v): %v", o, err)
	}
	if chunk <= 0 {
		chunk = len(data)
	}
	for rest := data; len(rest) > 0; {
		n := min(chunk, len(rest))
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatalf("Write(%+v): %v", o, err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close(%+v): %v", o, err)
	}
	return out.Bytes()
}

func decompressBytes(t *testing.T, a Algorithm, data []byte) []byte {
	t.Helper()
	var r io.Reader
	switch a {
	case None:
		return data
	case Gzip:
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("gzip.NewReader: %v", err)
		}
		// A gzip blob must be one member: pgzip writes a single stream.
		zr.Multistream(false)
		r = zr
	case Zstd:
		zr, err := zstd.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("zstd.NewReader: %v", err)
		}
		defer zr.Close()
		r = zr
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decompressing %s: %v", a, err)
	}
	return out
}

func short(b []byte) string {
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%d bytes, sha256 %s", len(b), hex.EncodeToString(sum[:8]))
}

func TestParseAlgorithm(t *testing.T) {
	for _, tc := range []struct {
		name    string
		want    Algorithm
		wantErr bool
	}{
		{"gzip", Gzip, false},
		{"zstd", Zstd, false},
		{"none", None, false},
		{"", "", true},
		{"GZIP", "", true},
		{"xz", "", true},
	} {
		got, err := ParseAlgorithm(tc.name)
		if tc.wantErr {
			if err == nil {
				t.Errorf("ParseAlgorithm(%q) = %q, want an error", tc.name, got)
			} else if !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.name)) {
				t.Errorf("ParseAlgorithm(%q) error %q does not name the input", tc.name, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseAlgorithm(%q) = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestMediaType(t *testing.T) {
	for _, tc := range []struct {
		a    Algorithm
		want string
	}{
		{Gzip, "application/vnd.oci.image.layer.v1.tar+gzip"},
		{Zstd, "application/vnd.oci.image.layer.v1.tar+zstd"},
		{None, "application/vnd.oci.image.layer.v1.tar"},
	} {
		if got := tc.a.MediaType(); got != tc.want {
			t.Errorf("%s.MediaType() = %q, want %q", tc.a, got, tc.want)
		}
	}
}

func TestValidateLevels(t *testing.T) {
	for _, tc := range []struct {
		o       Options
		wantErr string // "" for valid
	}{
		{Options{Algorithm: Gzip, Level: DefaultLevel}, ""},
		{Options{Algorithm: Gzip, Level: 0}, ""},
		{Options{Algorithm: Gzip, Level: 1}, ""},
		{Options{Algorithm: Gzip, Level: 9}, ""},
		{Options{Algorithm: Gzip, Level: 10}, "gzip level 10 is out of range"},
		{Options{Algorithm: Gzip, Level: -2}, "gzip level -2 is out of range"},
		{Options{Algorithm: Zstd, Level: DefaultLevel}, ""},
		{Options{Algorithm: Zstd, Level: 1}, ""},
		{Options{Algorithm: Zstd, Level: 4}, ""},
		{Options{Algorithm: Zstd, Level: 0}, "zstd level 0 is out of range"},
		{Options{Algorithm: Zstd, Level: 5}, "zstd level 5 is out of range"},
		{Options{Algorithm: Zstd, Level: 22}, "zstd level 22 is out of range"},
		{Options{Algorithm: None, Level: DefaultLevel}, ""},
		{Options{Algorithm: None, Level: 0}, ""},
		{Options{Algorithm: "brotli", Level: 3}, `unknown compression "brotli"`},
	} {
		name := fmt.Sprintf("%s/%d", tc.o.Algorithm, tc.o.Level)
		err := tc.o.Validate()
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%s: Validate() = %v, want nil", name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: Validate() = nil, want an error containing %q", name, tc.wantErr)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: Validate() = %q, want it to contain %q", name, err, tc.wantErr)
		}
		// NewWriter must refuse the same options, before writing anything.
		var out bytes.Buffer
		if w, err := NewWriter(&out, tc.o); err == nil {
			w.Close()
			t.Errorf("%s: NewWriter accepted options that Validate rejects", name)
		}
		if out.Len() != 0 {
			t.Errorf("%s: NewWriter wrote %d bytes before failing", name, out.Len())
		}
	}
}

func TestUnknownAlgorithmDefaultLevel(t *testing.T) {
	// DefaultLevel skips the range check; NewWriter must still refuse an
	// algorithm it cannot write.
	_, err := NewWriter(io.Discard, Options{Algorithm: "lz4", Level: DefaultLevel})
	if err == nil || !strings.Contains(err.Error(), `"lz4"`) {
		t.Fatalf("NewWriter(lz4) = %v, want an error naming lz4", err)
	}
}

func TestRoundTrip(t *testing.T) {
	data := testData(3<<20 + 12345)
	for _, o := range []Options{
		{Algorithm: None, Level: DefaultLevel},
		{Algorithm: Gzip, Level: DefaultLevel, Jobs: 1},
		{Algorithm: Gzip, Level: DefaultLevel, Jobs: 4},
		{Algorithm: Gzip, Level: 0, Jobs: 2},
		{Algorithm: Gzip, Level: 9, Jobs: 2},
		{Algorithm: Zstd, Level: DefaultLevel, Jobs: 1},
		{Algorithm: Zstd, Level: 1, Jobs: 4},
		{Algorithm: Zstd, Level: 4, Jobs: 2},
	} {
		t.Run(fmt.Sprintf("%s-level%d-jobs%d", o.Algorithm, o.Level, o.Jobs), func(t *testing.T) {
			c := compressBytes(t, data, o, 0)
			if got := decompressBytes(t, o.Algorithm, c); !bytes.Equal(got, data) {
				t.Fatalf("round trip gave %s, want %s", short(got), short(data))
			}
			if o.Algorithm == None && !bytes.Equal(c, data) {
				t.Fatalf("none changed the stream: %s, want %s", short(c), short(data))
			}
			if o.Algorithm != None && o.Level != 0 && len(c) >= len(data) {
				t.Fatalf("%s did not compress: %d bytes from %d", o.Algorithm, len(c), len(data))
			}
		})
	}
}

func TestEmptyStream(t *testing.T) {
	for _, a := range []Algorithm{None, Gzip, Zstd} {
		for _, jobs := range []int{1, 2} {
			o := Options{Algorithm: a, Level: DefaultLevel, Jobs: jobs}
			c := compressBytes(t, nil, o, 0)
			if got := decompressBytes(t, a, c); len(got) != 0 {
				t.Errorf("%s jobs=%d: empty input decompressed to %d bytes", a, jobs, len(got))
			}
			if a != None && len(c) == 0 {
				t.Errorf("%s jobs=%d: empty input gave no stream at all", a, jobs)
			}
		}
	}
}

// assertSameAcrossJobs compresses data with every jobs value and several
// write sizes and fails unless all outputs are byte-identical: a layer's
// digest must not depend on the machine's core count or on how the tar
// writer happens to chunk its writes.
func assertSameAcrossJobs(t *testing.T, a Algorithm, level int, jobs []int, data []byte) {
	t.Helper()
	type variant struct {
		jobs, chunk int
	}
	var first []byte
	var firstV variant
	for _, j := range jobs {
		for _, chunk := range []int{0, 4099, 1<<20 + 7} {
			v := variant{j, chunk}
			c := compressBytes(t, data, Options{Algorithm: a, Level: level, Jobs: j}, chunk)
			if first == nil {
				first, firstV = c, v
				if got := decompressBytes(t, a, c); !bytes.Equal(got, data) {
					t.Fatalf("%s %+v: round trip gave %s, want %s", a, v, short(got), short(data))
				}
				continue
			}
			if !bytes.Equal(c, first) {
				t.Errorf("%s level %d: output with %+v (%s) differs from output with %+v (%s): digests would depend on the core count",
					a, level, v, short(c), firstV, short(first))
			}
		}
	}
}

func TestGzipIdenticalAcrossJobs(t *testing.T) {
	// Several pgzip blocks (1 MiB each) with a partial last block. Level 9 is
	// slow, so it gets less data and fewer job counts.
	for _, tc := range []struct {
		level int
		size  int
		jobs  []int
	}{
		{DefaultLevel, 3<<20 + 4321, []int{2, 3, 4, 8, 0}},
		{1, 4<<20 + 17, []int{2, 4, 8}},
		{9, 1<<20 + 999, []int{2, 4}},
	} {
		t.Run(fmt.Sprintf("level%d", tc.level), func(t *testing.T) {
			assertSameAcrossJobs(t, Gzip, tc.level, tc.jobs, testData(tc.size))
		})
	}
}

func TestZstdIdenticalAcrossJobs(t *testing.T) {
	// Many zstd blocks (128 KiB each).
	for _, tc := range []struct {
		level int
		size  int
		jobs  []int
	}{
		{DefaultLevel, 3<<20 + 999, []int{1, 2, 3, 4, 8, 0}},
		{1, 4<<20 + 3, []int{1, 2, 4}},
		{3, 2<<20 + 5, []int{1, 2, 4}},
		{4, 1<<20 + 7, []int{1, 4}},
	} {
		t.Run(fmt.Sprintf("level%d", tc.level), func(t *testing.T) {
			assertSameAcrossJobs(t, Zstd, tc.level, tc.jobs, testData(tc.size))
		})
	}
}

func TestGzipHeaderCarriesNoTimeOrName(t *testing.T) {
	data := testData(100 << 10)
	for _, jobs := range []int{1, 2} {
		c := compressBytes(t, data, Options{Algorithm: Gzip, Level: DefaultLevel, Jobs: jobs}, 0)
		zr, err := gzip.NewReader(bytes.NewReader(c))
		if err != nil {
			t.Fatal(err)
		}
		if !zr.ModTime.IsZero() || zr.Name != "" || zr.Comment != "" || len(zr.Extra) != 0 {
			t.Errorf("jobs=%d: gzip header has ModTime=%v Name=%q Comment=%q Extra=%q, want all empty",
				jobs, zr.ModTime, zr.Name, zr.Comment, zr.Extra)
		}
		// Bytes 4-7 of a gzip member are MTIME.
		if !bytes.Equal(c[4:8], []byte{0, 0, 0, 0}) {
			t.Errorf("jobs=%d: gzip MTIME bytes = %x, want zeros", jobs, c[4:8])
		}
	}
}

// closeRecorder fails the test if the compressor closes the writer it was
// given: Build still has to flush the file after the compressor.
type closeRecorder struct {
	bytes.Buffer
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestCloseDoesNotCloseUnderlyingWriter(t *testing.T) {
	for _, o := range []Options{
		{Algorithm: None, Level: DefaultLevel},
		{Algorithm: Gzip, Level: DefaultLevel, Jobs: 1},
		{Algorithm: Gzip, Level: DefaultLevel, Jobs: 2},
		{Algorithm: Zstd, Level: DefaultLevel, Jobs: 2},
	} {
		var rec closeRecorder
		w, err := NewWriter(&rec, o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if rec.closed {
			t.Errorf("%+v: Close closed the underlying writer", o)
		}
		if got := decompressBytes(t, o.Algorithm, rec.Bytes()); string(got) != "hello" {
			t.Errorf("%+v: got %q after Close, want %q", o, got, "hello")
		}
	}
}
