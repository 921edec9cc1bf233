#!/usr/bin/env bash
# shellcheck disable=SC2317 # its functions run through check and the EXIT trap
# End-to-end test of image_load against real daemons that it starts under a
# temporary directory: a private containerd, dockerd with its classic store
# and with the containerd image store, and podman (its API service on a unix
# socket, and its client on PATH). The workspace is copied there, so that
# the incremental test can change a file. Each load is judged by the daemon
# that got it (ctr, docker, podman), or by a standard tool reading the
# tarball; the loader's own summary is checked only where a check's name
# says so.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")" || exit 1
. ../lib.sh
expect_checks 60

work=$(mktemp -d /tmp/e2e-load.XXXXXX)
ws=$work/ws
peers=$REPO_ROOT/tools/setup/peers
cleanup() {
  [ ! -d "$ws" ] || (cd "$ws" && bazel shutdown >/dev/null 2>&1)
  "$peers/dockerd.sh" down "$work/dk" >/dev/null 2>&1
  "$peers/dockerd.sh" down "$work/dc" >/dev/null 2>&1
  "$peers/podman.sh" down "$work/pm" >/dev/null 2>&1
  containerd_down
  rm -rf "$work"
}
trap cleanup EXIT

cp -r . "$ws" && rm -f "$ws/test.sh" "$ws"/bazel-*
sed -i "s#path = \"../..\"#path = \"$REPO_ROOT\"#" "$ws/MODULE.bazel"
printf 'try-import %s/.bazel-offline/offline-go.bazelrc\nbuild --disk_cache=~/.cache/rules_img/bazel-disk-cache\nbuild --remote_download_outputs=all\n' "$REPO_ROOT" >"$ws/.bazelrc"
cd "$ws" || exit 1

if containerd_up "$work/ctd" 2>"$work/ctd.err"; then
  pass "load: containerd starts"
else
  fail "load: containerd starts" "$(cat "$work/ctd.err")"
  finish
fi

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
# built_blobs: the digests of the image Bazel built (manifest, config,
# layers), from its outputs; nothing when they are missing.
built_blobs() {
  { jq -r .digest bazel-bin/image.descriptor.json && jq -r '.config.digest, .layers[].digest' bazel-bin/image.manifest.json; } 2>/dev/null | sorted
}
# check_same NAME WANT GOT: check_eq, but an empty WANT (its input is
# missing) fails rather than matching an empty GOT.
check_same() {
  if [ -z "$2" ]; then fail "$1" "nothing to compare with: the expected value is empty (got: $3)"; else check_eq "$@"; fi
}
# containerd_read: the bytes our containerd has read so far (its sockets
# and files), as the kernel counts them.
containerd_read() { awk '$1 == "rchar:" { print $2 }' "/proc/$(cat "$work/ctd/run/containerd.pid")/io"; }
# second_load_writes_nothing BEFORE_CONTENT BEFORE_READ: the content store is
# as it was, and containerd read less than 64 KiB while the loader ran: the
# image is 8.8 MiB, its program's layer alone hundreds of KiB (a second load
# that writes nothing reads about 10 KiB: names, the image, its snapshots).
second_load_writes_nothing() {
  local after read
  after=$(content default) read=$(($(containerd_read) - $2))
  if [ -z "$1" ] || [ "$after" != "$1" ]; then
    printf 'the content store changed:\nbefore: %s\nafter:  %s\n' "$1" "$after"
    return 1
  fi
  [ "$read" -lt 65536 ] || { echo "containerd read $read bytes during the second load"; return 1; }
}

check "load: bazel build of the image and its load targets" bazel build //:image //:load //:load_index //:load_all
manifest=$(jq -r .digest bazel-bin/image.descriptor.json)

# containerd: the first load writes every blob, and the image runs at once.
check "load: bazel run //:load into containerd" run //:load --daemon containerd
check_eq "load: it prints the image's name" "localhost/e2e/load:dev" "$(cat "$work/out")"
check_same "load: the first load writes every blob" "$(built_blobs)" "$(content default | sorted)"
check_same "load: containerd names the manifest Bazel built" "$manifest" \
  "$(ctr images ls | awk '$1 == "localhost/e2e/load:dev" { print $3 }')"
