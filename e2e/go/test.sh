#!/usr/bin/env bash
# End-to-end test of the Go example: build the image with real Bazel, then
# check it with tools we did not write (umoci, skopeo, containerd).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh
expect_checks 65

work=$(mktemp -d /tmp/e2e-go.XXXXXX)
trap 'containerd_down; "$REPO_ROOT/tools/setup/peers/registry.sh" down "$work" >/dev/null 2>&1; bazel shutdown >/dev/null 2>&1; rm -rf "$work"' EXIT

# Files of layers are read below: build the layers as top-level targets, or
# Bazel (7+: --remote_download_outputs=toplevel) may leave them out of
# bazel-bin when its disk cache has them.
check "go: bazel build //:image with the oci_layout output group" \
  bazel build //:image //:app_layer --output_groups=+oci_layout
layout=bazel-bin/image.oci_layout
digest=$(jq -r .digest bazel-bin/image.descriptor.json)
# For the reproducibility checks at the end: later builds overwrite these.
layer_blob_sum=$(sha256_of bazel-bin/app_layer.tar.gz)
manifest_sum=$(sha256_of bazel-bin/image.manifest.json)

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

containerd_start "$work/ctd"
check_eq "go: the image runs in containerd and prints its message" \
  "Hello from a rules_img image (GREETING_FROM=rules_img)" \
  "$(containerd_run_layout "$layout" localhost/e2e/hello 2>&1)"

# Image tests under bazel test: the structure test claims what umoci's
# unpack showed above (modes, owner, link, runfiles contents); a failing
# config names the path, what it expected and what it found; the run test
# runs the image in the containerd started above.
check "go: structure tests of the image and of each platform of its index pass" \
  bazel test //imagetests:structure_test //imagetests:index_structure_test
check_eq "go: the index's structure test checked both platforms" "linux/amd64 linux/arm64/v8" \
  "$(grep -o '^PASS \[[^]]*\] Metadata Test' bazel-testlogs/imagetests/index_structure_test/test.log 2>&1 | sed 's/^PASS \[\(.*\)\].*/\1/' | sort | paste -sd' ')"
check_fails "go: a failing structure test names the path, what it expected and what it found" \
  '/app/share/message.txt: expected permissions -rw-r--r--, found -r--r--r--' \
  sh -c 'bazel test //imagetests:failing_structure_test >/dev/null 2>&1; cat bazel-testlogs/imagetests/failing_structure_test/test.log; exit 1'
check "go: a run test of the image passes in containerd" \
  bazel test //imagetests:run_test --test_env=CONTAINERD_ADDRESS="${CONTAINERD_ADDRESS:-none}"

check "go: bazel build //:image_on_base (an image on a base)" bazel build //:image_on_base //:extra_layer --output_groups=+oci_layout
# skopeo_layers LAYOUT: the layer digests of the layout's image, as skopeo reads them.
skopeo_layers() { skopeo inspect "oci:$1:latest" 2>&1 | jq -r '.Layers | join(" ")' 2>&1; }
check_eq "go: the image on a base has the base layer, then its own" \
  "$(skopeo_layers "$layout") $(sha256_of bazel-bin/extra_layer.tar.gz)" \
  "$(skopeo_layers bazel-bin/image_on_base.oci_layout)"
check_eq "go: the image on a base keeps the base's config and adds env" \
  '["/app/bin/hello"] ["GREETING_FROM=rules_img","EXTRA=yes"]' \
  "$(jq -c '.config.Entrypoint, .config.Env' bazel-bin/image_on_base.config.json 2>&1 | paste -sd' ')"
check "go: umoci unpack accepts the image on a base" \
  umoci unpack --rootless --image bazel-bin/image_on_base.oci_layout:latest "$work/bundle-on-base"
check_eq "go: the image on a base runs in containerd" \
  "Hello from a rules_img image (GREETING_FROM=rules_img)" \
  "$(containerd_run_layout bazel-bin/image_on_base.oci_layout localhost/e2e/hello-on-base 2>&1)"

# image_index: linux/amd64 and linux/arm64 from one target.
check "go: bazel build //:index (linux/amd64 + linux/arm64) with the oci_layout output group" \
  bazel build //:index --output_groups=+oci_layout
