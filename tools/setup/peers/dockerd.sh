#!/usr/bin/env bash
# usage: dockerd.sh up DIR [--containerd-store] | down DIR
#
# A private dockerd (Debian's docker.io) for rules_img's tests, with
# everything it owns under DIR, on the private containerd of containerd.sh
# (started for DIR when it does not run yet). Needs root; install.sh
# installs it.
#
#   up DIR    writes DIR/docker/daemon.json (data-root, exec-root, pidfile and
#             the unix socket under DIR/docker; no bridge, no iptables, so no
#             network set-up on the host), starts dockerd detached, waits until
#             `docker version` answers (30 s at most) and writes
#             DIR/docker.env, which exports DOCKER_HOST (and CONTAINERD_ADDRESS).
#             The image store is the classic one (overlay2 graph driver),
#             or with --containerd-store the containerd image store
#             (snapshotter overlayfs, in containerd's namespace "moby").
#             Log: DIR/logs/dockerd.log. PID: DIR/run/dockerd.pid.
#             DIR must be at most 60 characters (unix socket paths). Does
#             nothing if dockerd already runs for DIR with the same store;
#             fails if it runs with the other one (use another DIR).
#   down DIR  stops dockerd (SIGTERM, which stops its containers; SIGKILL
#             after 15 s), then containerd.sh down DIR, which unmounts
#             everything below DIR. Keeps DIR. Safe to run when nothing runs.
#
# Outside DIR, dockerd creates /run/docker/plugins (a compiled-in path).
#
# Pitfalls for tests: `docker load` exits 0 after a failed unpack (check its
# output for "Error"); the classic store cannot load an OCI archive without
# manifest.json; give images fully qualified names and run them with
# `docker run --pull never`, or docker goes to Docker Hub.
#
# Env: DOCKERD_BIN (default /usr/sbin/dockerd), DOCKER_BIN (default: docker
#      on PATH; sid's docker.io ships no client, docker-cli does).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DOCKERD_BIN=${DOCKERD_BIN:-/usr/sbin/dockerd}
DOCKER_BIN=${DOCKER_BIN:-$(command -v docker || echo docker)}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MAX_DIR_LEN=60
READY_TIMEOUT=30

usage_line="usage: dockerd.sh up DIR [--containerd-store] | down DIR (see --help)"
case ${1:-} in
  -h | --help) usage; exit 0 ;;
  up) [ $# -eq 2 ] || { [ $# -eq 3 ] && [ "$3" = --containerd-store ]; } || die "$usage_line" ;;
  down) [ $# -eq 2 ] || die "$usage_line" ;;
  *) die "$usage_line" ;;
esac
CMD=$1

set_paths() {  # DIR (absolute)
  DIR=$1
  D=$DIR/docker
  SOCK=$D/docker.sock
  PIDFILE=$DIR/run/dockerd.pid
  LOG=$DIR/logs/dockerd.log
}

docker_ok() { timeout 5 "$DOCKER_BIN" -H "unix://$SOCK" version; }

up() {
  local store=classic
  [ "${2:-}" != --containerd-store ] || store=containerd
  [ "$(id -u)" -eq 0 ] || die "dockerd needs root"
  [ -x "$DOCKERD_BIN" ] || die "$DOCKERD_BIN not found (run install.sh)"
  command -v "$DOCKER_BIN" >/dev/null || die "no docker client (run install.sh)"
  set_paths "$(abs_dir "$1")"
  [ ${#DIR} -le $MAX_DIR_LEN ] ||
    die "DIR is ${#DIR} characters, more than $MAX_DIR_LEN: socket paths would not fit ($DIR)"
  local pid
  if pid=$(pidfile_owner "$PIDFILE" "$DIR"); then
    [ "$(cat "$D/store" 2>/dev/null)" = "$store" ] ||
      die "dockerd already runs for $DIR with the $(cat "$D/store" 2>/dev/null) image store; use another DIR"
    say "dockerd already runs for $DIR (pid $pid)"
    return 0
  fi
  "$HERE/containerd.sh" up "$DIR" || die "the private containerd did not start"
  mkdir -p "$DIR/run" "$DIR/logs" "$D/data" "$D/exec"
  echo "$store" >"$D/store"

  local snapshotter=false driver='"storage-driver": "overlay2",'
  if [ "$store" = containerd ]; then snapshotter=true driver=; fi
  # dockerd writes its own pidfile (default /var/run/docker.pid, which a
  # system dockerd would hold); ours is the one spawn writes.
  cat >"$D/daemon.json" <<EOF
{
  "data-root": "$D/data",
  "exec-root": "$D/exec",
  "pidfile": "$D/dockerd.pid",
  "hosts": ["unix://$SOCK"],
  "containerd": "$DIR/containerd/containerd.sock",
  $driver
  "bridge": "none",
  "iptables": false,
  "ip6tables": false,
  "features": {"containerd-snapshotter": $snapshotter}
}
EOF

  local t0
  t0=$(now)
  spawn "$PIDFILE" "$LOG" "$DOCKERD_BIN" --config-file "$D/daemon.json"
  pid=$(cat "$PIDFILE")
  if ! await dockerd "$pid" "$LOG" "$READY_TIMEOUT" docker_ok; then
    stop dockerd "$pid" "$DIR" || true
    rm -f "$PIDFILE"
    die "dockerd did not come up"
  fi
  {
    echo "# dockerd ($store image store) for $DIR; stop it with: dockerd.sh down $DIR"
    echo "export DOCKER_HOST=$(printf '%q' "unix://$SOCK")"
    echo "export CONTAINERD_ADDRESS=$(printf '%q' "$DIR/containerd/containerd.sock")"
  } >"$DIR/docker.env"
  say "dockerd (pid $pid, $store image store) ready in $(since "$t0") s; source $DIR/docker.env"
}

down() {
  if [ ! -d "$1" ]; then
    say "$1 does not exist: nothing to stop"
    return 0
  fi
  set_paths "$(cd "$1" && pwd -P)"
  stop_pidfile dockerd "$PIDFILE" "$DIR"
  "$HERE/containerd.sh" down "$DIR"
  say "dockerd down for $DIR"
}

"$CMD" "$2" "${3:-}"
