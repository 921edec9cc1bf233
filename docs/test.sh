#!/usr/bin/env bash
# The docs: the checked-in API reference and settings page are what the
# source generates, every public .bzl file has a page, and every Starlark
# snippet in docs/ equals the e2e region it names (see tools/docs/update.sh).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../e2e/lib.sh
trap 'bazel shutdown >/dev/null 2>&1' EXIT

check "docs: the docs tooling's unit tests pass" go test -C "$REPO_ROOT" ./tools/docs/...
check "docs: docs/reference/ is what the source generates, and the snippets match e2e (else run tools/docs/update.sh)" \
  "$REPO_ROOT/tools/docs/update.sh" --check
finish
