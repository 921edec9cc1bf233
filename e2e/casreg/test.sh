#!/usr/bin/env bash
# End-to-end test of the cas_registry and bes push strategies. Bazel builds
# with nginx as its HTTP remote cache and --remote_download_minimal.
#   cas_registry: `bazel run` of a push target writes only the manifest to
#     our cas-registry, which serves the blobs from nginx; crane and skopeo
#     pull it and validate it (crane validate --remote, umoci unpack).
#   bes: `bazel build --bes_backend` of a push target; our BES server pushes
#     the image to a distribution registry from the cache. Nobody runs the
#     push target.
# KEEP=1 keeps the work directory (logs, registry data) for a look afterwards.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh

work=$(mktemp -d /tmp/e2e-casreg.XXXXXX)
ws=$work/ws
peers="$REPO_ROOT/tools/setup/peers"
servers=()
cleanup() {
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null; done
  [ ! -d "$ws" ] || (cd "$ws" && bazel shutdown >/dev/null 2>&1)
  "$peers/registry.sh" down "$work" >/dev/null 2>&1
  "$peers/cache.sh" down "$work" >/dev/null 2>&1
  [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

for up in "registry.sh up" "cache.sh up-http"; do
  # shellcheck disable=SC2086 # two words: script and command
  err=$("$peers"/$up "$work" 2>&1) || { fail "casreg: start $up" "$err"; finish; }
done
. "$work/registry.env"
. "$work/http-cache.env"
access_log=$work/logs/nginx-access.log
cas_gets() { grep -c "GET /cas/${1#sha256:}" "$access_log"; }

# server NAME ARGS...: starts tools/cmd/NAME on a free port; sets ADDR.
server() {
  local name=$1
  shift
  "$work/bin/$name" --addr 127.0.0.1:0 --addr_file "$work/$name.addr" "$@" 2>"$work/$name.log" &
  servers+=($!)
  for _ in $(seq 200); do [ -s "$work/$name.addr" ] && break; sleep 0.05; done
  ADDR=$(cat "$work/$name.addr" 2>/dev/null)
  [ -n "$ADDR" ] || fail "casreg: start $name" "$(cat "$work/$name.log")"
}
(cd "$REPO_ROOT" && go build -o "$work/bin/" ./tools/cmd/cas-registry ./tools/cmd/bes) || { fail "casreg: build the servers"; finish; }
server cas-registry --dir "$work/casreg-data" --remote_cache "$HTTP_CACHE_URL"
CASREG=$ADDR
server bes --remote_cache "$HTTP_CACHE_URL"
BES=$ADDR

cp -r . "$ws" && rm -f "$ws/test.sh" && cp /bin/busybox "$ws/busybox"
sed -i "s#path = \"../..\"#path = \"$REPO_ROOT\"#" "$ws/MODULE.bazel"
dead=127.0.0.1:$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -i "s#BES_REGISTRY#$REGISTRY#; s#DEAD_REGISTRY#$dead#" "$ws/BUILD.bazel"
cat >"$ws/.bazelrc" <<EOF
try-import $REPO_ROOT/.bazel-offline/offline.bazelrc
common --disk_cache=
common --remote_cache=$HTTP_CACHE_URL
common --remote_download_minimal
common --@rules_img//img/settings:remote_cache=$HTTP_CACHE_URL
common --disk_cache=
common --remote_cache=$HTTP_CACHE_URL
common --remote_download_minimal
common --@rules_img//img/settings:remote_cache=$HTTP_CACHE_URL
EOF
cd "$ws"
unset IMG_REAPI_ENDPOINT IMG_CREDENTIAL_HELPER

# The first build fills the cache; after a clean, the rebuild is all
# remote cache hits, and with --remote_download_minimal no layer comes here.
check "casreg: bazel build fills the HTTP cache" bazel build //:push_cas //:push_bes //:push_multi_cas //:push_multi_bes
bazel clean >/dev/null 2>&1
check "casreg: bazel build again, from the cache" bazel build //:push_cas //:push_multi_cas
out_dir=$(bazel info output_path 2>/dev/null)
blobs_in_tree() { find "$out_dir" -name '*_layer.tar.gz' | wc -l; }
check_eq "casreg: no layer blob is in the output tree" 0 "$(blobs_in_tree)"

# cas_registry: the push writes the manifest only, so it reads no layer
# from the cache.
out=$(bazel run //:push_cas -- --registry "$CASREG" 2>"$work/push.log") || fail "casreg: bazel run //:push_cas" "$(cat "$work/push.log")"
ref=$(head -n1 <<<"$out")
digest=${ref#*@}
check_eq "casreg: bazel run prints the references" "$CASREG/e2e/casreg@$digest
$CASREG/e2e/casreg:latest
$CASREG/e2e/casreg:v1" "$out"
busybox=$(jq -r .digest bazel-bin/push_cas.sh.runfiles/_main/busybox_layer.layer.json)
message=$(jq -r .digest bazel-bin/push_cas.sh.runfiles/_main/message_layer.layer.json)
check_eq "casreg: the push read no layer from the cache" "0 0" "$(cas_gets "$busybox") $(cas_gets "$message")"
check "casreg: cas-registry logs the pushed tags" grep -qF "pushed e2e/casreg:v1 ($digest" "$work/cas-registry.log"

# Any OCI client pulls it; the bytes come from nginx.
check_eq "casreg: crane digest names what Bazel built" "$digest" "$(crane digest --insecure "$CASREG/e2e/casreg:v1" 2>&1)"
check "casreg: crane validate --remote accepts the image" crane validate --insecure --remote "$CASREG/e2e/casreg:latest"
check "casreg: skopeo copies it to an OCI layout" \
  skopeo copy --src-tls-verify=false "docker://$CASREG/e2e/casreg:latest" "oci:$work/pulled:latest"
check "casreg: umoci unpack accepts what skopeo pulled" umoci unpack --rootless --image "$work/pulled:latest" "$work/bundle"
check_eq "casreg: the unpacked image has the message" "Hello from an image served by the remote cache" \
  "$(cat "$work/bundle/rootfs/etc/message.txt" 2>&1)"
check "casreg: the layers were read from the cache" test "$(cas_gets "$busybox")" -ge 1
out=$(bazel run //:push_multi_cas -- --registry "$CASREG" 2>"$work/push-multi.log") || fail "casreg: bazel run //:push_multi_cas" "$(cat "$work/push-multi.log")"
multi=$(head -n1 <<<"$out")
multi=${multi#*@}
check_eq "casreg: the pushed index is what Bazel built" "$multi" "$(crane digest --insecure "$CASREG/e2e/multi:latest" 2>&1)"
check "casreg: crane validate --remote accepts the index and both images" crane validate --insecure --remote "$CASREG/e2e/multi:latest"
check "casreg: skopeo copies the arm64 image of the index" \
  skopeo copy --override-arch arm64 --src-tls-verify=false "docker://$CASREG/e2e/multi:latest" "oci:$work/pulled-arm64:latest"
check_eq "casreg: crane ls lists the tags" "latest v1" "$(crane ls --insecure "$CASREG/e2e/casreg" 2>&1 | tr '\n' ' ' | sed 's/ $//')"

# The distribution API's answers, as the spec has them.
api() { curl -s -o "$work/body" -D "$work/headers" -w '%{http_code}' "$@"; }
header() { grep -i "^$1:" "$work/headers" | cut -d' ' -f2- | tr -d '\r'; }
code() { jq -r '.errors[0].code' "$work/body"; }
check_eq "casreg: tags/list?n=1 gives one tag and a Link to the next" '200 ["latest"] </v2/e2e/casreg/tags/list?last=latest&n=1>; rel="next"' \
  "$(api "http://$CASREG/v2/e2e/casreg/tags/list?n=1") $(jq -c .tags "$work/body") $(header link)"
check_eq "casreg: an unknown tag is MANIFEST_UNKNOWN" "404 MANIFEST_UNKNOWN" "$(api "http://$CASREG/v2/e2e/casreg/manifests/nope") $(code)"
check_eq "casreg: an unknown repository is NAME_UNKNOWN" "404 NAME_UNKNOWN" "$(api "http://$CASREG/v2/e2e/nothing/tags/list") $(code)"
check_eq "casreg: an unknown blob is BLOB_UNKNOWN" "404 BLOB_UNKNOWN" \
  "$(api "http://$CASREG/v2/e2e/casreg/blobs/sha256:$(printf x | sha256sum | cut -d' ' -f1)") $(code)"
check_eq "casreg: a bad digest is DIGEST_INVALID" "400 DIGEST_INVALID" "$(api "http://$CASREG/v2/e2e/casreg/blobs/sha256:abc") $(code)"
check_eq "casreg: a manifest comes with its media type and digest" "200 application/vnd.oci.image.manifest.v1+json $digest" \
  "$(api "http://$CASREG/v2/e2e/casreg/manifests/v1") $(header content-type) $(header docker-content-digest)"

# A blob the cache lacks cannot be pushed: this registry stores no blob.
printf 'not in the cache %s\n' "$RANDOM" >"$work/extra.txt" && tar -C "$work" -cf "$work/extra.tar" extra.txt
check_fails "casreg: a push of a blob the cache lacks is refused" "is not in the remote cache" \
  crane append --insecure -f "$work/extra.tar" -t "$CASREG/e2e/foreign:v1"

# bes: `bazel build` streams its events to our server, which pushes the
# image to the distribution registry; nobody runs the push target.
check "casreg: bazel build --bes_backend of the bes push targets" \
  bazel build //:push_bes //:push_multi_bes --bes_backend="grpc://$BES"
for _ in $(seq 120); do
  crane digest --insecure "$REGISTRY/e2e/bes:latest" >/dev/null 2>&1 &&
    crane digest --insecure "$REGISTRY/e2e/bes-multi:latest" >/dev/null 2>&1 && break
  sleep 0.5
done
check_eq "casreg: the BES server pushed the image Bazel built" "$digest" "$(crane digest --insecure "$REGISTRY/e2e/bes:latest" 2>&1)"
if grep -qF "pushed //:push_bes as $REGISTRY/e2e/bes@$digest" "$work/bes.log"; then
  pass "casreg: the BES server logs what it pushed"
else
  fail "casreg: the BES server logs what it pushed" "$(cat "$work/bes.log")"
fi
check "casreg: crane validate --remote accepts the BES push" crane validate --insecure --remote "$REGISTRY/e2e/bes:latest"
check_eq "casreg: the BES server pushed the index Bazel built" "$multi" "$(crane digest --insecure "$REGISTRY/e2e/bes-multi:latest" 2>&1)"
check "casreg: crane validate --remote accepts the index the BES server pushed" crane validate --insecure --remote "$REGISTRY/e2e/bes-multi:latest"
check_eq "casreg: no layer blob is in the output tree after the BES build" 0 "$(blobs_in_tree)"

# BES faults: a registry that is down, and a failed build; both are logged.
logged() { # logged NAME TEXT: waits up to 30 s for TEXT in the BES log.
  for _ in $(seq 60); do grep -qF "$2" "$work/bes.log" && break; sleep 0.5; done
  if grep -qF "$2" "$work/bes.log"; then pass "$1"; else fail "$1" "$(cat "$work/bes.log")"; fi
}
bazel build //:push_dead_bes --bes_backend="grpc://$BES" >/dev/null 2>&1
logged "casreg: BES: a registry that is down is a clear error" "push failed: //:push_dead_bes: registry $dead is not reachable"
bazel build --keep_going //:push_failed_bes //:broken --bes_backend="grpc://$BES" >/dev/null 2>&1
logged "casreg: BES: a failed build pushes nothing, and says so" "the build failed (exit code 1); 1 push target(s) not pushed"
check_eq "casreg: BES: the failed build's image is not in the registry" "" "$(crane ls --insecure "$REGISTRY/e2e/failed" 2>/dev/null)"

# Faults: the cache lost a layer. The cas_registry push fails, naming the
# digest and the target, and writes no tag; cas-registry answers BLOB_UNKNOWN.
rm -f "$work/nginx/cache/cas/${message#sha256:}"
out=$(bazel run //:push_cas -- --registry "$CASREG" --repository e2e/missing 2>&1) && fail "casreg: a layer missing from the cache fails the push" "$out"
check "casreg: the error names the lost layer" grep -qF "${message#sha256:}" <<<"$out"
check "casreg: the error names the push target" grep -qF "//:push_cas" <<<"$out"
check_eq "casreg: no tag was written" "404 NAME_UNKNOWN" "$(api "http://$CASREG/v2/e2e/missing/tags/list") $(code)"
check_eq "casreg: the lost layer is BLOB_UNKNOWN" "404 BLOB_UNKNOWN" "$(api "http://$CASREG/v2/e2e/casreg/blobs/$message") $(code)"
finish
