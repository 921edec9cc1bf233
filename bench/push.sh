#!/usr/bin/env bash
# push.sh: rules_img's push against `crane push` of the same image, over
# loopback to a real registry (distribution) started here, in one run.
# Usage: bench/push.sh [LAYERS [LAYER_MIB]]   (default 4 x 64 MiB)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=${RULES_IMG_PEERS_TOOLS:-/var/tmp/rules-img-peers}
work=$(mktemp -d /tmp/pushbench.XXXXXX)
trap '"$root/tools/setup/peers/registry.sh" down "$work" >/dev/null 2>&1; rm -rf "$work"' EXIT
"$root/tools/setup/peers/registry.sh" up "$work" >/dev/null 2>&1
. "$work/registry.env"
(cd "$root" && go build -o "$work/pushbench" ./bench/cmd/pushbench)
"$work/pushbench" -registry "$REGISTRY" -crane "$tools/bin/crane" -layers "${1:-4}" -layer-mib "${2:-64}"
