#!/usr/bin/env bash
# usage: containerd.sh up DIR | down DIR
#
# A private containerd (Debian's, config version 3) for rules_img's tests,
# with everything it owns under DIR. Needs root; install.sh installs it.
#
#   up DIR    writes DIR/containerd/config.toml (root, state, temp dir and
#             both sockets under DIR/containerd; CRI and NRI off, so it
#             listens on its unix sockets only), starts containerd detached,
#             waits until `ctr version` answers (20 s at most) and writes
#             DIR/env.sh, which exports CONTAINERD_ADDRESS.
#             Log: DIR/logs/containerd.log. PID: DIR/run/containerd.pid.
#             DIR must be at most 60 characters: unix socket paths are
#             limited to 108 bytes. Does nothing if it already runs for DIR.
#   down DIR  kills the containers still running in it, stops containerd
#             (SIGTERM, SIGKILL after 15 s), then leftover shims, and unmounts
#             everything below DIR, deepest first. Keeps DIR. Safe to run
#             when nothing runs.
#
# Outside DIR, containerd and ctr still use /run/containerd (shim sockets,
# runc state, fifos): those paths are compiled in.
#
# Env: CONTAINERD_BIN (default /usr/bin/containerd), CTR_BIN (/usr/bin/ctr),
#      RUNC_BIN (/usr/bin/runc). Absolute paths by default because a
#      `go install`ed containerd in ~/go/bin may come first on PATH.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONTAINERD_BIN=${CONTAINERD_BIN:-/usr/bin/containerd}
CTR_BIN=${CTR_BIN:-/usr/bin/ctr}
RUNC_BIN=${RUNC_BIN:-/usr/bin/runc}
MAX_DIR_LEN=60
READY_TIMEOUT=20

case ${1:-} in
  -h | --help) usage; exit 0 ;;
  up | down) [ $# -eq 2 ] || die "usage: containerd.sh up|down DIR (see --help)" ;;
  *) die "usage: containerd.sh up|down DIR (see --help)" ;;
esac
CMD=$1

set_paths() {  # DIR (absolute)
  DIR=$1
  C=$DIR/containerd
  SOCK=$C/containerd.sock
  PIDFILE=$DIR/run/containerd.pid
  LOG=$DIR/logs/containerd.log
}

ctr_ok() { timeout 5 "$CTR_BIN" --address "$SOCK" version; }

up() {
  [ "$(id -u)" -eq 0 ] || die "containerd needs root"
  [ -x "$CONTAINERD_BIN" ] || die "$CONTAINERD_BIN not found (run install.sh)"
  [ -x "$CTR_BIN" ] || die "$CTR_BIN not found (run install.sh)"
  [ -x "$RUNC_BIN" ] || die "$RUNC_BIN not found (run install.sh)"
  set_paths "$(abs_dir "$1")"
  [ ${#DIR} -le $MAX_DIR_LEN ] ||
    die "DIR is ${#DIR} characters, more than $MAX_DIR_LEN: socket paths would not fit ($DIR)"
  local pid
  if pid=$(pidfile_owner "$PIDFILE" "$DIR"); then
    say "containerd already runs for $DIR (pid $pid)"
    return 0
  fi
  mkdir -p "$DIR/run" "$DIR/logs" "$C/root" "$C/state" "$C/tmp" "$C/opt"

  # CRI (and the plugins that only serve it) is off: no CNI errors and no
  # streaming port on the network. NRI is off: no /var/run/nri socket.
  # debug and metrics have no address, so they do not listen at all.
  # opt and image-verifier would otherwise use /opt/containerd.
  cat >"$C/config.toml" <<EOF
version = 3
root = "$C/root"
state = "$C/state"
temp = "$C/tmp"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.cri.v1.images",
  "io.containerd.cri.v1.runtime",
  "io.containerd.podsandbox.controller.v1.podsandbox",
  "io.containerd.sandbox.controller.v1.shim",
  "io.containerd.grpc.v1.sandbox-controllers",
  "io.containerd.nri.v1.nri",
]

[grpc]
  address = "$SOCK"

[ttrpc]
  address = "$SOCK.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$C/opt"

[plugins."io.containerd.image-verifier.v1.bindir"]
  bin_dir = "$C/opt/image-verifier/bin"
EOF

  local t0
  t0=$(now)
  spawn "$PIDFILE" "$LOG" "$CONTAINERD_BIN" --config "$C/config.toml"
  pid=$(cat "$PIDFILE")
  if ! await containerd "$pid" "$LOG" "$READY_TIMEOUT" ctr_ok; then
    stop containerd "$pid" "$DIR" || true
    rm -f "$PIDFILE"
    die "containerd did not come up"
  fi
  {
    echo "# containerd for $DIR; stop it with: containerd.sh down $DIR"
    echo "export CONTAINERD_ADDRESS=$(printf '%q' "$SOCK")"
  } >"$DIR/env.sh"
  say "containerd (pid $pid) ready in $(since "$t0") s; source $DIR/env.sh"
}

# Containers still running in our containerd: delete -f kills and removes them
# while containerd can still tell their shims to clean up.
kill_tasks() {
  [ -S "$SOCK" ] && pidfile_owner "$PIDFILE" "$DIR" >/dev/null || return 0
  local ns t
  for ns in $(timeout 10 "$CTR_BIN" -a "$SOCK" namespaces ls -q 2>/dev/null); do
    for t in $(timeout 10 "$CTR_BIN" -a "$SOCK" -n "$ns" tasks ls -q 2>/dev/null); do
      timeout 10 "$CTR_BIN" -a "$SOCK" -n "$ns" tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true
      timeout 20 "$CTR_BIN" -a "$SOCK" -n "$ns" tasks delete -f "$t" >/dev/null 2>&1 || true
      say "killed task $ns/$t"
    done
  done
}

# Containers whose containerd is already gone (it crashed, or was killed):
# runc keeps them in /run/containerd/runc/NS; we delete only those whose
# bundle is in our state dir, since another containerd may use the same IDs.
kill_orphan_containers() {
  local b ns id
  for b in "$C"/state/io.containerd.runtime.v2.task/*/*; do
    [ -d "$b" ] || continue
    id=${b##*/}
    ns=${b%/*}
    ns=${ns##*/}
    if "$RUNC_BIN" --root "/run/containerd/runc/$ns" state "$id" 2>/dev/null | grep -qF "\"bundle\": \"$b\""; then
      "$RUNC_BIN" --root "/run/containerd/runc/$ns" delete --force "$id" 2>/dev/null || true
      say "deleted orphan container $ns/$id"
    fi
  done
}

down() {
  if [ ! -d "$1" ]; then
    say "$1 does not exist: nothing to stop"
    return 0
  fi
  set_paths "$(cd "$1" && pwd -P)"
  kill_tasks
  stop_pidfile containerd "$PIDFILE" "$DIR"
  if [ -x "$RUNC_BIN" ]; then kill_orphan_containers; fi
  stop_leftovers 'containerd-shim*' "$DIR"
  umount_below "$DIR"
  say "containerd down for $DIR"
}

"$CMD" "$2"
