#!/usr/bin/env bash
# OCI layouts that other tools wrote become images: crane's layout of one
# image (source files), the same as a directory another action wrote (the
# rules_oci shape), and skopeo's layout of an index. The converted images
# keep their digests, push to a registry that crane validates, serve as a
# base that containerd runs, and pass a structure test; wrong layer lists,
# a missing platform and a tampered blob fail with what to do.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh
expect_checks 20

work=$(mktemp -d /tmp/e2e-convert.XXXXXX)
ws=$work/ws
cleanup() {
  containerd_down
  [ ! -d "$ws" ] || (cd "$ws" && bazel shutdown >/dev/null 2>&1)
  "$REPO_ROOT/tools/setup/peers/registry.sh" down "$work" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

err=$("$REPO_ROOT/tools/setup/peers/registry.sh" up "$work" 2>&1) || { fail "convert: start the registry" "$err"; finish; }
. "$work/registry.env"
src=$REGISTRY/e2e/cvsrc

# The source image: busybox in one layer, /etc/hello.txt in another;
# linux/amd64 and linux/arm64 (the same layers), and an index of both.
mkdir -p "$work/l1/bin" "$work/l2/etc"
cp /bin/busybox "$work/l1/bin/busybox"
ln -s busybox "$work/l1/bin/sh"
ln -s busybox "$work/l1/bin/cat"
echo "hello from an OCI layout" >"$work/l2/etc/hello.txt"
chmod 755 "$work/l1/bin/busybox"
chmod 644 "$work/l2/etc/hello.txt"
for l in l1 l2; do
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/$l" -cf "$work/$l.tar" .
done
err=$({ crane append --insecure --oci-empty-base -f "$work/l1.tar" -f "$work/l2.tar" -t "$src:base" &&
  crane mutate --insecure --set-platform linux/amd64 --entrypoint /bin/cat --cmd /etc/hello.txt "$src:base" -t "$src:amd64" &&
  crane mutate --insecure --set-platform linux/arm64 "$src:amd64" -t "$src:arm64" &&
  crane index append --insecure -m "$src:amd64" -m "$src:arm64" -t "$src:index"; } 2>&1) ||
  { fail "convert: push the source images" "$err"; finish; }
amd64=$(crane digest --insecure "$src:amd64")
arm64=$(crane digest --insecure "$src:arm64")
index=$(crane digest --insecure "$src:index")

mkdir -p "$ws"
cp -r . "$ws" && rm -f "$ws/test.sh"
sed -i "s#path = \"../..\"#path = \"$REPO_ROOT\"#" "$ws/MODULE.bazel"
sed -i "s#REGISTRY_UNDER_TEST#$REGISTRY#" "$ws/BUILD.bazel"
cat >"$ws/.bazelrc" <<RC
try-import $REPO_ROOT/.bazel-offline/offline.bazelrc
build --disk_cache=~/.cache/rules_img/bazel-disk-cache
build --remote_download_outputs=all
# The checkout is under /tmp: Bazel 8's hermetic /tmp would hide it.
build --noincompatible_sandbox_hermetic_tmp
RC
cd "$ws" || finish

check "convert: crane pull --format=oci and skopeo copy --all write the layouts" sh -c '
  crane pull --insecure --format=oci "$1:amd64" layouts/crane &&
  skopeo copy --quiet --all --preserve-digests --src-tls-verify=false "docker://$1:index" oci:layouts/skopeo:latest &&
  cp -r layouts/crane layouts/tampered' _ "$src"
# One byte of the second layer changed, its size kept.
second=$(jq -r '.layers[1].digest' "layouts/tampered/blobs/sha256/${amd64#sha256:}" 2>/dev/null)
printf 'X' | dd of="layouts/tampered/blobs/sha256/${second#sha256:}" bs=1 seek=20 conv=notrunc status=none

# Without the disk cache, whose hits are copies: what the action itself does.
check "convert: the image from the directory another action wrote builds" bazel build //:from_tree --disk_cache=
check "convert: the converted images and indexes build" \
  bazel build //:from_crane //:from_tree //:from_skopeo //:from_skopeo_reordered //:on_converted //:on_converted_index
check_eq "convert: the images have the source's digests (sha256sum of the manifests built)" \
  "$amd64 $amd64" \
  "$(sha256_of bazel-bin/from_crane.manifest.json) $(sha256_of bazel-bin/from_tree.manifest.json)"
check_eq "convert: the index from skopeo's layout is the source index, byte for byte (sha256sum)" \
  "$index" "$(sha256_of bazel-bin/from_skopeo.index.json)"
tree_blob=$(find -L bazel-bin/rules_oci_layout/blobs -type f -name "${second#sha256:}" 2>/dev/null)
check_eq "convert: a layer from the directory another action wrote is a hard link to it, not a copy (stat)" \
  "$(stat -L -c %i "${tree_blob:-missing}" 2>&1)" "$(stat -L -c %i bazel-bin/from_tree.layers/1.tar.gz 2>&1)"
check_eq "convert: each layer blob has its digest (sha256sum) and diff_id (gzip -d), as the source config says" \
  "$(crane config --insecure "$src:amd64" | jq -r '.rootfs.diff_ids | join(" ")') $(crane manifest --insecure "$src:amd64" | jq -r '[.layers[].digest] | join(" ")')" \
  "$(sha256_decompressed gzip bazel-bin/from_crane.layers/0.tar.gz) $(sha256_decompressed gzip bazel-bin/from_crane.layers/1.tar.gz) $(sha256_of bazel-bin/from_crane.layers/0.tar.gz) $(sha256_of bazel-bin/from_crane.layers/1.tar.gz)"

for t in from_crane from_tree from_skopeo from_skopeo_reordered on_converted; do
  check "convert: bazel run //:push_$t" bazel run "//:push_$t"
done
check "convert: crane validates every pushed image and index" sh -c '
  for t in from_crane from_tree from_skopeo from_skopeo_reordered on_converted; do
    crane validate --insecure --remote "$1:$t" >/dev/null || exit 1
  done' _ "$REGISTRY/e2e/converted"
check_eq "convert: the registry serves them with the source digests; the reordered index lists arm64, then amd64" \
  "$amd64 $amd64 $index linux/arm64=$arm64 linux/amd64=$amd64" \
  "$(for t in from_crane from_tree from_skopeo; do crane digest --insecure "$REGISTRY/e2e/converted:$t"; done | paste -sd' ') $(crane manifest --insecure "$REGISTRY/e2e/converted:from_skopeo_reordered" | jq -r '[.manifests[] | "\(.platform.os)/\(.platform.architecture)=\(.digest)"] | join(" ")')"

containerd_start "$work/containerd"
check "convert: the image on the converted base, as an OCI layout" bazel build //:on_converted --output_groups=+oci_layout
check_eq "convert: containerd runs it: busybox and hello.txt from the layout, app.txt from the new layer" \
  "$(printf 'hello from an OCI layout\nfrom the app layer on a converted base')" \
  "$(containerd_run_layout bazel-bin/on_converted.oci_layout e2e/on-converted 2>&1)"

check "convert: a structure test of the converted index passes" bazel test //:structure_test

check_fails "convert: a wrong layers list fails, saying what to write" \
  "has 2 layers, of types application/vnd.oci.image.layer.v1.tar+gzip, application/vnd.oci.image.layer.v1.tar+gzip; layers declares 1, of types application/vnd.oci.image.layer.v1.tar+gzip: set layers = [GZIP_LAYER, GZIP_LAYER]" \
  bazel build //:wrong_layers
check_fails "convert: a platform the layout lacks fails, naming those it has" \
  "the layout has no image for linux/s390x: it has linux/amd64" \
  bazel build //:wrong_platform
check_fails "convert: a tampered layer blob fails, naming its digest" \
  "layer 1 of linux/amd64: blob $second:" \
  bazel build //:tampered
finish
