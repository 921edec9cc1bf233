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

# Bazel tests of the root module.
check "bazel test //... (analysis tests)" bazel test //...
bazel shutdown

for t in e2e/*/test.sh; do
  bash "$t"
done
bash docs/test.sh

passed=$(grep -c '^PASS' "$IMG_TEST_RESULTS")
failed=$(grep -c '^FAIL' "$IMG_TEST_RESULTS")
grep '^FAIL' "$IMG_TEST_RESULTS" | sed 's/^FAIL\t/failed: /'
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
