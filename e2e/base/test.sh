#!/usr/bin/env bash
# End-to-end test of base images: the images extension, its lockfile and
# update command, the pull repository rule, its layer handlings (shallow,
# eager, lazy) and downloaders (img_tool, bazel), mirrors, pulled indexes,
# and auth, against real registries (distribution: plain, a plain mirror,
# and TLS + htpasswd) started here. Repositories are found with bazel query
# --output=location, never by their canonical names.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh
expect_checks 58

work=$(mktemp -d /tmp/e2e-base.XXXXXX)
ws=$work/ws
cleanup() {
  containerd_down
  [ ! -d "$ws" ] || (cd "$ws" && bazel shutdown >/dev/null 2>&1)
  "$REPO_ROOT/tools/setup/peers/registry.sh" down "$work" >/dev/null 2>&1
  "$REPO_ROOT/tools/setup/peers/registry.sh" down "$work/mirror" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

for mode in up up-tls; do
  err=$("$REPO_ROOT/tools/setup/peers/registry.sh" "$mode" "$work" 2>&1) || { fail "base: start the registries" "$err"; finish; }
done
err=$("$REPO_ROOT/tools/setup/peers/registry.sh" up "$work/mirror" 2>&1) || { fail "base: start the mirror registry" "$err"; finish; }
MIRROR=$(. "$work/mirror/registry.env" && echo "$REGISTRY")
. "$work/registry.env"
. "$work/registry-tls.env"
export SSL_CERT_FILE=$CA_FILE
reglog=$work/logs/registry.log
mirrorlog=$work/mirror/logs/registry.log

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
err=$(DOCKER_CONFIG=$DOCKER_CONFIG_DIR make_base "$REGISTRY_TLS" v1 2>&1) || { fail "base: push the base image to the TLS registry" "$err"; finish; }
err=$(crane copy --insecure "$REGISTRY/e2e/base:1.0" "$MIRROR/e2e/base:1.0" 2>&1) || { fail "base: copy the base image to the mirror" "$err"; finish; }
# What the registries hold, as crane sees it: the checks below compare our
# lockfile, repositories and logs with these, never with our own records.
platform_digest() { crane digest --insecure --platform "$2" "$1/e2e/base:1.0"; }
amd64_manifest=$(platform_digest "$REGISTRY" linux/amd64)
arm64_manifest=$(platform_digest "$REGISTRY" linux/arm64)
tls_amd64_manifest=$(DOCKER_CONFIG=$DOCKER_CONFIG_DIR crane digest --platform linux/amd64 "$REGISTRY_TLS/e2e/base:1.0")
platform_layers() { crane manifest --insecure --platform "$1" "$REGISTRY/e2e/base:1.0" | jq -r '.layers[].digest'; }
amd64_layers=$(platform_layers linux/amd64)
arm64_layers=$(platform_layers linux/arm64)
layers="$amd64_layers
$arm64_layers"
[ -n "$amd64_layers" ] && [ -n "$arm64_layers" ] && [ -n "$tls_amd64_manifest" ] || { fail "base: crane reads the base image's platforms"; finish; }
tls_log=$work/logs/registry-tls.log

# The workspace, with the registries' addresses filled in.
cp -r . "$ws" && rm -f "$ws/images.lock.json" "$ws/test.sh"
sed -i "s#TLS_REGISTRY_UNDER_TEST#$REGISTRY_TLS#; s#REGISTRY_UNDER_TEST#$REGISTRY#; s#MIRROR_UNDER_TEST#$MIRROR#; s#DIGEST_UNDER_TEST#$digest#; s#path = \"../..\"#path = \"$REPO_ROOT\"#" "$ws/MODULE.bazel"
cat >"$ws/.bazelrc" <<RC
try-import $REPO_ROOT/.bazel-offline/offline.bazelrc
build --disk_cache=~/.cache/rules_img/bazel-disk-cache
build --remote_download_outputs=all
# Bazel's downloader keeps what it got by sha256: a cache of this run only,
# so that the registries' logs show every download.
common --repository_cache=$work/repository-cache
# Layer downloads run in actions: give them the registry's CA and credentials.
build --action_env=SSL_CERT_FILE --action_env=DOCKER_CONFIG --action_env=IMG_CREDENTIAL_HELPER
RC
cd "$ws"

# blob_gets LOG DIGESTS: how many GETs of those blobs of e2e/base LOG has.
# A missing log or an empty list prints an error, never a count of 0.
blob_gets() {
  [ -f "$1" ] || { echo "no registry log $1"; return 1; }
  [ -n "$2" ] || { echo "no digests to look for"; return 1; }
  grep -a -c -F -f <(sed 's#^#GET /v2/e2e/base/blobs/#' <<<"$2") "$1"
}
# blobs_ok DIR DIGESTS: each blob is in DIR/blobs/sha256, with its digest.
blobs_ok() {
  local d
  [ -n "$2" ] || { echo "no digests to look for"; return 1; }
  for d in $2; do
    [ "$(sha256sum "$1/blobs/sha256/${d#sha256:}" 2>/dev/null | cut -d' ' -f1)" = "${d#sha256:}" ] || { echo "bad or missing $d"; return 1; }
  done
}

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
  "base linux/amd64: added $amd64_manifest
base linux/arm64: added $arm64_manifest
base_arm64 linux/arm64: added $arm64_manifest
base_tls linux/amd64: added $tls_amd64_manifest" "$(grep ': added' <<<"$out")"
check_eq "base: the lockfile records the index digest" "$digest" "$(jq -r .images.base.digest images.lock.json 2>&1)"
# --check passing means something only if it asked the registry: its log
# must have our tool's request of the tag.
fresh_check() {
  : >"$reglog"
  bazel run @images//:update -- --check || return 1
  grep -a -q -E '"(GET|HEAD) /v2/e2e/base/manifests/1.0 HTTP/[0-9.]+" 200 [0-9]+ "[^"]*" "rules_img' "$reglog" ||
    { echo "the registry logged no request of the tag by rules_img"; return 1; }
}
check "base: update -- --check passes on a fresh lockfile" fresh_check
cp images.lock.json "$work/lock.v1"
# An update that fails changes nothing too: its failure must show.
check_eq "base: a second update changes nothing" "$(cat "$work/lock.v1")" \
  "$(bazel run @images//:update >/dev/null 2>"$work/update2.log" || tail -n 5 "$work/update2.log"; cat images.lock.json)"

# Lazy (the images extension's default): building the image needs
# manifests and configs, not layers.
: >"$reglog"
check "base: bazel build //:app on the pulled base" bazel build //:app //:app_layer
check_eq "base: no layer blob was downloaded to build it" "0" "$(blob_gets "$reglog" "$layers")"
check_eq "base: the app's layers are the base's, then its own" \
  "$(echo $amd64_layers) $(jq -r .digest bazel-bin/app_layer.layer.json)" \
  "$(jq -r '[.layers[].digest] | join(" ")' bazel-bin/app.manifest.json 2>&1)"
base_dir=$(repo_dir @base//:base)
check_eq "base: @base, every platform of the index, is the source index (same digest)" "$digest" \
  "sha256:$(sha256sum "$base_dir/index.json" 2>&1 | cut -d' ' -f1)"
check_eq "base: @base's descriptor names that digest" "$digest" "$(jq -r .digest "$base_dir/descriptor.json" 2>&1)"
check_eq "base: @base//:linux_arm64 is the arm64 image, with the index's platform" "linux arm64" \
  "$(jq -r '.platform | "\(.os) \(.architecture)"' "$(repo_dir "kind(pulled_image, deps(@base//:linux_arm64))")/descriptor.json" 2>&1)"

# The pull rule, from a mirror first, with Bazel's downloader and eager
# layers: the mirror serves everything, the registry nothing.
: >"$reglog"
: >"$mirrorlog"
check "base: bazel build //:app_on_mirrored (pull with registries + registry, downloader bazel, eager)" \
  bazel build //:app_on_mirrored
mirrored_dir=$(repo_dir @base_mirrored//:base_mirrored)
check_eq "base: the mirror, first in registries, served the pull" "0" "$(grep -a -c -F "GET /v2/e2e/base/" "$reglog")"
check "base: Bazel's downloader fetched the index from the mirror" \
  grep -a -q -E "GET /v2/e2e/base/manifests/$digest .*Bazel/" "$mirrorlog"
check "base: eager: the layers of linux/amd64 are in the repository, with their digests" blobs_ok "$mirrored_dir" "$amd64_layers"
check_eq "base: eager: no layer of linux/arm64 was downloaded" "0" "$(blob_gets "$mirrorlog" "$arm64_layers")"
check_eq "base: a platforms filter gives a new index of the pulled platform, the source's media type" \
  "1 linux/amd64 $(crane manifest --insecure "$REGISTRY/e2e/base@$digest" | jq -r .mediaType)" \
  "$(jq -r '"\(.manifests | length) \(.manifests[0].platform.os)/\(.manifests[0].platform.architecture) \(.mediaType)"' "$mirrored_dir/index.json" 2>&1)"
check_eq "base: its descriptor names the new index" \
  "sha256:$(sha256sum "$mirrored_dir/index.json" | cut -d' ' -f1)" "$(jq -r .digest "$mirrored_dir/descriptor.json" 2>&1)"

# The images extension with Bazel's downloader and eager layers.
: >"$reglog"
check "base: bazel build @base_arm64 (images.pull, downloader bazel, eager)" bazel build @base_arm64//:base_arm64
check "base: images.pull with downloader bazel: Bazel's downloader fetched the manifests" \
  grep -a -q -E "GET /v2/e2e/base/manifests/sha256:.*Bazel/" "$reglog"
check "base: images.pull, eager: the layer is in the platform's repository" \
  blobs_ok "$(repo_dir "kind(pulled_image, deps(@base_arm64//:base_arm64))")" "$arm64_layers"
check_eq "base: images.pull with a platforms filter: an index of linux/arm64 only" "1 arm64" \
  "$(jq -r '"\(.manifests | length) \(.manifests[0].platform.architecture)"' "$(repo_dir @base_arm64//:base_arm64)/index.json" 2>&1)"

check "base: the OCI layout fetches the layers it needs (lazy), or has them (eager)" \
  bazel build //:app //:app_on_lazy //:app_on_mirrored --output_groups=+oci_layout
check "base: umoci unpack accepts the image" umoci unpack --rootless --image bazel-bin/app.oci_layout:latest "$work/bundle"
if containerd_up "$work/ctd" 2>"$work/ctd.err"; then
  check_eq "base: the image runs in containerd with the base and app layers" \
    "base layer for linux/amd64, v1
Hello from the app layer" "$(run_in_containerd bazel-bin/app.oci_layout localhost/e2e/app-on-base 2>&1)"
  check_eq "base: the pull repository rule gives the same base (eager)" "Hello from the app layer" \
    "$(run_in_containerd bazel-bin/app_on_mirrored.oci_layout localhost/e2e/app-on-mirrored 2>&1)"
  check_eq "base: the pull repository rule gives the same base (lazy)" "Hello from the app layer" \
    "$(run_in_containerd bazel-bin/app_on_lazy.oci_layout localhost/e2e/app-on-lazy 2>&1)"
else
  # As many results as the branch above: the count must not depend on it.
  for name in "the image runs in containerd with the base and app layers" \
    "the pull repository rule gives the same base (eager)" "the pull repository rule gives the same base (lazy)"; do
    fail "base: $name" "containerd did not start: $(cat "$work/ctd.err")"
  done
fi
containerd_down

# Shallow (the pull rule's default): the layers never reach the build, and
# a push reads them from the source registry.
by_digest_dir=$(repo_dir @base_by_digest//:base_by_digest)
check_eq "base: an index pulled whole has the source index's digest" "$digest" \
  "sha256:$(sha256sum "$by_digest_dir/index.json" 2>&1 | cut -d' ' -f1)"
# Judged only on a repository that was fetched: its index is there.
check_eq "base: shallow: no layer blob is in the repository" "index.json" \
  "$(cd "$by_digest_dir" 2>&1 && ls index.json && for d in $layers; do ls "blobs/sha256/${d#sha256:}" 2>/dev/null; done)"
: >"$reglog"
check "base: push an image on a shallow base" bazel run //:push_app_on_pull -- --registry "$REGISTRY"
check_eq "base: shallow: nothing read the base's layers to build and push it" "0" "$(blob_gets "$reglog" "$layers")"
check "base: the pushed image is complete" crane validate --insecure --remote "$REGISTRY/e2e/app-on-pull:latest"
check "base: push a pulled index (image_push of @base_by_digest)" bazel run //:push_base_index -- --registry "$REGISTRY"
check_eq "base: the pushed index is the source index, every platform" "$digest" \
  "$(crane digest --insecure "$REGISTRY/e2e/base-copy:latest" 2>&1)"

# A pull without a digest resolves its tag, and says which digest to pin.
for repo in base_by_tag base_by_tag_bazel; do
  if out=$(bazel build "@$repo//:$repo" 2>&1); then pass "base: $repo: bazel build"; else fail "base: $repo: bazel build" "$out"; fi
  check_eq "base: $repo: the tag resolves to the index" "$digest" \
    "sha256:$(sha256sum "$(repo_dir "@$repo//:$repo")/index.json" 2>&1 | cut -d' ' -f1)"
  check "base: $repo: a warning names the digest to pin" grep -q "add digest = \"$digest\"" <<<"$out"
done

# Push: the base layers never come to this machine.
# runfiles_layer_blobs: the runfiles entries of //:push_app that are blobs,
# or are named by a base layer's digest; an error when the build fails or
# leaves no runfiles manifest.
runfiles_layer_blobs() {
  local manifest=bazel-bin/push_app.sh.runfiles_manifest out
  out=$(bazel build //:push_app 2>&1) || { echo "bazel build //:push_app failed:"; tail -n 5 <<<"$out"; return; }
  [ -s "$manifest" ] || { echo "no runfiles manifest $manifest"; return; }
  grep -e blob_sha256_ -F -f <(for d in $layers; do echo "${d#sha256:}"; done) "$manifest"
}
check_eq "base: the push target's runfiles hold no base layer blob" "" "$(runfiles_layer_blobs)"
: >"$reglog"
if bazel run //:push_app -- --registry "$REGISTRY" >/dev/null 2>"$work/push-same.log"; then
  pass "base: push an image on a pulled base to the base's registry"
else
  fail "base: push an image on a pulled base to the base's registry" "$(cat "$work/push-same.log")"
fi
# The registry's log: a cross-repository mount (POST ?mount= answered 201)
# of every base layer, and no upload of one.
mounts() {
  local d
  for d in $amd64_layers; do
    grep -a -c -E "\"POST /v2/e2e/app-on-base/blobs/uploads/\?[^ ]*mount=sha256(%3A|:)${d#sha256:}[^ ]* HTTP/[0-9.]+\" 201 " "$reglog"
  done | paste -sd' '
  grep -a -c -E "\"PUT /v2/[^ ]*/blobs/uploads/[^ ]*digest=sha256(%3A|:)($(for d in $amd64_layers; do printf '%s|' "${d#sha256:}"; done | sed 's/|$//'))" "$reglog"
}
check_eq "base: the base layer is mounted from its repository, not uploaded" \
  "$(for _ in $amd64_layers; do printf '1 '; done | sed 's/ $//')
0" "$(mounts 2>&1)"
check_eq "base: nothing read the base layer to push it there" "0" "$(blob_gets "$reglog" "$layers")"
check "base: push it to another registry (TLS)" \
  env DOCKER_CONFIG="$DOCKER_CONFIG_DIR" IMG_CREDENTIAL_HELPER= bazel run //:push_app -- --registry "$REGISTRY_TLS" --repository e2e/copied
check "base: the copy validates on the other registry" \
  env DOCKER_CONFIG="$DOCKER_CONFIG_DIR" crane validate --remote "$REGISTRY_TLS/e2e/copied:latest"
check_fails "base: a platform the base lacks lists the ones it has" \
  "linux/amd64, linux/arm64" \
  bazel build //:app --platforms=//:linux_s390x

# Auth: the TLS registry through the credential helper, then Docker's config.
check "base: a TLS + htpasswd registry through a credential helper" bazel build //:app_tls --output_groups=+oci_layout
check "base: umoci unpack accepts the image from the TLS registry" \
  umoci unpack --rootless --image bazel-bin/app_tls.oci_layout:latest "$work/bundle-tls"
# With no credential helper, the TLS registry answering 200 to the manifest
# request of our tool proves that Docker's credentials were sent and taken.
docker_config_check() {
  : >"$tls_log"
  env DOCKER_CONFIG="$DOCKER_CONFIG_DIR" IMG_CREDENTIAL_HELPER= bazel run @images//:update -- --check || return 1
  grep -a -E '"(GET|HEAD) /v2/e2e/base/manifests/[^ ]* HTTP/[0-9.]+" 200 [0-9]+ "[^"]*" "rules_img' "$tls_log" ||
    { echo "the TLS registry logged no authenticated manifest request:"; tail -n 20 "$tls_log"; return 1; }
}
check "base: Docker's config.json works too" docker_config_check
mkdir -p "$work/wrong" &&
  printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$REGISTRY_TLS" "$(printf '%s:wrong-%s' "$REGISTRY_USER" "$REGISTRY_PASS" | base64 -w0)" >"$work/wrong/config.json"
check_fails "base: a wrong password gives a clear error" "$REGISTRY_TLS refused access to e2e/base" \
  env DOCKER_CONFIG="$work/wrong" IMG_CREDENTIAL_HELPER= bazel run @images//:update -- --check
bazel aquery //:app_tls >"$work/aquery.txt" 2>&1
# password_files: the files that hold the password; an error when one of
# them is missing or empty (a search of nothing finds nothing).
password_files() {
  local f files=("$log" "$work/aquery.txt" images.lock.json "$(bazel info output_base 2>/dev/null)/command.log")
  for f in "${files[@]}"; do [ -s "$f" ] || { echo "missing or empty: $f"; return 1; }; done
  [ -d bazel-bin/ ] || { echo "no bazel-bin"; return 1; }
  grep -r -l -a -F "$REGISTRY_PASS" "${files[@]}" bazel-bin/
  [ $? -le 1 ] || echo "grep failed"
}
check_eq "base: the password is in no log, output, lockfile or action" "" "$(password_files 2>&1)"

# A tag that moves: --check fails, update says what changed.
digest2=$(make_base "$REGISTRY" v2 --insecure)
amd64_manifest2=$(platform_digest "$REGISTRY" linux/amd64)
check_fails "base: --check fails after the tag moved" "is stale" bazel run @images//:update -- --check
out=$(bazel run @images//:update 2>/dev/null)
check_eq "base: update prints the old and new digest" "base linux/amd64: $amd64_manifest -> $amd64_manifest2" \
  "$(grep '^base linux/amd64: ' <<<"$out")"
check_eq "base: the lockfile follows the tag" "$digest2" "$(jq -r .images.base.digest images.lock.json 2>&1)"
# Two lockfiles without the entry must not look like an unchanged one.
tls_entry=$(jq -c .images.base_tls "$work/lock.v1" 2>&1)
[[ $tls_entry == "{"* ]] || tls_entry="(no base_tls entry in the first lockfile: $tls_entry)"
check_eq "base: changing one pull changes only its entry" "$tls_entry" "$(jq -c .images.base_tls images.lock.json 2>&1)"

# A tampered digest fails clearly, and so does a registry that is down.
jq '.images.base.platforms["linux/amd64"].manifest.digest = "sha256:'"$(printf '%064d' 7)"'"' images.lock.json >"$work/tampered" &&
  cp "$work/tampered" images.lock.json
check_fails "base: a tampered manifest digest fails clearly" "sha256:$(printf '%064d' 7)" bazel build //:app
bazel run @images//:update >/dev/null 2>&1
"$REPO_ROOT/tools/setup/peers/registry.sh" down "$work" >/dev/null 2>&1
check_fails "base: a registry that is down gives a clear error" "$REGISTRY" bazel build //:app
# @base's last fetch failed (the tampered digest): it is fetched again, and
# fails again; $base_dir was found while it was whole.
# Judged in the external directory where @base was (it must still exist).
check_eq "base: nothing half-written is kept" "" \
  "$( ([ -n "$base_dir" ] && [ -d "$(dirname "$base_dir")" ]) || echo "no external directory for @base ('$base_dir')"
    ls "$(dirname "$base_dir")/@$(basename "$base_dir").marker" "$base_dir/index.json" "$base_dir/descriptor.json" 2>/dev/null)"
finish
