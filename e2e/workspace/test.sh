#!/usr/bin/env bash
# The Go example in WORKSPACE mode (--enable_workspace --noenable_bzlmod):
# rules_img_dependencies() and rules_img_register_toolchains() set rules_img
# up, and the base image comes from the pull repository rule, pinned by
# digest, from a registry started here.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh
expect_checks 13

work=$(mktemp -d /tmp/e2e-workspace.XXXXXX)
ws=$work/ws
cleanup() {
  containerd_down
  [ ! -d "$ws" ] || (cd "$ws" && bazel shutdown >/dev/null 2>&1)
  "$REPO_ROOT/tools/setup/peers/registry.sh" down "$work" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

err=$("$REPO_ROOT/tools/setup/peers/registry.sh" up "$work" 2>&1) || { fail "workspace: start a registry" "$err"; finish; }
. "$work/registry.env"

# The base: one layer with /etc/base.txt, for linux/amd64.
mkdir -p "$work/base/etc" && echo "the WORKSPACE base layer" >"$work/base/etc/base.txt"
base=$REGISTRY/e2e/workspace-base:1.0
digest=$(tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/base" -cf "$work/base.tar" . &&
  crane append --insecure --oci-empty-base -f "$work/base.tar" -t "$base" >/dev/null 2>&1 &&
  crane mutate --insecure --set-platform linux/amd64 "$base" -t "$base" >/dev/null 2>&1 &&
  crane digest --insecure "$base" 2>&1) || { fail "workspace: push the base image" "$digest"; finish; }

# The workspace, with the registry, the digest and this checkout filled in,
# and rules_go and friends from the offline copies.
offline=$(readlink -f "$REPO_ROOT/.bazel-offline")
cp -r . "$ws" && rm -f "$ws/test.sh"
sed -i -e "s#REGISTRY_UNDER_TEST#$REGISTRY#; s#DIGEST_UNDER_TEST#$digest#; s#RULES_IMG_UNDER_TEST#$REPO_ROOT#" \
  -e "s#OFFLINE_PLATFORMS#/usr/share/bazel/tools/platforms#; s#OFFLINE_SKYLIB#/usr/share/bazel/tools/skylib#" \
  -e "s#OFFLINE_RULES_SHELL#/usr/share/bazel/rules/shell#; s#OFFLINE_RULES_CC#/usr/share/bazel/rules/cc#" \
  -e "s#OFFLINE_RULES_PYTHON#/usr/share/bazel/rules/python#; s#OFFLINE_RULES_JAVA#/usr/share/bazel/rules/java#" \
  -e "s#OFFLINE_PACKAGE_METADATA#$offline/stubs/package_metadata#; s#OFFLINE_RULES_GO#$offline/rules_go#" \
  "$ws/WORKSPACE.bazel"
cd "$ws"

check "workspace: bazel build //:image in WORKSPACE mode, with the oci_layout output group" \
  bazel build //:image //:app_layer --output_groups=+oci_layout
# The layers as skopeo reads them: the registry's base layer, then the
# blob of the app layer.
check_eq "workspace: the image's first layer is the pulled base's" \
  "$(crane manifest --insecure "$REGISTRY/e2e/workspace-base@$digest" 2>&1 | jq -r '.layers[0].digest' 2>&1) $(sha256_of bazel-bin/app_layer.tar.gz)" \
  "$(skopeo inspect oci:bazel-bin/image.oci_layout:latest 2>&1 | jq -r '.Layers | join(" ")' 2>&1)"
check "workspace: umoci unpack accepts the layout" \
  umoci unpack --rootless --image bazel-bin/image.oci_layout:latest "$work/bundle"
rootfs=$work/bundle/rootfs
check_eq "workspace: the base layer's file is in the image" "the WORKSPACE base layer" "$(cat "$rootfs/etc/base.txt" 2>&1)"
check_eq "workspace: runfiles sit under the workspace name" "Hello from a rules_img image" \
  "$(cat "$rootfs/app/bin/hello.runfiles/e2e_workspace/message.txt" 2>&1)"
check_eq "workspace: symlinks keep their target" "/app/bin/hello" "$(readlink "$rootfs/usr/local/bin/hello" 2>&1)"
containerd_start "$work/ctd"
check_eq "workspace: the image runs in containerd and prints its message" \
  "Hello from a rules_img image (GREETING_FROM=rules_img)" \
  "$(containerd_run_layout bazel-bin/image.oci_layout localhost/e2e/workspace 2>&1)"
containerd_down

# Prebuilt binaries from a lockfile: rules_img_register_toolchains(lockfile = ...).
os=$(go env GOOS) arch=$(go env GOARCH)
check "workspace: go build the img tool for a lockfile" \
  env -C "$REPO_ROOT" CGO_ENABLED=0 go build -trimpath -o "$work/img" ./tools/cmd/img
img_sha=$(sha256_of "$work/img")
sha=${img_sha#sha256:}
jq -n --arg url "file://$work/img" --arg sha "$sha" --arg os "$os" --arg cpu "$arch" \
  '{binaries: [{os: $os, cpu: $cpu, url: $url, sha256: $sha}]}' >img_tool.lock.json
sed -i 's#^rules_img_register_toolchains()#rules_img_register_toolchains(lockfile = "//:img_tool.lock.json")#' WORKSPACE.bazel
# Neither the disk cache nor the action cache of the first build: the actions run.
check "workspace: bazel build //:image with the lockfile's binary (no cache: the actions run)" \
  bazel build //:image //:app_layer --disk_cache= --nouse_action_cache --execution_log_json_file="$work/exec.json"
# Bazel's execution log: every action of the image ran the lockfile's
# repository's img (its path, and the sha256 Bazel took of it).
check_eq "workspace: the toolchain resolves to the lockfile's repository (execution log), no source build" \
  "external/img_tool_${os}_${arch}/img $sha" \
  "$(jq -rs '[.[] | select(.mnemonic | startswith("Image")) | .inputs[] | select(.isTool and (.path | endswith("/img")))
      | .path + " " + .digest.hash] | unique | join(", ")' "$work/exec.json" 2>&1)"
external=$(bazel info output_base 2>/dev/null)/external
check_eq "workspace: the toolchain repository holds the locked binary" "$img_sha" \
  "$(sha256_of "$external/img_tool_${os}_${arch}/img")"
check "workspace: fetch the host tool (the pull rule's)" bazel fetch @img_host_tool//...
check_eq "workspace: the host tool is the locked binary too" "$img_sha" "$(sha256_of "$external/img_host_tool/img")"
finish
