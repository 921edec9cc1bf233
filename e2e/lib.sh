# lib.sh: helpers for the end-to-end tests. Sourced, not run.
#
# Each check appends one line, PASS or FAIL with its name, to
# $IMG_TEST_RESULTS (tools/test.sh counts them) and prints it.

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$E2E_ROOT/.." && pwd)
IMG_TEST_RESULTS=${IMG_TEST_RESULTS:-$(mktemp)}
PEERS_TOOLS=${RULES_IMG_PEERS_TOOLS:-/var/tmp/rules-img-peers}
export PATH="$PEERS_TOOLS/bin:$PATH"
E2E_FAILED=0

# tools/test.sh runs the tests twice. In its second pass IMG_E2E_PASS names
# the pass, which prefixes the name of every result, and IMG_E2E_BAZELRC is
# an rc file (tools/setup/bazel8.bazelrc) that every bazel command reads
# after the workspace's .bazelrc: e2e/bin/bazel adds it.
E2E_PASS=${IMG_E2E_PASS:+$IMG_E2E_PASS: }
if [ -n "${IMG_E2E_BAZELRC:-}" ]; then
  IMG_E2E_BAZELRC=$(readlink -f "$IMG_E2E_BAZELRC")
  export IMG_E2E_BAZELRC PATH="$E2E_ROOT/bin:$PATH"
fi

# pass NAME / fail NAME DETAIL: record one result.
pass() { printf 'PASS\t%s%s\n' "$E2E_PASS" "$1" >>"$IMG_TEST_RESULTS"; printf 'PASS: %s%s\n' "$E2E_PASS" "$1"; }
fail() {
  printf 'FAIL\t%s%s\n' "$E2E_PASS" "$1" >>"$IMG_TEST_RESULTS"
  printf 'FAIL: %s%s\n' "$E2E_PASS" "$1"
  [ -z "${2:-}" ] || printf '%s\n' "$2" | tail -n 30 | sed 's/^/    /'
  E2E_FAILED=1
}

# expect_checks N: this script records N results, whatever happens. Each
# script declares it right after sourcing this file; tools/test.sh holds it
# to it (run_whole).
expect_checks() { printf 'PLAN\t%s\n' "$1" >>"$IMG_TEST_RESULTS"; }

