#!/usr/bin/env bash
# usage: podman.sh up DIR | down DIR
#
# A private podman (the sid podman that install.sh unpacks, never installed)
# for rules_img's tests, with its configuration, storage and API socket
# under DIR. Needs root.
#
#   up DIR    writes DIR/podman/containers.conf (the unpacked helpers and
#             conmon, runtime runc, cgroup manager cgroupfs, events to
#             DIR/podman/events.log, no network for containers) and
#             DIR/podman/storage.conf (vfs driver, graphroot and runroot
#             under DIR/podman), and DIR/podman/bin/podman: a wrapper that
#             runs the unpacked podman with that configuration and
#             LD_LIBRARY_PATH set for the unpacked libsubid. Then starts
#             `podman system service` detached on the unix socket
#             DIR/podman/podman.sock (nothing listens on the network), waits
#             until `podman --url` answers (20 s at most) and writes
#             DIR/podman.env, which puts the wrapper first on PATH and
#             exports PODMAN_SOCK. The wrapper without --url uses the same
#             storage as the service. Log: DIR/logs/podman.log. PID:
#             DIR/run/podman.pid. DIR must be at most 60 characters. Does
#             nothing if the service already runs for DIR.
#   down DIR  stops the service (SIGTERM, SIGKILL after 15 s) and any conmon
#             left behind for DIR, and unmounts everything below
#             DIR/podman, deepest first. Keeps DIR. Safe to run when nothing
#             runs.
#
# Outside DIR, podman reads /etc/containers/policy.json and
# /usr/share/containers/seccomp.json (containers-common, which skopeo
# brings), and runs containers with runc (/usr/sbin/runc).
#
# Env: RULES_IMG_PEERS_TOOLS (default /var/tmp/rules-img-peers): podman is
#      in its podman/root.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TOOLS=${RULES_IMG_PEERS_TOOLS:-/var/tmp/rules-img-peers}
ROOT=$TOOLS/podman/root
MAX_DIR_LEN=60
READY_TIMEOUT=20

case ${1:-} in
  -h | --help) usage; exit 0 ;;
  up | down) [ $# -eq 2 ] || die "usage: podman.sh up|down DIR (see --help)" ;;
  *) die "usage: podman.sh up|down DIR (see --help)" ;;
esac
CMD=$1

set_paths() {  # DIR (absolute)
  DIR=$1
  P=$DIR/podman
  SOCK=$P/podman.sock
  WRAPPER=$P/bin/podman
  PIDFILE=$DIR/run/podman.pid
  LOG=$DIR/logs/podman.log
}

podman_ok() { timeout 5 "$WRAPPER" --url "unix://$SOCK" version; }

up() {
  [ "$(id -u)" -eq 0 ] || die "podman runs rootful here, as root"
  [ -x "$ROOT/usr/bin/podman" ] || die "no podman in $ROOT (run tools/setup/setup.sh, or tools/setup/peers/install.sh)"
  [ -x "$ROOT/usr/bin/conmon" ] || die "no conmon in $ROOT (run tools/setup/peers/install.sh)"
  command -v runc >/dev/null || die "no runc on PATH (run tools/setup/peers/install.sh)"
  [ -f /etc/containers/policy.json ] ||
    die "no /etc/containers/policy.json (containers-common, which skopeo brings: run tools/setup/peers/install.sh)"
  local lib
  lib=$(find "$ROOT/usr/lib" -name 'libsubid.so.6*' -printf '%h\n' 2>/dev/null | head -n1)
  [ -n "$lib" ] || die "no libsubid.so.6 under $ROOT/usr/lib (run tools/setup/peers/install.sh)"
  set_paths "$(abs_dir "$1")"
  [ ${#DIR} -le $MAX_DIR_LEN ] ||
    die "DIR is ${#DIR} characters, more than $MAX_DIR_LEN: socket paths would not fit ($DIR)"
  local pid
  if pid=$(pidfile_owner "$PIDFILE" "$DIR"); then
    say "podman already serves $DIR (pid $pid)"
    return 0
  fi
  mkdir -p "$DIR/run" "$DIR/logs" "$P/bin" "$P/root" "$P/run" "$P/tmp" "$P/networks"

  # Every path podman would otherwise take from /var/lib/containers,
  # /run/containers, /run/libpod or /etc/containers/networks is under P.
  cat >"$P/containers.conf" <<EOF
[containers]
netns = "none"

[engine]
helper_binaries_dir = ["$ROOT/usr/lib/podman", "$ROOT/usr/libexec/podman"]
conmon_path = ["$ROOT/usr/bin/conmon"]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$P/events.log"
tmp_dir = "$P/tmp"
static_dir = "$P/root/libpod"
volume_path = "$P/root/volumes"

[network]
network_config_dir = "$P/networks"
EOF
  cat >"$P/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$P/root"
runroot = "$P/run"
EOF
  cat >"$WRAPPER" <<EOF
#!/bin/sh
# podman for $DIR, written by podman.sh up: the unpacked podman with its
# private configuration and storage.
export LD_LIBRARY_PATH=$(printf '%q' "$lib")\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
export CONTAINERS_CONF=$(printf '%q' "$P/containers.conf")
export CONTAINERS_STORAGE_CONF=$(printf '%q' "$P/storage.conf")
export PODMAN_IGNORE_CGROUPSV1_WARNING=1
export TMPDIR=$(printf '%q' "$P/tmp")
exec $(printf '%q' "$ROOT/usr/bin/podman") "\$@"
EOF
  chmod 755 "$WRAPPER"
  "$WRAPPER" --version >/dev/null 2>&1 || die "the unpacked podman does not run: $WRAPPER --version"

  local t0
  t0=$(now)
  rm -f "$SOCK"
  spawn "$PIDFILE" "$LOG" "$WRAPPER" system service --time=0 "unix://$SOCK"
  pid=$(cat "$PIDFILE")
  if ! await podman "$pid" "$LOG" "$READY_TIMEOUT" podman_ok; then
    stop podman "$pid" "$DIR" || true
    rm -f "$PIDFILE"
    die "podman system service did not come up"
  fi
  {
    echo "# podman for $DIR; stop its service with: podman.sh down $DIR"
    echo "export PATH=$(printf '%q' "$P/bin"):\$PATH"
    echo "export PODMAN_SOCK=$(printf '%q' "$SOCK")"
  } >"$DIR/podman.env"
  say "podman system service (pid $pid, $("$WRAPPER" --version)) ready in $(since "$t0") s; source $DIR/podman.env"
}

down() {
  if [ ! -d "$1" ]; then
    say "$1 does not exist: nothing to stop"
    return 0
  fi
  set_paths "$(cd "$1" && pwd -P)"
  stop_pidfile podman "$PIDFILE" "$DIR"
  stop_leftovers conmon "$DIR"
  umount_below "$P"
  say "podman down for $DIR"
}

"$CMD" "$2"
