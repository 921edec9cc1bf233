#!/usr/bin/env bash
# usage: registry.sh up DIR | up-tls DIR | down DIR
#
# A private OCI registry (Debian's docker-registry, distribution 2.8) on
# 127.0.0.1 for rules_img's tests. `up` starts a plain-http one with no auth:
# push with `crane push --insecure`, pull with `ctr images pull --plain-http`.
# `up-tls` starts a second one, with TLS (a throwaway CA) and htpasswd.
#
#   up DIR    writes DIR/registry/config.yml (storage in DIR/registry/data,
#             deletes allowed), starts the registry detached on a free port
#             of 127.0.0.1, waits until GET /v2/ answers (20 s at most) and
#             writes DIR/registry.env, which exports REGISTRY=127.0.0.1:PORT.
#             Log: DIR/logs/registry.log. PID: DIR/run/registry.pid.
#             Does nothing if it already runs for DIR.
#   up-tls DIR  the same under DIR/registry-tls, with TLS and basic auth;
#             writes DIR/registry-tls.env: REGISTRY_TLS=127.0.0.1:PORT,
#             REGISTRY_USER, REGISTRY_PASS (random), CA_FILE and
#             DOCKER_CONFIG_DIR (a docker config with those credentials).
#   down DIR  stops both (SIGTERM, SIGKILL after 15 s). Keeps DIR and its
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
  up | up-tls | down) [ $# -eq 2 ] || die "usage: registry.sh up|up-tls|down DIR (see --help)" ;;
  *) die "usage: registry.sh up|up-tls|down DIR (see --help)" ;;
esac
CMD=$1

set_paths() {  # DIR (absolute) [NAME]
  DIR=$1
  NAME=${2:-registry}
  R=$DIR/$NAME
  PIDFILE=$DIR/run/$NAME.pid
  LOG=$DIR/logs/$NAME.log
}

# tls_material: a throwaway CA, a server certificate for 127.0.0.1 and
# localhost, and an htpasswd file (bcrypt: all the registry accepts).
tls_material() {
  command -v openssl >/dev/null || die "openssl not found (run install.sh)"
  command -v htpasswd >/dev/null || die "htpasswd not found (run install.sh)"
  local t=$R/tls
  mkdir -p "$t"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
    -subj "/CN=rules_img test CA" -keyout "$t/ca-key.pem" -out "$t/ca.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
    -keyout "$t/key.pem" -out "$t/server.csr" 2>/dev/null
  printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' 'extendedKeyUsage=serverAuth' >"$t/server.ext"
  openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca-key.pem" -set_serial "0x$(openssl rand -hex 8)" \
    -days 7 -extfile "$t/server.ext" -out "$t/cert.pem" 2>/dev/null
  REG_USER=testuser
  REG_PASS=$(openssl rand -hex 12)
  htpasswd -Bbn "$REG_USER" "$REG_PASS" >"$R/htpasswd"
}

up_tls() {
  set_paths "$(abs_dir "$1")" registry-tls
  TLS=1
  up_named
}

up() {
  set_paths "$(abs_dir "$1")"
  TLS=0
  up_named
}

up_named() {
  [ -x "$REGISTRY_BIN" ] || die "$REGISTRY_BIN not found (run install.sh)"
  command -v curl >/dev/null || die "curl not found (run install.sh)"
  command -v python3 >/dev/null || die "python3 not found (run install.sh)"
  local pid
  if pid=$(pidfile_owner "$PIDFILE" "$DIR"); then
    say "$NAME already runs for $DIR (pid $pid); see $DIR/$NAME.env"
    return 0
  fi
  mkdir -p "$DIR/run" "$DIR/logs" "$R/data"
  [ "$TLS" = 0 ] || tls_material

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
    if [ "$TLS" = 1 ]; then
      cat >>"$R/config.yml" <<EOF
  tls:
    certificate: $R/tls/cert.pem
    key: $R/tls/key.pem
auth:
  htpasswd:
    realm: rules_img-test
    path: $R/htpasswd
EOF
    fi
    t0=$(now)
    spawn "$PIDFILE" "$LOG" "$REGISTRY_BIN" serve "$R/config.yml"
    pid=$(cat "$PIDFILE")
    if await "$NAME" "$pid" "$LOG" "$READY_TIMEOUT" ready "$port"; then
      write_env "$port"
      say "$NAME (pid $pid) ready on 127.0.0.1:$port in $(since "$t0") s; source $DIR/$NAME.env"
      return 0
    fi
    stop "$NAME" "$pid" "$DIR" || true
    rm -f "$PIDFILE"
    grep -q 'address already in use' "$LOG" || break
    say "port $port was taken meanwhile (attempt $attempt); picking another"
  done
  die "$NAME did not come up"
}

# ready PORT: /v2/ answers (401 counts: the TLS registry wants credentials).
ready() {
  if [ "$TLS" = 1 ]; then
    case $(curl -s -o /dev/null -w '%{http_code}' --cacert "$R/tls/ca.pem" "https://127.0.0.1:$1/v2/") in 200 | 401) return 0 ;; esac
    return 1
  fi
  curl -sf -o /dev/null "http://127.0.0.1:$1/v2/"
}

write_env() {  # PORT
  if [ "$TLS" = 0 ]; then
    {
      echo "# registry for $DIR; stop it with: registry.sh down $DIR"
      echo "export REGISTRY=127.0.0.1:$1"
    } >"$DIR/registry.env"
    return
  fi
  mkdir -p "$R/docker-config"
  printf '{"auths": {"127.0.0.1:%s": {"auth": "%s"}}}\n' "$1" "$(printf '%s:%s' "$REG_USER" "$REG_PASS" | base64 -w0)" >"$R/docker-config/config.json"
  chmod 600 "$R/docker-config/config.json"
  {
    echo "# TLS registry for $DIR; stop it with: registry.sh down $DIR"
    echo "export REGISTRY_TLS=127.0.0.1:$1"
    echo "export REGISTRY_USER=$REG_USER"
    echo "export REGISTRY_PASS=$REG_PASS"
    echo "export CA_FILE=$R/tls/ca.pem"
    echo "export DOCKER_CONFIG_DIR=$R/docker-config"
  } >"$DIR/registry-tls.env"
}

down() {
  if [ ! -d "$1" ]; then
    say "$1 does not exist: nothing to stop"
    return 0
  fi
  local name
  for name in registry registry-tls; do
    set_paths "$(cd "$1" && pwd -P)" "$name"
    stop_pidfile "$name" "$PIDFILE" "$DIR"
  done
  say "registries down for $DIR"
}

"${CMD/-/_}" "$2"
