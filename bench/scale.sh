#!/usr/bin/env bash
# The image rules at scale: a temporary workspace (bench/scale_workspace.sh)
# with 200 one-file layers in one image_manifest and an image_index of it
# for 4 platforms (800 layer actions). Measures
#   - analysis: a BUILD edit makes Bazel analyse every target again; the
#     wall time of that phase, and the CPU time of rules_img's Starlark in it
#     (--starlark_cpu_profile: what the rules cost, whatever the load);
#   - the manifest and index actions: their execution wall time, from the
#     execution log of the first build (sandbox setup included);
#   - a rebuild after one source file changes: which actions run, from the
#     execution log; exactly the changed layer (once per platform), the
#     manifests and the index must run.
#
#   bench/scale.sh               LAYERS=200 PLATFORMS=4
#   LAYERS=50 PLATFORMS=2 bench/scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
layers=${LAYERS:-200}
platforms=${PLATFORMS:-4}
work=$(mktemp -d "${TMPDIR:-/tmp}/rules_img_scale.XXXXXX")
ws=$work/ws
trap '[ ! -d "$ws" ] || (cd "$ws" && bazel shutdown >/dev/null 2>&1); rm -rf "$work"' EXIT
bench/scale_workspace.sh "$ws" "$layers" "$platforms"
cd "$ws"

log() { echo "scale.sh: $*" >&2; }
# spawns LOG: "count mnemonic label" of the actions a build ran or took from a cache
spawns() { jq -r '"\(.mnemonic) \(.targetLabel)"' "$1" | sort | uniq -c; }
# action_seconds LOG MNEMONIC: total and largest execution wall time
action_seconds() {
  jq -r --arg m "$2" 'select(.mnemonic == $m) | .metrics.executionWallTime // .metrics.totalTime' "$1" |
    awk '{ sub(/s$/, ""); t += $1; if ($1 > m) m = $1 } END { printf "%.2f %.2f %d", t, m, NR }'
}

log "first build of //:index ($layers layers x $platforms platforms)"
start=$SECONDS
bazel build //:index --execution_log_json_file="$work/first.json" >"$work/first.out" 2>&1 || { cat "$work/first.out" >&2; exit 1; }
first_wall=$((SECONDS - start))

log "analysis after a BUILD edit"
echo "# $(date +%s%N)" >>BUILD.bazel
bazel build --nobuild //:index --profile="$work/analysis.gz" --starlark_cpu_profile="$work/starlark.pprof" >"$work/analysis.out" 2>&1 ||
  { cat "$work/analysis.out" >&2; exit 1; }
analysis_wall=$(bazel analyze-profile "$work/analysis.gz" 2>/dev/null | awk '/loading-and-analysis phase time/ { print $(NF-2) }')
starlark_cpu=$(go tool pprof -top "$work/starlark.pprof" 2>/dev/null | awk '/Total samples/ { for (i = 1; i <= NF; i++) if ($i == "=") { v = $(i + 1); sub(/ms$/, "", v); if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }; printf "%.2f", v / 1000 } }')

log "rebuild after one source file changes"
printf 'changed at %s\n' "$(date +%s%N)" >data/f7.txt
bazel build //:index --execution_log_json_file="$work/rebuild.json" >"$work/rebuild.out" 2>&1 || { cat "$work/rebuild.out" >&2; exit 1; }
ran=$(spawns "$work/rebuild.json")
want=$(printf '%7d ImageIndex //:index\n%7d ImageLayer //:layer_7\n%7d ImageManifest //:image\n' 1 "$platforms" "$platforms")

read -r man_total man_max man_n <<<"$(action_seconds "$work/first.json" ImageManifest)"
read -r idx_total idx_max idx_n <<<"$(action_seconds "$work/first.json" ImageIndex)"
read -r layer_total layer_max layer_n <<<"$(action_seconds "$work/first.json" ImageLayer)"
read -r re_man_total _ _ <<<"$(action_seconds "$work/rebuild.json" ImageManifest)"
read -r re_idx_total _ _ <<<"$(action_seconds "$work/rebuild.json" ImageIndex)"

echo
echo "Image rules at scale: $layers layers, an index of $platforms platforms ($(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg))"
f='%-58s %12s  %s\n'
printf "$f" "figure" "value" "target"
printf "$f" "first build, wall (tool build and $layer_n layer actions included)" "${first_wall}s" ""
printf "$f" "analysis of every target after a BUILD edit, wall" "${analysis_wall}s" ""
printf "$f" "  of which rules_img Starlark, CPU" "${starlark_cpu}s" "< 1s"
printf "$f" "$man_n manifest actions ($layers layers each), wall, sum / largest" "${man_total}s / ${man_max}s" ""
printf "$f" "index action, wall" "${idx_total}s" ""
printf "$f" "manifests + index, wall" "$(awk -v a="$man_total" -v b="$idx_total" 'BEGIN { printf "%.2fs", a + b }')" "< 1s"
printf "$f" "$layer_n layer actions, wall, sum / largest" "${layer_total}s / ${layer_max}s" ""
printf "$f" "rebuild after one file: manifests + index, wall" "$(awk -v a="$re_man_total" -v b="$re_idx_total" 'BEGIN { printf "%.2fs", a + b }')" "< 1s"
if [ "$ran" = "$want" ]; then
  printf "$f" "rebuild after one file: actions run" "$(awk '{ n += $1 } END { print n }' <<<"$ran")" "exactly the layer, manifests, index: yes"
else
  printf "$f" "rebuild after one file: actions run" "$(awk '{ n += $1 } END { print n }' <<<"$ran")" "NOT exactly the layer, manifests, index"
  echo "ran:"; echo "$ran"; echo "want:"; echo "$want"
  exit 1
fi
