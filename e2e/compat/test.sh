#!/usr/bin/env bash
# End-to-end test of the rules_img 0.2.7 API: a workspace written only
# against it (templates with build_settings and if/else, --config=stamp,
# tag_list, multi_deploy.bzl, a raw tar in layers, an index as base,
# zstd:chunked, oci_tarball, rules that extend rules_img's, a pulled index
# pushed whole, tags = ["manual"]) builds, pushes to distribution and loads
# into containerd. Every check reads what third-party tools see.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh
expect_checks 40

work=$(mktemp -d /tmp/e2e-compat.XXXXXX)
ws=$work/ws
cleanup() {
  containerd_down
  [ ! -d "$ws" ] || (cd "$ws" && bazel shutdown >/dev/null 2>&1)
  "$REPO_ROOT/tools/setup/peers/registry.sh" down "$work" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

err=$("$REPO_ROOT/tools/setup/peers/registry.sh" up "$work" 2>&1) || { fail "compat: start the registry" "$err"; finish; }
. "$work/registry.env"

# The base: an index of linux/amd64 (busybox, so that the image runs) and
# linux/arm64.
make_base() {
  local d=$work/base-src
  mkdir -p "$d/amd64/bin" "$d/amd64/etc" "$d/arm64/etc"
  cp /bin/busybox "$d/amd64/bin/"
  for arch in amd64 arm64; do
    echo "compat base for linux/$arch" >"$d/$arch/etc/base.txt"
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$d/$arch" -cf "$d/$arch.tar" . &&
      crane append --insecure --oci-empty-base -f "$d/$arch.tar" -t "$REGISTRY/compat/base:$arch" &&
      crane mutate --insecure --set-platform "linux/$arch" "$REGISTRY/compat/base:$arch" -t "$REGISTRY/compat/base:$arch" || return 1
  done >/dev/null 2>&1
  crane index append --insecure -m "$REGISTRY/compat/base:amd64" -m "$REGISTRY/compat/base:arm64" \
    -t "$REGISTRY/compat/base:1.0" >/dev/null 2>&1 && crane digest --insecure "$REGISTRY/compat/base:1.0"
}
base_digest=$(make_base) || { fail "compat: push the base index" "$base_digest"; finish; }

cp -r . "$ws" && rm -f "$ws/test.sh"
sed -i "s#REGISTRY_UNDER_TEST#$REGISTRY#; s#DIGEST_UNDER_TEST#$base_digest#g; s#path = \"../..\"#path = \"$REPO_ROOT\"#" "$ws/MODULE.bazel"
cat >>"$ws/.bazelrc" <<RC
try-import $REPO_ROOT/.bazel-offline/offline.bazelrc
build --disk_cache=~/.cache/rules_img/bazel-disk-cache
build --remote_download_outputs=all
common --//:registry=$REGISTRY
build:stamp --workspace_status_command=$ws/status.sh
RC
cd "$ws"
bin=bazel-bin

# Build everything that is not manual, then the output groups.
check "compat: bazel build //... of a 0.2.7 workspace" bazel build //...
check "compat: the oci_layout and oci_tarball output groups" \
  bazel build //:app //:app_index --output_groups=+oci_layout,+oci_tarball
check_eq "compat: bazel query finds the push and load targets tagged manual" \
  "//:deploy //:load //:push //:push_base //:push_single" \
  "$(bazel query 'attr(tags, manual, kind("image_push|image_load|multi_deploy", //...))' 2>/dev/null | sort | tr '\n' ' ' | sed 's/ $//')"

# The image as umoci and skopeo read it.
check "compat: umoci unpacks the image on the index base" \
  umoci unpack --rootless --image "$bin/app.oci_layout:latest" "$work/bundle"
rootfs=$work/bundle/rootfs
check_eq "compat: the base of the target platform came from the index" "compat base for linux/amd64" \
  "$(cat "$rootfs/etc/base.txt" 2>&1)"
check_eq "compat: a raw tar in layers is a layer" "extra" "$(cat "$rootfs/extra/file.txt" 2>&1)"
check_eq "compat: layer_from_tar optimize stores equal files once (hardlinks)" "2" \
  "$(stat -c %h "$rootfs/vendor/a.txt" 2>&1)"
check "compat: skopeo reads the oci_tarball of the image" \
  skopeo inspect "oci-archive:$bin/app.oci_layout.tar:latest"
check "compat: skopeo reads the oci_tarball of the index" \
  skopeo inspect --raw "oci-archive:$bin/app_index.oci_layout.tar:latest"

# A shallow base: its layers are not in the build, so a layout needs the setting.
check_fails "compat: an OCI layout on a shallow base names the setting that allows it" \
  "shallow_oci_layout=i_know_what_i_am_doing" bazel build //:app_shallow --output_groups=oci_layout
check "compat: with shallow_oci_layout=i_know_what_i_am_doing the layout is written" \
  bazel build //:app_shallow --output_groups=oci_layout --@rules_img//img/settings:shallow_oci_layout=i_know_what_i_am_doing
# shallow_blobs: whether the shallow layout has each blob its manifest
# names (the base's layer, then the app's), and how many blobs it has.
shallow_blobs() {
  local dir=$bin/app_shallow.oci_layout/blobs/sha256 manifest digest what n=0
  manifest=$(jq -er '.manifests[0].digest' "$bin/app_shallow.oci_layout/index.json") || return 1
  for digest in "$manifest" $(jq -r '.config.digest, .layers[].digest' "$dir/${manifest#sha256:}"); do
    case $n in 0) what=manifest ;; 1) what=config ;; *) what="layer $((n - 1))" ;; esac
    [ -e "$dir/${digest#sha256:}" ] && echo "$what present" || echo "$what absent"
    n=$((n + 1))
  done
  echo "$(find "$dir" -type f | wc -l) blobs"
}
check_eq "compat: that layout holds the manifest, the config and the app layer, no base layer" \
  "manifest present, config present, layer 1 absent, layer 2 present, 3 blobs" \
  "$(shallow_blobs 2>&1 | paste -sd, | sed 's/,/, /g')"

