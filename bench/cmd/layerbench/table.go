package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rules-img/rules_img/bench"
	"github.com/rules-img/rules_img/bench/corpus"
)

// The table run: every case on its corpus, rules_img and the baseline
// interleaved round by round (the order flips every round), each build in
// a process of its own so that its peak RSS and CPU time are its own. The
// machine may be shared: wall-clock figures are the best of the rounds, CPU
// figures the smallest, RSS the largest.
//
//	BENCH_ROUNDS   rounds (default 3)
//	BENCH_BYTES    size of the mixed corpora (default 1 GiB)
//	BENCH_BIG      size of the single-file corpus (default 4 GiB; 0 skips it)
//	BENCH_BIG_ROUNDS  rounds of the single-file cases (default 1)
//	BENCH_BIG_COMPRESS  compression of the single-file cases (default gzip)
//	BENCH_CASES    only the cases whose names start with one of these
//	               (comma-separated), for example "gzip,zstd"

// benchCase is one row: rules_img's build and the baseline it is compared to.
type benchCase struct {
	name   string
	c      *corpus.Corpus
	ours   []string // layerbench flags
	base   []string
	rounds int
	// baseFrom names the row whose baseline this row shares (eStargz is
	// compared to the gzip baseline).
	baseFrom string
}

type sample struct {
	wall, cpu time.Duration
	rssKiB    int64
	outBytes  int64
}

type result struct{ base, ours []sample }

