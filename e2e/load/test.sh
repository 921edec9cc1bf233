#!/usr/bin/env bash
# End-to-end test of image_load against real daemons that it starts under a
# temporary directory: a private containerd, and dockerd with its classic
# store and with the containerd image store. The workspace is copied there,
# so that the incremental test can change a file.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")" || exit 1
. ../lib.sh

work=$(mktemp -d /tmp/e2e-load.XXXXXX)
ws=$work/ws
peers=$REPO_ROOT/tools/setup/peers
cleanup() {
  [ ! -d "$ws" ] || (cd "$ws" && bazel shutdown >/dev/null 2>&1)
  "$peers/dockerd.sh" down "$work/dk" >/dev/null 2>&1
  "$peers/dockerd.sh" down "$work/dc" >/dev/null 2>&1
  containerd_down
  rm -rf "$work"
}
trap cleanup EXIT

cp -r . "$ws" && rm -f "$ws/test.sh" "$ws"/bazel-*
sed -i "s#path = \"../..\"#path = \"$REPO_ROOT\"#" "$ws/MODULE.bazel"
printf 'try-import %s/.bazel-offline/offline-go.bazelrc\nbuild --disk_cache=~/.cache/rules_img/bazel-disk-cache\nbuild --remote_download_outputs=all\n' "$REPO_ROOT" >"$ws/.bazelrc"
cd "$ws" || exit 1

containerd_up "$work/ctd" 2>"$work/ctd.err" || { fail "load: containerd starts" "$(cat "$work/ctd.err")"; finish; }

# run TARGET ARGS...: bazel run with the image names in $work/out and the
# log (one line per blob, the summary) in $work/err.
run() {
  local target=$1
  shift
  bazel run "$target" -- "$@" >"$work/out" 2>"$work/err"
}
summary() { grep 'blobs already there' "$work/err" | tail -n1; }
content() { ctr -n "$1" content ls -q | sort; }
# manifest_blobs NS DIGEST: the manifest, its config and its layers, as
# containerd has them (content-addressed, so what it returns is what was loaded).
manifest_blobs() {
  echo "$2"
  ctr -n "$1" content get "$2" | jq -r '.config.digest, .layers[].digest'
}
sorted() { sort -u | paste -sd' '; }

check "load: bazel build of the image and its load targets" bazel build //:image //:load //:load_index //:load_all
manifest=$(jq -r .digest bazel-bin/image.descriptor.json)

# containerd: the first load writes every blob, and the image runs at once.
check "load: bazel run //:load into containerd" run //:load --daemon containerd
check_eq "load: it prints the image's name" "localhost/e2e/load:dev" "$(cat "$work/out")"
check_eq "load: the first load writes every blob" "0 blobs already there, 5 written (8.8 MiB), 1 image names set" "$(summary)"
check_eq "load: containerd names the manifest Bazel built" "$manifest" \
  "$(ctr images ls | awk '$1 == "localhost/e2e/load:dev" { print $3 }')"
check_eq "load: ctr run prints the program's output" "Hello from image_load (linux/amd64)" \
  "$(ctr run --rm localhost/e2e/load:dev "e2e-load-$$-1" 2>&1)"
check "load: a second load" run //:load --daemon containerd
check_eq "load: the second load writes nothing" "5 blobs already there, 0 written (0 B), 1 image names set" "$(summary)"

# Incremental: one changed file writes its layer, the config and the
# manifest, as counted by the loader and as seen in the content store.
before=$(content default)
echo "Hello again from image_load" >message.txt
check "load: a load after a one-file change" run //:load --daemon containerd
after=$(content default)
new_manifest=$(jq -r .digest bazel-bin/image.descriptor.json)
want=$(printf '%s\n' "$(jq -r .digest bazel-bin/message_layer.layer.json)" \
  "$(jq -r .config.digest bazel-bin/image.manifest.json)" "$new_manifest" | sorted)
check_eq "load: the content store gained the changed layer, the config and the manifest, nothing else" \
  "$want" "$(comm -13 <(echo "$before") <(echo "$after") | sorted)"
check_eq "load: the loader counted the same" "2 blobs already there, 3 written" \
  "$(summary | grep -o '^2 blobs already there, 3 written' || summary)"
check_eq "load: the changed image runs at once" "Hello again from image_load (linux/amd64)" \
  "$(ctr run --rm localhost/e2e/load:dev "e2e-load-$$-2" 2>&1)"

# An index: one platform, or all of them.
ctr namespaces create multi && ctr namespaces create all
check "load: an index, --platform linux/arm64" run //:load_index --daemon containerd --namespace multi --platform linux/arm64
index=$(jq -r .digest bazel-bin/index.descriptor.json)
arm=$(ctr -n multi content get "$index" | jq -r '.manifests[] | select(.platform.architecture == "arm64") | .digest')
amd=$(ctr -n multi content get "$index" | jq -r '.manifests[] | select(.platform.architecture == "amd64") | .digest')
check "load: the loaded index lists an arm64 and an amd64 image" test -n "$arm" -a -n "$amd"
check_eq "load: only the index and the arm64 image's blobs are loaded" \
  "$( { echo "$index"; manifest_blobs multi "$arm"; } | sorted)" "$(content multi | sorted)"
check_eq "load: the name points to the index" "$index" \
  "$(ctr -n multi images ls 2>/dev/null | awk '$1 == "localhost/e2e/load:multi" { print $3 }')"
check "load: an index, --platform all" run //:load_index --daemon containerd --namespace all --platform all
check_eq "load: --platform all loads every platform's blobs" \
  "$( { echo "$index"; manifest_blobs all "$arm"; manifest_blobs all "$amd"; } | sorted)" "$(content all | sorted)"
