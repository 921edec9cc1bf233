#!/usr/bin/env bash
# End-to-end test of image_push and multi_deploy against a real registry
# (distribution), behind a counting, fault-injecting proxy of our own.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh
expect_checks 36

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

# What the registry itself recorded, from distribution's access log (our
# proxy's counters are not evidence: it is ours).
reglog=$work/logs/registry.log
# tool_lines LOG [FROM]: LOG's request lines, after line FROM, of our tool
# (its user agent is rules_img); an error when LOG is missing.
tool_lines() {
  [ -s "$1" ] || { echo "no registry log $1" >&2; return 1; }
  tail -n "+$((${2:-0} + 1))" "$1" | grep -a -E '^[0-9.]+ - [^ ]+ \[[^]]*\] "[A-Z]+ [^"]*" [0-9]+ [0-9]+ "[^"]*" "rules_img'
}
# uploads: "DIGEST BYTES" of each blob upload that distribution completed
# (final PUT answered 201), in the request lines read from stdin; BYTES is
# the offset that its upload state (the _state token: a 32-byte HMAC, then
# JSON) records: what it received.
uploads() {
  python3 -c '
import base64, json, re, sys, urllib.parse
for line in sys.stdin:
    m = re.search(r"\"PUT (/v2/\S+/blobs/uploads/\S+) HTTP/[\d.]+\" 201 ", line)
    if m:
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(m.group(1)).query)
        print(q["digest"][0], json.loads(base64.urlsafe_b64decode(q["_state"][0])[32:])["Offset"])
'
}
# summary_of LINES: our summary line's counts, as the registry's lines show them.
summary_of() {
  printf '%d blobs already there, %d mounted, %d uploaded, %d manifests written\n' \
    "$(grep -c -E '"HEAD /v2/[^ ]*/blobs/sha256:[0-9a-f]{64} HTTP/[0-9.]+" 200 ' <<<"$1")" \
    "$(grep -c -E '"POST /v2/[^ ]*/blobs/uploads/\?[^ ]*mount=[^ ]* HTTP/[0-9.]+" 201 ' <<<"$1")" \
    "$(uploads <<<"$1" | grep -c .)" \
    "$(grep -c -E '"PUT /v2/[^ ]*/manifests/[^ ]* HTTP/[0-9.]+" 201 ' <<<"$1")"
}

cp -r . "$ws" && rm -f "$ws/test.sh" && rm -rf "$ws/faultproxy"
sed -i "s#path = \"../..\"#path = \"$REPO_ROOT\"#" "$ws/MODULE.bazel"
printf 'try-import %s/.bazel-offline/offline.bazelrc\nbuild --disk_cache=~/.cache/rules_img/bazel-disk-cache\nbuild --remote_download_outputs=all\n' "$REPO_ROOT" >"$ws/.bazelrc"
cd "$ws"

