// Package corpus generates a deterministic tree of files to benchmark layer
// writing on: many small files (mostly text-like, some random bytes) spread
// over nested directories, plus four large binaries (two compressible, two
// random). The same Params always give byte-identical trees.
//
// The layout of a corpus directory is
//
//	<dir>/stamp.json   the Params and Stats, written last
//	<dir>/root/...     the tree to put in a layer
//
// Ensure reuses <dir> when its stamp matches, so a 1 GiB corpus is written
// once and then shared by every benchmark run.
package corpus

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

const (
	// DefaultBytes is the default corpus size: 1 GiB.
	DefaultBytes = 1 << 30
	// DefaultSeed is the seed used when Params.Seed is 0.
	DefaultSeed = 0x72756c65735f696d // "rules_im"

	// version changes whenever the generated content would change, so old
	// corpora on disk are not reused by mistake.
	version = 1

	minSmall = 1 << 10  // smallest small file
	maxSmall = 64 << 10 // largest small file
	// At 1 GiB each large file is 100–150 MiB; they scale with Bytes.
	minLarge   = 100 << 20
	largeRange = 50 << 20
	numLarge   = 4
	// Small files per directory, on average.
	filesPerDir = 20
	maxDepth    = 5
	// Shares of the small files.
	textShare = 0.70 // the rest are random bytes
	dupShare  = 0.30 // with Params.Dups: copies of earlier small files

	// chunkSize is how much of a large file is generated and written at once.
	chunkSize = 1 << 20
	// blockSize is the unit in which compressible binaries switch content kind.
	blockSize = 4 << 10
)

// Params select a corpus.
type Params struct {
	// Seed for every random choice; 0 means DefaultSeed.
	Seed uint64 `json:"seed"`
	// Bytes is the target total size of all files; 0 means DefaultBytes.
	// The small files fill what the four large files leave, so the total is
	// exact.
	Bytes int64 `json:"bytes"`
	// Dups makes 30% of the small files byte-for-byte copies of other
	// small files.
	Dups bool `json:"dups"`
	// SingleFile makes the corpus one binary of Bytes bytes, half
	// compressible, to check that memory does not grow with file size.
	SingleFile bool `json:"single_file,omitempty"`
}

func (p Params) normalized() Params {
	if p.Seed == 0 {
		p.Seed = DefaultSeed
	}
	if p.Bytes <= 0 {
		p.Bytes = DefaultBytes
	}
	return p
}

// Stats describe a generated corpus.
type Stats struct {
	Files      int   `json:"files"`       // regular files, large ones included
	SmallFiles int   `json:"small_files"` // of which small
	DupFiles   int   `json:"dup_files"`   // small files that copy another
	Dirs       int   `json:"dirs"`        // directories below root
	Bytes      int64 `json:"bytes"`       // total file content
}

// Corpus is a generated corpus on disk.
type Corpus struct {
	Dir    string // the corpus directory (stamp and root)
	Root   string // the tree: Dir/root
	Params Params
	Stats  Stats
}

type stamp struct {
	Version int    `json:"version"`
	Params  Params `json:"params"`
	Stats   Stats  `json:"stats"`
}

