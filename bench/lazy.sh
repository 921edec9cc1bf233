#!/usr/bin/env bash
# lazy.sh: the lazy push (layers streamed from a remote cache) against the
# eager push of files on disk, and against downloading from the cache and
# then pushing, over loopback, in one run. The caches are nginx (Bazel's
# HTTP cache) and buildbox-casd (REAPI gRPC); the registry is distribution.
# Usage: bench/lazy.sh [LAYERS [LAYER_MIB]]   (default 4 x 64 MiB)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d /tmp/lazybench.XXXXXX)
peers=$root/tools/setup/peers
trap '"$peers/registry.sh" down "$work" >/dev/null 2>&1; "$peers/cache.sh" down "$work" >/dev/null 2>&1; rm -rf "$work"' EXIT
"$peers/registry.sh" up "$work" >/dev/null 2>&1
"$peers/cache.sh" up-http "$work" >/dev/null 2>&1
"$peers/cache.sh" up-casd "$work" >/dev/null 2>&1
. "$work/registry.env"
. "$work/http-cache.env"
. "$work/casd.env"
(cd "$root" && go build -o "$work/lazybench" ./bench/cmd/lazybench)
"$work/lazybench" -registry "$REGISTRY" -cache "$HTTP_CACHE_URL" -cache "$REAPI_ADDRESS" -layers "${1:-4}" -layer-mib "${2:-64}"