# A push, through a proxy that counts.
proxy count "$REGISTRY"
label() { jq -r '.config.Labels["org.opencontainers.image.version"]' bazel-bin/app.config.json 2>&1; }
check "push: build without stamping" bazel build //:app //:app_layer
unstamped_layer=$(jq -r .digest bazel-bin/app_layer.layer.json 2>&1)
# Two failed reads must not look like an unchanged digest.
[[ $unstamped_layer =~ ^sha256:[0-9a-f]{64}$ ]] || unstamped_layer="(no layer digest without --stamp: $unstamped_layer)"
check_eq "push: without --stamp a workspace status key in a label template is empty" "" "$(label)"
check "push: bazel build of the image and its push target" bazel build //:app //:app_layer //:push --stamp --embed_label=v1
# What Bazel built: the digest of its manifest file, by sha256sum.
built_digest() { echo "sha256:$(sha256sum bazel-bin/app.manifest.json 2>&1 | cut -d' ' -f1)"; }
built=$(built_digest)
check_eq "push: stamping fills the label" "v1" "$(label)"
check_eq "push: stamping never changes a layer digest" "$unstamped_layer" "$(jq -r .digest bazel-bin/app_layer.layer.json 2>&1)"
reg_start=$(wc -l <"$reglog")
out=$(bazel run //:push --stamp --embed_label=v1 -- --registry "$PROXY" 2>"$work/push.log") ||
  out+=$'\n'"(exit status $?) $(tail -n 20 "$work/push.log")"
first_push=$(tool_lines "$reglog" "$reg_start" 2>&1)
check_eq "push: bazel run prints the reference with the digest Bazel built" \
  "$PROXY/e2e/app@$built
$PROXY/e2e/app:latest
$PROXY/e2e/app:v1-stamped" "$out"
check "push: crane validate --remote accepts the pushed image" crane validate --insecure --remote "$REGISTRY/e2e/app:v1-stamped"
check_eq "push: the stamped tag names the same digest" "$built" "$(crane digest --insecure "$REGISTRY/e2e/app:v1-stamped" 2>&1)"
check "push: skopeo pulls it back" skopeo copy --src-tls-verify=false "docker://$REGISTRY/e2e/app:latest" "oci:$work/pulled:latest"
check "push: umoci unpack accepts what was pulled back" umoci unpack --rootless --image "$work/pulled:latest" "$work/bundle"
check_eq "push: a summary says what happened to each blob" "$(summary_of "$first_push")" \
  "$(grep -o '[0-9]* blobs already there, .* manifests written' "$work/push.log" | sed 's/ ([^)]* sent)//')"

# Incremental: one changed file sends its layer, the config and no more.
# The registry's log says which uploads it completed, and how many bytes
# each brought.
echo "version 2" >app.txt
reg_start=$(wc -l <"$reglog")
bazel run //:push --stamp --embed_label=v1 -- --registry "$PROXY" >/dev/null 2>"$work/push2.log" || echo "the second push failed" >&2
second_push=$(tool_lines "$reglog" "$reg_start" 2>&1)
sent=$(uploads <<<"$second_push" | awk '{ n += $2 } END { print n + 0 }')
layer_digest=$(jq -r '.layers[1].digest' bazel-bin/app.manifest.json)
layer=$(jq -r '.layers[1].size' bazel-bin/app.manifest.json)
config=$(jq -r '.config.size' bazel-bin/app.manifest.json)
check_eq "push: a second push sends the changed layer and the config, at most 1.05 x their size ($sent bytes; layer $layer, config $config)" \
  "$(printf '%s\n' "$layer_digest" "$(jq -r '.config.digest' bazel-bin/app.manifest.json)" | sort) ok" \
  "$(uploads <<<"$second_push" | cut -d' ' -f1 | sort) $([ "$sent" -le $((layer * 105 / 100 + config)) ] && echo ok)"
base_digest=$(jq -r '.layers[0].digest' bazel-bin/app.manifest.json)
check_eq "push: the unchanged base layer is neither asked about nor sent: the manifest its tag names, which the push read, has it" "0 0 read" \
  "$(grep -c -E "\"HEAD /v2/e2e/app/blobs/$base_digest HTTP/[0-9.]+\"" <<<"$second_push") $(uploads <<<"$second_push" | grep -c "^$base_digest ") $(grep -q -E '"GET /v2/e2e/app/manifests/latest HTTP/[0-9.]+" 200 ' <<<"$second_push" && echo read)"

# Faults: 5xx, 429 and resets in the middle of uploads; every push completes.
proxy faulty "$REGISTRY" -faults 150 -rate 0.3 -seed 3
reg_start=$(wc -l <"$reglog")
for i in 1 2 3 4 5 6; do
  check "push: multi_deploy through injected faults, round $i" \
    bazel run //:deploy_all --stamp --embed_label=v1 -- --registry "$PROXY" --repository "e2e/faulty$i"
  check "push: the image pushed through faults validates, round $i" \
    crane validate --insecure --remote "$REGISTRY/e2e/faulty$i:latest"
