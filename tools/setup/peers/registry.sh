#!/usr/bin/env bash
# usage: registry.sh up DIR | down DIR
#
# A private, plain-http OCI registry (Debian's docker-registry, distribution
# 2.8) on 127.0.0.1 for rules_img's tests. No TLS, no auth: push with
# `crane push --insecure`, pull with `ctr images pull --plain-http`.
#
#   up DIR    writes DIR/registry/config.yml (storage in DIR/registry/data,
#             deletes allowed), starts the registry detached on a free port
#             of 127.0.0.1, waits until GET /v2/ answers (20 s at most) and
#             writes DIR/registry.env, which exports REGISTRY=127.0.0.1:PORT.
#             Log: DIR/logs/registry.log. PID: DIR/run/registry.pid.
#             Does nothing if it already runs for DIR.
#   down DIR  stops it (SIGTERM, SIGKILL after 15 s). Keeps DIR and its
#             data. Safe to run when nothing runs.
#
# DIR may be the one given to containerd.sh: the files do not overlap.
# Env: REGISTRY_BIN (default /usr/bin/docker-registry; absolute because a
#      `go install`ed distribution `registry` may come first on PATH).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REGISTRY_BIN=${REGISTRY_BIN:-/usr/bin/docker-registry}
READY_TIMEOUT=20

case ${1:-} in
  -h | --help) usage; exit 0 ;;
  up | down) [ $# -eq 2 ] || die "usage: registry.sh up|down DIR (see --help)" ;;
  *) die "usage: registry.sh up|down DIR (see --help)" ;;
esac
CMD=$1

set_paths() {  # DIR (absolute)
  DIR=$1
  R=$DIR/registry
  PIDFILE=$DIR/run/registry.pid
  LOG=$DIR/logs/registry.log
}

up() {
  [ -x "$REGISTRY_BIN" ] || die "$REGISTRY_BIN not found (run install.sh)"
  command -v curl >/dev/null || die "curl not found (run install.sh)"
  command -v python3 >/dev/null || die "python3 not found (run install.sh)"
  set_paths "$(abs_dir "$1")"
  local pid
  if pid=$(pidfile_owner "$PIDFILE" "$DIR"); then
    say "registry already runs for $DIR (pid $pid); see $DIR/registry.env"
    return 0
  fi
  mkdir -p "$DIR/run" "$DIR/logs" "$R/data"

  # The port is free when picked but not reserved: if something else binds it
  # before the registry does, the registry exits, and we pick again.
  local attempt port t0
  for attempt in 1 2 3; do
    port=$(free_port)
    # http.secret: set, or 2.8 logs a warning and makes up a random one anyway.
    # No http.debug section: the debug server would open another port.
    cat >"$R/config.yml" <<EOF
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: $R/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: $(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
EOF
    t0=$(now)
    spawn "$PIDFILE" "$LOG" "$REGISTRY_BIN" serve "$R/config.yml"
    pid=$(cat "$PIDFILE")
    if await registry "$pid" "$LOG" "$READY_TIMEOUT" curl -sf -o /dev/null "http://127.0.0.1:$port/v2/"; then
      {
        echo "# registry for $DIR; stop it with: registry.sh down $DIR"
        echo "export REGISTRY=127.0.0.1:$port"
      } >"$DIR/registry.env"
      say "registry (pid $pid) ready on 127.0.0.1:$port in $(since "$t0") s; source $DIR/registry.env"
      return 0
    fi
    stop registry "$pid" "$DIR" || true
    rm -f "$PIDFILE"
    grep -q 'address already in use' "$LOG" || break
    say "port $port was taken meanwhile (attempt $attempt); picking another"
  done
  die "registry did not come up"
}

down() {
  if [ ! -d "$1" ]; then
    say "$1 does not exist: nothing to stop"
    return 0
  fi
  set_paths "$(cd "$1" && pwd -P)"
  stop_pidfile registry "$PIDFILE" "$DIR"
  say "registry down for $DIR"
}

"$CMD" "$2"
