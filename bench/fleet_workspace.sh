#!/usr/bin/env bash
# Writes a Bazel workspace to DIR with a fleet of N images, as a monorepo
# has them: 10 shared layers in one base image (the fourth holds
# /etc/shared.txt, the file bench/fleet.sh changes), and per image one app
# layer on that base, an image_index for linux/amd64 and linux/arm64, and
# an image_push. //:deploy is a multi_deploy of every push; //:load_K
# loads image K (K < 10) into containerd.
#
#   bench/fleet_workspace.sh DIR N [BASE_KIB]   (BASE_KIB per base layer, default 64)
set -euo pipefail
dir=$1 images=$2 base_kib=${3:-64}
repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir/data" "$dir/apps"

cat >"$dir/MODULE.bazel" <<MOD
module(name = "fleet")

bazel_dep(name = "rules_img")
local_path_override(
    module_name = "rules_img",
    path = "$repo",
)

bazel_dep(name = "platforms", version = "0.0.10")
MOD

cat >"$dir/.bazelrc" <<RC
try-import $repo/.bazel-offline/offline.bazelrc
build --remote_download_outputs=all
# The workspace is under /tmp: Bazel 8's hermetic /tmp would hide it.
build --noincompatible_sandbox_hermetic_tmp
RC
[ -z "${FLEET_DISK_CACHE:-}" ] || echo "build --disk_cache=$FLEET_DISK_CACHE" >>"$dir/.bazelrc"

# Incompressible, and the same at each run: AES-CTR of zeros, keyed by k.
for k in $(seq 0 9); do
  # head closes the pipe: openssl's SIGPIPE is the expected end.
  { openssl enc -aes-128-ctr -nosalt -K "$(printf '%032x' "$k")" -iv 0 </dev/zero 2>/dev/null || true; } |
    head -c "$((base_kib * 1024))" >"$dir/data/base_$k.bin"
done
echo "shared v1" >"$dir/data/shared.txt"
for i in $(seq 0 $((images - 1))); do
  echo "app $i" >"$dir/apps/app_$i.txt"
done

cat >"$dir/BUILD.bazel" <<'BUILD'
load("@rules_img//img:image.bzl", "image_manifest")
load("@rules_img//img:layer.bzl", "image_layer")

package(default_visibility = ["//visibility:public"])

[
    image_layer(
        name = "base_%d" % k,
        srcs = {"/opt/base/%d.bin" % k: "data/base_%d.bin" % k} | (
            {"/etc/shared.txt": "data/shared.txt"} if k == 3 else {}
        ),
    )
    for k in range(10)
]

image_manifest(
    name = "base",
    layers = [":base_%d" % k for k in range(10)],
)

platform(
    name = "linux_amd64",
    constraint_values = [
        "@platforms//os:linux",
        "@platforms//cpu:x86_64",
    ],
)

platform(
    name = "linux_arm64",
    constraint_values = [
        "@platforms//os:linux",
        "@platforms//cpu:aarch64",
    ],
)
BUILD

cat >"$dir/apps/fleet.bzl" <<'BZL'
"""The fleet: one app layer, image, index and push per image."""

load("@rules_img//img:image.bzl", "image_index", "image_manifest")
load("@rules_img//img:layer.bzl", "image_layer")
load("@rules_img//img:load.bzl", "image_load")
load("@rules_img//img:multi_deploy.bzl", "multi_deploy")
load("@rules_img//img:push.bzl", "image_push")

def fleet(images, loads):
    for i in range(images):
        image_layer(
            name = "app_%d" % i,
            srcs = {"/app/app.txt": "app_%d.txt" % i},
        )
        image_manifest(
            name = "img_%d" % i,
            base = "//:base",
            entrypoint = ["/app/run"],
            layers = [":app_%d" % i],
        )
        image_index(
            name = "idx_%d" % i,
            manifests = [":img_%d" % i],
            platforms = ["//:linux_amd64", "//:linux_arm64"],
        )
        image_push(
            name = "push_%d" % i,
            image = ":idx_%d" % i,
            registry = "registry.invalid",
            repository = "fleet/app_%d" % i,
            tag = "v1",
        )
    multi_deploy(
        name = "deploy",
        operations = [":push_%d" % i for i in range(images)],
    )
    for i in range(loads):
        image_load(
            name = "load_%d" % i,
            daemon = "containerd",
            image = ":img_%d" % i,
            tag = "fleet/app_%d:v1" % i,
        )
    multi_deploy(
        name = "load_all",
        operations = [":load_%d" % i for i in range(loads)],
    )
BZL

cat >"$dir/apps/BUILD.bazel" <<BUILD
load(":fleet.bzl", "fleet")

fleet(images = $images, loads = $((images < 10 ? images : 10)))
BUILD
