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
expect_checks 47

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
reglog=$work/logs/registry.log
# cas_gets DIGEST: nginx's count of GETs of that blob; an error, never 0,
# when the digest is not one or the log is missing.
cas_gets() {
  [[ $1 =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "not a digest: '$1'"; return 1; }
  grep -a -c "GET /cas/${1#sha256:}" "$access_log"
}
# build_fills_cache TARGETS: bazel build, then nginx's log must show action
# results and blobs stored.
build_fills_cache() {
  bazel build "$@" || return 1
  local ac cas
  ac=$(grep -a -c -E '"PUT /ac/[0-9a-f]{64} HTTP/[0-9.]+" (201|204) ' "$access_log")
  cas=$(grep -a -c -E '"PUT /cas/[0-9a-f]{64} HTTP/[0-9.]+" (201|204) ' "$access_log")
  [ "$ac" -ge 1 ] && [ "$cas" -ge 1 ] || { echo "nginx stored $ac action results and $cas blobs"; return 1; }
}
# push_status LOG: nothing when the last push succeeded, else its exit
# status and log (so that a check of what it read cannot pass on a failed push).
push_status() { [ "$push_rc" -eq 0 ] || echo " (the push failed with status $push_rc: $(tail -n 5 "$1"))"; }
# counts_before COUNTS: COUNTS if they are counts; else a text that no
# later count equals (two failed reads must not look unchanged).
counts_before() { if [[ $1 =~ ^[0-9]+\ [0-9]+$ ]]; then echo "$1"; else echo "(no counts before: $1)"; fi; }

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
check "lazy: bazel build fills the HTTP cache" build_fills_cache //:image //:push
bazel clean >/dev/null 2>&1
rebuild_out=$(bazel build //:image //:push 2>&1)
# Bazel's own summary says where the actions' results came from.
served_by_cache() { grep "remote cache hit" <<<"$rebuild_out" || { tail -n 8 <<<"$rebuild_out"; return 1; }; }
check "lazy: the rebuild is served by the remote cache" served_by_cache
out_dir=$(bazel info output_path 2>/dev/null)
check "lazy: bazel info output_path names the output tree" test -d "$out_dir/k8-fastbuild/bin"
# blobs_in_tree [NAME]: layer blobs in the output tree; an error when it is missing.
blobs_in_tree() {
  [ -n "$out_dir" ] && [ -d "$out_dir" ] || { echo "no output tree '$out_dir'"; return; }
  find "$out_dir" -name "${1:-*_layer}.tar.gz" -printf '.' | wc -c
}
check_eq "lazy: no layer blob is in the output tree after the build" 0 "$(blobs_in_tree)"

# The push: its runfiles hold metadata only; the layers come from nginx.
out=$(bazel run //:push -- --registry "$REGISTRY" 2>"$work/push.log") ||
  out+=$'\n'"(exit status $?) $(tail -n 20 "$work/push.log")"
# The digest Bazel built: sha256sum of its manifest file.
check_eq "lazy: bazel run //:push prints the pushed references" \
  "$REGISTRY/e2e/lazy@sha256:$(sha256sum bazel-bin/image.manifest.json 2>&1 | cut -d' ' -f1)
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
  # As many results as the branch above: the count must not depend on it.
  for name in "image_load with load_strategy=lazy loads into containerd" "the lazy load has no layer blob in its runfiles" \
    "the lazy load read the layer from the cache" "the lazily loaded image runs in containerd" "the image runs in containerd"; do
    fail "lazy: $name" "containerd did not start: $(cat "$work/ctd.err")"
  done
fi

# Pushed again unchanged: the registry has every blob, so the cache is not read.
gets_before=$(counts_before "$(cas_gets "$busybox_digest") $(cas_gets "$message_digest")")
bazel run //:push -- --registry "$REGISTRY" >/dev/null 2>"$work/push2.log"
push_rc=$?
check_eq "lazy: a second push reads nothing from the cache" "$gets_before" \
  "$(cas_gets "$busybox_digest") $(cas_gets "$message_digest")$(push_status "$work/push2.log")"

# One changed file: only its layer is streamed.
echo "Hello again" >message.txt
bazel run //:push -- --registry "$REGISTRY" >/dev/null 2>"$work/push3.log"
push_rc=$?
new_message=$(jq -r .digest bazel-bin/push.sh.runfiles/_main/message_layer.layer.json)
check_eq "lazy: after a change only the changed layer is read from the cache" "${gets_before%% *} 1" \
  "$(cas_gets "$busybox_digest") $(cas_gets "$new_message")$(push_status "$work/push3.log")"
check "lazy: the changed image validates" crane validate --insecure --remote "$REGISTRY/e2e/lazy:latest"

# multi_deploy's strategy makes an eager push lazy, without blobs in runfiles.
check "lazy: multi_deploy with strategy = lazy pushes an eager target" \
  bazel run //:deploy_lazy -- --registry "$REGISTRY"
check_eq "lazy: its runfiles have no layer blob" "" \
  "$(find -L bazel-bin/deploy_lazy.sh.runfiles -name '*.tar.gz' 2>&1)"
check "lazy: the multi_deploy push validates" crane validate --insecure --remote "$REGISTRY/e2e/multi:latest"

# buildbox-casd as a REAPI CAS over gRPC: the blobs go in with casupload,
# and the push streams them from there (not from nginx).
# to_casd DIGEST: the blob from nginx into casd; casdownload must then give
# it back with that digest (casd's own record, not casupload's word).
to_casd() {
  local hex=${1#sha256:}
  curl -sf -o "$work/$hex" "$HTTP_CACHE_URL/cas/$hex" && casupload --remote="$CASD_REMOTE" "$work/$hex" || return 1
  rm -rf "$work/casd-back" && casdownload --remote="$CASD_REMOTE" --destination-dir="$work/casd-back" --file-digest="$hex/$(stat -c %s "$work/$hex")" || return 1
  [ "$(sha256sum <"$work/casd-back/blob" 2>/dev/null | cut -d' ' -f1)" = "$hex" ] || { ls -la "$work/casd-back"; return 1; }
}
check "lazy: casupload copies the busybox layer into casd" to_casd "$busybox_digest"
check "lazy: casupload copies the changed message layer into casd" to_casd "$new_message"
before=$(counts_before "$(cas_gets "$busybox_digest") $(cas_gets "$new_message")")
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
  # Requests the proxy got, against those that reached the registry: the
  # faults are the ones distribution's log never saw.
  reg_start=$(wc -l <"$reglog")
  for i in 1 2 3 4; do
    check "lazy: a push through injected faults, round $i" \
      bazel run //:push -- --registry "$proxy" --repository "e2e/lazyfault$i"
    check "lazy: the image pushed through faults validates, round $i" \
      crane validate --insecure --remote "$REGISTRY/e2e/lazyfault$i:latest"
  done
  proxied=$(curl -s "http://$proxy/__stats" | jq -r .requests)
  reached=$(tail -n "+$((reg_start + 1))" "$reglog" | grep -a -c -E '^[0-9.]+ - [^ ]+ \[[^]]*\] "[A-Z]+ [^"]*" [0-9]+ [0-9]+ "[^"]*" "rules_img')
  # The log must have the rounds' requests: an empty one proves nothing.
  check "lazy: at least 10 faults were injected (${proxied:-?} requests to the proxy, $reached reached the registry)" \
    test "$reached" -ge 1 -a "$((${proxied:-0} - reached))" -ge 10
  kill "$proxy_pid" 2>/dev/null
  proxy_pid=
else
  for i in 1 2 3 4; do
    fail "lazy: a push through injected faults, round $i" "e2e/push/faultproxy did not build"
    fail "lazy: the image pushed through faults validates, round $i" "e2e/push/faultproxy did not build"
  done
  fail "lazy: at least 10 faults were injected" "e2e/push/faultproxy did not build"
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
