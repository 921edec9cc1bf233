#!/usr/bin/env bash
# End-to-end test of the JS example: a Node program with npm dependencies
# (node_modules by npm ci from the lockfile, at fetch time) on a base with
# the host's node and the files it needs, checked with umoci, skopeo and jq,
# and run in containerd. The workspace is copied, since the test edits
# main.js; its output bases live in the temporary directory too.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh
expect_checks 19

work=$(mktemp -d /tmp/e2e-js.XXXXXX)
ws=$work/ws
cleanup() {
  containerd_down
  local ob
  for ob in "$work/ob" "$work/ob2"; do
    [ ! -d "$ob" ] || (cd "$ws" && bazel --output_base="$ob" shutdown >/dev/null 2>&1)
  done
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$ws" && tar --exclude='./bazel-*' --exclude=./test.sh -cf - . | tar -C "$ws" -xf -
sed -i "s#path = \"../..\"#path = \"$REPO_ROOT\"#; s#path = \"../distroless\"#path = \"$E2E_ROOT/distroless\"#" "$ws/MODULE.bazel"
cat >"$ws/.bazelrc" <<RC
try-import $REPO_ROOT/.bazel-offline/offline.bazelrc
build --disk_cache=~/.cache/rules_img/bazel-disk-cache
build --remote_download_outputs=all
# The e2e_distroless module lives in this checkout, maybe under /tmp, which
# the sandbox would hide behind its own empty /tmp.
build --noincompatible_sandbox_hermetic_tmp
RC
cd "$ws"
bz() { bazel --output_base="$work/ob" "$@"; }

check "js: bazel build //:image with the oci_layout output group" \
  bz build //:image //:image_without_node_modules //:node_base --output_groups=+oci_layout
bin=$work/ob/execroot/_main/bazel-out/k8-fastbuild/bin
layout=$bin/image.oci_layout

check "js: umoci unpack accepts the image" umoci unpack --rootless --image "$layout:latest" "$work/bundle"
rootfs=$work/bundle/rootfs
for dep in ms pretty-bytes; do
  check_eq "js: node_modules/$dep/package.json is in the image, at the lockfile's version" \
    "$(jq -r ".packages[\"node_modules/$dep\"].version" package-lock.json)" \
    "$(jq -r .version "$rootfs/app/node_modules/$dep/package.json" 2>&1)"
done
check "js: the program sits at /app/main.js" cmp main.js "$rootfs/app/main.js"
check_eq "js: /usr/bin/node in the image is the host's" "$(sha256_of /usr/bin/node)" \
  "$(sha256_of "$rootfs/usr/bin/node")"
# Every library that ldd names, and each built-in module that node reads from
# a file (Debian's node does, see host_node.bzl), at its host path (/lib is
# usr/lib in the base).
needed=$(
  ldd /usr/bin/node | sed -n 's#.*=> \(/[^ ]*\) .*#\1#p; s#^[[:space:]]*\(/[^ ]*\) (0x.*#\1#p'
  node -e 'for (const d of (process.config.target_defaults || {}).defines || [])
    if (/^NODE_SHARED_BUILTIN_\w+_PATH=\//.test(d)) console.log(d.split("=")[1]);'
)
present=$(for f in $needed; do [ -e "$rootfs$f" ] && echo "$f"; done)
if [ -n "$needed" ]; then
  check_eq "js: the image has every file node needs at start: libraries (ldd), file built-ins" "$needed" "$present"
else
  fail "js: the image has every file node needs at start: libraries (ldd), file built-ins" "ldd /usr/bin/node named none"
fi

config=$(skopeo inspect --config "oci:$layout:latest" 2>&1)
check_eq "js: skopeo sees the entrypoint: node and the program, no launcher" '["/usr/bin/node","/app/main.js"]' \
  "$(jq -c .config.Entrypoint <<<"$config" 2>&1)"
check_eq "js: skopeo sees NODE_ENV, and PATH from the distroless base" \
  "NODE_ENV=production PATH=/usr/local/bin:/usr/bin:/bin" \
  "$(jq -r '[.config.Env[] | select(startswith("NODE_ENV=") or startswith("PATH="))] | sort | join(" ")' <<<"$config" 2>&1)"
# The layers as skopeo reads them: the base manifest's four, then the blobs
# of the node_modules and app layers.
base_layers=$(jq -r 'if (.layers | length) == 4 then [.layers[].digest] | join(" ")
  else "the base has \(.layers | length) layers, not 4" end' "$bin/node_base.manifest.json" 2>&1)
check_eq "js: the image is the node base's 4 layers, then node_modules, then the app" \
  "$base_layers $(sha256_of "$bin/image_node_modules.tar.gz") $(sha256_of "$bin/image_app.tar.gz")" \
  "$(skopeo inspect "oci:$layout:latest" 2>&1 | jq -r '.Layers | join(" ")' 2>&1)"

containerd_start "$work/ctd"
check_eq "js: the image runs in containerd: node, the dependencies and the environment" \
  "Hello from Node $(node --version) in a rules_img image
ms: 7200000 ms is 2 hours, and 90s is 90000 ms
pretty-bytes: 1337 bytes are 1.34 kB
ms comes from /app/node_modules/ms/index.js
NODE_ENV: production" \
  "$(containerd_run_layout "$layout" localhost/e2e/js 2>&1)"
check_fails "js: without the node_modules layer, require fails" \
  "Cannot find module 'ms'" \
  containerd_run_layout "$bin/image_without_node_modules.oci_layout" localhost/e2e/js-without-node-modules
containerd_down

# A one-line change of the program: only the app layer changes, and Bazel
# writes no other layer (the execution log has one layer action).
cp "$bin/image.manifest.json" "$work/before.json" 2>/dev/null
sed -i 's/Hello from Node/Hi from Node/' main.js
check "js: rebuild after a one-line change of main.js" \
  bz build //:image --output_groups=+oci_layout --execution_log_json_file="$work/exec.json"
check_eq "js: only the last layer, the app's, has a new digest" "same same same same same changed" \
  "$(jq -rn --slurpfile a "$work/before.json" --slurpfile b "$bin/image.manifest.json" \
    '[$a[0].layers, $b[0].layers] | transpose | map(if .[0].digest == .[1].digest then "same" else "changed" end) | join(" ")' 2>&1)"
# The app layer's blob, by sha256sum, holding the edited main.js.
check_eq "js: the new last layer is the app layer Bazel just wrote" \
  "$(jq -r '.layers[-1].digest' "$bin/image.manifest.json" 2>&1), with the edited main.js" \
  "$(sha256_of "$bin/image_app.tar.gz"), $(tar -xzOf "$bin/image_app.tar.gz" app/main.js 2>&1 |
    grep -q 'Hi from Node' && echo "with the edited main.js")"
check_eq "js: the rebuild ran the app layer's action and no other layer's" "//:image_app" \
  "$(jq -rs '[.[] | select(.mnemonic == "ImageLayer") | .targetLabel] | join(" ")' "$work/exec.json" 2>&1)"

# Reproducible: a second output base, no cache, the same digests. Its fetch
# runs npm ci again, with the registry unreachable: npm's cache has the
# tarballs since the first fetch.
check "js: rebuild in a fresh output base without any cache, npm's registry unreachable" \
  bazel --output_base="$work/ob2" build //:image --disk_cache= --noremote_accept_cached \
  --repo_env=npm_config_registry=http://127.0.0.1:9/
bin2=$work/ob2/execroot/_main/bazel-out/k8-fastbuild/bin
check_eq "js: the node_modules layer is reproducible" "$(sha256_of "$bin/image_node_modules.tar.gz")" \
  "$(sha256_of "$bin2/image_node_modules.tar.gz")"
check_eq "js: the image digest is reproducible" "$(sha256_of "$bin/image.manifest.json")" \
  "$(sha256_of "$bin2/image.manifest.json")"
finish
