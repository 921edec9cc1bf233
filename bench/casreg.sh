#!/usr/bin/env bash
# casreg.sh: the cas_registry push strategy against the lazy one, and pulls
# from cas-registry against pulls from distribution, over loopback, in one
# run. nginx is the remote cache; both registries are started here.
# Usage: bench/casreg.sh [LAYERS [LAYER_MIB]]   (default 4 x 64 MiB)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=${RULES_IMG_PEERS_TOOLS:-/var/tmp/rules-img-peers}
peers=$root/tools/setup/peers
work=$(mktemp -d /tmp/casregbench.XXXXXX)
pid=
cleanup() {
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  "$peers/registry.sh" down "$work" >/dev/null 2>&1
  "$peers/cache.sh" down "$work" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
"$peers/registry.sh" up "$work" >/dev/null 2>&1
"$peers/cache.sh" up-http "$work" >/dev/null 2>&1
. "$work/registry.env"
. "$work/http-cache.env"
(cd "$root" && go build -o "$work/" ./bench/cmd/casregbench ./tools/cmd/cas-registry)
"$work/cas-registry" --addr 127.0.0.1:0 --addr_file "$work/casreg.addr" --dir "$work/casreg" --remote_cache "$HTTP_CACHE_URL" 2>"$work/casreg.log" &
pid=$!
for _ in $(seq 100); do [ -s "$work/casreg.addr" ] && break; sleep 0.05; done
"$work/casregbench" -cache "$HTTP_CACHE_URL" -registry "$REGISTRY" -casreg "$(cat "$work/casreg.addr")" \
  -crane "$tools/bin/crane" -layers "${1:-4}" -layer-mib "${2:-64}"