done
# The faults are the requests that the proxy got and distribution's log never saw.
proxied=$(proxy_stat "$PROXY" .requests)
reached=$(tool_lines "$reglog" "$reg_start" | grep -c .)
# The log must have the rounds' requests: an empty one proves nothing.
check "push: at least 50 faults were injected (${proxied:-?} requests to the proxy, $reached reached the registry)" \
  test "$reached" -ge 1 -a "$((${proxied:-0} - reached))" -ge 50

# multi_deploy of three images sharing a base: each blob goes up once.
err=$("$REPO_ROOT/tools/setup/peers/registry.sh" up "$work/second" 2>&1) || fail "push: start a second registry" "$err"
. "$work/second/registry.env"
proxy shared "$REGISTRY"
check "push: multi_deploy of three images" bazel run //:deploy_all --stamp --embed_label=v1 -- --registry "$PROXY"
second_uploads=$(tool_lines "$work/second/logs/registry.log" 2>&1 | uploads)
check_eq "push: the shared base layer was uploaded once" "1" "$(grep -c "^$base_digest " <<<"$second_uploads")"
# Three images of a layer and a config each, and their shared base: 7 blobs.
check_eq "push: no blob was uploaded twice" "7 7" \
  "$(cut -d' ' -f1 <<<"$second_uploads" | grep -c .) $(cut -d' ' -f1 <<<"$second_uploads" | sort -u | grep -c .)"
for repo in app worker third; do
  check "push: multi_deploy pushed e2e/$repo whole" crane validate --insecure --remote "$REGISTRY/e2e/$repo:latest"
done

# Credentials: a wrong password fails clearly and is never printed.
mkdir -p "$work/wrong" &&
  printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$REGISTRY_TLS" "$(printf '%s:wrong-%s' "$REGISTRY_USER" "$REGISTRY_PASS" | base64 -w0)" >"$work/wrong/config.json"
check_fails "push: a wrong password gives a clear error" "$REGISTRY_TLS refused access to e2e/app" \
  env SSL_CERT_FILE="$CA_FILE" DOCKER_CONFIG="$work/wrong" bazel run //:push --stamp --embed_label=v1 -- --registry "$REGISTRY_TLS"
# Judged by the TLS registry's copy, read with crane under the same credentials.
tls_push() {
  env SSL_CERT_FILE="$CA_FILE" DOCKER_CONFIG="$DOCKER_CONFIG_DIR" bazel run //:push --stamp --embed_label=v1 -- --registry "$REGISTRY_TLS" || return 1
  [ "$(SSL_CERT_FILE=$CA_FILE DOCKER_CONFIG=$DOCKER_CONFIG_DIR crane digest "$REGISTRY_TLS/e2e/app:v1-stamped")" = "$(built_digest)" ]
}
check "push: the right password works over TLS" tls_push
bazel aquery //:push >"$work/aquery.txt" 2>&1
# password_files: the files that hold the password; an error when one of
# them is missing or empty (a search of nothing finds nothing).
password_files() {
  local f files=("$work"/push*.log "$work/aquery.txt" "$(bazel info output_base 2>/dev/null)/command.log")
  for f in "${files[@]}"; do [ -s "$f" ] || { echo "missing or empty: $f"; return 1; }; done
  [ -d bazel-bin/ ] || { echo "no bazel-bin"; return 1; }
  grep -r -l -a -F "$REGISTRY_PASS" "$work"/*.log "${files[@]}" bazel-bin/
  [ $? -le 1 ] || echo "grep failed"
}
check_eq "push: the password is in no log, output or action" "" "$(password_files 2>&1)"
check_fails "push: a tag that a template left invalid is refused, saying how to stamp" "unless Bazel stamps: --stamp" \
  bazel run //:push -- --registry "$PROXY"
finish
