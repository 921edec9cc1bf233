#!/usr/bin/env bash
# End-to-end test of the C++ example: a dynamically linked cc_binary on the
# distroless example's :cc base (host libc, libstdc++ and loader), checked
# with readelf and umoci and run in containerd.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh
expect_checks 14

work=$(mktemp -d /tmp/e2e-cc.XXXXXX)
trap 'containerd_down; bazel shutdown >/dev/null 2>&1; rm -rf "$work"' EXIT

check "cc: bazel build //:image with the oci_layout output group" \
  bazel build //:image //:image_without_libraries //:hello //:app_layer --output_groups=+oci_layout

dynamic=$(readelf -d bazel-bin/hello 2>&1)
check "cc: the binary is dynamically linked against libstdc++" grep -qF 'Shared library: [libstdc++.so.6]' <<<"$dynamic"
check "cc: the greeting library is a shared library of its own" grep -qF 'Shared library: [liblibgreeting.so]' <<<"$dynamic"
check "cc: the binary finds it through its runfiles (RUNPATH)" grep -qF '$ORIGIN/hello.runfiles/_main/_solib_k8' <<<"$dynamic"

check "cc: umoci unpack accepts the image" umoci unpack --rootless --image bazel-bin/image.oci_layout:latest "$work/bundle"
rootfs=$work/bundle/rootfs
check "cc: the greeting library sits in the runfiles" test -f "$rootfs/app/bin/hello.runfiles/_main/_solib_k8/liblibgreeting.so"
interp=$(readelf -l bazel-bin/hello | sed -n 's/.*interpreter: \(.*\)]/\1/p')
check "cc: the binary's interpreter ($interp) is in the image, through /lib64 -> usr/lib64" \
  test -n "$interp" -a -f "$rootfs$interp" -a -L "$rootfs/lib64"
# The layers as skopeo reads them: the base manifest's four, then the blob
# of the app layer.
base_manifest=$(bazel cquery --output=files @e2e_distroless//cc 2>/dev/null | grep 'manifest\.json$')
base_layers=$(jq -r 'if (.layers | length) == 4 then [.layers[].digest] | join(" ")
  else "the base has \(.layers | length) layers, not 4" end' "$base_manifest" 2>&1)
check_eq "cc: the image is the :cc base's 4 layers plus the app layer" \
  "$base_layers $(sha256_of bazel-bin/app_layer.tar.gz)" \
  "$(skopeo inspect oci:bazel-bin/image.oci_layout:latest 2>&1 | jq -r '.Layers | join(" ")' 2>&1)"

containerd_start "$work/ctd"
check_eq "cc: the image runs in containerd, as nonroot, on the host's glibc" \
  "Hello from C++ in a rules_img image
user: nonroot (65532)
glibc: $(getconf GNU_LIBC_VERSION | cut -d' ' -f2)
sqrt(2) = 1.41421" \
  "$(containerd_run_layout bazel-bin/image.oci_layout localhost/e2e/cc 2>&1)"
check_fails "cc: without the C++ libraries of the base, the binary can't start" \
  "exec /app/bin/hello: no such file or directory" \
  containerd_run_layout bazel-bin/image_without_libraries.oci_layout localhost/e2e/cc-without-libraries
containerd_down

# Reproducible: a second output base, no cache, the same digests.
check "cc: rebuild in a fresh output base without any cache" \
  bazel --output_base="$work/ob2" build //:image --disk_cache= --noremote_accept_cached
ob2_bin=$work/ob2/execroot/_main/bazel-out/k8-fastbuild/bin
check_eq "cc: the app layer (compiled with the host toolchain) is reproducible" \
  "$(sha256_of bazel-bin/app_layer.tar.gz)" "$(sha256_of "$ob2_bin/app_layer.tar.gz")"
check_eq "cc: the image digest is reproducible" \
  "$(sha256_of bazel-bin/image.manifest.json)" "$(sha256_of "$ob2_bin/image.manifest.json")"
bazel --output_base="$work/ob2" shutdown >/dev/null 2>&1
# The structure test claims what the checks above saw (umoci, skopeo).
check "cc: the image's structure test passes (its files, its config, the base's)" \
  bazel test //imagetests:structure_test
finish
