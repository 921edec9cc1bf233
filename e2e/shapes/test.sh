#!/usr/bin/env bash
# End-to-end test of base images in the shapes registries really serve:
# Docker manifest lists with attestations, single Docker v2 images, OCI
# indexes with attestations, variants and Windows entries (os.version),
# zstd layers, foreign layers with urls, 121 layers, a registry whose
# Content-Type is not the manifest's mediaType, one without
# Docker-Content-Digest, Docker schema 1 (refused) and a tag that moves.
# make_shapes.py makes each shape on a registry started here (distribution,
# foreign urls allowed on localhost); servers.py serves the foreign layer's
# url and a proxy that rewrites headers. Each shape is the base of a small
# app, which is built, pushed (crane validate), unpacked by umoci from its
# OCI layout and run in containerd.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh
expect_checks 91

here=$PWD
work=$(mktemp -d /tmp/e2e-shapes.XXXXXX)
ws=$work/ws
pids=()
cleanup() {
  containerd_down
  [ ! -d "$ws" ] || (cd "$ws" && bazel shutdown >/dev/null 2>&1)
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  "$REPO_ROOT/tools/setup/peers/registry.sh" down "$work" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# serve NAME ARGS...: starts servers.py, which writes the port it bound on
# 127.0.0.1 to $work/NAME.port, and sets port to it. Not in a subshell, so
# that cleanup knows its PID.
serve() {
  local name=$1
  shift
  python3 "$here/servers.py" "$@" "$work/$name.port" "$work/$name.log" >"$work/$name.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    [ -s "$work/$name.port" ] && { port=$(cat "$work/$name.port"); return 0; }
    sleep 0.1
  done
  return 1
}

mkdir -p "$work/foreign"
serve files files "$work/foreign" || { fail "shapes: start the url server" "$(cat "$work/files.out")"; finish; }
files_port=$port
# Distribution refuses foreign layers' urls unless its config allows them.
err=$(REGISTRY_VALIDATION_MANIFESTS_URLS_ALLOW='["^http://localhost:[0-9]+/"]' \
  "$REPO_ROOT/tools/setup/peers/registry.sh" up "$work" 2>&1) || { fail "shapes: start the registry" "$err"; finish; }
. "$work/registry.env"
reglog=$work/logs/registry.log
# The url names localhost, bound to 127.0.0.1 (/etc/hosts): crane and
# containerd refuse foreign urls of private IP literals, not of host names.
python3 "$here/make_shapes.py" all "$REGISTRY" "$work" "http://localhost:$files_port" >"$work/shapes.txt" 2>"$work/shapes.err" ||
  { fail "shapes: push the shapes to the registry" "$(cat "$work/shapes.err")"; finish; }
serve proxy proxy "$REGISTRY" "$work/schema1" || { fail "shapes: start the proxy" "$(cat "$work/proxy.out")"; finish; }
PROXY=127.0.0.1:$port
# shape REPOSITORY:TAG: the digest make_shapes.py pushed.
shape() { awk -v r="e2e/shapes/$1" '$1 == r { print $2 }' "$work/shapes.txt"; }

# The workspace, with the addresses filled in.
mkdir -p "$ws"
cp MODULE.bazel BUILD.bazel shapes.bzl app.txt "$ws/"
sed -i "s#REGISTRY_UNDER_TEST#$REGISTRY#; s#PROXY_UNDER_TEST#$PROXY#; s#path = \"../..\"#path = \"$REPO_ROOT\"#" "$ws/MODULE.bazel"
sed -i "s#REGISTRY_UNDER_TEST#$REGISTRY#" "$ws/shapes.bzl"
cat >"$ws/.bazelrc" <<RC
try-import $REPO_ROOT/.bazel-offline/offline.bazelrc
build --disk_cache=~/.cache/rules_img/bazel-disk-cache
build --remote_download_outputs=all
# A repository cache of this run only, so that the logs show every download.
common --repository_cache=$work/repository-cache
RC
cd "$ws" || { fail "shapes: enter the workspace"; finish; }
export DOCKER_CONFIG=$work/docker-config
mkdir -p "$DOCKER_CONFIG" && echo '{}' >"$DOCKER_CONFIG/config.json"

# c ARGS...: crane on the test's plain-http registries.
c() { crane --insecure "$@"; }
# source_of PULL: the image a pull names, on the registry itself.
source_of() {
  case $1 in
    docker_list) echo "$REGISTRY/e2e/shapes/docker-list:1" ;;
    docker_single) echo "$REGISTRY/e2e/shapes/docker-single:1" ;;
    oci_attest) echo "$REGISTRY/e2e/shapes/oci-attest:1" ;;
    oci_variants) echo "$REGISTRY/e2e/shapes/oci-variants:1" ;;
    *) echo "$REGISTRY/e2e/shapes/$1:1" ;;
  esac
}
# built FILE: FILE, or a failure naming it.
built() { [ -s "$1" ] || { echo "$1 is missing: did the build fail?" >&2; return 1; }; cat "$1"; }