# Layers, judged from the blobs with standard tools.
blob() { echo "$bin/app.oci_layout/blobs/sha256/${1#sha256:}"; }
manifest=$bin/app.manifest.json
app_layer=$(jq -r '.layers[] | select(.annotations["org.opencontainers.image.title"] == "compat app layer") | .digest' "$manifest")
check_eq "compat: image_layer annotations reach the manifest" "1" "$(grep -c . <<<"$app_layer")"
check_eq "compat: file_metadata pax_records are in the tar header" "compat" \
  "$(python3 -c 'import sys, tarfile
t = tarfile.open(sys.argv[1])
print(t.getmember("app/data.txt").pax_headers.get("SCHILY.xattr.user.origin"))' "$(blob "$app_layer")" 2>&1)"
check_eq "compat: file_metadata: the path's mode over the default's owner (tar header)" "640 1000:1000" \
  "$(python3 -c 'import sys, tarfile
m = tarfile.open(sys.argv[1]).getmember("app/data.txt")
print("%o %d:%d" % (m.mode, m.uid, m.gid))' "$(blob "$app_layer")" 2>&1)"
check_eq "compat: layer_from_tar annotations reach the manifest" "1" \
  "$(jq '[.layers[] | select(.annotations["org.opencontainers.image.title"] == "vendor")] | length' "$manifest")"
chunked=$(jq -r '.layers[-1]' "$manifest")
chunked_digest=$(jq -r .digest <<<"$chunked")
# zstd:chunked: the blob's table of contents sits in a skippable frame at
# manifest-position (offset:length:...), and manifest-checksum is its sha256.
chunked_toc_sha256() {
  local position offset length magic sum
  position=$(jq -er '.annotations["io.containers.zstd-chunked.manifest-position"]' <<<"$chunked") || return 1
  IFS=: read -r offset length _ <<<"$position"
  magic=$(od -An -tx1 -j "$((offset - 8))" -N4 "$(blob "$chunked_digest")" | xargs)
  [ "$magic" = "50 2a 4d 18" ] || { echo "no skippable frame before the table of contents: ${magic:-nothing}"; return 1; }
  sum=$( (dd if="$(blob "$chunked_digest")" iflag=skip_bytes,count_bytes skip="$offset" count="$length" status=none |
    sha256sum) 2>&1) || { echo "could not read the table of contents: $sum"; return 1; }
  echo "sha256:${sum%% *}"
}
check_eq "compat: zstd with estargz is a zstd:chunked layer" \
  "application/vnd.oci.image.layer.v1.tar+zstd $(jq -r '.annotations["io.containers.zstd-chunked.manifest-checksum"]' <<<"$chunked")" \
  "$(jq -r .mediaType <<<"$chunked") $(chunked_toc_sha256 2>&1)"
check_eq "compat: the zstd:chunked blob decompresses (zstd -d) to its diff_id" \
  "$(jq -r '.rootfs.diff_ids[-1]' "$bin/app.config.json")" \
  "$(sha256_decompressed zstd "$(blob "$chunked_digest")")"

