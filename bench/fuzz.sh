#!/usr/bin/env bash
# Runs every Go fuzz target of the img tool for FUZZTIME each (default 10m)
# and prints the runs of each. The corpus of what was found stays in Go's
# cache ($(go env GOCACHE)/fuzz); a crasher is written below the package's
# testdata/fuzz/ and fails the run.
#
#   bench/fuzz.sh
#   FUZZTIME=1h bench/fuzz.sh
#   FUZZTIME=30s FUZZ_ONLY=FuzzReader bench/fuzz.sh
set -euo pipefail

cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10m}
targets=(
  "./tools/tarlayer FuzzReader"
  "./tools/lock FuzzParse"
  "./tools/lock FuzzRegistryDocuments"
  "./tools/manifest FuzzBaseConfig"
  "./tools/manifest FuzzReadRequest"
  "./tools/casregistry FuzzHandler"
  "./tools/bes FuzzJob"
)
status=0
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  if [ -n "${FUZZ_ONLY:-}" ] && [ "$name" != "$FUZZ_ONLY" ]; then
    continue
  fi
  log=$(mktemp)
  if go test "$pkg" -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" >"$log" 2>&1; then
    result=ok
  else
    result=FAIL
    status=1
  fi
  # The last progress line: "fuzz: elapsed: 20s, execs: 123456 (6172/sec), new interesting: ..."
  runs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  printf '%-5s %-40s %12s runs in %s\n' "$result" "$pkg $name" "${runs:-?}" "$fuzztime"
  [ "$result" = ok ] || cat "$log"
  rm -f "$log"
done
exit "$status"