check_eq "load: ctr run prints the program's output" "Hello from image_load (linux/amd64)" \
  "$(ctr run --rm localhost/e2e/load:dev "e2e-load-$$-1" 2>&1)"
before=$(content default) read_before=$(containerd_read)
check "load: a second load" run //:load --daemon containerd
check "load: the second load writes nothing" second_load_writes_nothing "$before" "$read_before"

# Incremental: one changed file writes its layer, the config and the
# manifest, as counted by the loader and as seen in the content store.
before=$(content default)
echo "Hello again from image_load" >message.txt
check "load: a load after a one-file change" run //:load --daemon containerd
after=$(content default)
new_manifest=$(jq -r .digest bazel-bin/image.descriptor.json)
want=$(printf '%s\n' "$(jq -r .digest bazel-bin/message_layer.layer.json)" \
  "$(jq -r .config.digest bazel-bin/image.manifest.json)" "$new_manifest" | sorted)
check_same "load: the content store gained the changed layer, the config and the manifest, nothing else" \
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
check_same "load: only the index and the arm64 image's blobs are loaded" \
  "$( { echo "$index"; manifest_blobs multi "$arm"; } | sorted)" "$(content multi | sorted)"
check_same "load: the name points to the index" "$index" \
  "$(ctr -n multi images ls 2>/dev/null | awk '$1 == "localhost/e2e/load:multi" { print $3 }')"
check "load: an index, --platform all" run //:load_index --daemon containerd --namespace all --platform all
check_same "load: --platform all loads every platform's blobs" \
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

# Stamped names, and multi_deploy: the names as containerd has them, each
# on what Bazel built. multi_deploy's names are removed first, so that only
# its load can bring them back.
names_of() { ctr images ls 2>/dev/null | awk '$1 ~ /^localhost\/e2e\/load:/ { print $1, $3 }' | sort; }
bazel run //:load_stamped --stamp --embed_label=v7 -- --daemon containerd >"$work/out" 2>"$work/err"
check_same "load: stamped names" "localhost/e2e/load:stamped $new_manifest
localhost/e2e/load:v7 $new_manifest" "$(names_of | grep -E ':(stamped|v7) ')"
ctr images rm localhost/e2e/load:dev localhost/e2e/load:multi >/dev/null 2>&1
bazel run //:load_all -- --daemon containerd >"$work/out" 2>"$work/err"
check_same "load: multi_deploy loads each image" "localhost/e2e/load:dev $new_manifest
localhost/e2e/load:multi $index" "$(names_of | grep -E ':(dev|multi) ')"

# Tarballs: at run time, and the output group.
# docker_save_tarball FILE: FILE's manifest.json (tar and jq) names the image,
# its config and its three layers, as docker load reads them.
docker_save_tarball() {
  tar -xOf "$1" manifest.json | jq -e --arg c "$(jq -r .config.digest bazel-bin/image.manifest.json)" \
    '.[0].RepoTags == ["localhost/e2e/load:dev"] and .[0].Config == $c and (.[0].Layers | length) == 3'
}
tar_load() { run //:load --daemon tar --output "$work/run.tar" && docker_save_tarball "$work/run.tar"; }
check "load: --daemon tar --output writes a docker-save tarball" tar_load
check_same "load: skopeo reads the tarball's layers as the image's (diff_ids)" \
  "$(jq -r '.rootfs.diff_ids | join(" ")' bazel-bin/image.config.json)" \
  "$(skopeo inspect "docker-archive:$work/run.tar" 2>&1 | jq -r '.Layers | join(" ")')"
check_same "load: the tarball holds the layer blobs as built, the config and manifest.json" \
  "$( { jq -r '.layers[].digest | sub("sha256:"; "") + ".tar.gz"' bazel-bin/image.manifest.json
    jq -r .config.digest bazel-bin/image.manifest.json; echo manifest.json; } | sorted)" \
  "$(tar -tf "$work/run.tar" | sorted)"