pulls="docker_list docker_single oci_attest oci_variants zstd foreign many ctype nodigest moving"

# The lockfile.
check "shapes: bazel run @images//:update writes the lockfile" bazel run @images//:update
for p in $pulls; do
  check_eq "shapes: $p: the lockfile records the digest the registry serves (crane digest)" \
    "$(c digest "$(source_of "$p")" 2>&1)" "$(jq -r ".images.$p.digest" images.lock.json 2>&1)"
done
check "shapes: update -- --check passes on the fresh lockfile" bazel run @images//:update -- --check

# platforms PULL: "digest os/arch/variant" of each platform of the pull's
# lockfile entry, sorted; index_platforms REF FILTER: the same of the
# entries of an index that jq's FILTER selects.
platforms() {
  jq -r ".images.$1.platforms[] | \"\(.manifest.digest) \(.platform.os)/\(.platform.architecture)/\(.platform.variant // \"\")\"" images.lock.json | sort
}
index_platforms() {
  c manifest "$1" | jq -r ".manifests[] | select($2) | \"\(.digest) \(.platform.os)/\(.platform.architecture)/\(.platform.variant // \"\")\"" | sort
}
# base_layer APP: the digest of the app manifest's layer before its own.
base_layer() { built "bazel-bin/$1.manifest.json" | jq -r '.layers[-2].digest'; }
# last_layer REF: the digest of the last layer of an image manifest.
last_layer() { c manifest "$1" | jq -r '.layers[-1].digest'; }

# A Docker manifest list: both images, no attestation.
check_eq "shapes: docker_list: the lockfile takes the two images of the list, not the attestations" \
  "$(index_platforms "$(source_of docker_list)" '.platform.os != "unknown"')" "$(platforms docker_list)"
