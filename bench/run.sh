#!/usr/bin/env bash
# Benchmarks rules_img's layer writer (the img tool's pipeline, default
# settings) against a plain Go baseline measured in the same run, and prints
# ONE table: throughput, CPU time, peak RSS and blob size of both, with
# ratios. Rounds are interleaved (baseline and rules_img alternate, the
# order flips every round) and every build runs in a process of its own;
# see bench/cmd/layerbench/table.go.
#
# Corpora (generated once from a fixed seed, under $TMPDIR/rules_img_bench):
# 1 GiB of ~20,000 small files (1-64 KiB, 70% text-like, 30% random) and
# four 100-150 MiB binaries (two half compressible, two random); the same
# with 30% of the small files duplicates; one 4 GiB binary.
#
#   bench/run.sh
#   BENCH_ROUNDS=5 bench/run.sh        more rounds (default 3)
#   BENCH_BIG=0 bench/run.sh           skip the 4 GiB file
#   BENCH_BYTES=104857600 bench/run.sh smaller mixed corpora
set -euo pipefail

cd "$(dirname "$0")/.."
work="$(mktemp -d "${TMPDIR:-/tmp}/rules_img_bench_run.XXXXXX")"
trap 'rm -rf "$work"' EXIT
go build -o "$work/layerbench" ./bench/cmd/layerbench
"$work/layerbench" -table
