#!/usr/bin/env bash
# fleet.sh: a monorepo's fleet of images (bench/fleet_workspace.sh: N images,
# one app layer each on 10 shared layers, 2 platforms), measured in one run:
#   - analysis of every target, from a fresh Bazel server: wall time, the
#     server's heap after it, and rules_img's Starlark CPU time in it
#     (--starlark_cpu_profile);
#   - a cold build of every image, and a rebuild after the one shared file
#     changes: which actions ran and how (persistent worker or sandbox),
#     from the execution log, against the same builds with every layer,
#     manifest and index in its own sandboxed process;
#   - multi_deploy of every push to a registry, cold and after the change,
#     against the same-run baseline of `crane push --index` of the same OCI
#     layouts in a loop, and `skopeo copy --all` of 10: wall time, and
#     requests and bytes by method as a counting proxy in front of the
#     registry sees them;
#   - loading 10 images into containerd and into Docker (its containerd
#     image store) with image_load, cold and after the change, against
#     `ctr images import` and `docker load` of the same archives.
# Prints one table.
#
#   bench/fleet.sh [N [BASE_KIB]]   (default 1000 images, 64 KiB per shared layer)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
images=${1:-1000} base_kib=${2:-64}
loads=$((images < 10 ? images : 10))
work=$(mktemp -d /tmp/fleetbench.XXXXXX)
ws=$work/ws
peers=$root/tools/setup/peers
export PATH=/var/tmp/rules-img-peers/bin:$PATH
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ ! -d "$ws" ] || (cd "$ws" && bazel shutdown >/dev/null 2>&1) || true
  "$peers/registry.sh" down "$work" >/dev/null 2>&1 || true
  declare -F daemons_down >/dev/null && daemons_down
  rm -rf "$work"
}
trap cleanup EXIT
say() { echo "fleet.sh: $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}'; }
rows=()
row() {
  local r="$*"
  rows+=("| ${r% |} |")
}

"$peers/registry.sh" up "$work" >/dev/null 2>&1
. "$work/registry.env"
(cd "$root" && go build -o "$work/regproxy" ./bench/cmd/regproxy)
# proxy NAME: a counting proxy in front of the registry; sets NAME to its address.
proxy() {
  "$work/regproxy" --upstream "$REGISTRY" --addr_file "$work/$1.addr" 2>"$work/$1.log" &
  pids+=($!)
  for _ in $(seq 100); do [ -s "$work/$1.addr" ] && break; sleep 0.05; done
  printf -v "$1" '%s' "$(cat "$work/$1.addr")"
}
proxy OURS
proxy CRANE
# traffic ADDR: "requests, MiB sent to the registry (uploads by PUT/PATCH/POST)"
# since the last reset, and resets.
traffic() {
  curl -s "http://$1/_stats" | jq -r '[([.[] | .requests] | add // 0), (([.[] | .request_bytes] | add // 0) / 1048576 * 100 | round / 100)] | "\(.[0]) requests, \(.[1]) MiB up"'
  curl -s -X POST "http://$1/_reset" >/dev/null
}
up_bytes() { curl -s "http://$1/_stats" | jq '[.[] | .request_bytes] | add // 0'; }
# needed_bytes: what a push after the change cannot avoid sending, from
# Bazel's outputs: the changed layer (each distinct digest once), and every
# index, manifest and config (the images' per-platform configurations).
needed_bytes() {
  local layer docs
  layer=$(find bazel-out/*-ST-*/bin -name base_3.layer.json -exec jq -r '"\(.digest) \(.size)"' {} + | sort -u | awk '{n += $2} END {print n + 0}')
  docs=$({
    find bazel-out/*-ST-*/bin/apps -name 'img_*.manifest.json' -o -name 'img_*.config.json'
    ls bazel-bin/apps/idx_*.index.json
  } | xargs stat -L -c %s | awk '{n += $1} END {print n + 0}')
  echo $((layer + docs))
}
# registry_cpu: the registry's CPU seconds so far (user and system), which
# bound what any client can get out of it on this machine.
registry_cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$(cat "$work/run/registry.pid")/stat"; }
cpu_since() { awk -v a="$1" -v b="$(registry_cpu)" 'BEGIN {printf "registry CPU %.1f s", b - a}'; }
by_method() { curl -s "http://$1/_stats" | jq -r 'to_entries | map("\(.key) \(.value.requests)") | join(", ")'; }

say "writing the workspace: $images images, 10 shared layers of $base_kib KiB"
"$root/bench/fleet_workspace.sh" "$ws" "$images" "$base_kib"
cd "$ws"

# ---- Analysis. External repositories (toolchains, rules_go) are fetched
# first: their one-time fetch is no part of analysis.
bazel build --nobuild //:base >"$work/fetch.log" 2>&1
bazel shutdown >/dev/null 2>&1 || true
t=$(now)
bazel build --nobuild //apps:deploy --starlark_cpu_profile="$work/starlark.prof" --profile="$work/analysis.json" >"$work/analysis.log" 2>&1
analysis=$(since "$t")
# Where the fresh server's time went, by Bazel's own phases: the JVM's
# start and module resolution, then loading and analysis.
phases=$(bazel analyze-profile "$work/analysis.json" 2>/dev/null |
  sed -n -E 's/^Total (launch|init|target pattern evaluation|interleaved loading-and-analysis) phase time +([0-9.]+) s.*/\1 \2 s/p' |
  sed 's/interleaved loading-and-analysis/loading and analysis/' | paste -sd, - | sed 's/,/, /g')
# Again in the warm server, after a BUILD edit: what each edit costs.
echo "# edited" >>apps/BUILD.bazel
t=$(now)
bazel build --nobuild //apps:deploy >"$work/analysis2.log" 2>&1
analysis_warm=$(since "$t")
heap=$(bazel info used-heap-size-after-gc 2>/dev/null)
starlark=$(go tool pprof -top "$work/starlark.prof" 2>/dev/null | awk '/^Duration|Showing nodes/ {print}' | sed -n 's/.*Total samples = \([^ ]*\).*/\1/p; s/.* of \([0-9.]*[a-z]*\) total.*/\1/p' | head -1)
targets=$(bazel query 'deps(//apps:deploy) intersect //...' 2>/dev/null | wc -l)
row "analysis of $targets targets | ${analysis} s fresh server (repositories fetched; ${phases:-phases ?}), ${analysis_warm} s after a BUILD edit | heap after GC ${heap}; Starlark CPU ${starlark:-?} |"
# The floor: Bazel's own cost of as many configured targets, each of a
# trivial rule with one action, from a fresh server of a workspace with no
# dependencies.
configured=$(sed -n 's/.*Analyzed target .*, \([0-9]*\) targets configured).*/\1/p' "$work/analysis.log")
floor=$work/floor
mkdir -p "$floor"
echo 'module(name = "floor")' >"$floor/MODULE.bazel"
cp .bazelrc "$floor/.bazelrc"
cat >"$floor/one.bzl" <<'BZL'
def _one_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".txt")
    ctx.actions.write(out, ctx.label.name)
    return [DefaultInfo(files = depset([out]))]

