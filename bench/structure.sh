#!/usr/bin/env bash
# structure.sh: what image_structure_test reads of a big base pulled lazily,
# counted at the registry (bytes of its blob GETs, from distribution's access
# log) and in Bazel's output base, in one run:
#   cold         the first test of an image on the base: the base layer's
#                listing is made once, from its bytes;
#   app changed  the app layer changes: existence, metadata and content
#                checks run again;
#   new machine  another output base sharing the disk cache, with
#                --remote_download_minimal, the app changed again;
# against the same-run baseline of what a tar-driver structure test needs:
# the whole image (crane pull --format=tarball).
# Usage: bench/structure.sh [BASE_MIB]   (default 1024)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mib=${1:-1024}
work=$(mktemp -d /tmp/structurebench.XXXXXX)
peers=$root/tools/setup/peers
ws=$work/ws
cleanup() {
  for b in "$work/ob1" "$work/ob2"; do
    [ ! -d "$b" ] || (cd "$ws" && bazel --output_base="$b" shutdown >/dev/null 2>&1) || true
  done
  "$peers/registry.sh" down "$work" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"$peers/registry.sh" up "$work" >/dev/null 2>&1
. "$work/registry.env"
reglog=$work/logs/registry.log

# The base: one layer of incompressible bytes, and /etc/base.txt.
mkdir -p "$work/base/etc" "$work/base/opt"
echo "the big base" >"$work/base/etc/base.txt"
head -c "${mib}M" /dev/urandom >"$work/base/opt/blob.bin"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/base" -cf "$work/base.tar" etc opt
crane append --insecure --oci-empty-base -f "$work/base.tar" -t "$REGISTRY/bench/bigbase:1" >/dev/null 2>&1
crane mutate --insecure --set-platform linux/amd64 "$REGISTRY/bench/bigbase:1" -t "$REGISTRY/bench/bigbase:1" >/dev/null 2>&1
digest=$(crane digest --insecure "$REGISTRY/bench/bigbase:1")
layer=$(crane manifest --insecure "$REGISTRY/bench/bigbase:1" | jq -r '.layers[0].digest')
layer_size=$(crane manifest --insecure "$REGISTRY/bench/bigbase:1" | jq -r '.layers[0].size')
rm -rf "$work/base" "$work/base.tar"

mkdir -p "$ws"
printf '%s\n' \
  'module(name = "structure_bench")' \
  'bazel_dep(name = "rules_img")' \
  "local_path_override(module_name = \"rules_img\", path = \"$root\")" \
  'pull = use_repo_rule("@rules_img//img:pull.bzl", "pull")' \
  "pull(name = \"bigbase\", digest = \"$digest\", layer_handling = \"lazy\", registry = \"$REGISTRY\", repository = \"bench/bigbase\")" \
  >"$ws/MODULE.bazel"
printf '%s\n' \
  'load("@rules_img//img:image.bzl", "image_manifest")' \
  'load("@rules_img//img:layer.bzl", "image_layer")' \
  'load("@rules_img//img:test.bzl", "image_structure_test")' \
  'image_layer(name = "app", srcs = {"/app/version.txt": "version.txt"})' \
  'image_manifest(name = "image", base = "@bigbase", entrypoint = ["/app/run"], layers = [":app"])' \
  'image_structure_test(name = "structure_test", configs = ["structure.yaml"], image = ":image")' \
  >"$ws/BUILD.bazel"
printf '%s\n' \
  'schemaVersion: 2.0.0' \
  'metadataTest:' \
  '  entrypoint: ["/app/run"]' \
  'fileExistenceTests:' \
  '  - {name: base file, path: /etc/base.txt}' \
  '  - {name: app file, path: /app/version.txt, permissions: -rw-r--r--}' \
  '  - {name: no shell, path: /bin/sh, shouldExist: false}' \
  'fileContentTests:' \
  '  - {name: app version, path: /app/version.txt, expectedContents: ["^v"]}' \
  >"$ws/structure.yaml"
printf '%s\n' \
  "try-import $root/.bazel-offline/offline.bazelrc" \
  "build --disk_cache=$work/disk-cache" \
  'build --noincompatible_sandbox_hermetic_tmp' \
  >"$ws/.bazelrc"
cd "$ws"

# base_bytes: bytes the registry has sent of the base layer so far (the
# size field after the status of its access log lines).
base_bytes() {
  { grep -a -F "GET /v2/bench/bigbase/blobs/$layer" "$reglog" || true; } |
    sed -n 's/.*" \(200\|206\) \([0-9]*\) .*/\2/p' | awk '{s += $1} END {printf "%.0f\n", s}'
}
# local_bytes OUTPUT_BASE: bytes of the base layer's blob in that output base.
local_bytes() { find "$1" -type f -name "*${layer#sha256:}*" -printf '%s\n' 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'; }
mib_of() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}'; }

rows=()
measure() { # measure NAME OUTPUT_BASE [FLAGS...]
  local name=$1 ob=$2 before start; shift 2
  before=$(base_bytes)
  start=$(now)
  bazel --output_base="$ob" test //:structure_test "$@" >"$work/log" 2>&1 || { cat "$work/log"; exit 1; }
  rows+=("| $name | $(mib_of $(($(base_bytes) - before))) | $(mib_of "$(local_bytes "$ob")") | $(since "$start") |")
}

echo v1 >version.txt
measure "cold: the first test on the base" "$work/ob1"
echo v2 >version.txt
measure "the app changed" "$work/ob1"
echo v3 >version.txt
measure "new machine: another output base, the disk cache, --remote_download_minimal" "$work/ob2" --remote_download_minimal

before=$(base_bytes)
start=$(now)
crane pull --insecure --format=tarball "$REGISTRY/bench/bigbase:1" "$work/image.tar" >/dev/null
baseline="| baseline: crane pull --format=tarball (the input of a tar-driver test) | $(mib_of $(($(base_bytes) - before))) | - | $(since "$start") |"

echo "Base layer: $(mib_of "$layer_size") MiB (gzip of ${mib} MiB of random bytes)"
echo
echo "| scenario | base MiB the registry sent | base MiB in the output base | wall s |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}" "$baseline"
