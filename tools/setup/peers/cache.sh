#!/usr/bin/env bash
# usage: cache.sh up-http DIR | up-casd DIR | down DIR
#
# Remote caches on 127.0.0.1 for rules_img's lazy-push tests.
#
#   up-http DIR  nginx with WebDAV PUT as Bazel's HTTP cache (GET/HEAD/PUT
#             /ac/... and /cas/<sha256>); blobs are plain files in
#             DIR/nginx/cache/cas/. Writes DIR/http-cache.env, which exports
#             HTTP_CACHE_URL=http://127.0.0.1:PORT. Log: DIR/logs/nginx*.log.
#   up-casd DIR  buildbox-casd, a REAPI CAS over gRPC (ByteStream,
#             ContentAddressableStorage, Capabilities). Writes DIR/casd.env:
#             REAPI_ADDRESS=grpc://127.0.0.1:PORT and CASD_REMOTE (the same
#             as http://..., the spelling casupload's --remote wants).
#   down DIR  stops both (SIGTERM, SIGKILL after 15 s). Keeps DIR.
#
# Each waits until its port answers (20 s at most) and does nothing if it
# already runs for DIR.
# Env: NGINX_BIN (default /usr/sbin/nginx), CASD_BIN (/usr/bin/buildbox-casd).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
CASD_BIN=${CASD_BIN:-/usr/bin/buildbox-casd}
READY_TIMEOUT=20

case ${1:-} in
  -h | --help) usage; exit 0 ;;
  up-http | up-casd | down) [ $# -eq 2 ] || die "usage: cache.sh up-http|up-casd|down DIR (see --help)" ;;
  *) die "usage: cache.sh up-http|up-casd|down DIR (see --help)" ;;
esac
CMD=$1

# start NAME PORT-READY-CHECK CMD...: spawn with retries on a taken port.
# The command line and the check read $port, set here before each attempt.
start() {
  local name=$1 pidfile=$DIR/run/$1.pid log=$DIR/logs/$1.log attempt pid t0
  if pid=$(pidfile_owner "$pidfile" "$DIR"); then
    say "$name already runs for $DIR (pid $pid)"
    return 0
  fi
  mkdir -p "$DIR/run" "$DIR/logs"
  for attempt in 1 2 3; do
    port=$(free_port)
    "configure_$name"
    t0=$(now)
    spawn "$pidfile" "$log" "${ARGV[@]}"
    pid=$(cat "$pidfile")
    if await "$name" "$pid" "$log" "$READY_TIMEOUT" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"; then
      "env_$name"
      say "$name (pid $pid) ready on 127.0.0.1:$port in $(since "$t0") s"
      return 0
    fi
    stop "$name" "$pid" "$DIR" || true
    rm -f "$pidfile"
    grep -qi 'address already in use' "$log" "$DIR/logs/nginx-error.log" 2>/dev/null || break
    say "port $port was taken meanwhile (attempt $attempt); picking another"
  done
  die "$name did not come up"
}

configure_nginx() {
  local n=$DIR/nginx
  mkdir -p "$n/cache" "$n/tmp"
  # The core DAV module's PUT is all Bazel's HTTP cache protocol needs.
  cat >"$n/nginx.conf" <<EOF
user root;
worker_processes 1;
pid $n/nginx.pid;
error_log $DIR/logs/nginx-error.log warn;
events { worker_connections 256; }
http {
  access_log $DIR/logs/nginx-access.log;
  client_body_temp_path $n/tmp/body;
  proxy_temp_path $n/tmp/proxy;
  fastcgi_temp_path $n/tmp/fastcgi;
  uwsgi_temp_path $n/tmp/uwsgi;
  scgi_temp_path $n/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    root $n/cache;
    client_max_body_size 0;
    log_not_found off;
    location / {
      dav_methods PUT;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
    }
  }
}
EOF
  ARGV=("$NGINX_BIN" -e "$DIR/logs/nginx-error.log" -p "$n" -c "$n/nginx.conf" -g 'daemon off;')
}

env_nginx() {
  {
    echo "# nginx HTTP cache for $DIR; stop it with: cache.sh down $DIR"
    echo "export HTTP_CACHE_URL=http://127.0.0.1:$port"
  } >"$DIR/http-cache.env"
}

configure_casd() {
  mkdir -p "$DIR/casd/cache"
  ARGV=("$CASD_BIN" "--bind=127.0.0.1:$port" "$DIR/casd/cache")
}

env_casd() {
  {
    echo "# buildbox-casd for $DIR; stop it with: cache.sh down $DIR"
    echo "export REAPI_ADDRESS=grpc://127.0.0.1:$port"
    echo "export CASD_REMOTE=http://127.0.0.1:$port"
  } >"$DIR/casd.env"
}

up_http() {
  DIR=$(abs_dir "$1")
  [ -x "$NGINX_BIN" ] || die "$NGINX_BIN not found (run install.sh)"
  start nginx
}

up_casd() {
  DIR=$(abs_dir "$1")
  [ -x "$CASD_BIN" ] || die "$CASD_BIN not found (run install.sh; buildbox is in Debian sid)"
  start casd
}

down() {
  if [ ! -d "$1" ]; then
    say "$1 does not exist: nothing to stop"
    return 0
  fi
  DIR=$(cd "$1" && pwd -P)
  local name
  for name in nginx casd; do
    stop_pidfile "$name" "$DIR/run/$name.pid" "$DIR"
  done
  say "caches down for $DIR"
}

"${CMD/-/_}" "$2"