check "load: an index, host platform" run //:load_index --daemon containerd
check_eq "load: the host's platform of the index runs" "Hello again from image_load (linux/amd64)" \
  "$(ctr run --rm localhost/e2e/load:multi "e2e-load-$$-3" 2>&1)"

# Bad input.
check_fails "load: an unreachable socket gives an error naming its address" \
  "cannot reach containerd at $work/nothing.sock" bazel run //:load -- --daemon containerd --address "$work/nothing.sock"
check_fails "load: a wrong namespace gives an error listing those there are" \
  'no namespace "nosuch"; it has all, default, multi' bazel run //:load -- --daemon containerd --namespace nosuch
check_fails "load: a platform the index lacks gives an error listing those it has" \
  "it has linux/amd64, linux/arm64" bazel run //:load_index -- --daemon containerd --platform linux/s390x
check_fails "load: an unreachable docker gives an error naming its address" \
  "cannot reach docker at unix://$work/nothing.sock" bazel run //:load -- --daemon docker --address "unix://$work/nothing.sock"
check_fails "load: a daemon that does not exist is refused" \
  "is not one of containerd, docker, podman, tar" bazel run //:load -- --daemon dockerd

# Stamped names, and multi_deploy.
check_eq "load: stamped names" "localhost/e2e/load:stamped
localhost/e2e/load:v7" "$(bazel run //:load_stamped --stamp --embed_label=v7 -- --daemon containerd 2>"$work/err")"
check_eq "load: multi_deploy loads each image" "localhost/e2e/load:dev
localhost/e2e/load:multi" "$(bazel run //:load_all -- --daemon containerd 2>"$work/err")"

# Tarballs: at run time, and the output group.
check "load: --daemon tar --output writes a docker-save tarball" run //:load --daemon tar --output "$work/run.tar"
check_eq "load: skopeo reads the tarball's layers as the image's (diff_ids)" \
  "$(jq -r '.rootfs.diff_ids | join(" ")' bazel-bin/image.config.json)" \
  "$(skopeo inspect "docker-archive:$work/run.tar" 2>&1 | jq -r '.Layers | join(" ")')"
check_eq "load: the tarball holds the layer blobs as built, the config and manifest.json" \
  "$( { jq -r '.layers[].digest | sub("sha256:"; "") + ".tar.gz"' bazel-bin/image.manifest.json
    jq -r .config.digest bazel-bin/image.manifest.json; echo manifest.json; } | sorted)" \
  "$(tar -tf "$work/run.tar" | sorted)"
check "load: bazel build --output_groups=tarball" bazel build //:load --output_groups=tarball
check "load: the output group's tarball is the same bytes" cmp "$work/run.tar" bazel-bin/load.tar

# dockerd with the classic store: a stream to docker load, with a warning.
if err=$("$peers/dockerd.sh" up "$work/dk" 2>&1); then
  export DOCKER_HOST=unix://$work/dk/docker/docker.sock
  check "load: into dockerd (classic overlay2 store)" run //:load --daemon docker
  check "load: one warning line about the cost of docker load" \
    test "$(grep -c 'WARNING: docker keeps images in its classic store (overlay2)' "$work/err")" -eq 1
  check_eq "load: docker run prints the program's output (classic store)" \
    "Hello again from image_load (linux/amd64)" \
    "$(docker run --rm --network none --pull never localhost/e2e/load:dev 2>&1)"
  docker rmi -f localhost/e2e/load:dev >/dev/null 2>&1
  check_eq "load: docker load of the output group's tarball" "Loaded image: localhost/e2e/load:dev" \
    "$(docker load -i bazel-bin/load.tar 2>&1)"
  check_eq "load: the output group's tarball runs" "Hello again from image_load (linux/amd64)" \
    "$(docker run --rm --network none --pull never localhost/e2e/load:dev 2>&1)"
  "$peers/dockerd.sh" down "$work/dk" >/dev/null 2>&1
else
  fail "load: dockerd (classic store) starts" "$err"
fi

# dockerd with the containerd image store: through its containerd.
if err=$("$peers/dockerd.sh" up "$work/dc" --containerd-store 2>&1); then
  export DOCKER_HOST=unix://$work/dc/docker/docker.sock
  check "load: into dockerd (containerd image store)" run //:load --daemon docker
  check_eq "load: no warning: the load goes through docker's containerd" "" "$(grep 'WARNING: docker' "$work/err")"
  check_eq "load: docker's containerd gets every blob" "0 blobs already there, 5 written (8.8 MiB), 1 image names set" "$(summary)"
  check_eq "load: docker run prints the program's output (containerd store)" \
    "Hello again from image_load (linux/amd64)" \
    "$(docker run --rm --network none --pull never localhost/e2e/load:dev 2>&1)"
  echo "Hello a third time" >message.txt
  check "load: into dockerd (containerd image store) after a change" run //:load --daemon docker
  check_eq "load: docker's containerd gets the changed layer, config and manifest" "2 blobs already there, 3 written" \
    "$(summary | grep -o '^2 blobs already there, 3 written' || summary)"
  check_eq "load: docker runs the changed image" "Hello a third time (linux/amd64)" \
    "$(docker run --rm --network none --pull never localhost/e2e/load:dev 2>&1)"
  check_eq "load: docker's image ID is the manifest Bazel built" "$(jq -r .digest bazel-bin/image.descriptor.json)" \
    "$(docker image inspect --format '{{.Id}}' localhost/e2e/load:dev 2>&1)"
  unset DOCKER_HOST
else
  fail "load: dockerd (containerd image store) starts" "$err"
fi

command -v podman >/dev/null || echo "load: podman is not installed: its load is covered by the Go unit tests only"
finish
