#!/usr/bin/env bash
# End-to-end test of the cas_registry and bes push strategies. Bazel builds
# with nginx as its HTTP remote cache and --remote_download_minimal.
#   cas_registry: `bazel run` of a push target writes only the manifest to
#     our cas-registry, which serves the blobs from nginx; crane and skopeo
#     pull it and validate it (crane validate --remote, umoci unpack).
#   cas_registry on a shared network (issue 15): a second cas-registry needs
#     credentials (htpasswd, a token) for writes; crane and skopeo push with
#     them and are refused (401) without; a manifest that names a layer with
#     another size is refused and the good image still validates; a blob is
#     served only in repositories that have it; one client cannot take all
#     upload sessions.
#   bes: `bazel build --bes_backend` of a push target; our BES server pushes
#     the image to a distribution registry from the cache. Nobody runs the
#     push target. The server admits Bazel by a bearer token (--bes_header)
#     and pushes only to the repositories of its --allow_push list. (Bazel
#     talks grpc:// to it: this Bazel's JDK cannot do the ALPN of grpcs://.
#     A second instance serves TLS and mTLS with certificates made here by
#     openssl, and openssl s_client connects to it.)
# KEEP=1 keeps the work directory (logs, registry data) for a look afterwards.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh
expect_checks 70

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
# cas_gets DIGEST: nginx's count of GETs of that blob; an error, never 0,
# when the digest is not one or the log is missing.
cas_gets() {
  [[ $1 =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "not a digest: '$1'"; return 1; }
  grep -a -c "GET /cas/${1#sha256:}" "$access_log"
}
# cache_writes DIR [LOG LINES]: how many PUTs under /DIR/ nginx stored.
cache_writes() { grep -a -c -E "\"PUT /$1/[0-9a-f]{64} HTTP/[0-9.]+\" (201|204) " <<<"${2-$(cat "$access_log")}"; }

# server NAME ARGS...: starts tools/cmd/NAME on a free port; sets ADDR.
server() {
  local name=$1
  shift
  "$work/bin/$name" --addr 127.0.0.1:0 --addr_file "$work/$name.addr" "$@" 2>"$work/$name.log" &
  servers+=($!)
  for _ in $(seq 200); do [ -s "$work/$name.addr" ] && break; sleep 0.05; done
  ADDR=$(cat "$work/$name.addr" 2>/dev/null)
  [ -n "$ADDR" ] || { fail "casreg: start $name" "$(cat "$work/$name.log")"; finish; }
}
(cd "$REPO_ROOT" && go build -o "$work/bin/" ./tools/cmd/cas-registry ./tools/cmd/bes) || { fail "casreg: build the servers"; finish; }
server cas-registry --dir "$work/casreg-data" --remote_cache "$HTTP_CACHE_URL"
CASREG=$ADDR
dead=127.0.0.1:$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# A CA made here, a server certificate of it for 127.0.0.1, a client
# certificate; and the bearer token.
pki=$work/pki
mkdir -p "$pki"
if ! err=$( (cd "$pki" &&
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=e2e-ca -keyout ca.key -out ca.pem &&
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 -keyout bes.key -out bes.csr &&
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >bes.ext &&
  openssl x509 -req -in bes.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile bes.ext -out bes.pem &&
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=ci -keyout ci.key -out ci.csr &&
  printf 'extendedKeyUsage=clientAuth\n' >ci.ext &&
  openssl x509 -req -in ci.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile ci.ext -out ci.pem) 2>&1); then
  fail "casreg: make the BES server's certificates" "$err"
  finish
fi
token=$(openssl rand -hex 24)
printf '# e2e\n%s\n' "$token" >"$work/bes.tokens"
server bes --remote_cache "$HTTP_CACHE_URL" --tokens_file "$work/bes.tokens" --allow_push "$REGISTRY/e2e" --allow_push "$dead/e2e"
BES=$ADDR
# What Bazel needs to stream its events to the server.
bes_flags=(--bes_backend="grpc://$BES" "--bes_header=Authorization=Bearer $token")

# The server refuses to listen on every interface without authentication,
# and names the flags to add.
check_fails "casreg: BES: no authentication on 0.0.0.0 is refused" "Add --tokens_file or --client_ca" \
  "$work/bin/bes" --addr 0.0.0.0:0 --remote_cache "$HTTP_CACHE_URL"
# TLS and mTLS, with openssl's certificates and client.
"$work/bin/bes" --addr 127.0.0.1:0 --addr_file "$work/bes-tls.addr" --remote_cache "$HTTP_CACHE_URL" \
  --tls_cert "$pki/bes.pem" --tls_key "$pki/bes.key" --client_ca "$pki/ca.pem" 2>"$work/bes-tls.log" &
servers+=($!)
for _ in $(seq 200); do [ -s "$work/bes-tls.addr" ] && break; sleep 0.05; done
BES_TLS=$(cat "$work/bes-tls.addr" 2>/dev/null)
tls_client() { openssl s_client -connect "$BES_TLS" -alpn h2 -CAfile "$pki/ca.pem" -verify_return_error -verify_ip 127.0.0.1 "$@" </dev/null 2>&1; }
check "casreg: BES: TLS with the certificate openssl made, and a client certificate" \
  grep -q "Verify return code: 0 (ok)" <<<"$(tls_client -cert "$pki/ci.pem" -key "$pki/ci.key")"
check_fails "casreg: BES: mTLS refuses a client without a certificate" "certificate required" tls_client -ign_eof

cp -r . "$ws" && rm -f "$ws/test.sh" && cp /bin/busybox "$ws/busybox"
sed -i "s#path = \"../..\"#path = \"$REPO_ROOT\"#" "$ws/MODULE.bazel"
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
# Judged by nginx's log: the first build stores action results and blobs;
# the rebuild after a clean gets action results and stores nothing.
build_fills_cache() {
  bazel build "$@" || return 1
  [ "$(cache_writes ac)" -ge 1 ] && [ "$(cache_writes cas)" -ge 1 ] ||
    { echo "nginx stored $(cache_writes ac) action results and $(cache_writes cas) blobs"; return 1; }
}
rebuild_from_cache() {
  local start new
  start=$(wc -l <"$access_log") || return 1
  bazel build "$@" || return 1
  new=$(tail -n "+$((start + 1))" "$access_log")
  grep -q -E '"GET /ac/[0-9a-f]{64} HTTP/[0-9.]+" 200 ' <<<"$new" || { echo "nginx served no action result"; return 1; }
  [ "$(cache_writes ac "$new") $(cache_writes cas "$new")" = "0 0" ] || { echo "the rebuild stored results: actions ran"; return 1; }
}
check "casreg: bazel build fills the HTTP cache" \
  build_fills_cache //:push_cas //:push_bes //:push_multi_cas //:push_multi_bes //:push_unauth_bes //:push_denied_bes
bazel clean >/dev/null 2>&1
check "casreg: bazel build again, from the cache" rebuild_from_cache //:push_cas //:push_multi_cas
out_dir=$(bazel info output_path 2>/dev/null)
# blobs_in_tree: layer blobs in the output tree; an error when it is missing.
blobs_in_tree() {
  [ -n "$out_dir" ] && [ -d "$out_dir" ] || { echo "no output tree '$out_dir'"; return; }
  find "$out_dir" -name '*_layer.tar.gz' -printf '.' | wc -c
}
check_eq "casreg: no layer blob is in the output tree" 0 "$(blobs_in_tree)"

# cas_registry: the push writes the manifest only, so it reads no layer
# from the cache.
out=$(bazel run //:push_cas -- --registry "$CASREG" 2>"$work/push.log") ||
  out+=$'\n'"(exit status $?) $(tail -n 20 "$work/push.log")"
# What Bazel built: the digest of its manifest file, by sha256sum.
built_digest() { echo "sha256:$(sha256sum "$1" 2>&1 | cut -d' ' -f1)"; }
digest=$(built_digest bazel-bin/image.manifest.json)
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
out=$(bazel run //:push_multi_cas -- --registry "$CASREG" 2>"$work/push-multi.log") ||
  out+=$'\n'"(exit status $?) $(tail -n 20 "$work/push-multi.log")"
multi=$(built_digest bazel-bin/multi.index.json)
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

# Issue 15: servers safe on a shared network.
check_fails "casreg: no credentials on a non-loopback address is refused" "not a loopback address" \
  "$work/bin/cas-registry" --addr 0.0.0.0:0 --dir "$work/casreg-open" --remote_cache "$HTTP_CACHE_URL"
htpasswd -Bbc "$work/htpasswd" ci s3cret >/dev/null 2>&1
token=tok-$RANDOM$RANDOM$RANDOM
printf '# CI\nbazel-ci %s\n' "$token" >"$work/tokens"
cp "$work/bin/cas-registry" "$work/bin/cas-registry-auth"
server cas-registry-auth --dir "$work/casreg-auth" --remote_cache "$HTTP_CACHE_URL" --htpasswd "$work/htpasswd" --tokens_file "$work/tokens"
AUTH=$ADDR
mkdir -p "$work/anon" "$work/creds"
printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$AUTH" "$(printf ci:s3cret | base64)" >"$work/creds/config.json"
anon() { DOCKER_CONFIG=$work/anon "$@"; }
withcreds() { DOCKER_CONFIG=$work/creds "$@"; }
check_fails "casreg: auth: crane push without credentials is refused (401)" "UNAUTHORIZED: writes need credentials" \
  anon crane copy --insecure "$CASREG/e2e/casreg:latest" "$AUTH/team/app:prod"
check_fails "casreg: auth: skopeo push without credentials is refused" "nauthorized" \
  anon skopeo copy --src-tls-verify=false --dest-tls-verify=false "docker://$CASREG/e2e/casreg:latest" "docker://$AUTH/team/app:prod"
check_eq "casreg: auth: an anonymous tag PUT is 401 with a Basic challenge" '401 UNAUTHORIZED Basic realm="cas-registry"' \
  "$(api -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary @/dev/null "http://$AUTH/v2/team/app/manifests/prod") $(code) $(header www-authenticate)"
check "casreg: auth: crane pushes with htpasswd credentials" \
  withcreds crane copy --insecure "$CASREG/e2e/casreg:latest" "$AUTH/team/app:prod"
check "casreg: auth: skopeo pushes with a token as password" \
  anon skopeo copy --src-tls-verify=false --dest-tls-verify=false --dest-creds "bazel-ci:$token" \
  "docker://$CASREG/e2e/casreg:latest" "docker://$AUTH/team/skopeo:v1"
check_fails "casreg: auth: skopeo with a wrong password is refused" "authentication required" \
  anon skopeo copy --src-tls-verify=false --dest-tls-verify=false --dest-creds "ci:wrong" \
  "docker://$CASREG/e2e/casreg:latest" "docker://$AUTH/team/app:other"
check_eq "casreg: auth: the pushed image is what Bazel built" "$digest" "$(anon crane digest --insecure "$AUTH/team/app:prod" 2>&1)"
check "casreg: auth: anonymous reads: crane validate --remote" anon crane validate --insecure --remote "$AUTH/team/app:prod"
check "casreg: auth: anonymous reads: skopeo copies it" \
  anon skopeo copy --src-tls-verify=false "docker://$AUTH/team/skopeo:v1" "oci:$work/pulled-auth:latest"

# Point 4: a manifest naming an existing layer with size 5 is refused, in
# any repository, and the good image still validates.
api "http://$CASREG/v2/e2e/casreg/manifests/latest" >/dev/null
jq -c '.layers[0].size = 5' "$work/body" >"$work/evil.json"
evil() { api -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary @"$work/evil.json" "$@"; }
check_eq "casreg: a manifest with a wrong layer size is MANIFEST_INVALID" "400 MANIFEST_INVALID" "$(evil "http://$CASREG/v2/attacker/app/manifests/evil") $(code)"
check_eq "casreg: ... in the good image's own repository too" "400 MANIFEST_INVALID" "$(evil "http://$CASREG/v2/e2e/casreg/manifests/latest") $(code)"
check_eq "casreg: ... and from a user with credentials" "400 MANIFEST_INVALID" "$(evil -u ci:s3cret "http://$AUTH/v2/team/evil/manifests/evil") $(code)"
check "casreg: after the size attack, crane validate --remote accepts the good image" crane validate --insecure --remote "$CASREG/e2e/casreg:latest"
check "casreg: after the size attack, skopeo copies the good image" \
  skopeo copy --src-tls-verify=false "docker://$CASREG/e2e/casreg:latest" "oci:$work/pulled-after:latest"
check "casreg: after the size attack, the authenticated registry's copy validates" anon crane validate --insecure --remote "$AUTH/team/app:prod"

# Point 5: knowing a hash does not make a blob readable.
check_eq "casreg: a layer is not served in a repository that lacks it" "404 BLOB_UNKNOWN" \
  "$(api "http://$CASREG/v2/attacker/any/blobs/$busybox") $(code)"

# Point 6: one client's upload sessions do not take the others'.
for _ in $(seq 64); do curl -s -o /dev/null -u ci:s3cret -X POST "http://$AUTH/v2/team/app/blobs/uploads/"; done
check_eq "casreg: a client past its share of upload sessions gets 429" "429 TOOMANYREQUESTS" \
  "$(api -u ci:s3cret -X POST "http://$AUTH/v2/team/app/blobs/uploads/") $(code)"
check_eq "casreg: another client still gets a session" "202" \
  "$(api -H "Authorization: Bearer $token" -X POST "http://$AUTH/v2/team/app/blobs/uploads/")"

# A blob the cache lacks cannot be pushed: this registry stores no blob.
printf 'not in the cache %s\n' "$RANDOM" >"$work/extra.txt" && tar -C "$work" -cf "$work/extra.tar" extra.txt
check_fails "casreg: a push of a blob the cache lacks is refused" "is not in the remote cache" \
  crane append --insecure -f "$work/extra.tar" -t "$CASREG/e2e/foreign:v1"

# bes: `bazel build` streams its events to our server, which pushes the
# image to the distribution registry; nobody runs the push target.
check "casreg: bazel build --bes_backend of the bes push targets" \
  bazel build //:push_bes //:push_multi_bes "${bes_flags[@]}"
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
bazel build //:push_dead_bes "${bes_flags[@]}" >/dev/null 2>&1
logged "casreg: BES: a registry that is down is a clear error" "push failed: //:push_dead_bes: registry $dead is not reachable"
bazel build --keep_going //:push_failed_bes //:broken "${bes_flags[@]}" >/dev/null 2>&1
logged "casreg: BES: a failed build pushes nothing, and says so" "the build failed (exit code 1); 1 push target(s) not pushed"
# distribution's own answer: a repository nothing was pushed to is unknown
# (an error of any other kind, or none, fails).
check_eq "casreg: BES: the failed build's image is not in the registry" "404 NAME_UNKNOWN" \
  "$(api "http://$REGISTRY/v2/e2e/failed/tags/list") $(code)"

# BES security: the server admits Bazel only with its token, and pushes
# only to its allow-list.
bazel build //:push_denied_bes "${bes_flags[@]}" >/dev/null 2>&1
logged "casreg: BES: a repository off the allow-list is not pushed, and the log says so" \
  "push failed: //:push_denied_bes: $REGISTRY/other/denied is not on the server's allow-list (--allow_push"
check_eq "casreg: BES: nothing was pushed off the allow-list" "404 NAME_UNKNOWN" \
  "$(api "http://$REGISTRY/v2/other/denied/tags/list") $(code)"
no_token=("${bes_flags[@]:0:1}" --bes_timeout=60s)
check_fails "casreg: BES: Bazel without the token reports the refused upload" "UNAUTHENTICATED" \
  bazel build //:push_unauth_bes "${no_token[@]}"
check_fails "casreg: BES: Bazel with a wrong token reports the refused upload" "UNAUTHENTICATED" \
  bazel build //:push_unauth_bes "${no_token[@]}" "--bes_header=Authorization=Bearer not-$token"
sleep 2
check_eq "casreg: BES: nothing was pushed for the refused builds" "404 NAME_UNKNOWN" \
  "$(api "http://$REGISTRY/v2/e2e/unauth/tags/list") $(code)"
# Only a log that has the admitted build's push can show the refused ones' absence.
check_eq "casreg: BES: the server saw none of the refused builds' targets" "0" \
  "$(grep -q -F "pushed //:push_bes as" "$work/bes.log" 2>&1 || echo "the BES log lacks the admitted build"; grep -c push_unauth_bes "$work/bes.log" 2>&1)"

# Signed at push time, the SBOM attached: cas-registry keeps them as
# referrers of the image (its referrers API, no sha256-<hex> tag), with
# the blobs the push put in the remote cache. Judged by cosign.
export TUF_ROOT=$work/tuf
(cd "$work" && COSIGN_PASSWORD=e2e cosign generate-key-pair >/dev/null 2>&1) || fail "casreg: cosign generate-key-pair" ""
check "casreg: signed: bazel run //:push_cas_signed -- --sign_key=cosign.key" \
  env COSIGN_PASSWORD=e2e bazel run //:push_cas_signed -- --registry "$CASREG" --sign_key="$work/cosign.key"
signed=$(crane digest --insecure "$CASREG/e2e/casreg-signed:v1" 2>/dev/null)
check_eq "casreg: signed: the referrers API lists the SBOM, the signature and the attestation; no fallback tag" \
  "application/spdx+json application/vnd.dev.sigstore.bundle.v0.3+json application/vnd.dev.sigstore.bundle.v0.3+json|v1" \
  "$(api "http://$CASREG/v2/e2e/casreg-signed/referrers/${signed:-none}" >/dev/null; jq -r '[.manifests[].artifactType] | sort | join(" ")' "$work/body" 2>&1)|$(crane ls --insecure "$CASREG/e2e/casreg-signed" 2>&1 | paste -sd' ')"
check "casreg: signed: cosign verify --key accepts the signature" \
  cosign verify --key "$work/cosign.pub" --insecure-ignore-tlog=true "$CASREG/e2e/casreg-signed@${signed:-none}"
check "casreg: signed: cosign verify-attestation --type spdxjson accepts the SBOM" \
  cosign verify-attestation --key "$work/cosign.pub" --insecure-ignore-tlog=true --type spdxjson "$CASREG/e2e/casreg-signed@${signed:-none}"

# Faults: the cache lost a layer. The cas_registry push fails, naming the
# digest and the target, and writes no tag; cas-registry answers BLOB_UNKNOWN.
rm -f "$work/nginx/cache/cas/${message#sha256:}"
if out=$(bazel run //:push_cas -- --registry "$CASREG" --repository e2e/missing 2>&1); then
  fail "casreg: a layer missing from the cache fails the push" "$out"
else
  pass "casreg: a layer missing from the cache fails the push"
fi
check "casreg: the error names the lost layer" grep -qF "${message#sha256:}" <<<"$out"
check "casreg: the error names the push target" grep -qF "//:push_cas" <<<"$out"
check_eq "casreg: no tag was written" "404 NAME_UNKNOWN" "$(api "http://$CASREG/v2/e2e/missing/tags/list") $(code)"
check_eq "casreg: the lost layer is BLOB_UNKNOWN" "404 BLOB_UNKNOWN" "$(api "http://$CASREG/v2/e2e/casreg/blobs/$message") $(code)"
finish
