#!/usr/bin/env bash
# The fleet at CI size: bench/fleet_workspace.sh with 50 images (one app
# layer each on 10 shared layers, 2 platforms), built, rebuilt after the one
# shared file changes, pushed by one multi_deploy and pushed again, and 10
# of them loaded into containerd. Asserts what ran and what reached the
# registry, never times: Bazel's execution log for the actions, the
# registry's access log for uploads and mounts, containerd's content store
# for the loads. bench/fleet.sh measures the same at 1000 images.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh
expect_checks 24

images=50
work=$(mktemp -d /tmp/e2e-fleet.XXXXXX)
ws=$work/ws
cleanup() {
  containerd_down
  [ ! -d "$ws" ] || (cd "$ws" && bazel shutdown >/dev/null 2>&1)
  "$REPO_ROOT/tools/setup/peers/registry.sh" down "$work" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

err=$("$REPO_ROOT/tools/setup/peers/registry.sh" up "$work" 2>&1) || { fail "fleet: start the registry" "$err"; finish; }
. "$work/registry.env"
reglog=$work/logs/registry.log
FLEET_DISK_CACHE=~/.cache/rules_img/bazel-disk-cache "$REPO_ROOT/bench/fleet_workspace.sh" "$ws" "$images" 8
cd "$ws" || finish

# ran LOG: "count mnemonic" of the actions an execution log lists.
ran() { jq -r .mnemonic "$1" 2>&1 | sort | uniq -c | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}'; }
# Every image is built in three configurations: its index's two platforms,
# and the host's (//apps:all holds the image_manifest targets themselves).
check "fleet: bazel build of $images images" bazel build //apps:all --execution_log_json_file="$work/cold.json"
check_eq "fleet: the build made each layer, manifest and index once per configuration (execution log)" \
  "$images ImageIndex, $((3 * (10 + images))) ImageLayer, $((3 * (1 + images))) ImageManifest" "$(ran "$work/cold.json")"
echo "shared v2" >data/shared.txt
# With no disk cache: another run's hits would hide how the actions ran.
check "fleet: the rebuild after the shared file changed" bazel build //apps:all --disk_cache= --execution_log_json_file="$work/rebuild.json"
check_eq "fleet: it ran the layer that holds the file, and the manifests and indexes above it, nothing else" \
  "$images ImageIndex, 3 ImageLayer, $((3 * (1 + images))) ImageManifest" "$(ran "$work/rebuild.json")"
# The layer, manifest and index actions run in persistent workers, and
# write the same bytes as when each runs in its own sandboxed process.
runners() { jq -r 'select(.mnemonic | IN("ImageLayer", "ImageManifest", "ImageIndex")) | "\(.mnemonic) \(.runner)"' "$1" | sort | uniq -c | awk '{printf "%s%s %s %s", (NR > 1 ? ", " : ""), $1, $2, $3}'; }
# outputs: sha256sum of the layers (blobs and metadata) and of the apps'
# manifests, configs and indexes, in every configuration.
outputs() {
  find bazel-out/*/bin -maxdepth 2 -type f \( -name '*.tar.gz' -o -name '*.layer.json' -o \
    -path '*/bin/apps/*' \( -name '*.manifest.json' -o -name '*.config.json' -o -name '*.index.json' \) \) | sort | xargs sha256sum
}
check_eq "fleet: the rebuild ran its layers, manifests and indexes in persistent workers (execution log)" \
  "$images ImageIndex worker, 3 ImageLayer worker, $((3 * (1 + images))) ImageManifest worker" "$(runners "$work/rebuild.json")"
bazel clean >/dev/null 2>&1
check "fleet: the same build from clean, every one of them in a worker" \
  bazel build //apps:all --disk_cache= --execution_log_json_file="$work/workers.json"
check_eq "fleet: which ran in workers (execution log)" \
  "$images ImageIndex worker, $((3 * (10 + images))) ImageLayer worker, $((3 * (1 + images))) ImageManifest worker" "$(runners "$work/workers.json")"
outputs >"$work/by-worker.sha256"
bazel clean >/dev/null 2>&1
check "fleet: the same build, each layer, manifest and index in its own sandboxed process" \
  bazel build //apps:all --disk_cache= --strategy=ImageLayer=sandboxed --strategy=ImageManifest=sandboxed --strategy=ImageIndex=sandboxed \
  --execution_log_json_file="$work/sandboxed.json"
check_eq "fleet: a worker and a sandboxed process write the same layers, manifests, configs and indexes (sha256sum)" \
  "$images ImageIndex linux-sandbox, $((3 * (10 + images))) ImageLayer linux-sandbox, $((3 * (1 + images))) ImageManifest linux-sandbox; $((13 * images + 60)) files, the same" \
  "$(runners "$work/sandboxed.json"); $(wc -l <"$work/by-worker.sha256") files, $(outputs | cmp -s - "$work/by-worker.sha256" && echo the same || echo different)"

# completed: "count digest" of blob uploads the registry completed since
# line $1 of its log (a final PUT with ?digest=).
completed() {
  tail -n "+$1" "$reglog" | grep -a -o -E '"PUT /v2/fleet/app_[0-9]+/blobs/uploads/[^ ]*digest=sha256%3A[0-9a-f]{64} HTTP/[0-9.]+" 201' |
    grep -o -E '[0-9a-f]{64}' | sort | uniq -c
}
# heads_since LINE: HEAD requests for blobs since line LINE.
heads_since() { tail -n "+$1" "$reglog" | grep -a -c -E '"HEAD /v2/fleet/app_[0-9]+/blobs/sha256:[0-9a-f]{64} HTTP/[0-9.]+"'; }
mounts_since() { tail -n "+$1" "$reglog" | grep -a -c -E '"POST /v2/fleet/app_[0-9]+/blobs/uploads/\?[^ ]*mount=sha256%3A[0-9a-f]{64}[^ ]* HTTP/[0-9.]+" 201'; }
start=$(($(wc -l <"$reglog") + 1))
check "fleet: bazel run //apps:deploy pushes the $images indexes" bazel run //apps:deploy -- --registry "$REGISTRY"
check_eq "fleet: every image is in the registry, each index with its two platforms (crane)" "$images 2" \
  "$(for i in $(seq 0 $((images - 1))); do crane manifest --insecure "$REGISTRY/fleet/app_$i:v1" 2>/dev/null | jq '.manifests | length'; done | sort | uniq -c | awk '{print $1, $2}')"
# The distinct blobs: 10 shared layers and the app layers (the same bytes
# for both platforms), a config per platform and image.
uploads=$(completed "$start")
check_eq "fleet: each blob was uploaded once (registry log): 10 shared layers, $images app layers, $((2 * images)) configs" \
  "$((10 + images + 2 * images)) 1" "$(awk '{n++; if ($1 > m) m = $1} END {print n + 0, m + 0}' <<<"$uploads")"
check_eq "fleet: and mounted into the other repositories, not uploaded again" "$((10 * (images - 1)))" "$(mounts_since "$start")"
check_eq "fleet: a mount is not asked about first, nor a config for a tag the repository lacks: blob HEADs only for the 10 shared layers' first upload, and each image's app layer" \
  "$((10 + images))" "$(heads_since "$start")"

echo "shared v3" >data/shared.txt
start=$(($(wc -l <"$reglog") + 1))
# This time the workers are sandboxed too.
check "fleet: the push again, after the shared file changed again, with --worker_sandboxing" \
  bazel run //apps:deploy --worker_sandboxing --disk_cache= --execution_log_json_file="$work/push2.json" -- --registry "$REGISTRY"
check_eq "fleet: its build ran the layers, manifests and indexes in sandboxed workers (execution log)" \
  "$images ImageIndex worker, 2 ImageLayer worker, $((2 * (1 + images))) ImageManifest worker" "$(runners "$work/push2.json")"
uploads=$(completed "$start")
check_eq "fleet: it uploaded the changed layer once and the $((2 * images)) new configs, nothing else (registry log)" \
  "$((1 + 2 * images)) 1" "$(awk '{n++; if ($1 > m) m = $1} END {print n + 0, m + 0}' <<<"$uploads")"
check_eq "fleet: it mounted the changed layer into the other repositories" "$((images - 1))" "$(mounts_since "$start")"
check_eq "fleet: it asked about no blob that the tags' earlier indexes named, nor about a new config: one blob HEAD, before the changed layer's upload" \
  "1" "$(heads_since "$start")"
# Per image, the least a registry must be told: the tag's GET and a child
# manifest's, the changed layer's mount, each config's POST and PUT, two
# manifest PUTs and the index's. The push sends that, and pings once or
# twice per run.
check_eq "fleet: per image, 2 GETs, 5 PUTs and 3 POSTs; no other request but the ping and the one upload (registry log)" \
  "GET<=$((2 * images + 2)) HEAD=1 PATCH=1 POST=$((3 * images)) PUT=$((5 * images + 1))" \
  "$(tail -n "+$start" "$reglog" | grep -a -o -E '"(GET|HEAD|PATCH|POST|PUT|DELETE) /v2/' | tr -d '"' | awk -v cap=$((2 * images + 2)) '
    {n[$1]++} END {printf "GET%s HEAD=%d PATCH=%d POST=%d PUT=%d", (n["GET"] <= cap ? "<=" cap : "=" n["GET"]), n["HEAD"], n["PATCH"], n["POST"], n["PUT"]; for (m in n) if (m == "DELETE") printf " DELETE=%d", n[m]}')"

start=$(($(wc -l <"$reglog") + 1))
check "fleet: the push again, unchanged" bazel run //apps:deploy -- --registry "$REGISTRY"
check_eq "fleet: it wrote nothing: no upload, mount or manifest (registry log)" "0" \
  "$(tail -n "+$start" "$reglog" | grep -a -c -E '"(POST|PATCH) /v2/|"PUT /v2/[^ ]*/manifests/')"

containerd_start "$work/containerd"
check "fleet: bazel run //apps:load_all loads 10 images into containerd" \
  bazel run //apps:load_all -- --address "${CONTAINERD_ADDRESS:-none}"
check_eq "fleet: containerd has the 10 images" 10 \
  "$(ctr --address "${CONTAINERD_ADDRESS:-none}" images ls -q 2>&1 | grep -c '^docker.io/fleet/app_\|^fleet/app_')"
finish