list_dir=$(repo_dir @docker_list//:docker_list)
check_eq "shapes: docker_list: @docker_list is a Docker manifest list of the two images, without attestations" \
  "application/vnd.docker.distribution.manifest.list.v2+json linux/amd64 linux/arm64" \
  "$(jq -r '[.mediaType, (.manifests[].platform | "\(.os)/\(.architecture)")] | join(" ")' "$list_dir/index.json" 2>&1)"
arm64=$(c manifest "$(source_of docker_list)" | jq -r '.manifests[] | select(.platform.architecture == "arm64") | .digest')
check_eq "shapes: docker_list: built for linux/arm64, the app's base is the list's arm64/v8 image" \
  "$(last_layer "$REGISTRY/e2e/shapes/docker-list@$arm64")" \
  "$(out=$(bazel build //:docker_list --platforms=//:linux_arm64 2>&1) && base_layer docker_list || echo "the build failed: $out")"

# An OCI index with an attestation.
check_eq "shapes: oci_attest: @oci_attest lists the image, not the attestation" "linux/amd64" \
  "$(jq -r '[.manifests[].platform | "\(.os)/\(.architecture)"] | join(" ")' "$(repo_dir @oci_attest//:oci_attest)/index.json" 2>&1)"

# Variants, and Windows entries with os.version that are not taken.
check_eq "shapes: oci_variants: the lockfile takes linux/amd64, arm/v7 and arm64/v8 with the index's variants" \
  "$(index_platforms "$(source_of oci_variants)" '.platform.os == "linux"')" "$(platforms oci_variants)"
check_eq "shapes: oci_variants: the source lists 2 Windows entries with os.version, @oci_variants none" "2 0" \
  "$(c manifest "$(source_of oci_variants)" | jq '[.manifests[] | select(.platform.os == "windows" and .platform["os.version"] != null)] | length') $(jq '[.manifests[] | select(.platform.os == "windows")] | length' "$(repo_dir @oci_variants//:oci_variants)/index.json" 2>&1)"
armv7=$(c manifest "$(source_of oci_variants)" | jq -r '.manifests[] | select(.platform.variant == "v7") | .digest')
check_eq "shapes: oci_variants: built for linux/arm/v7, the app's base is the arm/v7 image" \
  "$(last_layer "$REGISTRY/e2e/shapes/oci-variants@$armv7")" \
  "$(out=$(bazel build //:oci_variants --platforms=//:linux_armv7 2>&1) && base_layer oci_variants || echo "the build failed: $out")"

# The proxy: what it answers, and what the lockfile makes of it.
accept='application/vnd.oci.image.index.v1+json,application/vnd.docker.distribution.manifest.list.v2+json'
check_eq "shapes: ctype: the proxy answers the tag as a Docker v2 manifest, the body is an OCI index (curl)" \
  "application/vnd.docker.distribution.manifest.v2+json application/vnd.oci.image.index.v1+json" \
  "$(curl -s -D "$work/ctype.headers" -H "Accept: $accept" "http://$PROXY/v2/e2e/shapes/ctype/manifests/1" | jq -r .mediaType |
    { read -r body; printf '%s %s' "$(tr -d '\r' <"$work/ctype.headers" | awk -F': ' 'tolower($1) == "content-type" { print $2 }')" "$body"; })"
check_eq "shapes: ctype: the lockfile records the mediaType of the bytes" \
  "$(c manifest "$(source_of ctype)" | jq -r .mediaType)" "$(jq -r .images.ctype.mediaType images.lock.json)"
# head_digests URL: the HTTP status of a HEAD of URL through the proxy, and
# how many Docker-Content-Digest headers it answered with.
head_digests() {
  local code
  code=$(curl -s -I -H "Accept: $accept" -D "$work/head" -o /dev/null -w '%{http_code}' "$1")
  echo "$code $(grep -ci '^docker-content-digest:' "$work/head")"
}
check_eq "shapes: nodigest: the proxy's answers have no Docker-Content-Digest (curl)" "200 0 200 0" \
  "$(head_digests "http://$PROXY/v2/e2e/shapes/nodigest/manifests/1") $(head_digests "http://$PROXY/v2/e2e/shapes/nodigest/blobs/$(jq -r '.images.nodigest.platforms[].config.digest' images.lock.json)")"

# Foreign layers: in the lockfile with their urls, never downloaded by an
# eager pull.
foreign_desc=$(c manifest "$(source_of foreign)" | jq -S -c '.layers[-1]')
foreign=$(jq -r .digest <<<"$foreign_desc")
check_eq "shapes: foreign: the lockfile records the foreign layer with its urls" "$foreign_desc" \
  "$(jq -S -c '.images.foreign.platforms[].layers[-1]' images.lock.json)"
check "shapes: foreign: bazel build @foreign_eager (layer_handling eager)" bazel build @foreign_eager//:foreign_eager
eager_dir=$(repo_dir "kind(pulled_image, deps(@foreign_eager//:foreign_eager))")
busybox_layer=$(jq -r '.images.foreign.platforms[].layers[0].digest' images.lock.json)
check_eq "shapes: foreign: the eager repository has the distributable layer and not the foreign one, and nothing asked its url" \
  "yes no 0" "$(test -f "$eager_dir/blobs/sha256/${busybox_layer#sha256:}" && echo yes || echo no) $(test -e "$eager_dir/blobs/sha256/${foreign#sha256:}" && echo yes || echo no) $(grep -c . "$work/files.log")"

# Every app: built with its OCI layout.
apps="docker_list docker_single oci_attest oci_variants zstd foreign many ctype nodigest"
targets=()
for a in $apps foreign_eager; do targets+=("//:$a"); done
check "shapes: bazel build every app, with its OCI layout" bazel build "${targets[@]}" --output_groups=+oci_layout
check_eq "shapes: foreign: the app's manifest keeps the foreign layer, its urls, with the OCI media type of its bytes" \
  "$(jq -S -c '.mediaType = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"' <<<"$foreign_desc")" \
  "$(built bazel-bin/foreign.manifest.json | jq -S -c '.layers[-2]')"
check_eq "shapes: foreign: the OCI layouts (lazy and eager bases) hold the foreign layer, from its url, with its digest" \
  "${foreign#sha256:} ${foreign#sha256:}" \
  "$(for a in foreign foreign_eager; do sha256sum "bazel-bin/$a.oci_layout/blobs/sha256/${foreign#sha256:}" 2>&1 | cut -d' ' -f1; done | xargs)"

# Push each app; the pushed manifest has only OCI media types.
for a in $apps; do
  if bazel run "//:${a}_push" >/dev/null 2>"$work/push-$a.log"; then
    pass "shapes: $a: push the app"
  else
    fail "shapes: $a: push the app" "$(cat "$work/push-$a.log")"
  fi
  check_eq "shapes: $a: the pushed manifest carries only OCI media types (crane manifest | jq)" "true" \
    "$(c manifest "$REGISTRY/e2e/shapes-out/$a:latest" | jq '[.mediaType, .config.mediaType, .layers[].mediaType] | all(startswith("application/vnd.oci.image."))' 2>&1)"
done
check "shapes: foreign: the push names the foreign layer it leaves out" \
  grep -q "^foreign  $foreign not uploaded" "$work/push-foreign.log"
# The registry logs each request with its User-Agent: the push's are there,
# and none of rules_img's names the foreign layer.
check_eq "shapes: foreign: rules_img never asked the registry for the foreign layer, nor uploaded it (registry log)" \
  "the push is in the log; 0 requests name the foreign layer" \
  "$(grep -a '"rules_img' "$reglog" | awk -v h="${foreign#sha256:}" '/"PUT \/v2\/e2e\/shapes-out\/foreign\/manifests\// { p = 1 } index($0, h) { n++ }
    END { printf "the push is %sin the log; %d requests name the foreign layer", p ? "" : "not ", n }')"
check_eq "shapes: foreign: the pushed manifest keeps the foreign layer's urls" "$(jq -c .urls <<<"$foreign_desc")" \
  "$(c manifest "$REGISTRY/e2e/shapes-out/foreign:latest" | jq -c '.layers[-2].urls')"
check_eq "shapes: zstd: the pushed app keeps the base's zstd layers" \
  "application/vnd.oci.image.layer.v1.tar+zstd application/vnd.oci.image.layer.v1.tar+zstd application/vnd.oci.image.layer.v1.tar+gzip" \
  "$(c manifest "$REGISTRY/e2e/shapes-out/zstd:latest" | jq -r '[.layers[].mediaType] | join(" ")')"

# Every pushed app is whole. crane validate reads no zstd layer ("gzip:
# invalid header", the base's too): skopeo copies that one, checking every
# blob, and umoci unpacks the copy.
for a in $apps; do
  if [ "$a" = zstd ]; then
    check "shapes: zstd: skopeo copies the pushed app (every blob checked) and umoci unpacks the copy" \
      sh -c "skopeo copy --src-tls-verify=false docker://$REGISTRY/e2e/shapes-out/zstd:latest oci:$work/zstd-copy:latest &&
        umoci unpack --rootless --image $work/zstd-copy:latest $work/zstd-copy-bundle"
  else
    check "shapes: $a: crane validate of the pushed app" c validate --remote "$REGISTRY/e2e/shapes-out/$a:latest"
  fi
done

# umoci unpacks each OCI layout.
for a in $apps; do
  check "shapes: $a: umoci unpacks the app's OCI layout" umoci unpack --rootless --image "bazel-bin/$a.oci_layout:latest" "$work/bundle-$a"
done
check_eq "shapes: many: the lockfile and the registry agree on 121 layers, the app has 122" "121 121 122" \
  "$(c manifest "$(source_of many)" | jq '.layers | length') $(jq '.images.many.platforms[].layers | length' images.lock.json) $(built bazel-bin/many.manifest.json | jq '.layers | length')"
check_eq "shapes: many: umoci's root filesystem has the 119 files of the middle layers" "119" \
  "$(find "$work/bundle-many/rootfs/layers" -type f 2>&1 | wc -l)"

# containerd: first a pull of the pushed foreign app from the registry,
# which fetches the foreign layer from its url (containerd's content store
# has nothing yet); then each OCI layout, imported.
if containerd_up "$work/ctd" 2>"$work/ctd.err"; then
  : >"$work/files.log"
  check_eq "shapes: foreign: containerd pulls the pushed app from the registry and runs it" \
    "foreign: this layer came from its url
Hello from the app layer" \
    "$(out=$(ctr images pull --plain-http "$REGISTRY/e2e/shapes-out/foreign:latest" 2>&1) || echo "the pull failed: $out"
      ctr run --rm --snapshotter overlayfs "$REGISTRY/e2e/shapes-out/foreign:latest" "e2e-$$-pull" 2>&1)"
  check "shapes: foreign: containerd fetched the foreign layer from its url (the url server's log)" \
    grep -q -E "^GET	/${foreign#sha256:}\.tar\.gz	200	.*containerd" "$work/files.log"
  for a in $apps; do
    case $a in
      many) want="layer 1
layer 119
many: layer 121 of 121" ;;
      foreign) want="foreign: this layer came from its url" ;;
      *) want=$(built "$work/bundle-$a/rootfs/etc/shape.txt" 2>&1) ;;
    esac
    check_eq "shapes: $a: the app runs in containerd from its OCI layout" "$want
Hello from the app layer" "$(run_in_containerd "bazel-bin/$a.oci_layout" "localhost/e2e/shapes-$a" 2>&1)"
  done
else
  fail "shapes: containerd starts" "$(cat "$work/ctd.err")"
fi
containerd_down

# Docker schema 1 is refused, with what to do.
cp MODULE.bazel "$work/MODULE.bazel.orig"
cat >>MODULE.bazel <<EOF
images.pull(
    name = "schema1",
    registry = "$PROXY",
    repository = "e2e/shapes/schema1",
    tag = "prettyjws",
)
EOF
check_fails "shapes: schema1: update refuses a signed schema 1 image (v1+prettyjws), saying how to get a schema 2 one" \
  "skopeo copy --format v2s2" bazel run @images//:update
cp "$work/MODULE.bazel.orig" MODULE.bazel
check_fails "shapes: schema1: the pull rule refuses an unsigned one (v1+json) the same way" \
  "Docker schema 1 manifests are not supported" bazel build @schema1_unsigned//:schema1_unsigned
check "shapes: schema1: the way out works: skopeo copy --format v2s2 of it is a Docker v2 image that the pull rule takes" \
  sh -c "skopeo copy --format v2s2 --src-tls-verify=false --dest-tls-verify=false docker://$PROXY/e2e/shapes/schema1:json docker://$REGISTRY/e2e/shapes/schema1-v2s2:1 &&
    crane manifest --insecure $REGISTRY/e2e/shapes/schema1-v2s2:1 | grep -q application/vnd.docker.distribution.manifest.v2+json &&
    bazel build @schema1_converted//:schema1_converted"

# A tag that moves: the build keeps the locked digest until the lockfile
# changes.
v1=$(shape moving:1)
check_eq "shapes: moving: the app's base is the locked image" "$(last_layer "$REGISTRY/e2e/shapes/moving@$v1")" \
  "$(out=$(bazel build //:moving 2>&1) && base_layer moving || echo "the build failed: $out")"
cp bazel-bin/moving.manifest.json "$work/moving.v1.json" 2>/dev/null
v2=$(python3 "$here/make_shapes.py" move "$REGISTRY" "$work" | awk '{ print $2 }')
check_eq "shapes: moving: the registry's tag moved" "$v2" "$(c digest "$REGISTRY/e2e/shapes/moving:1" 2>&1)"
check_fails "shapes: moving: update -- --check fails once the tag moved" "images.lock.json is stale" \
  bazel run @images//:update -- --check
check_eq "shapes: moving: the build keeps the locked image while the lockfile is unchanged" "$(cat "$work/moving.v1.json" 2>&1)" \
  "$(out=$(bazel build //:moving 2>&1) && built bazel-bin/moving.manifest.json || echo "the build failed: $out")"
check_eq "shapes: moving: update prints the change, old -> new digest" "moving linux/amd64: $v1 -> $v2" \
  "$(bazel run @images//:update 2>/dev/null | grep '^moving ')"
check_eq "shapes: moving: the lockfile follows the tag" "$v2" "$(jq -r .images.moving.digest images.lock.json)"
check_eq "shapes: moving: then the build takes the new image" "$(last_layer "$REGISTRY/e2e/shapes/moving@$v2")" \
  "$(out=$(bazel build //:moving 2>&1) && base_layer moving || echo "the build failed: $out")"
finish
