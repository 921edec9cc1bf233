#!/usr/bin/env bash
# End-to-end test of image_push and multi_deploy against a real registry
# (distribution), behind a counting, fault-injecting proxy of our own.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh

work=$(mktemp -d /tmp/e2e-push.XXXXXX)
ws=$work/ws
proxies=()
cleanup() {
  for pid in "${proxies[@]}"; do kill "$pid" 2>/dev/null; done
  [ ! -d "$ws" ] || (cd "$ws" && bazel shutdown >/dev/null 2>&1)
  "$REPO_ROOT/tools/setup/peers/registry.sh" down "$work" >/dev/null 2>&1
  "$REPO_ROOT/tools/setup/peers/registry.sh" down "$work/second" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

for mode in up up-tls; do
  err=$("$REPO_ROOT/tools/setup/peers/registry.sh" "$mode" "$work" 2>&1) || { fail "push: start the registries" "$err"; finish; }
done
. "$work/registry.env"
. "$work/registry-tls.env"
(cd "$REPO_ROOT" && go build -o "$work/faultproxy" ./e2e/push/faultproxy) || { fail "push: build the proxy"; finish; }

# proxy NAME TARGET [FLAGS]: starts a proxy in front of TARGET; sets PROXY.
proxy() {
  local name=$1 target=$2
  shift 2
  "$work/faultproxy" -target "http://$target" -addr-file "$work/$name.addr" "$@" 2>"$work/$name.log" &
  proxies+=($!)
  for _ in $(seq 100); do [ -s "$work/$name.addr" ] && break; sleep 0.05; done
  PROXY=$(cat "$work/$name.addr")
}
proxy_stat() { curl -s "http://$1/__stats" | jq -r "$2"; }

cp -r . "$ws" && rm -f "$ws/test.sh" && rm -rf "$ws/faultproxy"
sed -i "s#path = \"../..\"#path = \"$REPO_ROOT\"#" "$ws/MODULE.bazel"
printf 'try-import %s/.bazel-offline/offline.bazelrc\nbuild --disk_cache=~/.cache/rules_img/bazel-disk-cache\nbuild --remote_download_outputs=all\n' "$REPO_ROOT" >"$ws/.bazelrc"
cd "$ws"

# A push, through a proxy that counts.
proxy count "$REGISTRY"
label() { jq -r '.config.Labels["org.opencontainers.image.version"]' bazel-bin/app.config.json 2>&1; }
check "push: build without stamping" bazel build //:app //:app_layer
unstamped_layer=$(jq -r .digest bazel-bin/app_layer.layer.json)
check_eq "push: without --stamp a workspace status key in a label template is empty" "" "$(label)"
check "push: bazel build of the image and its push target" bazel build //:app //:app_layer //:push --stamp --embed_label=v1
built=$(jq -r .digest bazel-bin/app.descriptor.json)
check_eq "push: stamping fills the label" "v1" "$(label)"
check_eq "push: stamping never changes a layer digest" "$unstamped_layer" "$(jq -r .digest bazel-bin/app_layer.layer.json)"
out=$(bazel run //:push --stamp --embed_label=v1 -- --registry "$PROXY" 2>"$work/push.log")
check_eq "push: bazel run prints the reference with the digest Bazel built" \
  "$PROXY/e2e/app@$built
$PROXY/e2e/app:latest
$PROXY/e2e/app:v1-stamped" "$out"
check "push: crane validate --remote accepts the pushed image" crane validate --insecure --remote "$REGISTRY/e2e/app:v1-stamped"
check_eq "push: the stamped tag names the same digest" "$built" "$(crane digest --insecure "$REGISTRY/e2e/app:v1-stamped" 2>&1)"
check "push: skopeo pulls it back" skopeo copy --src-tls-verify=false "docker://$REGISTRY/e2e/app:latest" "oci:$work/pulled:latest"
check "push: umoci unpack accepts what was pulled back" umoci unpack --rootless --image "$work/pulled:latest" "$work/bundle"
check "push: a summary says what happened to each blob" grep -q "uploaded (.* sent)" "$work/push.log"

# Incremental: one changed file sends its layer, the config and no more.
before=$(proxy_stat "$PROXY" .upload_bytes)
echo "version 2" >app.txt
bazel run //:push --stamp --embed_label=v1 -- --registry "$PROXY" >/dev/null 2>"$work/push2.log"
sent=$(($(proxy_stat "$PROXY" .upload_bytes) - before))
layer=$(jq -r .size bazel-bin/app_layer.layer.json)
config=$(stat -c %s bazel-bin/app.config.json)
check "push: a second push sends at most 1.05 x the changed layer plus the config ($sent bytes; layer $layer, config $config)" \
  test "$sent" -le $((layer * 105 / 100 + config))
check "push: the unchanged base layer is skipped, not sent" grep -q "1 blobs already there" "$work/push2.log"

# Faults: 5xx, 429 and resets in the middle of uploads; every push completes.
proxy faulty "$REGISTRY" -faults 150 -rate 0.2 -seed 3
for i in 1 2 3 4 5 6; do
  check "push: multi_deploy through injected faults, round $i" \
    bazel run //:deploy_all --stamp --embed_label=v1 -- --registry "$PROXY" --repository "e2e/faulty$i"
  check "push: the image pushed through faults validates, round $i" \
    crane validate --insecure --remote "$REGISTRY/e2e/faulty$i:latest"
done
faults=$(proxy_stat "$PROXY" '[.faults[]] | add')
check "push: at least 50 faults were injected ($faults: $(proxy_stat "$PROXY" '.faults | tostring'))" test "$faults" -ge 50

# multi_deploy of three images sharing a base: each blob goes up once.
err=$("$REPO_ROOT/tools/setup/peers/registry.sh" up "$work/second" 2>&1) || fail "push: start a second registry" "$err"
. "$work/second/registry.env"
proxy shared "$REGISTRY"
check "push: multi_deploy of three images" bazel run //:deploy_all --stamp --embed_label=v1 -- --registry "$PROXY"
base=$(jq -r .digest bazel-bin/base_layer.layer.json)
check_eq "push: the shared base layer was uploaded once" "1" "$(proxy_stat "$PROXY" ".uploads[\"$base\"]")"
check_eq "push: no blob was uploaded twice" "1" "$(proxy_stat "$PROXY" '[.uploads[]] | max')"
for repo in app worker third; do
  check "push: multi_deploy pushed e2e/$repo whole" crane validate --insecure --remote "$REGISTRY/e2e/$repo:latest"
done

# Credentials: a wrong password fails clearly and is never printed.
mkdir -p "$work/wrong" &&
  printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$REGISTRY_TLS" "$(printf '%s:wrong-%s' "$REGISTRY_USER" "$REGISTRY_PASS" | base64 -w0)" >"$work/wrong/config.json"
check_fails "push: a wrong password gives a clear error" "$REGISTRY_TLS refused access to e2e/app" \
  env SSL_CERT_FILE="$CA_FILE" DOCKER_CONFIG="$work/wrong" bazel run //:push --stamp --embed_label=v1 -- --registry "$REGISTRY_TLS"
check "push: the right password works over TLS" \
  env SSL_CERT_FILE="$CA_FILE" DOCKER_CONFIG="$DOCKER_CONFIG_DIR" bazel run //:push --stamp --embed_label=v1 -- --registry "$REGISTRY_TLS"
bazel aquery //:push >"$work/aquery.txt" 2>&1
check_eq "push: the password is in no log, output or action" "" \
  "$(grep -r -l -a -F "$REGISTRY_PASS" "$work"/*.log "$work/aquery.txt" bazel-bin/ "$(bazel info output_base 2>/dev/null)/command.log" 2>/dev/null)"
check_fails "push: a tag that a template left invalid is refused, saying how to stamp" "unless Bazel stamps: --stamp" \
  bazel run //:push -- --registry "$PROXY"
finish