func runTable() error {
	rounds := envInt("BENCH_ROUNDS", 3)
	size := envInt("BENCH_BYTES", corpus.DefaultBytes)
	big := envInt("BENCH_BIG", 4<<30)
	bigRounds := envInt("BENCH_BIG_ROUNDS", 1)
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "layerbench-table")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	ensure := func(p corpus.Params) (*corpus.Corpus, error) {
		start := time.Now()
		c, err := corpus.Ensure(bench.CorpusDir(p), p)
		if err == nil {
			fmt.Fprintf(os.Stderr, "corpus %s ready in %.0fs: %d files (%d small, %d duplicates), %d dirs, %d bytes\n",
				c.Dir, time.Since(start).Seconds(), c.Stats.Files, c.Stats.SmallFiles, c.Stats.DupFiles, c.Stats.Dirs, c.Stats.Bytes)
		}
		return c, err
	}
	mixed, err := ensure(corpus.Params{Bytes: int64(size)})
	if err != nil {
		return err
	}
	dups, err := ensure(corpus.Params{Bytes: int64(size), Dups: true})
	if err != nil {
		return err
	}
	pair := func(name string, c *corpus.Corpus, alg string) benchCase {
		return benchCase{name: name, c: c, rounds: rounds,
			ours: []string{"-impl", "rules_img", "-compress", alg}, base: []string{"-impl", "baseline", "-compress", alg}}
	}
	cases := []benchCase{
		pair("gzip", mixed, "gzip"),
		pair("zstd", mixed, "zstd"),
		pair("none", mixed, "none"),
		{name: "estargz (vs gzip)", c: mixed, rounds: rounds, ours: []string{"-variant", "estargz"}, baseFrom: "gzip"},
		{name: "zstd:chunked (vs zstd)", c: mixed, rounds: rounds, ours: []string{"-variant", "zstdchunked"}, baseFrom: "zstd"},
		pair("gzip, 30% dups", dups, "gzip"),
		pair("zstd, 30% dups", dups, "zstd"),
		pair("none, 30% dups", dups, "none"),
	}
	if big > 0 {
		single, err := ensure(corpus.Params{Bytes: int64(big), SingleFile: true})
		if err != nil {
			return err
		}
		alg := os.Getenv("BENCH_BIG_COMPRESS")
		if alg == "" {
			alg = "gzip"
		}
		c := pair(fmt.Sprintf("%s, one %s file", alg, human(int64(big))), single, alg)
		c.rounds = bigRounds
		cases = append(cases, c)
	}

	if only := os.Getenv("BENCH_CASES"); only != "" {
		keep := map[string]bool{}
		for _, c := range cases {
			for _, prefix := range strings.Split(only, ",") {
				if strings.HasPrefix(c.name, prefix) {
					keep[c.name] = true
					if c.baseFrom != "" {
						keep[c.baseFrom] = true // its baseline
					}
				}
			}
		}
		var kept []benchCase
		for _, c := range cases {
			if keep[c.name] {
				kept = append(kept, c)
			}
		}
		cases = kept
	}
	busy0 := machineBusy()
	var own time.Duration
	results := map[string]*result{}
	run := func(c benchCase, args []string) (sample, error) {
		out := filepath.Join(work, "blob")
		defer os.Remove(out)
		s, err := runChild(exe, append(args, "-dir", c.c.Root, "-bytes", strconv.FormatInt(c.c.Stats.Bytes, 10), "-out", out))
		own += s.cpu
		return s, err
	}
	// Every corpus is read once first, into the page cache, so that
	// whichever build comes first in a round does not pay for the disk.
	for _, c := range cases {
		if err := readTree(c.c.Root); err != nil {
			return err
		}
	}
	start := time.Now()
	for r := range max(rounds, bigRounds) {
		for _, c := range cases {
			if r >= c.rounds {
				continue
			}
			res := results[c.name]
			if res == nil {
				res = &result{}
				results[c.name] = res
			}
			order := []bool{true, false} // ours first?
			if r%2 == 1 {
				order = []bool{false, true}
			}
			for _, ours := range order {
				args := c.base
				if ours {
					args = c.ours
				}
				if args == nil {
					continue
				}
				fmt.Fprintf(os.Stderr, "round %d: %s, %s\n", r+1, c.name, map[bool]string{true: "rules_img", false: "baseline"}[ours])
				s, err := run(c, args)
				if err != nil {
					return fmt.Errorf("%s: %w", c.name, err)
				}
				fmt.Fprintf(os.Stderr, "  %.2fs wall, %.2fs CPU, %.0f MiB RSS\n", s.wall.Seconds(), s.cpu.Seconds(), float64(s.rssKiB)/1024)
				if ours {
					res.ours = append(res.ours, s)
				} else {
					res.base = append(res.base, s)
				}
			}
		}
		if r+1 < max(rounds, bigRounds) {
			// The table so far, in case the run is cut short.
			fmt.Fprintf(os.Stderr, "after round %d:\n", r+1)
			printTable(os.Stderr, cases, results, mixed, r+1)
		}
	}
	wall := time.Since(start)
	other := machineBusy() - busy0 - own
	printTable(os.Stdout, cases, results, mixed, rounds)
	fmt.Printf("\nother processes used %.0f CPU s during the %.0f s run (%.0f%% of the machine): wall-clock figures are skewed by that much at most; CPU figures are not\n",
		max(other.Seconds(), 0), wall.Seconds(), 100*max(other.Seconds(), 0)/(wall.Seconds()*float64(cpus())))
	return nil
}