// Ensure returns the corpus for p in dir, generating it first unless dir
// already holds it. A dir holding a different corpus is regenerated; a
// non-empty dir that is no corpus at all is refused, never deleted.
func Ensure(dir string, p Params) (*Corpus, error) {
	p = p.normalized()
	c := &Corpus{Dir: dir, Root: filepath.Join(dir, "root"), Params: p}
	stampPath := filepath.Join(dir, "stamp.json")
	if data, err := os.ReadFile(stampPath); err == nil {
		var s stamp
		if json.Unmarshal(data, &s) == nil && s.Version == version && s.Params == p {
			if _, err := os.Stat(c.Root); err == nil {
				c.Stats = s.Stats
				return c, nil
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := reset(dir); err != nil {
		return nil, err
	}
	stats, err := generate(c.Root, p)
	if err != nil {
		return nil, fmt.Errorf("generating corpus in %s: %w", dir, err)
	}
	c.Stats = stats
	data, err := json.MarshalIndent(stamp{Version: version, Params: p, Stats: stats}, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(stampPath+".tmp", append(data, '\n'), 0o644); err != nil {
		return nil, err
	}
	return c, os.Rename(stampPath+".tmp", stampPath)
}

// reset makes dir an empty corpus directory. It only ever deletes what a
// corpus consists of, so pointing IMG_BENCH_CORPUS at the wrong directory
// fails instead of wiping it.
func reset(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		switch e.Name() {
		case "root", "stamp.json", "stamp.json.tmp":
		default:
			return fmt.Errorf("%s is not a corpus directory (it holds %q); give an empty or new directory", dir, e.Name())
		}
	}
	os.Remove(filepath.Join(dir, "stamp.json"))
	return os.RemoveAll(filepath.Join(dir, "root"))
}

// Kinds of generated content.
type kind uint8

const (
	kindText   kind = iota // words and lines: compresses about 3x
	kindRandom             // incompressible
	kindMixed              // binary-like blocks: zeros, low-entropy bytes, text, random
)

// fileSpec fully determines one file's content: generating it twice gives
// the same bytes, which is how duplicates are made.
type fileSpec struct {
	path string // relative to root
	kind kind
	seed uint64
	size int64
}

// plan decides every directory and file from the seed, without touching
// the disk.
func plan(p Params) (dirs []string, files []fileSpec, stats Stats) {
	r := rand.New(rand.NewPCG(p.Seed, 0x636f72707573)) // "corpus"
	if p.SingleFile {
		f := fileSpec{path: "large/single.bin", kind: kindMixed, seed: r.Uint64(), size: p.Bytes}
		return []string{"large"}, []fileSpec{f}, Stats{Files: 1, Dirs: 1, Bytes: p.Bytes}
	}
	scale := float64(p.Bytes) / DefaultBytes

	var large []fileSpec
	var largeTotal int64
	for i := range numLarge {
		size := int64(math.Round(float64(minLarge+r.Int64N(largeRange+1)) * scale))
		size = max(size, 1)
		k := kindMixed
		if i%2 == 1 {
			k = kindRandom
		}
		large = append(large, fileSpec{path: fmt.Sprintf("large/blob-%d.bin", i), kind: k, seed: r.Uint64(), size: size})
		largeTotal += size
	}
	budget := p.Bytes - largeTotal
	if budget < 0 {
		// Bytes too small for the shape: shrink the large files to half.
		largeTotal = 0
		for i := range large {
			large[i].size = max(p.Bytes/(2*numLarge), 1)
			largeTotal += large[i].size
		}
		budget = max(p.Bytes-largeTotal, 0)
	}

	// Small file sizes are skewed towards the small end (mean ~26 KiB), as
	// in real trees, so that 1 GiB holds about 20,000 of them.
	smallSize := func() int64 {
		u := r.Float64()
		return minSmall + int64(float64(maxSmall-minSmall)*u*math.Sqrt(u))
	}
	const meanSmall = minSmall + (maxSmall-minSmall)*2/5
	nDirs := max(int(budget/meanSmall)/filesPerDir, 1)
	depth := map[string]int{"": 0}
	parents := []string{""}
	dirs = []string{"large"}
	for i := range nDirs {
		parent := parents[r.IntN(len(parents))]
		name := fmt.Sprintf("d%04d", i)
		if parent != "" {
			name = parent + "/" + name
		}
		dirs = append(dirs, name)
		depth[name] = depth[parent] + 1
		if depth[name] < maxDepth {
			parents = append(parents, name)
		}
	}
	fileDirs := dirs[1:]

	var small []fileSpec
	for i := 0; budget > 0; i++ {
		dir := fileDirs[r.IntN(len(fileDirs))]
		var f fileSpec
		if p.Dups && len(small) > 0 && r.Float64() < dupShare {
			f = small[r.IntN(len(small))]
			if f.size > budget {
				// The copy would overshoot the exact total: make a fresh
				// file of the remaining size instead.
				f = fileSpec{kind: kindText, seed: r.Uint64(), size: budget}
			} else {
				stats.DupFiles++
			}
		} else {
			f = fileSpec{kind: kindText, seed: r.Uint64(), size: min(smallSize(), budget)}
			if r.Float64() >= textShare {
				f.kind = kindRandom
			}
		}
		ext := ".txt"
		if f.kind != kindText {
			ext = ".bin"
		}
		f.path = fmt.Sprintf("%s/f%05d%s", dir, i, ext)
		small = append(small, f)
		budget -= f.size
	}

	files = append(large, small...)
	stats.Files = len(files)
	stats.SmallFiles = len(small)
	stats.Dirs = len(dirs)
	for _, f := range files {
		stats.Bytes += f.size
	}
	return dirs, files, stats
}

// generate writes the planned tree below root, with one writer goroutine
// per CPU. Memory stays at one chunk per goroutine.
func generate(root string, p Params) (Stats, error) {
	dirs, files, stats := plan(p)
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return stats, err
		}
	}
	work := make(chan fileSpec)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			buf := make([]byte, chunkSize)
			for f := range work {
				if err := writeFile(filepath.Join(root, f.path), f, buf); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	// Large files go first so that they do not finish last, alone.
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return stats, err
	default:
	}
	return stats, nil
}

func writeFile(path string, f fileSpec, buf []byte) error {
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	g := newGenerator(f.kind, f.seed)
	for left := f.size; left > 0; {
		n := min(left, int64(len(buf)))
		g.fill(buf[:n])
		if _, err := out.Write(buf[:n]); err != nil {
			out.Close()
			return err
		}
		left -= n
	}
	return out.Close()
}

// generator produces one file's content as a stream. Its output depends
// only on kind, seed and the sequence of fill sizes, which writeFile keeps
// fixed (whole chunks, then the rest).
type generator struct {
	kind  kind
	pcg   *rand.PCG
	cha   *rand.ChaCha8
	buf   []byte // kindMixed: one block
	block []byte // kindMixed: the rest of the current block
}

func newGenerator(k kind, seed uint64) *generator {
	var key [32]byte
	s := seed
	for i := 0; i < 32; i += 8 {
		s = splitmix(s)
		binary.LittleEndian.PutUint64(key[i:], s)
	}
	return &generator{kind: k, pcg: rand.NewPCG(seed, splitmix(seed)), cha: rand.NewChaCha8(key)}
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (g *generator) fill(b []byte) {
	switch g.kind {
	case kindText:
		g.text(b)
	case kindRandom:
		g.cha.Read(b)
	case kindMixed:
		g.mixed(b)
	}
}

// text fills b with lines of words drawn from a fixed vocabulary, skewed
// towards common words.
func (g *generator) text(b []byte) {
	i := 0
	for i < len(b) {
		x := g.pcg.Uint64()
		// The smaller of two indices: frequent words are frequent.
		w := vocab[min(x&(vocabSize-1), (x>>16)&(vocabSize-1))]
		i += copy(b[i:], w)
		if i < len(b) {
			if (x>>32)%12 == 0 {
				b[i] = '\n'
			} else {
				b[i] = ' '
			}
			i++
		}
	}
}

// mixed fills b with binary-like 4 KiB blocks: zeros, low-entropy bytes
// (as in tables and machine code), text and random bytes. Overall such a
// file compresses to a bit under half its size.
func (g *generator) mixed(b []byte) {
	for len(b) > 0 {
		if len(g.block) == 0 {
			if g.buf == nil {
				g.buf = make([]byte, blockSize)
			}
			g.block = g.buf
			switch x := g.pcg.Uint64() % 100; {
			case x < 25:
				clear(g.block)
			case x < 60:
				g.cha.Read(g.block)
				for j, c := range g.block {
					g.block[j] = lowEntropy[c]
				}
			case x < 85:
				g.text(g.block)
			default:
				g.cha.Read(g.block)
			}
		}
		n := copy(b, g.block)
		b, g.block = b[n:], g.block[n:]
	}
}

const vocabSize = 4096

// vocab is a fixed list of pseudo-words, the same on every run.
var vocab = func() [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	const letters = "etaoinshrdlcumwfgypbvkjxqz_"
	words := make([][]byte, vocabSize)
	for i := range words {
		w := make([]byte, 2+r.IntN(9))
		for j := range w {
			// Skew towards frequent letters.
			w[j] = letters[min(r.IntN(len(letters)), r.IntN(len(letters)))]
		}
		words[i] = w
	}
	return words
}()

// lowEntropy maps a random byte to one of 16 values, unevenly (about 3
// bits of entropy per byte).
var lowEntropy = func() [256]byte {
	var t [256]byte
	values := []byte{0x00, 0xff, 0x48, 0x89, 0x8b, 0xe8, 0x0f, 0x01, 0x24, 0x45, 0xc3, 0x10, 0x20, 0x40, 0x7f, 0x80}
	for i := range t {
		// Value pair k gets 2^-(k+1) of the slots; the top bit picks one.
		k := min(bits.TrailingZeros8(uint8(i)), 7)
		t[i] = values[2*k+(i>>7)&1]
	}
	return t
}()
