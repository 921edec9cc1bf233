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

# pass NAME / fail NAME DETAIL: record one result.
pass() { printf 'PASS\t%s\n' "$1" >>"$IMG_TEST_RESULTS"; printf 'PASS: %s\n' "$1"; }
fail() {
  printf 'FAIL\t%s\n' "$1" >>"$IMG_TEST_RESULTS"
  printf 'FAIL: %s\n' "$1"
  [ -z "${2:-}" ] || printf '%s\n' "$2" | tail -n 30 | sed 's/^/    /'
  E2E_FAILED=1
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