check "load: bazel build --output_groups=tarball" bazel build //:load --output_groups=tarball
check "load: the output group's tarball is the same bytes" cmp "$work/run.tar" bazel-bin/load.tar

# dockerd with the classic store: a stream to docker load, with a warning.
# Its image ID is the config's digest; with the containerd image store, the
# manifest's.
# docker_load ID DRIVER: a load with --daemon docker, after which docker
# names localhost/e2e/load:dev as ID, and stores it with DRIVER.
docker_load() {
  local got
  run //:load --daemon docker || return 1
  got=$(docker image inspect --format '{{.Id}}' localhost/e2e/load:dev 2>&1)
  if [ -z "$1" ] || [ "$got" != "$1" ]; then echo "docker's image ID: $got; want: $1"; return 1; fi
  got=$(docker info --format '{{.Driver}}' 2>&1)
  if [ "$got" != "$2" ]; then echo "docker's storage driver: $got; want: $2"; return 1; fi
}
if err=$("$peers/dockerd.sh" up "$work/dk" 2>&1); then
  pass "load: dockerd (classic store) starts"
  export DOCKER_HOST=unix://$work/dk/docker/docker.sock
  check "load: into dockerd (classic overlay2 store)" \
    docker_load "$(jq -r .config.digest bazel-bin/image.manifest.json)" overlay2
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

# dockerd with the containerd image store: through its containerd, as that
# containerd's content store (namespace moby) shows.
moby_content() { ctr --address "$work/dc/containerd/containerd.sock" -n moby content ls -q 2>/dev/null | sort; }
if err=$("$peers/dockerd.sh" up "$work/dc" --containerd-store 2>&1); then
  pass "load: dockerd (containerd image store) starts"
  export DOCKER_HOST=unix://$work/dc/docker/docker.sock
  check "load: into dockerd (containerd image store)" \
    docker_load "$(jq -r .digest bazel-bin/image.descriptor.json)" overlayfs
  check_eq "load: no warning about docker load (containerd image store)" "no warning" \
    "$(if [ -z "$(summary)" ]; then echo "no summary: the load did not run"; else grep 'WARNING: docker' "$work/err" || echo "no warning"; fi)"
  check_same "load: docker's containerd gets every blob" "$(built_blobs)" \
    "$(comm -12 <(built_blobs | tr ' ' '\n') <(moby_content) | sorted)"
  check_eq "load: docker run prints the program's output (containerd store)" \
    "Hello again from image_load (linux/amd64)" \
    "$(docker run --rm --network none --pull never localhost/e2e/load:dev 2>&1)"
  echo "Hello a third time" >message.txt
  before=$(moby_content)
  check "load: into dockerd (containerd image store) after a change" run //:load --daemon docker
  check_same "load: docker's containerd gets the changed layer, config and manifest" \
    "$(printf '%s\n' "$(jq -r .digest bazel-bin/message_layer.layer.json)" \
      "$(jq -r .config.digest bazel-bin/image.manifest.json)" "$(jq -r .digest bazel-bin/image.descriptor.json)" | sorted)" \
    "$(comm -13 <(echo "$before") <(moby_content) | sorted)"
  check_eq "load: docker runs the changed image" "Hello a third time (linux/amd64)" \
    "$(docker run --rm --network none --pull never localhost/e2e/load:dev 2>&1)"
  check_same "load: docker's image ID is the manifest Bazel built" "$(jq -r .digest bazel-bin/image.descriptor.json)" \
    "$(docker image inspect --format '{{.Id}}' localhost/e2e/load:dev 2>&1)"
  unset DOCKER_HOST
else
  fail "load: dockerd (containerd image store) starts" "$err"
fi

