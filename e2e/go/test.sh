#!/usr/bin/env bash
# End-to-end test of the Go example: build the image with real Bazel, then
# check it with tools we did not write (umoci, skopeo, containerd).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh

work=$(mktemp -d /tmp/e2e-go.XXXXXX)
trap 'containerd_down; bazel shutdown >/dev/null 2>&1; rm -rf "$work"' EXIT

check "go: bazel build //:image with the oci_layout output group" \
  bazel build //:image --output_groups=+oci_layout
layout=bazel-bin/image.oci_layout
digest=$(jq -r .digest bazel-bin/image.descriptor.json)
layer_digest=$(jq -r .digest bazel-bin/app_layer.layer.json)

# umoci is the strictest local check: digests, diff_ids, sizes, media types.
check "go: umoci unpack accepts the layout" umoci unpack --rootless --image "$layout:latest" "$work/bundle"
rootfs=$work/bundle/rootfs
check_eq "go: the binary is in the image, executable" "-rwxr-xr-x" "$(stat -c %A "$rootfs/app/bin/hello" 2>&1)"
check_eq "go: per-path file_metadata sets the mode" "-r--r--r--" "$(stat -c %A "$rootfs/app/share/message.txt" 2>&1)"
check_eq "go: runfiles sit where the launcher looks" "Hello from a rules_img image" \
  "$(cat "$rootfs/app/bin/hello.runfiles/_main/message.txt" 2>&1)"
check_eq "go: symlinks keep their target" "/app/bin/hello" "$(readlink "$rootfs/usr/local/bin/hello" 2>&1)"
check_eq "go: the runfiles copy of the binary is a hardlink, stored once" "2" \
  "$(stat -c %h "$rootfs/app/bin/hello" 2>&1)"

inspect=$(skopeo inspect "oci:$layout:latest" 2>&1)
check_eq "go: skopeo inspect sees linux/amd64" "linux/amd64" \
  "$(jq -r '.Os + "/" + .Architecture' <<<"$inspect" 2>&1)"
check_eq "go: skopeo inspect sees the digest Bazel built" "$digest" "$(jq -r .Digest <<<"$inspect" 2>&1)"

if containerd_up "$work/ctd" 2>"$work/ctd.err"; then
  check_eq "go: the image runs in containerd and prints its message" \
    "Hello from a rules_img image (GREETING_FROM=rules_img)" \
    "$(run_in_containerd "$layout" localhost/e2e/hello 2>&1)"
else
  fail "go: containerd starts" "$(cat "$work/ctd.err")"
fi

check "go: bazel build //:image_on_base (an image on a base)" bazel build //:image_on_base --output_groups=+oci_layout
check_eq "go: the image on a base has the base layer, then its own" \
  "$layer_digest $(jq -r .digest bazel-bin/extra_layer.layer.json)" \
  "$(jq -r '[.layers[].digest] | join(" ")' bazel-bin/image_on_base.manifest.json 2>&1)"
check_eq "go: the image on a base keeps the base's config and adds env" \
  '["/app/bin/hello"] ["GREETING_FROM=rules_img","EXTRA=yes"]' \
  "$(jq -c '.config.Entrypoint, .config.Env' bazel-bin/image_on_base.config.json 2>&1 | paste -sd' ')"
check "go: umoci unpack accepts the image on a base" \
  umoci unpack --rootless --image bazel-bin/image_on_base.oci_layout:latest "$work/bundle-on-base"
if [ -n "${CONTAINERD_ADDRESS:-}" ]; then
  check_eq "go: the image on a base runs in containerd" \
    "Hello from a rules_img image (GREETING_FROM=rules_img)" \
    "$(run_in_containerd bazel-bin/image_on_base.oci_layout localhost/e2e/hello-on-base 2>&1)"
fi
containerd_down

# zstd through the setting: the media type and digest follow it.
check "go: build with --@rules_img//img/settings:compress=zstd" \
  bazel build //:image --output_groups=+oci_layout --@rules_img//img/settings:compress=zstd
check_eq "go: zstd layer media type" "application/vnd.oci.image.layer.v1.tar+zstd" \
  "$(jq -r .mediaType bazel-bin/app_layer.layer.json)"
check "go: umoci unpack accepts the zstd layout" umoci unpack --rootless --image "$layout:latest" "$work/bundle-zstd"

# Reproducibility: a second output base, no cache, the same digests.
check "go: rebuild in a fresh output base without any cache" \
  bazel --output_base="$work/ob2" build //:image --disk_cache= --noremote_accept_cached
check_eq "go: the layer digest is reproducible" "$layer_digest" \
  "$(jq -r .digest "$work/ob2/execroot/_main/bazel-out/k8-fastbuild/bin/app_layer.layer.json" 2>&1)"
check_eq "go: the manifest digest is reproducible" "$digest" \
  "$(jq -r .digest "$work/ob2/execroot/_main/bazel-out/k8-fastbuild/bin/image.descriptor.json" 2>&1)"
bazel --output_base="$work/ob2" shutdown >/dev/null 2>&1
finish