func printTable(w io.Writer, cases []benchCase, results map[string]*result, mixed *corpus.Corpus, rounds int) {
	fmt.Fprintf(w, "\nLayer writing, rules_img (default settings) vs the baseline in the same run; %d CPUs; %d rounds, interleaved\n", cpus(), rounds)
	fmt.Fprintf(w, "corpus: %d files (%d small 1-64 KiB, 70%% text, 30%% random; 4 large, half compressible), %s; the dups corpus repeats 30%% of the small files\n",
		mixed.Stats.Files, mixed.Stats.SmallFiles, human(mixed.Stats.Bytes))
	fmt.Fprintln(w, "MB/s = file bytes / best wall time (1 MB = 10^6 B); CPU s = least user+sys of a build; RSS = largest peak RSS of a build")
	fmt.Fprintln(w, "baseline: walk, archive/tar, sha256 of the tar, pgzip -6 on all cores | zstd default | none, sha256 of the output, 64 KiB writes")
	fmt.Fprintln(w)
	f := "%-22s %9s %9s %6s | %8s %8s %6s | %8s %8s | %9s %9s\n"
	fmt.Fprintf(w, f, "case", "base MB/s", "ours MB/s", "ratio", "base CPU", "ours CPU", "ratio", "base RSS", "ours RSS", "base out", "ours out")
	fmt.Fprintln(w, strings.Repeat("-", 124))
	for _, c := range cases {
		res := results[c.name]
		if res == nil || len(res.ours) == 0 {
			continue
		}
		base := res.base
		if c.baseFrom != "" {
			base = results[c.baseFrom].base
		}
		b, o := summarize(base), summarize(res.ours)
		mbs := func(s sample) float64 { return float64(c.c.Stats.Bytes) / 1e6 / s.wall.Seconds() }
		fmt.Fprintf(w, f, c.name,
			fmt.Sprintf("%.0f", mbs(b)), fmt.Sprintf("%.0f", mbs(o)), fmt.Sprintf("%.2fx", mbs(o)/mbs(b)),
			fmt.Sprintf("%.2fs", b.cpu.Seconds()), fmt.Sprintf("%.2fs", o.cpu.Seconds()), fmt.Sprintf("%.2fx", o.cpu.Seconds()/b.cpu.Seconds()),
			fmt.Sprintf("%.0fMiB", float64(b.rssKiB)/1024), fmt.Sprintf("%.0fMiB", float64(o.rssKiB)/1024),
			fmt.Sprintf("%.0fMB", float64(b.outBytes)/1e6), fmt.Sprintf("%.0fMB", float64(o.outBytes)/1e6))
	}
	fmt.Fprintln(w, "\nratio: ours/base (MB/s: higher is better, CPU: lower is better)")
}

// summarize takes the best wall and CPU time and the largest RSS.
func summarize(ss []sample) sample {
	best := ss[0]
	for _, s := range ss[1:] {
		best.wall = min(best.wall, s.wall)
		best.cpu = min(best.cpu, s.cpu)
		best.rssKiB = max(best.rssKiB, s.rssKiB)
	}
	return best
}

// runChild runs one build and reads its figures: the wall time of the
// build itself (without process start) from its output, CPU time and peak
// RSS from the kernel.
func runChild(exe string, args []string) (sample, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return sample{}, fmt.Errorf("layerbench %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	var s sample
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	s.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	s.rssKiB = ru.Maxrss
	for _, field := range strings.Fields(stdout.String()) {
		k, v, _ := strings.Cut(field, "=")
		switch k {
		case "seconds":
			secs, _ := strconv.ParseFloat(v, 64)
			s.wall = time.Duration(secs * float64(time.Second))
		case "out_bytes":
			s.outBytes, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if s.wall == 0 {
		return s, fmt.Errorf("layerbench %s printed no time: %s", strings.Join(args, " "), stdout.String())
	}
	return s, nil
}

// machineBusy is the CPU time the whole machine has been busy.
func machineBusy() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
		if i < len(f) {
			n, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += n
		}
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

func cpus() int {
	n := 0
	data, _ := os.ReadFile("/proc/stat")
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "cpu") && len(line) > 3 && line[3] >= '0' && line[3] <= '9' {
			n++
		}
	}
	return max(n, 1)
}

func envInt(name string, def int) int {
	if s := os.Getenv(name); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			return n
		}
	}
	return def
}

func human(n int64) string {
	if n >= 1<<30 && n%(1<<30) == 0 {
		return fmt.Sprintf("%d GiB", n>>30)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}

// readTree reads every file below root.
func readTree(root string) error {
	buf := make([]byte, 1<<20)
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
		return err
	})
}
