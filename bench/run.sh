#!/usr/bin/env bash
# Benchmarks rules_img's layer writer against a stock-library baseline on a
# generated corpus and prints one table: throughput of both, the ratio, blob
# sizes, and the peak RSS of one layer build; then a second table of
# rules_img's compressions side by side: single-stream gzip, pgzip on 2
# goroutines, zstd and eStargz.
#
#   bench/run.sh                       1 GiB corpus, 3 iterations
#   IMG_BENCH_BYTES=104857600 bench/run.sh
#   IMG_BENCH_DUPS=1 bench/run.sh      variant: 30% of small files are duplicates
#   ITERS=5 bench/run.sh
#
# IMG_BENCH_CORPUS picks the corpus directory (default: one per size and
# variant under $TMPDIR/rules_img_bench); it is generated once and reused.
set -euo pipefail

cd "$(dirname "$0")/.."
ITERS="${ITERS:-3}"
export IMG_BENCH_BYTES="${IMG_BENCH_BYTES:-1073741824}"
export IMG_BENCH_DUPS="${IMG_BENCH_DUPS:-0}"

if [[ ! -x /usr/bin/time ]]; then
  echo "run.sh: installing GNU time for peak RSS" >&2
  sudo=""
  [[ "$(id -u)" -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq time >&2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/rules_img_bench_run.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Other work on the machine skews wall-clock numbers: account for it.
busy_seconds() { # CPU seconds the whole machine has been busy
  awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%.1f", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat
}
own_seconds() { # CPU seconds of this script's finished children, from times in $1
  awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); t += p[1] * 60 + p[2] }; printf "%.1f", t }' "$1"
}
start=$SECONDS
busy_start="$(busy_seconds)"
go build -o "$work/layerbench" ./bench/cmd/layerbench

# 1. The corpus, generated once.
root="$("$work/layerbench" -gen 2>"$work/gen.txt")" || { cat "$work/gen.txt" >&2; exit 1; }
cat "$work/gen.txt" >&2

# 2. Throughput: go test benchmarks, each pipeline ITERS times.
echo "run.sh: benchmarking, $ITERS iterations per pipeline" >&2
go test -run '^$' -bench '^(BenchmarkLayer|BenchmarkCompression)$' -benchtime="${ITERS}x" -count=1 -timeout 0 ./bench/ \
  | tee "$work/bench.txt" >&2

# 3. Peak RSS of one layer build per compression, in a process of its own.
for alg in gzip zstd none; do
  for impl in rules_img baseline; do
    echo "run.sh: peak RSS, $impl $alg" >&2
    /usr/bin/time -v "$work/layerbench" -dir "$root" -compress "$alg" -impl "$impl" \
      >"$work/lb-$impl-$alg.txt" 2>"$work/time-$impl-$alg.txt" \
      || { cat "$work/time-$impl-$alg.txt" >&2; exit 1; }
    cat "$work/lb-$impl-$alg.txt" >&2
  done
done
for variant in gzip pgzip2 zstd estargz; do
  echo "run.sh: peak RSS, rules_img $variant" >&2
  /usr/bin/time -v "$work/layerbench" -dir "$root" -variant "$variant" \
    >"$work/lb-variant-$variant.txt" 2>"$work/time-variant-$variant.txt" \
    || { cat "$work/time-variant-$variant.txt" >&2; exit 1; }
  cat "$work/lb-variant-$variant.txt" >&2
done

# 4. The table.
rss() { # peak RSS in MiB
  awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$work/time-$1-$2.txt"
}
metric() { # value of unit $3 for BenchmarkLayer/$1/$2
  awk -v name="BenchmarkLayer/$1/$2" -v unit="$3" '
    { sub(/-[0-9]+$/, "", $1) }
    $1 == name { for (i = 2; i < NF; i++) if ($(i + 1) == unit) print $i }' "$work/bench.txt"
}
vmetric() { # value of unit $2 for BenchmarkCompression/$1
  awk -v name="BenchmarkCompression/$1" -v unit="$2" '
    { sub(/-[0-9]+$/, "", $1) }
    $1 == name { for (i = 2; i < NF; i++) if ($(i + 1) == unit) print $i }' "$work/bench.txt"
}
times >"$work/times.txt" # here, not in $(...): a subshell's times are its own
other="$(awk -v b0="$busy_start" -v b1="$(busy_seconds)" -v own="$(own_seconds "$work/times.txt")" -v wall="$((SECONDS - start))" -v cpus="$(nproc)" \
  'BEGIN { o = b1 - b0 - own; if (o < 0) o = 0; printf "%.0f CPU s (%.0f%% of the machine)", o, 100 * o / (wall * cpus) }')"

echo
echo "Layer writing: $(sed 's/^corpus ready in [0-9.]*s: //' "$work/gen.txt")"
echo "corpus $root (dups=$IMG_BENCH_DUPS), $ITERS iterations, $(nproc) CPUs"
echo "other processes used $other during the run: if high, wall-clock numbers are skewed"
echo "MB/s = corpus bytes / wall time (1 MB = 10^6 bytes); out MB = blob size; CPU s = user+sys CPU seconds per build"
echo "(all cores; less disturbed by other load than MB/s); RSS = peak of one build in its own process (/usr/bin/time -v)"
echo
fmt='%-5s  %13s  %14s  %9s  %15s  %16s  %10s  %11s  %13s  %12s\n'
printf "$fmt" "comp" "baseline MB/s" "rules_img MB/s" "ours/base" "baseline out MB" "rules_img out MB" \
  "base CPU s" "ours CPU s" "rules_img RSS" "baseline RSS"
for alg in gzip zstd none; do
  base="$(metric "$alg" baseline MB/s)"
  ours="$(metric "$alg" rules_img MB/s)"
  printf "$fmt" "$alg" "$base" "$ours" \
    "$(awk -v o="$ours" -v b="$base" 'BEGIN { printf "%.2fx", o / b }')" \
    "$(awk -v n="$(metric "$alg" baseline out-bytes)" 'BEGIN { printf "%.1f", n / 1e6 }')" \
    "$(awk -v n="$(metric "$alg" rules_img out-bytes)" 'BEGIN { printf "%.1f", n / 1e6 }')" \
    "$(awk -v n="$(metric "$alg" baseline cpu-s/op)" 'BEGIN { printf "%.2f", n }')" \
    "$(awk -v n="$(metric "$alg" rules_img cpu-s/op)" 'BEGIN { printf "%.2f", n }')" \
    "$(rss rules_img "$alg") MiB" "$(rss baseline "$alg") MiB"
done

echo
echo "rules_img compressions (gzip = compression_jobs=1, pgzip2 = compression_jobs=2, zstd on all cores, eStargz), default levels"
vfmt='%-8s  %8s  %10s  %8s  %9s  %8s\n'
printf "$vfmt" "variant" "MB/s" "vs gzip" "out MB" "cpu-s/op" "RSS"
gzip_mbs="$(vmetric gzip MB/s)"
for variant in gzip pgzip2 zstd estargz; do
  mbs="$(vmetric "$variant" MB/s)"
  printf "$vfmt" "$variant" "$mbs" \
    "$(awk -v o="$mbs" -v b="$gzip_mbs" 'BEGIN { printf "%.2fx", o / b }')" \
    "$(awk -v n="$(vmetric "$variant" out-bytes)" 'BEGIN { printf "%.1f", n / 1e6 }')" \
    "$(vmetric "$variant" cpu-s/op)" \
    "$(rss variant "$variant") MiB"
done
echo
echo "total run time: $((SECONDS - start))s"
