#!/usr/bin/env bash
# End-to-end test of the lazy push strategy: Bazel builds with nginx as its
# HTTP remote cache and --remote_download_minimal, so the layer blobs never
# reach this machine's output tree; the push streams them from the cache
# (nginx, then buildbox-casd over REAPI gRPC) into a real registry. The
# pushed image is pulled back with skopeo, checked by umoci and crane, and
# run in containerd.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh

work=$(mktemp -d /tmp/e2e-lazy.XXXXXX)
ws=$work/ws
peers="$REPO_ROOT/tools/setup/peers"
proxy_pid=
cleanup() {
  [ -z "$proxy_pid" ] || kill "$proxy_pid" 2>/dev/null
  containerd_down
  [ ! -d "$ws" ] || (cd "$ws" && bazel shutdown >/dev/null 2>&1)
  "$peers/registry.sh" down "$work" >/dev/null 2>&1
  "$peers/cache.sh" down "$work" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

for up in "registry.sh up" "cache.sh up-http" "cache.sh up-casd"; do
  # shellcheck disable=SC2086 # two words: script and command
  err=$("$peers"/$up "$work" 2>&1) || { fail "lazy: start $up" "$err"; finish; }
done
. "$work/registry.env"
. "$work/http-cache.env"
. "$work/casd.env"
access_log=$work/logs/nginx-access.log
cas_gets() { grep -c "GET /cas/${1#sha256:}" "$access_log"; }

# The workspace, with the busybox the image runs, and no disk cache: every
# cache hit must come from nginx.
cp -r . "$ws" && rm -f "$ws/test.sh" && cp /bin/busybox "$ws/busybox"
sed -i "s#path = \"../..\"#path = \"$REPO_ROOT\"#" "$ws/MODULE.bazel"
cat >"$ws/.bazelrc" <<EOF
try-import $REPO_ROOT/.bazel-offline/offline.bazelrc
common --disk_cache=
common --remote_cache=$HTTP_CACHE_URL
common --remote_download_minimal
common --@rules_img//img/settings:remote_cache=$HTTP_CACHE_URL
EOF
cd "$ws"
unset IMG_REAPI_ENDPOINT IMG_CREDENTIAL_HELPER

# Build once to fill the cache, then from scratch: every action is a remote
# cache hit, and with --remote_download_minimal no output is downloaded.
check "lazy: bazel build fills the HTTP cache" bazel build //:image //:push
bazel clean >/dev/null 2>&1
out=$(bazel build //:image //:push 2>&1)
check "lazy: the rebuild is served by the remote cache" grep -q "remote cache hit" <<<"$out"
out_dir=$(bazel info output_path 2>/dev/null)
check "lazy: bazel info output_path names the output tree" test -d "$out_dir/k8-fastbuild/bin"
blobs_in_tree() { find "$out_dir" -name "${1:-*_layer}.tar.gz" | wc -l; }
check_eq "lazy: no layer blob is in the output tree after the build" 0 "$(blobs_in_tree)"

# The push: its runfiles hold metadata only; the layers come from nginx.
out=$(bazel run //:push -- --registry "$REGISTRY" 2>"$work/push.log")
check_eq "lazy: bazel run //:push prints the pushed references" \
  "$REGISTRY/e2e/lazy@$(jq -r .digest bazel-bin/image.descriptor.json 2>&1)
$REGISTRY/e2e/lazy:latest" "$out"
check_eq "lazy: still no layer blob in the output tree after bazel run" 0 "$(blobs_in_tree)"
check "lazy: the push target's runfiles have the layer metadata" \
  test -s bazel-bin/push.sh.runfiles/_main/message_layer.layer.json
busybox_digest=$(jq -r .digest bazel-bin/push.sh.runfiles/_main/busybox_layer.layer.json)
message_digest=$(jq -r .digest bazel-bin/push.sh.runfiles/_main/message_layer.layer.json)
check_eq "lazy: each layer blob was read from the cache once" "1 1" \
  "$(cas_gets "$busybox_digest") $(cas_gets "$message_digest")"
check "lazy: crane validate --remote accepts the pushed image" crane validate --insecure --remote "$REGISTRY/e2e/lazy:latest"
check "lazy: skopeo pulls it back to an OCI layout" \
  skopeo copy --src-tls-verify=false "docker://$REGISTRY/e2e/lazy:latest" "oci:$work/pulled:latest"
check "lazy: umoci unpack accepts what was pulled back" umoci unpack --rootless --image "$work/pulled:latest" "$work/bundle"
if containerd_up "$work/ctd" 2>"$work/ctd.err"; then
  # load_strategy=lazy: image_load streams the layers containerd lacks from
  # the cache (first, while its content store is empty).
  gets_before=$(cas_gets "$busybox_digest")
  check "lazy: image_load with load_strategy=lazy loads into containerd" \
    bazel run //:load --@rules_img//img/settings:load_strategy=lazy -- --daemon containerd
  check_eq "lazy: the lazy load has no layer blob in its runfiles" "" \
    "$(find -L bazel-bin/load.sh.runfiles -name '*.tar.gz' 2>&1)"
  check_eq "lazy: the lazy load read the layer from the cache" "$((gets_before + 1))" "$(cas_gets "$busybox_digest")"
  check_eq "lazy: the lazily loaded image runs in containerd" "Hello from a lazily pushed image" \
    "$(ctr run --rm --snapshotter overlayfs localhost/e2e/lazy-load:latest "e2e-$$-load" 2>&1)"
  check_eq "lazy: the image runs in containerd" "Hello from a lazily pushed image" \
    "$(run_in_containerd "$work/pulled" localhost/e2e/lazy 2>&1)"
  containerd_down
else
  fail "lazy: containerd starts" "$(cat "$work/ctd.err")"
fi

# Pushed again unchanged: the registry has every blob, so the cache is not read.
gets_before="$(cas_gets "$busybox_digest") $(cas_gets "$message_digest")"
bazel run //:push -- --registry "$REGISTRY" >/dev/null 2>"$work/push2.log"
check_eq "lazy: a second push reads nothing from the cache" "$gets_before" \
  "$(cas_gets "$busybox_digest") $(cas_gets "$message_digest")"

# One changed file: only its layer is streamed.
echo "Hello again" >message.txt
bazel run //:push -- --registry "$REGISTRY" >/dev/null 2>"$work/push3.log"
new_message=$(jq -r .digest bazel-bin/push.sh.runfiles/_main/message_layer.layer.json)
check_eq "lazy: after a change only the changed layer is read from the cache" "${gets_before%% *} 1" \
  "$(cas_gets "$busybox_digest") $(cas_gets "$new_message")"
check "lazy: the changed image validates" crane validate --insecure --remote "$REGISTRY/e2e/lazy:latest"

# multi_deploy's strategy makes an eager push lazy, without blobs in runfiles.
check "lazy: multi_deploy with strategy = lazy pushes an eager target" \
  bazel run //:deploy_lazy -- --registry "$REGISTRY"
check_eq "lazy: its runfiles have no layer blob" "" \
  "$(find -L bazel-bin/deploy_lazy.sh.runfiles -name '*.tar.gz' 2>&1)"
check "lazy: the multi_deploy push validates" crane validate --insecure --remote "$REGISTRY/e2e/multi:latest"

# buildbox-casd as a REAPI CAS over gRPC: the blobs go in with casupload,
# and the push streams them from there (not from nginx).
for d in "$busybox_digest" "$new_message"; do
  curl -sf -o "$work/${d#sha256:}" "$HTTP_CACHE_URL/cas/${d#sha256:}" &&
    casupload --remote="$CASD_REMOTE" "$work/${d#sha256:}" >/dev/null 2>&1 ||
    fail "lazy: copy $d into casd with casupload"
done
before="$(cas_gets "$busybox_digest") $(cas_gets "$new_message")"
check "lazy: a push with remote_cache=grpc://casd" \
  bazel run //:push --@rules_img//img/settings:remote_cache="$REAPI_ADDRESS" -- --registry "$REGISTRY" --repository e2e/casd
check_eq "lazy: the casd push read nothing from nginx" "$before" "$(cas_gets "$busybox_digest") $(cas_gets "$new_message")"
check "lazy: the image streamed from casd validates" crane validate --insecure --remote "$REGISTRY/e2e/casd:latest"
check "lazy: skopeo pulls the casd image" \
  skopeo copy --src-tls-verify=false "docker://$REGISTRY/e2e/casd:latest" "oci:$work/pulled-casd:latest"
check "lazy: umoci unpack accepts the casd image" umoci unpack --rootless --image "$work/pulled-casd:latest" "$work/bundle-casd"

# With the setting empty, $IMG_REAPI_ENDPOINT names the cache.
check "lazy: a push with the cache from \$IMG_REAPI_ENDPOINT" \
  env IMG_REAPI_ENDPOINT="$REAPI_ADDRESS" bazel run //:push --@rules_img//img/settings:remote_cache= -- \
  --registry "$REGISTRY" --repository e2e/env
check "lazy: the image pushed with \$IMG_REAPI_ENDPOINT validates" crane validate --insecure --remote "$REGISTRY/e2e/env:latest"

# Faults in the registry: 5xx, 429 and resets (of uploads) through
# e2e/push's proxy, on the pre-check's HEADs as on the uploads streamed from
# the cache; every lazy push completes, as eager pushes do.
if (cd "$REPO_ROOT" && go build -o "$work/faultproxy" ./e2e/push/faultproxy); then
  "$work/faultproxy" -target "http://$REGISTRY" -addr-file "$work/proxy.addr" -faults 40 -rate 0.3 -seed 5 2>"$work/proxy.log" &
  proxy_pid=$!
  for _ in $(seq 100); do [ -s "$work/proxy.addr" ] && break; sleep 0.05; done
  proxy=$(cat "$work/proxy.addr")
  for i in 1 2 3 4; do
    check "lazy: a push through injected faults, round $i" \
      bazel run //:push -- --registry "$proxy" --repository "e2e/lazyfault$i"
    check "lazy: the image pushed through faults validates, round $i" \
      crane validate --insecure --remote "$REGISTRY/e2e/lazyfault$i:latest"
  done
  faults=$(curl -s "http://$proxy/__stats" | jq -r '[.faults[]] | add')
  check "lazy: at least 10 faults were injected (${faults:-none}: $(curl -s "http://$proxy/__stats" | jq -c .faults))" \
    test "${faults:-0}" -ge 10
  kill "$proxy_pid" 2>/dev/null
  proxy_pid=
else
  fail "lazy: build e2e/push/faultproxy"
fi

# Faults. The cache lacks a layer: the error names the digest and the
# target, and nothing is tagged.
# Build first, so that nothing Bazel still uploads puts the blob back.
bazel build //:push >/dev/null 2>&1
rm -f "$work/nginx/cache/cas/${new_message#sha256:}"
status=0
out=$(bazel run //:push -- --registry "$REGISTRY" --repository e2e/missing 2>&1) || status=$?
if [ "$status" -ne 0 ] && grep -q 'lacks layer blob' <<<"$out"; then
  pass "lazy: a blob missing from the cache fails the push"
else
  fail "lazy: a blob missing from the cache fails the push" "exit $status; $out
cache requests for it: $(grep "${new_message#sha256:}" "$access_log")"
fi
check "lazy: ... with an error naming the digest" grep -qF "$new_message" <<<"$out"
check "lazy: ... and the push target" grep -qF "//:push:" <<<"$out"
check "lazy: nothing was written: the registry does not know the repository" \
  grep -q NAME_UNKNOWN <<<"$(curl -s "http://$REGISTRY/v2/e2e/missing/tags/list")"
dead=127.0.0.1:$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
check_fails "lazy: the registry down gives a clear error" "registry $dead is not reachable" \
  bazel run //:push -- --registry "$dead"
check_fails "lazy: the cache down gives a clear error" "remote cache grpc://$dead is not reachable" \
  bazel run //:push --@rules_img//img/settings:remote_cache="grpc://$dead" -- --registry "$REGISTRY" --repository e2e/nocache

# The output-tree check sees a blob once Bazel downloads one.
bazel build //:busybox_layer --remote_download_toplevel >/dev/null 2>&1
check_eq "lazy: a downloaded layer blob shows in the output tree (the check above can fail)" 1 "$(blobs_in_tree busybox_layer)"
finish
