#!/usr/bin/env bash
# load.sh: image_load against `ctr images import` and `docker load` of the
# same image, in one run, on daemons started here (each tool gets its own,
# so that none finds blobs another one wrote).
#
# The image (bench/load): five base layers of random bytes, BASE_MIB MiB each
# (default 100: ~500 MB that do not compress), and a one-file app layer. A
# first load of each tool, then ROUNDS times: change the app file, build,
# and time each tool's load of the changed image. The table shows the first
# load and the median of the later ones, with the ratio to image_load into
# containerd. image_load runs its launcher (bazel-bin/load.sh) directly, so
# that Bazel's own start-up is not counted; docker load and ctr import read
# the docker-save tarball of the output group, whose build is not counted.
#
#   bench/load.sh                 5 x 100 MiB, 3 rounds
#   BASE_MIB=20 ROUNDS=1 bench/load.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
peers=$root/tools/setup/peers
BASE_MIB=${BASE_MIB:-100}
ROUNDS=${ROUNDS:-3}

"$peers/install.sh" >/dev/null
work=$(mktemp -d /tmp/loadbench.XXXXXX)
ws=$work/ws
# One daemon per tool: containerd for image_load and for ctr import; dockerd
# (classic store, containerd store) for docker load and for image_load.
CTD=(ctd_img ctd_ctr)
DOCKERS=(dk_img dk_load dc_img dc_load)
cleanup() {
  [ ! -d "$ws" ] || (cd "$ws" && bazel shutdown >/dev/null 2>&1)
  local d
  for d in "${DOCKERS[@]}"; do "$peers/dockerd.sh" down "$work/$d" >/dev/null 2>&1 || true; done
  for d in "${CTD[@]}"; do "$peers/containerd.sh" down "$work/$d" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "load.sh: starting daemons in $work" >&2
for d in "${CTD[@]}"; do "$peers/containerd.sh" up "$work/$d" >/dev/null 2>&1; done
for d in dk_img dk_load; do "$peers/dockerd.sh" up "$work/$d" >/dev/null 2>&1; done
for d in dc_img dc_load; do "$peers/dockerd.sh" up "$work/$d" --containerd-store >/dev/null 2>&1; done
sock() { echo "$work/$1/containerd/containerd.sock"; }
dhost() { echo "unix://$work/$1/docker/docker.sock"; }

cp -r "$root/bench/load" "$ws"
rm -f "$ws"/bazel-*
sed -i "s#path = \"../..\"#path = \"$root\"#" "$ws/MODULE.bazel"
printf 'try-import %s/.bazel-offline/offline.bazelrc\nbuild --define=base_mib=%s\n' "$root" "$BASE_MIB" >"$ws/.bazelrc"
cd "$ws"

build() {
  local t0=$SECONDS
  bazel build //:load --output_groups=+tarball >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
  echo "load.sh: build (with the tarball) took $((SECONDS - t0)) s; tarball $(du -m bazel-bin/load.tar | cut -f1) MiB" >&2
}

# Each tool: NAME and the command that loads the image built last.
TOOLS=(
  "image_load -> containerd"
  "ctr images import"
  "image_load -> docker (containerd store)"
  "docker load (containerd store)"
  "image_load -> docker (classic store)"
  "docker load (classic store)"
)
# docker load exits 0 after a failed unpack: its words decide.
docker_load() {
  local out
  out=$(DOCKER_HOST=$(dhost "$1") docker load -i bazel-bin/load.tar 2>&1)
  ! grep -qi error <<<"$out" || { echo "$out" >&2; return 1; }
}
load_with() {
  case $1 in
    0) bazel-bin/load.sh --daemon containerd --address "$(sock ctd_img)" ;;
    1) ctr -a "$(sock ctd_ctr)" images import bazel-bin/load.tar ;;
    2) DOCKER_HOST=$(dhost dc_img) bazel-bin/load.sh --daemon docker ;;
    3) docker_load dc_load ;;
    4) DOCKER_HOST=$(dhost dk_img) bazel-bin/load.sh --daemon docker ;;
    5) docker_load dk_load ;;
  esac
}
# time_load I: seconds that tool I takes to load the image built last.
time_load() {
  local t0 t1
  t0=$(date +%s.%N)
  load_with "$1" >"$work/tool.log" 2>&1 || { echo "load.sh: ${TOOLS[$1]} failed:" >&2; cat "$work/tool.log" >&2; exit 1; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}

declare -A first later
build
for i in "${!TOOLS[@]}"; do
  first[$i]=$(time_load "$i")
  echo "load.sh: first load, ${TOOLS[$i]}: ${first[$i]} s" >&2
done
for r in $(seq 1 "$ROUNDS"); do
  echo "app v$r" >app.txt
  build
  for i in "${!TOOLS[@]}"; do
    t=$(time_load "$i")
    later[$i]="${later[$i]:-} $t"
    echo "load.sh: round $r, ${TOOLS[$i]}: $t s" >&2
    [ "$i" != 0 ] || grep 'blobs already there' "$work/tool.log" | sed 's/^/load.sh:   /' >&2
  done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
base=$(median <<<"${later[0]}")
echo
echo "Second load of a $((5 * BASE_MIB)) MiB base + 1-file app layer, after a change to the app file"
echo "(median of $ROUNDS rounds; $(nproc) cores; ratio = time / image_load -> containerd)"
echo
printf '| %-40s | %12s | %12s | %8s |\n' "tool" "first (s)" "second (s)" "ratio"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..42})" "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..14})" "$(printf -- '-%.0s' {1..10})"
for i in "${!TOOLS[@]}"; do
  m=$(median <<<"${later[$i]}")
  printf '| %-40s | %12s | %12s | %7.1fx |\n' "${TOOLS[$i]}" "${first[$i]}" "$m" "$(awk -v a="$m" -v b="$base" 'BEGIN { print a / b }')"
done