# Templates without stamping: build settings, and status keys empty.
env_of() { jq -r '.config.Env[]' "$1" | grep "^$2=" | cut -d= -f2-; }
check_eq "compat: env from a build setting" "dev" "$(env_of "$bin/app.config.json" ENVIRONMENT)"
check_eq "compat: {{if}}/{{else}} without stamping" "dev" "$(env_of "$bin/app.config.json" VERSION)"
check_eq "compat: an annotation from a build setting" "dev" \
  "$(jq -r '.annotations["com.example.environment"]' "$manifest")"

# Push with --config=stamp and another environment; tags as the registry lists them.
if out=$(bazel run //:push --config=stamp --//:environment=prod 2>"$work/push.log"); then
  pass "compat: bazel run of the index push with --config=stamp"
else
  fail "compat: bazel run of the index push with --config=stamp" "$(cat "$work/push.log")"
fi
check_eq "compat: tag_list templates, with the stamped tag (crane ls)" \
  "latest prod-latest v1.2.3" "$(crane ls --insecure "$REGISTRY/compat/prod/app" 2>&1 | sort | tr '\n' ' ' | sed 's/ $//')"
# crane validate decompresses layers as gzip only: --fast checks digests
# and sizes; skopeo copy reads every blob whole and checks its digest.
check "compat: crane validates the pushed index (digests and sizes)" \
  crane validate --insecure --fast --remote "$REGISTRY/compat/prod/app:v1.2.3"
check "compat: skopeo copies the pushed index with every platform" \
  skopeo copy --all --src-tls-verify=false "docker://$REGISTRY/compat/prod/app:v1.2.3" "oci:$work/copied:v1"
check_eq "compat: the index annotation is stamped" "prod-v1.2.3" \
  "$(crane manifest --insecure "$REGISTRY/compat/prod/app:latest" | jq -r '.annotations["org.opencontainers.image.version"]')"
check_eq "compat: the index holds both platforms" "linux/amd64 linux/arm64/v8" \
  "$(crane manifest --insecure "$REGISTRY/compat/prod/app:latest" | jq -r '[.manifests[].platform | [.os, .architecture, .variant] | map(select(. != null)) | join("/")] | join(" ")')"
config=$(crane config --insecure --platform linux/amd64 "$REGISTRY/compat/prod/app:latest" 2>&1)
check_eq "compat: stamped env (if/else takes the status key)" "v1.2.3" "$(jq -r '.config.Env[]' <<<"$config" | grep ^VERSION= | cut -d= -f2)"
check_eq "compat: env from the build setting given on the command line" "prod" \
  "$(jq -r '.config.Env[]' <<<"$config" | grep ^ENVIRONMENT= | cut -d= -f2)"
check_eq "compat: a label from a volatile status key" "0123abc" \
  "$(jq -r '.config.Labels["org.opencontainers.image.revision"]' <<<"$config")"
check_none "compat: Bazel's tag manual is no image tag" '^manual$' crane ls --insecure "$REGISTRY/compat/prod/app"

# A pulled index pushed whole.
check "compat: push the pulled base index" bazel run //:push_base
check_eq "compat: the pulled index keeps its digest" "$base_digest" \
  "$(crane digest --insecure "$REGISTRY/compat/base-mirror:mirrored" 2>&1)"
check "compat: crane validates the mirrored index" crane validate --insecure --remote "$REGISTRY/compat/base-mirror:mirrored"

# multi_deploy: a push and a load into containerd, then the image runs.
containerd_start "$work/ctd"
# deploy_to_containerd: the multi_deploy, loading into this script's containerd.
deploy_to_containerd() { containerd_ready && bazel run //:deploy --//:environment=qa -- --address "$CONTAINERD_ADDRESS"; }
check "compat: multi_deploy of a push and a load" deploy_to_containerd
check_eq "compat: the push of multi_deploy tagged it qa" "qa" \
  "$(crane ls --insecure "$REGISTRY/compat/single" 2>&1)"
check_eq "compat: containerd has the loaded image" "docker.io/compat/app:qa" \
  "$(containerd_ready && { ctr images ls -q | grep compat/app; } 2>&1)"
check_eq "compat: the image runs in containerd" \
  "from the compat app layer
vendored file
extra
chunked file
ENVIRONMENT=qa VERSION=dev" \
  "$(containerd_ready && ctr run --rm --snapshotter overlayfs docker.io/compat/app:qa "compat-$$" 2>&1)"

# Rules that extend rules_img's, without attributes of their own for transitions.
check "compat: rules with parent = image_layer, image_manifest, image_index" bazel build //:comments //:commented_index
check_eq "compat: the extending rules add their provider" "layer
image
index" "$(cat "$bin/comments.txt" 2>&1)"
finish