one = rule(implementation = _one_impl)
BZL
printf 'load(":one.bzl", "one")\n\n[one(name = "t%%d" %% i) for i in range(%d)]\n\nfilegroup(\n    name = "all",\n    srcs = [":t%%d" %% i for i in range(%d)],\n)\n' \
  "${configured:-0}" "${configured:-0}" >"$floor/BUILD.bazel"
floor_s=$(
  cd "$floor"
  bazel build --nobuild //:t0 >/dev/null 2>&1
  bazel shutdown >/dev/null 2>&1
  t=$(now)
  bazel build --nobuild //:all >"$work/floor.log" 2>&1 && since "$t"
  bazel shutdown >/dev/null 2>&1
)
row "analysis floor: ${configured:-?} targets of a one-action rule | ${floor_s:-?} s fresh server | Bazel's own cost on this machine | the fleet's fresh analysis is $(awk -v a="$analysis" -v b="${floor_s:-0}" 'BEGIN {printf (b > 0 ? "%.1fx" : "?"), a / b}') the floor |"
go tool pprof -top -nodecount=8 "$work/starlark.prof" 2>/dev/null | sed -n '/flat%/,$p' | head -9 >"$work/starlark.top" || true

# ---- Builds. Layers, manifests and indexes run in persistent workers; the
# baselines run each of them in its own sandboxed process, as Bazel does
# for actions that do not support workers.
sandboxed=(--strategy=ImageLayer=sandboxed --strategy=ImageManifest=sandboxed --strategy=ImageIndex=sandboxed)
mnemonics() { jq -r .mnemonic "$1" | sort | uniq -c | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}'; }
runners() { jq -r 'select(.mnemonic | IN("ImageLayer", "ImageManifest", "ImageIndex")) | .runner' "$1" | sort | uniq -c | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1fx", a / b}'; }
t=$(now)
bazel build //apps:deploy --execution_log_json_file="$work/cold.json" >"$work/cold.log" 2>&1
cold=$(since "$t")
bazel clean >/dev/null 2>&1
bazel build --nobuild //apps:deploy "${sandboxed[@]}" >/dev/null 2>&1
t=$(now)
bazel build //apps:deploy "${sandboxed[@]}" --execution_log_json_file="$work/cold_sandboxed.json" >"$work/cold_sandboxed.log" 2>&1
cold_sandboxed=$(since "$t")
row "cold build of every image | $cold s | $(mnemonics "$work/cold.json"); layers, manifests and indexes: $(runners "$work/cold.json") | $(ratio "$cold_sandboxed" "$cold") the sandboxed cold build |"
row "same cold build, in sandboxed processes | $cold_sandboxed s | $(runners "$work/cold_sandboxed.json") | baseline |"
echo "shared v2" >data/shared.txt
t=$(now)
bazel build //apps:deploy --execution_log_json_file="$work/rebuild.json" >"$work/rebuild.log" 2>&1
rebuild=$(since "$t")
echo "shared v3" >data/shared.txt
t=$(now)
bazel build //apps:deploy "${sandboxed[@]}" --execution_log_json_file="$work/rebuild_sandboxed.json" >"$work/rebuild_sandboxed.log" 2>&1
rebuild_sandboxed=$(since "$t")
row "rebuild after /etc/shared.txt changed | $rebuild s | $(mnemonics "$work/rebuild.json"); layers, manifests and indexes: $(runners "$work/rebuild.json") | expected: $images ImageIndex, 2 ImageLayer (base_3 per platform), $((2 + 2 * images)) ImageManifest; $(ratio "$rebuild_sandboxed" "$rebuild") the sandboxed rebuild |"
row "same rebuild, in sandboxed processes | $rebuild_sandboxed s | $(mnemonics "$work/rebuild_sandboxed.json"); $(runners "$work/rebuild_sandboxed.json") | baseline |"
echo "shared v1" >data/shared.txt
bazel build //apps:deploy >/dev/null 2>&1

# ---- Pushes: multi_deploy against crane, cold and after the change.
bazel query 'kind("image_index rule", //apps:all)' >"$work/indexes.txt" 2>/dev/null
layouts() { bazel build --target_pattern_file="$work/indexes.txt" --output_groups=oci_layout >/dev/null 2>&1; }
crane_loop() {
  local i
  for i in $(seq 0 $((images - 1))); do
    crane push --insecure --index "bazel-bin/apps/idx_$i.oci_layout" "$CRANE/crane/app_$i:v1" >/dev/null 2>&1
  done
}
traffic "$OURS" >/dev/null
traffic "$CRANE" >/dev/null
t=$(now) c=$(registry_cpu)
bazel run //apps:deploy -- --registry "$OURS" >"$work/deploy.log" 2>&1
ours_cold=$(since "$t") ours_cold_traffic="$(by_method "$OURS"); $(traffic "$OURS"); $(cpu_since "$c")"
layouts
t=$(now) c=$(registry_cpu)
crane_loop
crane_cold=$(since "$t") crane_cold_traffic="$(by_method "$CRANE"); $(traffic "$CRANE"); $(cpu_since "$c")"
row "push cold: multi_deploy of $images | $ours_cold s | $ours_cold_traffic | $(awk -v a="$crane_cold" -v b="$ours_cold" 'BEGIN {printf "%.1fx the crane loop", a / b}') |"
row "push cold: crane push --index in a loop | $crane_cold s | $crane_cold_traffic | baseline |"

echo "shared v2" >data/shared.txt
bazel build //apps:deploy >/dev/null 2>&1
t=$(now) c=$(registry_cpu)
bazel run //apps:deploy -- --registry "$OURS" >"$work/deploy2.log" 2>&1
ours_re=$(since "$t") ours_re_cpu=$(cpu_since "$c") ours_re_sent=$(up_bytes "$OURS") needed=$(needed_bytes)
ours_re_traffic="$(by_method "$OURS"); $(traffic "$OURS"); $ours_re_cpu; $(awk -v a="$ours_re_sent" -v b="$needed" 'BEGIN {printf "%.2fx", a / b}') the changed layer, configs and manifests ($(awk -v b="$needed" 'BEGIN {printf "%.2f", b / 1048576}') MiB)"
layouts
t=$(now) c=$(registry_cpu)
crane_loop
crane_re=$(since "$t") crane_re_traffic="$(by_method "$CRANE"); $(traffic "$CRANE"); $(cpu_since "$c")"
row "push after the change: multi_deploy | $ours_re s | $ours_re_traffic | $(awk -v a="$crane_re" -v b="$ours_re" 'BEGIN {printf "%.1fx the crane loop", a / b}') |"
row "push after the change: crane loop | $crane_re s | $crane_re_traffic | baseline |"

# skopeo copy of 10 layouts, to a fresh repository each.
t=$(now)
for i in $(seq 0 $((loads - 1))); do
  skopeo copy --quiet --all --dest-tls-verify=false "oci:bazel-bin/apps/idx_$i.oci_layout:latest" "docker://$CRANE/skopeo/app_$i:v1"
done
skopeo_s=$(since "$t")
row "push: skopeo copy --all of $loads | $skopeo_s s | $(by_method "$CRANE"); $(traffic "$CRANE") |"

# ---- Loads: image_load (multi_deploy of $loads loads) into containerd and
# into Docker (containerd image store), against `ctr images import` and
# `docker load` of the same images' archives. Each tool has its own daemon,
# so that none finds blobs another one wrote.
for d in ctd_img ctd_ctr; do "$peers/containerd.sh" up "$work/$d" >/dev/null 2>&1; done
for d in dk_img dk_load; do "$peers/dockerd.sh" up "$work/$d" --containerd-store >/dev/null 2>&1; done
daemons_down() {
  local d
  for d in dk_img dk_load; do "$peers/dockerd.sh" down "$work/$d" >/dev/null 2>&1 || true; done
  for d in ctd_img ctd_ctr; do "$peers/containerd.sh" down "$work/$d" >/dev/null 2>&1 || true; done
}
address() { (. "$work/$1/env.sh" && echo "$CONTAINERD_ADDRESS"); }
docker_host() { (. "$work/$1/docker.env" && echo "$DOCKER_HOST"); }
ctd_img=$(address ctd_img) ctd_ctr=$(address ctd_ctr) dk_img=$(docker_host dk_img) dk_load=$(docker_host dk_load)
# archives: the OCI archive (ctr import) and docker-save tarball (docker
# load) of the images loaded; their build is not timed.
archives() {
  bazel build $(for i in $(seq 0 $((loads - 1))); do echo "//apps:img_$i"; done) --output_groups=oci_tarball >/dev/null 2>&1
  bazel build $(for i in $(seq 0 $((loads - 1))); do echo "//apps:load_$i"; done) --output_groups=tarball >/dev/null 2>&1
}
# loads ROUND: times each tool's load of the $loads images; adds four rows.
loads() {
  local t i ours_ctd ctr ours_docker docker_load
  archives
  t=$(now)
  bazel run //apps:load_all -- --address "$ctd_img" >"$work/load_${1// /_}.log" 2>&1
  ours_ctd=$(since "$t")
  t=$(now)
  for i in $(seq 0 $((loads - 1))); do
    ctr --address "$ctd_ctr" images import --base-name "ctr/app_$i" "bazel-bin/apps/img_$i.oci_layout.tar" >/dev/null 2>&1
  done
  ctr=$(since "$t")
  t=$(now)
  DOCKER_HOST=$dk_img bazel run //apps:load_all -- --daemon docker >"$work/dload_${1// /_}.log" 2>&1
  ours_docker=$(since "$t")
  t=$(now)
  for i in $(seq 0 $((loads - 1))); do
    DOCKER_HOST=$dk_load docker load -i "bazel-bin/apps/load_$i.tar" >/dev/null 2>&1
  done
  docker_load=$(since "$t")
  row "load $loads, $1: image_load into containerd | $ours_ctd s | - | $(awk -v a="$ctr" -v b="$ours_ctd" 'BEGIN {printf "%.1fx ctr import", a / b}') |"
  row "load $loads, $1: ctr images import | $ctr s | - | baseline |"
  row "load $loads, $1: image_load into Docker (containerd store) | $ours_docker s | - | $(awk -v a="$docker_load" -v b="$ours_docker" 'BEGIN {printf "%.1fx docker load", a / b}') |"
  row "load $loads, $1: docker load | $docker_load s | - | baseline |"
}
loads cold
echo "shared v3" >data/shared.txt
loads "after a one-layer change"
daemons_down

echo "Fleet: $images images x 2 platforms, 10 shared layers of $base_kib KiB, one app layer each; $(nproc) cores"
echo
echo "| what | wall | detail | vs baseline |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "rules_img Starlark, top functions (--starlark_cpu_profile):"
cat "$work/starlark.top"