# podman (install.sh unpacks it; tools/setup/setup.sh runs install.sh): a
# stream to `podman load`, through its API service (--address, which the
# loader passes as --url) and then through the client on PATH alone. A podman
# that is missing or does not start fails every check below. pm is that
# podman, never another one on PATH; its image ID is the config's digest.
pm() { "$work/pm/podman/bin/podman" "$@"; }
pm_storage="$work/pm/podman/root/vfs-layers/layers.json"
pm_images() { pm images -a --no-trunc --format '{{.ID}} {{.Repository}}:{{.Tag}}' 2>&1; }
# pm_loads N: podman's own record of its loads (podman events): the image
# ID, and whether the archive came in through the API service (which names
# it libpod-images-load.tar*) or the client. The service writes an event a
# moment after it answers: this waits up to 10 s for the Nth.
pm_loads() {
  local out
  for _ in $(seq 1 50); do
    out=$(pm events --stream=false --filter event=loadfromarchive --format '{{.ID}} {{.Name}}' 2>&1)
    [ "$(grep -c . <<<"$out")" -lt "$1" ] || break
    sleep 0.2
  done
  sed -E 's# [^ ]*/libpod-images-load\.tar[0-9]*$# (API service)#; s# /[^ ]*$# (client)#' <<<"$out"
}
# pm_layers: the layers in podman's storage (containers/storage's record).
pm_layers() { jq -r '.[].id' "$pm_storage" 2>/dev/null | sort; }
# pm_local_load: --daemon podman without --address: the podman on PATH.
pm_local_load() {
  [ -x "$work/pm/podman/bin/podman" ] || { echo "podman did not start"; return 1; }
  PATH="$work/pm/podman/bin:$PATH" run //:load --daemon podman
}
echo "Hello, podman" >message.txt
if err=$("$peers/podman.sh" up "$work/pm" 2>&1); then
  pass "load: podman starts (its API service on a unix socket under the test's directory)"
  # shellcheck source=/dev/null
  . "$work/pm/podman.env"
else
  fail "load: podman starts (its API service on a unix socket under the test's directory)" \
    "$err
podman is needed here: tools/setup/setup.sh installs it (tools/setup/peers/install.sh unpacks it)"
fi
pm_sock=$work/pm/podman/podman.sock
check "load: bazel run //:load into podman through its API socket (--address)" run //:load --daemon podman --address "$pm_sock"
config=$(jq -r .config.digest bazel-bin/image.manifest.json)
check_same "load: podman lists the image under its tag, with the config Bazel built as its ID" \
  "$config localhost/e2e/load:dev" "$(pm_images)"
check_same "load: podman's image has the layers Bazel built (diff_ids)" \
  "$(jq -r '.rootfs.diff_ids | join(" ")' bazel-bin/image.config.json)" \
  "$(pm image inspect localhost/e2e/load:dev 2>&1 | jq -r '.[0].RootFS.Layers | join(" ")' 2>&1)"
check_eq "load: podman run prints the program's output" "Hello, podman (linux/amd64)" \
  "$(pm run --rm --network none localhost/e2e/load:dev 2>&1)"
layers_before=$(pm_layers)
check "load: a second load into podman" run //:load --daemon podman --address "$pm_sock"
check_same "load: podman's events show two loads through its API service, of the same image" \
  "${config#sha256:} (API service)
${config#sha256:} (API service)" "$(pm_loads 2)"
check_same "load: after the second load podman still has that one image" "$config localhost/e2e/load:dev" "$(pm_images)"
check_same "load: the second load adds no layer to podman's storage" "$layers_before" "$(pm_layers)"
check_fails "load: an unreachable podman gives an error naming its address" \
  "podman load at $work/nothing.sock failed" bazel run //:load -- --daemon podman --address "$work/nothing.sock"
pm rmi localhost/e2e/load:dev >/dev/null 2>&1
check "load: --daemon podman without --address, after podman rmi" pm_local_load
check_same "load: the podman on PATH has the image again, loaded by its client" \
  "$config localhost/e2e/load:dev
${config#sha256:} (client)" "$(pm_images; pm_loads 3 | tail -n 1)"
finish
