#!/usr/bin/env bash
# test.sh: installs what is needed, then runs every test of rules_img: static
# checks, Go unit tests, the root workspace's Bazel tests and each end-to-end
# workspace under e2e/. Ends with "N passed, N failed".
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
"$root/tools/setup/setup.sh" || { echo "test: set-up failed" >&2; exit 1; }

export IMG_TEST_RESULTS
IMG_TEST_RESULTS=$(mktemp)
. "$root/e2e/lib.sh"

# Static checks.
check_eq "gofmt: every Go file is formatted" "" "$(gofmt -l tools bench generator 2>&1)"
check "go vet ./..." go vet ./...
check "buildifier: every Starlark file is formatted and lint-clean" \
  buildifier -mode=check -lint=warn -r img toolchains extensions e2e docs MODULE.bazel BUILD.bazel
# The BUILD files of generated repositories too: among buildifier's warnings
# are the native-* ones, for a rule that Bazel 9 no longer has built in.
# (They load rules_img's private .bzl files, which is theirs to do.)
check "buildifier: the templates of generated BUILD files are formatted and lint-clean" \
  buildifier -mode=check -lint=warn -warnings=-bzl-visibility -type=build templates/*.tmpl

# Go unit tests, one result per package.
go_log=$(mktemp)
go test ./... >"$go_log" 2>&1
while read -r status pkg _; do
  case $status in
    ok) pass "go test $pkg" ;;
    FAIL) [ -n "$pkg" ] && fail "go test $pkg" "$(grep -A20 -e '--- FAIL' "$go_log")" ;;
  esac
done <"$go_log"
grep -q '^ok' "$go_log" || fail "go test ./... ran" "$(tail -n 30 "$go_log")"

# cas-registry against the OCI conformance suite that the peers install
# builds; the test skips without it, so its absence is a failure here.
conformance_run() {
  local bin out
  bin=$(command -v conformance) || { echo "no conformance binary on PATH: run tools/setup/peers/install.sh"; return 1; }
  out=$(OCI_CONFORMANCE=$bin go test -count=1 -run '^TestOCIConformance$' -v ./tools/casregistry 2>&1)
  grep -q -- '--- PASS: TestOCIConformance' <<<"$out" || { tail -n 60 <<<"$out"; return 1; }
}
check "cas-registry passes the OCI distribution-spec conformance suite, referrers included" conformance_run

# Every fuzz target, briefly (bench/fuzz.sh runs them longer).
check "fuzz: every Go fuzz target runs 5 s without a failure" env FUZZTIME=5s bench/fuzz.sh

# Bazel tests of the root module.
check "bazel test //... (analysis tests)" bazel test //...
bazel shutdown

# timed CMD...: runs CMD, then says how long it took.
timed() {
  local start=$SECONDS
  "$@"
  printf 'time: %s: %dm%02ds\n' "$*" $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60))
}

for t in e2e/*/test.sh docs/test.sh; do
  timed run_whole "${t%/test.sh}" bash "$t"
done

# The second pass: every e2e workspace and the docs again, under the
# defaults of Bazel 8 and 9 (tools/setup/bazel8.bazelrc), with the same disk
# cache. Its results' names start with "bazel8: ". Not e2e/workspace, the
# WORKSPACE example: Bazel 8 reads WORKSPACE only with --enable_workspace,
# Bazel 9 not at all.
second=bazel8
for t in e2e/*/test.sh docs/test.sh; do
  case $t in e2e/workspace/*) continue ;; esac
  IMG_E2E_PASS=$second IMG_E2E_BAZELRC=$root/tools/setup/bazel8.bazelrc \
    timed run_whole "$second: ${t%/test.sh}" bash "$t"
done

# count STATUS [PASS]: the results with STATUS (PASS or FAIL) of the second
# pass, or of all passes.
count() { grep -c "^$1	${2:+$2: }" "$IMG_TEST_RESULTS"; }
passed=$(count PASS) failed=$(count FAIL)
grep '^FAIL' "$IMG_TEST_RESULTS" | sed 's/^FAIL\t/failed: /'
echo "Bazel $(bazel --version | cut -d' ' -f2): $((passed - $(count PASS $second))) passed, $((failed - $(count FAIL $second))) failed"
echo "Bazel 8 and 9 flags (tools/setup/bazel8.bazelrc): $(count PASS $second) passed, $(count FAIL $second) failed"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