ilayout=bazel-bin/index.oci_layout
check_eq "go: the index lists linux/amd64, then linux/arm64/v8" "linux/amd64 linux/arm64/v8" \
  "$(jq -r '[.manifests[].platform | [.os, .architecture, .variant // empty] | join("/")] | join(" ")' bazel-bin/index.index.json 2>&1)"
check_eq "go: each image's config says its architecture" "amd64 arm64/v8" \
  "$(for d in $(jq -r '.manifests[].digest' bazel-bin/index.index.json); do
       cfg=$(jq -r .config.digest "$ilayout/blobs/sha256/${d#sha256:}")
       jq -r '.architecture + (if .variant then "/" + .variant else "" end)' "$ilayout/blobs/sha256/${cfg#sha256:}"
     done 2>&1 | paste -sd' ')"
check_eq "go: the layout's index.json names the index and each platform's image" \
  "latest latest-linux-amd64 latest-linux-arm64-v8" \
  "$(jq -r '[.manifests[].annotations["org.opencontainers.image.ref.name"]] | join(" ")' "$ilayout/index.json" 2>&1)"
for p in linux-amd64 linux-arm64-v8; do
  check "go: umoci unpack accepts the index's $p image" umoci unpack --rootless --image "$ilayout:latest-$p" "$work/index-$p"
done
check_eq "go: the amd64 image holds an x86-64 binary" "x86-64" \
  "$(file -b "$work/index-linux-amd64/rootfs/app/bin/hello" 2>&1 | grep -o 'x86-64')"
check_eq "go: the arm64 image holds an ARM aarch64 binary" "ARM aarch64" \
  "$(file -b "$work/index-linux-arm64-v8/rootfs/app/bin/hello" 2>&1 | grep -o 'ARM aarch64')"
check_eq "go: containerd picks the amd64 image of the index and runs it" \
  "Hello from a rules_img image (GREETING_FROM=rules_img)" \
  "$(containerd_run_layout "$ilayout" localhost/e2e/hello-index 2>&1)"
# crane validate checks a registry's copy: push the index to a local one.
# A registry that does not start fails these three checks, with the reason.
registry_up=
registry_err=$("$REPO_ROOT/tools/setup/peers/registry.sh" up "$work" 2>&1) && . "$work/registry.env" && registry_up=yes
with_registry() { [ -n "$registry_up" ] || { echo "the registry did not start: $registry_err"; return 1; }; "$@"; }
ref=${REGISTRY:-no-registry.invalid}/e2e/hello-index:latest
check "go: skopeo copies the index with both images to a registry" \
  with_registry skopeo copy --all --dest-tls-verify=false "oci:$ilayout:latest" "docker://$ref"
check "go: crane validate --remote accepts the index and both images" with_registry crane validate --insecure --remote "$ref"
check_eq "go: the registry keeps the index digest Bazel built" \
  "$(jq -r .digest bazel-bin/index.descriptor.json)" "$(with_registry crane digest --insecure "$ref" 2>&1)"
"$REPO_ROOT/tools/setup/peers/registry.sh" down "$work" >/dev/null 2>&1

# eStargz: checked by the upstream estargz package, and the diff_id by
# decompressing the blob here.
check "go: bazel build //:image_estargz" bazel build //:image_estargz //:app_layer_estargz --output_groups=+oci_layout
esgz=bazel-bin/app_layer_estargz
toc=$(jq -r '.annotations["containerd.io/snapshot/stargz/toc.digest"]' "$esgz.layer.json" 2>&1)
check "go: build the estargz verifier" go build -C "$REPO_ROOT" -o "$work/esgzverify" ./tools/cmd/esgzverify
check "go: the eStargz layer passes the estargz verifier (footer, TOC digest, every chunk)" \
  "$work/esgzverify" "$esgz.tar.gz" "$toc" "$(jq -r .diff_id "$esgz.layer.json")"
esgz_diff_id=$(sha256_decompressed gzip "$esgz.tar.gz")
check_eq "go: the eStargz diff_id is the sha256 of the whole decompressed blob" \
  "$esgz_diff_id" "$(jq -r .diff_id "$esgz.layer.json" 2>&1)"