# run_whole NAME CMD...: runs a test script, then records whether it ran
# whole: as many results as its expect_checks declared, and exit status 0
# unless one of them failed. A script that dies early, or skips checks,
# fails here even when every check it did record passed.
run_whole() {
  local name=$1 start rc results planned ran failed; shift
  start=$(wc -l <"$IMG_TEST_RESULTS")
  "$@"
  rc=$?
  results=$(tail -n "+$((start + 1))" "$IMG_TEST_RESULTS")
  planned=$(awk -F'\t' '$1 == "PLAN" { n = $2 } END { print n }' <<<"$results")
  ran=$(awk -F'\t' '$1 == "PASS" || $1 == "FAIL" { n++ } END { print n + 0 }' <<<"$results")
  failed=$(awk -F'\t' '$1 == "FAIL" { n++ } END { print n + 0 }' <<<"$results")
  if [ -z "$planned" ]; then
    fail "$name: ran whole" "$name declares no count of checks: call expect_checks N after sourcing e2e/lib.sh"
  elif [ "$ran" -ne "$planned" ]; then
    fail "$name: ran whole" "$name recorded $ran results, and declares $planned (exit status $rc): a check was skipped or the script died; or update its expect_checks"
  elif [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    fail "$name: ran whole" "$name exited with status $rc, and none of its checks failed"
  else
    pass "$name: ran whole ($ran checks)"
  fi
}

# check NAME CMD...: CMD must succeed.
check() {
  local name=$1 out; shift
  if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$out"; fi
}

# check_fails NAME PATTERN CMD...: CMD must fail, and its output must contain PATTERN.
check_fails() {
  local name=$1 pattern=$2 out; shift 2
  if out=$("$@" 2>&1); then
    fail "$name" "expected a failure, but it succeeded: $out"
  elif ! grep -qF -- "$pattern" <<<"$out"; then
    fail "$name" "the output lacks '$pattern':
$out"
  else
    pass "$name"
  fi
}

# check_eq NAME WANT GOT
check_eq() {
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "want: $2
got:  $3"; fi
}

# Canonical repository names are Bazel's to choose, and Bazel 7 and 8 form
# them differently: tests find repositories through these, never by
# spelling one.
#
# repo_name NAME [FROM]: the canonical name of the repository that the
# repository FROM (a canonical name; by default the main repository) sees as
# NAME, or nothing.
repo_name() { bazel mod dump_repo_mapping "${2:-}" 2>/dev/null | jq -r --arg n "$1" '.[$n] // empty'; }

# repo_path NAME [FROM]: that repository's directory under the output base.
# Fails, printing nothing, when FROM sees no NAME.
repo_path() {
  local name
  name=$(repo_name "$@") && [ -n "$name" ] && echo "$(bazel info output_base 2>/dev/null)/external/$name"
}

# repo_dir QUERY: the directory of the package of the first target QUERY names.
repo_dir() { bazel query "$1" --output=location 2>/dev/null | sed -n '1s#/BUILD\(\.bazel\)\?:.*##p'; }

# containerd_up DIR: a private containerd; stopped by the EXIT trap.
containerd_up() {
  CONTAINERD_DIR=$1
  "$REPO_ROOT/tools/setup/peers/containerd.sh" up "$CONTAINERD_DIR" >/dev/null
  # shellcheck source=/dev/null
  . "$CONTAINERD_DIR/env.sh"
}

containerd_down() {
  [ -z "${CONTAINERD_DIR:-}" ] || "$REPO_ROOT/tools/setup/peers/containerd.sh" down "$CONTAINERD_DIR" >/dev/null 2>&1 || true
}

# run_in_containerd LAYOUT NAME: imports an OCI layout directory as NAME and
# runs its entrypoint, printing what it prints.
run_in_containerd() {
  local layout=$1 name=$2 tarball
  tarball=$(mktemp --suffix=.tar)
  tar -C "$layout" -cf "$tarball" .
  ctr images import --base-name "$name" "$tarball" >/dev/null && rm -f "$tarball" &&
    ctr run --rm --snapshotter overlayfs "$name:latest" "e2e-$$-$RANDOM"
}

# finish: exit status of the script.
finish() { exit "$E2E_FAILED"; }

# ---- Inputs that must be there (helpers of e2e/go, cc, python, distroless,
# js, compat, toolchain, workspace and docs/test.sh). A check built on these
# fails when what it reads is missing: two missing files never compare
# equal, and an absence counts only in an input that exists.

# sha256_of FILE: "sha256:HEX" of FILE, by sha256sum; else why not, status 1.
sha256_of() {
  local sum
  [ -f "$1" ] || { echo "no file $1"; return 1; }
  sum=$(sha256sum <"$1") || { echo "sha256sum could not read $1"; return 1; }
  echo "sha256:${sum%% *}"
}

# sha256_decompressed gzip|zstd FILE: "sha256:HEX" of what gzip -d or
# zstd -d makes of FILE (a layer's diff_id); else why not, status 1. FILE
# must start with that format's magic number: zstd -d reads gzip too.
sha256_decompressed() {
  local out magic want
  [ -f "$2" ] || { echo "no file $2"; return 1; }
  case $1 in gzip) want="1f 8b" ;; zstd) want="28 b5 2f fd" ;; *) echo "sha256_decompressed: no format $1"; return 1 ;; esac
  magic=$(od -An -tx1 -N"$(wc -w <<<"$want")" "$2" | xargs)
  [ "$magic" = "$want" ] || { echo "$2 is no $1 stream: it starts with ${magic:-nothing}, not $want"; return 1; }
  out=$({ "$1" -dc <"$2" | sha256sum; exit "${PIPESTATUS[0]}"; } 2>&1) ||
    { echo "$1 -d failed on $2: $out"; return 1; }
  echo "sha256:${out%% *}"
}

# check_none NAME REGEX CMD...: CMD must succeed and print something, and
# none of its lines may match REGEX (grep -E).
check_none() {
  local name=$1 regex=$2 out found; shift 2
  if ! out=$("$@" 2>&1); then
    fail "$name" "nothing to look in: $* failed: $out"
  elif [ -z "$out" ]; then
    fail "$name" "nothing to look in: $* printed nothing"
  elif found=$(grep -E -- "$regex" <<<"$out"); then
    fail "$name" "found: $found"
  else
    pass "$name"
  fi
}

# containerd_start DIR: containerd_up, but a containerd that does not start
# fails each check that needs it (containerd_ready says why) rather than
# skipping them: a script records as many results either way.
containerd_start() {
  local log
  log=$(mktemp)
  if containerd_up "$1" 2>"$log" && [ -n "${CONTAINERD_ADDRESS:-}" ]; then
    CONTAINERD_NOT_UP=
  else
    CONTAINERD_NOT_UP="containerd did not start: $(tail -n 20 "$log")"
  fi
  rm -f "$log"
}

# containerd_ready: status 0 when containerd_start started containerd; else
# prints why not. Guards every ctr command: without it ctr would talk to
# the system's containerd.
containerd_ready() {
  local why=${CONTAINERD_NOT_UP-containerd_start was not called}
  [ -z "$why" ] || { echo "$why"; return 1; }
}

# containerd_run_layout LAYOUT NAME: run_in_containerd, once containerd_ready.
containerd_run_layout() { containerd_ready && run_in_containerd "$@"; }
# ---- end of the helpers for inputs that must be there.
