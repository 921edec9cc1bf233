#!/usr/bin/env bash
# End-to-end test of base images: the images extension, its lockfile and
# update command, shallow pulls, the pull repository rule, and auth, against
# real registries (distribution, plain and TLS + htpasswd) started here.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh

work=$(mktemp -d /tmp/e2e-base.XXXXXX)
ws=$work/ws
cleanup() {
  containerd_down
  [ ! -d "$ws" ] || (cd "$ws" && bazel shutdown >/dev/null 2>&1)
  "$REPO_ROOT/tools/setup/peers/registry.sh" down "$work" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

for mode in up up-tls; do
  err=$("$REPO_ROOT/tools/setup/peers/registry.sh" "$mode" "$work" 2>&1) || { fail "base: start the registries" "$err"; finish; }
done
. "$work/registry.env"
. "$work/registry-tls.env"
export SSL_CERT_FILE=$CA_FILE

# make_base REGISTRY VERSION [CRANE FLAGS]: pushes e2e/base:1.0, an index of
# linux/amd64 (busybox and /etc/base.txt) and linux/arm64 (base.txt only).
make_base() {
  local reg=$1 version=$2 d=$work/base-src
  shift 2
  rm -rf "$d" && mkdir -p "$d/amd64/bin" "$d/amd64/etc" "$d/arm64/etc"
  cp /bin/busybox "$d/amd64/bin/"
  echo "base layer for linux/amd64, $version" >"$d/amd64/etc/base.txt"
  echo "base layer for linux/arm64, $version" >"$d/arm64/etc/base.txt"
  for arch in amd64 arm64; do
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$d/$arch" -cf "$d/$arch.tar" . &&
      crane append "$@" --oci-empty-base -f "$d/$arch.tar" -t "$reg/e2e/base:$arch" &&
      crane mutate "$@" --set-platform "linux/$arch" "$reg/e2e/base:$arch" -t "$reg/e2e/base:$arch" || return 1
  done >/dev/null 2>&1
  crane index append "$@" -m "$reg/e2e/base:amd64" -m "$reg/e2e/base:arm64" -t "$reg/e2e/base:1.0" >/dev/null 2>&1 &&
    crane digest "$@" "$reg/e2e/base:1.0"
}

digest=$(make_base "$REGISTRY" v1 --insecure) || { fail "base: push the base image" "$digest"; finish; }
DOCKER_CONFIG=$DOCKER_CONFIG_DIR make_base "$REGISTRY_TLS" v1 >/dev/null || fail "base: push the base image to the TLS registry"

# The workspace, with the registries' addresses filled in.
cp -r . "$ws" && rm -f "$ws/images.lock.json" "$ws/test.sh"
sed -i "s#TLS_REGISTRY_UNDER_TEST#$REGISTRY_TLS#; s#REGISTRY_UNDER_TEST#$REGISTRY#; s#DIGEST_UNDER_TEST#$digest#; s#path = \"../..\"#path = \"$REPO_ROOT\"#" "$ws/MODULE.bazel"
cat >"$ws/.bazelrc" <<RC
try-import $REPO_ROOT/.bazel-offline/offline.bazelrc
build --disk_cache=~/.cache/rules_img/bazel-disk-cache
build --remote_download_outputs=all
# Layer downloads run in actions: give them the registry's CA and credentials.
build --action_env=SSL_CERT_FILE --action_env=DOCKER_CONFIG --action_env=IMG_CREDENTIAL_HELPER
RC
cd "$ws"

# Credentials for the TLS registry come from a Bazel-style credential helper
# first; Docker's config has none.
mkdir -p "$work/no-docker-config" && echo '{}' >"$work/no-docker-config/config.json"
cat >"$work/helper.sh" <<HELPER
#!/bin/sh
cat >/dev/null
printf '{"headers": {"Authorization": ["Basic %s"]}}\n' "$(printf '%s:%s' "$REGISTRY_USER" "$REGISTRY_PASS" | base64 -w0)"
HELPER
chmod +x "$work/helper.sh"
export DOCKER_CONFIG=$work/no-docker-config IMG_CREDENTIAL_HELPER=$work/helper.sh
unset REGISTRY_AUTH_FILE

log=$work/bazel.log
out=$(bazel run @images//:update 2>"$log")
check_eq "base: the update command adds every platform" \
  "base linux/amd64: added
base linux/arm64: added
base_tls linux/amd64: added" "$(grep ': added' <<<"$out" | sed 's/ sha256:.*//')"
check_eq "base: the lockfile records the index digest" "$digest" "$(jq -r .images.base.digest images.lock.json 2>&1)"
check "base: update -- --check passes on a fresh lockfile" bazel run @images//:update -- --check
cp images.lock.json "$work/lock.v1"
check_eq "base: a second update changes nothing" "$(cat "$work/lock.v1")" "$(bazel run @images//:update 2>/dev/null >/dev/null; cat images.lock.json)"

# Shallow: building the image needs manifests and configs, not layers.
layers=$(jq -r '.images.base.platforms[].layers[].digest' images.lock.json)
: >"$work/logs/registry.log"
check "base: bazel build //:app on the pulled base" bazel build //:app //:app_layer
check_eq "base: no layer blob was downloaded to build it" "0" \
  "$(grep -a -c -F -f <(sed 's#^#GET /v2/e2e/base/blobs/#' <<<"$layers") "$work/logs/registry.log")"
check_eq "base: only the target platform's manifest was downloaded" "0" \
  "$(grep -a -c -F "manifests/$(jq -r '.images.base.platforms["linux/arm64"].manifest.digest' images.lock.json)" "$work/logs/registry.log")"
check_eq "base: the app's layers are the base's, then its own" \
  "$(jq -r '.images.base.platforms["linux/amd64"].layers[].digest' images.lock.json) $(jq -r .digest bazel-bin/app_layer.layer.json)" \
  "$(jq -r '[.layers[].digest] | join(" ")' bazel-bin/app.manifest.json 2>&1)"

check "base: the OCI layout fetches the layers it needs" bazel build //:app //:app_on_pull --output_groups=+oci_layout
check "base: umoci unpack accepts the image" umoci unpack --rootless --image bazel-bin/app.oci_layout:latest "$work/bundle"
if containerd_up "$work/ctd" 2>"$work/ctd.err"; then
  check_eq "base: the image runs in containerd with the base and app layers" \
    "base layer for linux/amd64, v1
Hello from the app layer" "$(run_in_containerd bazel-bin/app.oci_layout localhost/e2e/app-on-base 2>&1)"
  check_eq "base: the pull repository rule gives the same base" "Hello from the app layer" \
    "$(run_in_containerd bazel-bin/app_on_pull.oci_layout localhost/e2e/app-on-pull 2>&1)"
else
  fail "base: containerd starts" "$(cat "$work/ctd.err")"
fi
containerd_down
# Push: the base layers never come to this machine.
check_eq "base: the push target's runfiles hold no base layer blob" "" \
  "$(bazel build //:push_app >/dev/null 2>&1; grep -l blob_sha256_ bazel-bin/push_app.sh.runfiles_manifest)"
: >"$work/logs/registry.log"
if bazel run //:push_app -- --registry "$REGISTRY" >/dev/null 2>"$work/push-same.log"; then
  pass "base: push an image on a pulled base to the base's registry"
else
  fail "base: push an image on a pulled base to the base's registry" "$(cat "$work/push-same.log")"
fi
check "base: the base layer is mounted from its repository, not uploaded" grep -q "1 mounted" "$work/push-same.log"
check_eq "base: nothing read the base layer to push it there" "0" \
  "$(grep -a -c -F -f <(sed 's#^#GET /v2/e2e/base/blobs/#' <<<"$layers") "$work/logs/registry.log")"
check "base: push it to another registry (TLS)" \
  env DOCKER_CONFIG="$DOCKER_CONFIG_DIR" IMG_CREDENTIAL_HELPER= bazel run //:push_app -- --registry "$REGISTRY_TLS" --repository e2e/copied
check "base: the copy validates on the other registry" \
  env DOCKER_CONFIG="$DOCKER_CONFIG_DIR" crane validate --remote "$REGISTRY_TLS/e2e/copied:latest"
check_fails "base: a platform the base lacks lists the ones it has" \
  "@base has no image for the target platform: it has linux/amd64, linux/arm64" \
  bazel build //:app --platforms=//:linux_s390x

# Auth: the TLS registry through the credential helper, then Docker's config.
check "base: a TLS + htpasswd registry through a credential helper" bazel build //:app_tls --output_groups=+oci_layout
check "base: umoci unpack accepts the image from the TLS registry" \
  umoci unpack --rootless --image bazel-bin/app_tls.oci_layout:latest "$work/bundle-tls"
check "base: Docker's config.json works too" \
  env DOCKER_CONFIG="$DOCKER_CONFIG_DIR" IMG_CREDENTIAL_HELPER= bazel run @images//:update -- --check
mkdir -p "$work/wrong" &&
  printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$REGISTRY_TLS" "$(printf '%s:wrong-%s' "$REGISTRY_USER" "$REGISTRY_PASS" | base64 -w0)" >"$work/wrong/config.json"
check_fails "base: a wrong password gives a clear error" "$REGISTRY_TLS refused access to e2e/base" \
  env DOCKER_CONFIG="$work/wrong" IMG_CREDENTIAL_HELPER= bazel run @images//:update -- --check
bazel aquery //:app_tls >"$work/aquery.txt" 2>&1
check_eq "base: the password is in no log, output, lockfile or action" "" \
  "$(grep -r -l -a -F "$REGISTRY_PASS" "$log" "$work/aquery.txt" images.lock.json bazel-bin/ \
    "$(bazel info output_base 2>/dev/null)/command.log" 2>/dev/null)"

# A tag that moves: --check fails, update says what changed.
digest2=$(make_base "$REGISTRY" v2 --insecure)
check_fails "base: --check fails after the tag moved" "is stale" bazel run @images//:update -- --check
out=$(bazel run @images//:update 2>/dev/null)
check "base: update prints the old and new digest" grep -q -E "^base linux/amd64: sha256:[0-9a-f]{64} -> sha256:[0-9a-f]{64}$" <<<"$out"
check_eq "base: the lockfile follows the tag" "$digest2" "$(jq -r .images.base.digest images.lock.json 2>&1)"
check_eq "base: changing one pull changes only its entry" "$(jq -c .images.base_tls "$work/lock.v1")" \
  "$(jq -c .images.base_tls images.lock.json)"

# A tampered digest fails clearly, and so does a registry that is down.
jq '.images.base.platforms["linux/amd64"].manifest.digest = "sha256:'"$(printf '%064d' 7)"'"' images.lock.json >"$work/tampered" &&
  cp "$work/tampered" images.lock.json
check_fails "base: a tampered manifest digest fails clearly" "has no sha256:$(printf '%064d' 7) in e2e/base" bazel build //:app
bazel run @images//:update >/dev/null 2>&1
"$REPO_ROOT/tools/setup/peers/registry.sh" down "$work" >/dev/null 2>&1
check_fails "base: a registry that is down gives a clear error" "$REGISTRY" bazel build //:app
output_base=$(bazel info output_base 2>/dev/null)
check_eq "base: nothing half-written is kept" "" \
  "$(ls "$output_base"/external/@rules_img~~images~base_linux_amd64.marker "$output_base"/external/rules_img~~images~base_linux_amd64/manifest.json 2>/dev/null)"
finish