check_eq "go: the config lists that diff_id" "$esgz_diff_id" \
  "$(jq -r '.rootfs.diff_ids[0]' bazel-bin/image_estargz.config.json 2>&1)"
# gunzip_size BLOB: the bytes gzip -d makes of BLOB.
gunzip_size() { (gzip -dc <"$1" | wc -c) 2>&1 || echo "gzip -d failed on $1"; }
check_eq "go: the uncompressed-size annotation is the decompressed size" "$(gunzip_size "$esgz.tar.gz")" \
  "$(jq -r '.layers[0].annotations["io.containers.estargz.uncompressed-size"]' bazel-bin/image_estargz.manifest.json 2>&1)"
# toc_sha256 BLOB: the sha256 of the eStargz TOC, the tar entry
# stargz.index.json after the end-of-archive blocks (hence tar -i).
toc_sha256() {
  local sum
  sum=$( (gzip -dc <"$1" | tar -ixOf - stargz.index.json | sha256sum) 2>&1) || { echo "no TOC read from $1: $sum"; return 1; }
  echo "sha256:${sum%% *}"
}
check_eq "go: the manifest's layer descriptor carries the TOC digest" "$(toc_sha256 "$esgz.tar.gz")" \
  "$(jq -r '.layers[0].annotations["containerd.io/snapshot/stargz/toc.digest"]' bazel-bin/image_estargz.manifest.json 2>&1)"
check "go: umoci unpack accepts the eStargz image" \
  umoci unpack --rootless --image bazel-bin/image_estargz.oci_layout:latest "$work/bundle-estargz"
check_eq "go: the eStargz image runs in containerd" \
  "Hello from a rules_img image (GREETING_FROM=rules_img)" \
  "$(containerd_run_layout bazel-bin/image_estargz.oci_layout localhost/e2e/hello-estargz 2>&1)"
containerd_down

# layer_from_tar: a tarball kept as it is, and the same rewritten.
# No disk cache: its hits would hide how the actions ran.
check "go: bazel build //:image_with_tars (layer_from_tar kept and rewritten)" \
  bazel build //:image_with_tars //:tarball //:tar_layer //:tar_layer_zstd --output_groups=+oci_layout \
  --disk_cache= --execution_log_json_file="$work/tars.json"
check_eq "go: the archive was checked, and rewritten, in persistent workers (execution log)" "2 worker" \
  "$(jq -r 'select(.mnemonic == "ImageLayerFromTar") | .runner' "$work/tars.json" 2>&1 | sort | uniq -c | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}')"
# Layers 2 and 3 of image_with_tars (after the base's) are the tarball's.
tars=bazel-bin/image_with_tars.oci_layout
check_eq "go: a tarball kept as it is has the file's digest" \
  "$(sha256_of bazel-bin/tarball.tar.gz)" "$(skopeo inspect "oci:$tars:latest" 2>&1 | jq -r '.Layers[1]' 2>&1)"
check_eq "go: its diff_id is the sha256 of the decompressed tarball" \
  "$(sha256_decompressed gzip bazel-bin/tarball.tar.gz)" "$(jq -r '.rootfs.diff_ids[1]' bazel-bin/image_with_tars.config.json 2>&1)"
