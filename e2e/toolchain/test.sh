#!/usr/bin/env bash
# The img toolchain from a lockfile of prebuilt binaries: a file:// url of a
# binary built here is used as it is, and a wrong sha256 fails with a
# message that names the lockfile entry.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh
expect_checks 7

work=$(mktemp -d /tmp/e2e-toolchain.XXXXXX)
trap 'bazel shutdown >/dev/null 2>&1; rm -rf "$work" img_tool.lock.json' EXIT

# write_lockfile SHA256: a lockfile with one entry for this machine.
write_lockfile() {
  jq -n --arg url "file://$work/img" --arg sha "$1" --arg os "$(go env GOOS)" --arg cpu "$(go env GOARCH)" \
    '{binaries: [{os: $os, cpu: $cpu, url: $url, sha256: $sha}]}' >img_tool.lock.json
}

check "toolchain: go build the img tool" \
  env -C "$REPO_ROOT" CGO_ENABLED=0 go build -trimpath -o "$work/img" ./tools/cmd/img
img_sha=$(sha256_of "$work/img")
sha=${img_sha#sha256:}
write_lockfile "$sha"
# Neither the disk cache nor the action cache of an earlier run: the actions run.
check "toolchain: bazel build with the prebuilt binary (no cache: the actions run)" \
  bazel build //:image //:layer --disk_cache= --nouse_action_cache --execution_log_json_file="$work/exec.json"
# The img_tool extension's repositories, as rules_img and its toolchain hub see them.
rules_img=$(repo_name rules_img)
hub=$(repo_name img_toolchains "$rules_img")
prebuilt=$(repo_name "img_tool_$(go env GOOS)_$(go env GOARCH)" "$hub")
host_tool=$(repo_name img_host_tool "$rules_img")
external=$(bazel info output_base 2>/dev/null)/external
check_eq "toolchain: the prebuilt repository holds the locked binary" "$img_sha" "$(sha256_of "$external/$prebuilt/img")"
# fetched REPO: whether Bazel fetched the repository (a canonical name).
fetched() { if [ -z "$1" ]; then echo "no such repository"; elif [ -d "$external/$1" ]; then echo fetched; else echo "not fetched"; fi; }
check_eq "toolchain: no source build when the lockfile has this platform" "prebuilt fetched, source build not fetched" \
  "prebuilt $(fetched "$prebuilt"), source build $(fetched "$host_tool")"
# Bazel's execution log: the layer's action ran (no cache hit) the img whose
# sha256 Bazel took is the locked one, and the layer holds the file.
check_eq "toolchain: the layer was written by it" "ImageLayer ran $sha, hello.txt" \
  "$(jq -rs '[.[] | select(.targetLabel == "//:layer" and .remoteCacheHit != true)
      | .mnemonic + " ran " + (.inputs[] | select(.isTool and (.path | endswith("/img"))) | .digest.hash)] | join(" ")' \
      "$work/exec.json" 2>&1), $(tar -tzf bazel-bin/layer.tar.gz 2>&1)"

wrong=$(printf '%064d' 0)
write_lockfile "$wrong"
check_fails "toolchain: a wrong sha256 names the lockfile entry" \
  "binaries[0] ($(go env GOOS)/$(go env GOARCH)) in @@//:img_tool.lock.json has sha256 $wrong, but file://$work/img downloads with sha256 $sha" \
  bazel build //:image

jq '.binaries[0].sha256 = "not-a-digest"' img_tool.lock.json >"$work/lock" && cp "$work/lock" img_tool.lock.json
check_fails "toolchain: a malformed sha256 is refused" "has sha256 \"not-a-digest\", which is not 64 lowercase hex digits" \
  bazel build //:image
finish
