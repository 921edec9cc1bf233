#!/usr/bin/env bash
# Writes a Bazel workspace to DIR for the image-rules-at-scale checks: N
# image_layer targets of one file each, an image_manifest of all of them,
# and an image_index of it for P platforms (at most 4), against the
# rules_img checkout this script is in (local_path_override). Its .bazelrc
# imports the offline overrides as e2e/base does (offline-go.bazelrc would
# override rules_go, which this workspace does not use: Bazel refuses that).
#
#   bench/scale_workspace.sh DIR N P
set -euo pipefail
dir=$1 layers=$2 platforms=$3
repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir/data"

cat >"$dir/MODULE.bazel" <<MOD
module(name = "scale")

bazel_dep(name = "rules_img")
local_path_override(
    module_name = "rules_img",
    path = "$repo",
)

bazel_dep(name = "platforms", version = "0.0.10")
MOD

cat >"$dir/.bazelrc" <<RC
try-import $repo/.bazel-offline/offline.bazelrc
# The checks read intermediate outputs, which Bazel 7 does not fetch from a
# cache by default.
build --remote_download_outputs=all
RC
[ -z "${SCALE_DISK_CACHE:-}" ] || echo "build --disk_cache=$SCALE_DISK_CACHE" >>"$dir/.bazelrc"

all=(x86_64:amd64 aarch64:arm64 s390x:s390x ppc64le:ppc64le)
{
  cat <<'BUILD'
load("@rules_img//img:image.bzl", "image_index", "image_manifest")
load("@rules_img//img:layer.bzl", "image_layer")

BUILD
  echo "LAYERS = $layers"
  cat <<'BUILD'

[
    image_layer(
        name = "layer_%d" % i,
        srcs = {"/data/f%d.txt" % i: "data/f%d.txt" % i},
    )
    for i in range(LAYERS)
]

image_manifest(
    name = "image",
    entrypoint = ["/bin/true"],
    layers = [":layer_%d" % i for i in range(LAYERS)],
)

BUILD
  names=()
  for p in "${all[@]:0:$platforms}"; do
    cpu=${p%%:*} name=linux_${p##*:}
    names+=("\":$name\"")
    cat <<BUILD
platform(
    name = "$name",
    constraint_values = [
        "@platforms//os:linux",
        "@platforms//cpu:$cpu",
    ],
)

BUILD
  done
  cat <<BUILD
image_index(
    name = "index",
    manifests = [":image"],
    platforms = [$(IFS=,; echo "${names[*]}")],
)
BUILD
} >"$dir/BUILD.bazel"

for ((i = 0; i < layers; i++)); do
  printf 'file %03d\n' "$i" >"$(printf '%s/data/f%d.txt' "$dir" "$i")"
done