# zstd_layer_of LAYOUT N: layer N of the layout's image (manifest by
# skopeo): its media type, and what zstd -d makes of its blob, to compare
# with the config's diff_id.
zstd_layer_of() {
  local layer
  layer=$(skopeo inspect --raw "oci:$1:latest" | jq -er ".layers[$2] | .mediaType + \" \" + .digest") &&
    echo "${layer% *} $(sha256_decompressed zstd "$1/blobs/sha256/${layer##*:}")"
}
check_eq "go: the rewritten tarball is zstd" \
  "application/vnd.oci.image.layer.v1.tar+zstd $(jq -r '.rootfs.diff_ids[2]' bazel-bin/image_with_tars.config.json 2>&1)" \
  "$(zstd_layer_of "$tars" 2 2>&1)"
check "go: umoci unpack accepts the image with both tarball layers" \
  umoci unpack --rootless --image bazel-bin/image_with_tars.oci_layout:latest "$work/bundle-tars"
check_eq "go: optimize stored the copy once, as a hardlink" "2" \
  "$(stat -c %h "$work/bundle-tars/rootfs/opt/greeting/copy.txt" 2>&1)"
check_fails "go: layer_from_tar refuses a symlink that leaves the image root, naming the entry" \
  'entry "etc/escape": symlink to "../../../etc/shadow" leaves the image root' \
  bazel build //:escaping_layer

# zstd through the setting: the media type and digest follow it.
check "go: build with --@rules_img//img/settings:compress=zstd" \
  bazel build //:image //:app_layer --output_groups=+oci_layout --@rules_img//img/settings:compress=zstd
check_eq "go: zstd layer media type" \
  "application/vnd.oci.image.layer.v1.tar+zstd $(jq -r '.rootfs.diff_ids[0]' bazel-bin/image.config.json 2>&1)" \
  "$(zstd_layer_of "$layout" 0 2>&1)"
check "go: umoci unpack accepts the zstd layout" umoci unpack --rootless --image "$layout:latest" "$work/bundle-zstd"

# The other settings: each shows in the digest, and gzip's single stream
# decompresses to the same tar as pgzip's.
blob=bazel-bin/app_layer.tar.gz
# digest_of_its_own NOW EARLIER...: whether NOW, a blob's sha256_of, is
# none of the EARLIER ones.
digest_of_its_own() {
  local now=$1 earlier; shift
  [[ $now == sha256:* ]] || { echo "$now"; return; }
  for earlier; do [ "$now" != "$earlier" ] || { echo "the digest of an earlier blob: $now"; return; }; done
  echo "a digest of its own"
}
bazel build //:app_layer >/dev/null 2>&1
diff_id=$(jq -r .diff_id bazel-bin/app_layer.layer.json)
check_eq "go: the pgzip blob decompresses (gzip -d) to its diff_id" "$diff_id" "$(sha256_decompressed gzip "$blob")"
pgzip_sum=$(sha256_of "$blob")
check "go: build with --@rules_img//img/settings:compression_jobs=1" \
  bazel build //:app_layer --@rules_img//img/settings:compression_jobs=1
check_eq "go: single-stream gzip decompresses (gzip -d) to the same tar as pgzip" "$diff_id" "$(sha256_decompressed gzip "$blob")"
single_sum=$(sha256_of "$blob")
check_eq "go: single-stream gzip has a digest of its own" "a digest of its own" "$(digest_of_its_own "$single_sum" "$pgzip_sum")"
check "go: build with --@rules_img//img/settings:compression_level=1" \
  bazel build //:app_layer --@rules_img//img/settings:compression_level=1
check_eq "go: gzip level 1 decompresses (gzip -d) to the same tar" "$diff_id" "$(sha256_decompressed gzip "$blob")"
check_eq "go: gzip level 1 has a digest of its own" "a digest of its own" \
  "$(digest_of_its_own "$(sha256_of "$blob")" "$pgzip_sum" "$single_sum")"
check "go: build with --@rules_img//img/settings:estargz=enabled" \
  bazel build //:app_layer --@rules_img//img/settings:estargz=enabled
check "go: the estargz setting makes an eStargz layer" \
  "$work/esgzverify" "$blob" "$(jq -r '.annotations["containerd.io/snapshot/stargz/toc.digest"]' bazel-bin/app_layer.layer.json 2>&1)"
check "go: build with --@rules_img//img/settings:create_parent_directories=disabled" \
  bazel build //:app_layer --@rules_img//img/settings:create_parent_directories=disabled
check_eq "go: without parent directories the layer starts at its files" "app/bin/hello" \
  "$(tar -tzf "$blob" 2>&1 | head -n1)"

# Reproducibility: a second output base, no cache, the same digests.
check "go: rebuild in a fresh output base without any cache" \
  bazel --output_base="$work/ob2" build //:image --disk_cache= --noremote_accept_cached
ob2_bin=$work/ob2/execroot/_main/bazel-out/k8-fastbuild/bin
check_eq "go: the layer digest is reproducible" "$layer_blob_sum" "$(sha256_of "$ob2_bin/app_layer.tar.gz")"
check_eq "go: the manifest digest is reproducible" "$manifest_sum" "$(sha256_of "$ob2_bin/image.manifest.json")"
bazel --output_base="$work/ob2" shutdown >/dev/null 2>&1
finish
