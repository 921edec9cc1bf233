#!/usr/bin/env bash
# The img toolchain from a lockfile of prebuilt binaries: a file:// url of a
# binary built here is used as it is, and a wrong sha256 fails with a
# message that names the lockfile entry.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh

work=$(mktemp -d /tmp/e2e-toolchain.XXXXXX)
trap 'bazel shutdown >/dev/null 2>&1; rm -rf "$work" img_tool.lock.json' EXIT

# write_lockfile SHA256: a lockfile with one entry for this machine.
write_lockfile() {
  jq -n --arg url "file://$work/img" --arg sha "$1" --arg os "$(go env GOOS)" --arg cpu "$(go env GOARCH)" \
    '{binaries: [{os: $os, cpu: $cpu, url: $url, sha256: $sha}]}' >img_tool.lock.json
}

check "toolchain: go build the img tool" \
  env -C "$REPO_ROOT" CGO_ENABLED=0 go build -trimpath -o "$work/img" ./tools/cmd/img
sha=$(sha256sum "$work/img" | cut -d' ' -f1)
write_lockfile "$sha"
check "toolchain: bazel build with the prebuilt binary (no cache: the actions run)" bazel build //:image //:layer --disk_cache=
# The img_tool extension's repositories, as rules_img and its toolchain hub see them.
rules_img=$(repo_name rules_img)
hub=$(repo_name img_toolchains "$rules_img")
check_eq "toolchain: the prebuilt repository holds the locked binary" "$sha" \
  "$(sha256sum "$(repo_path "img_tool_$(go env GOOS)_$(go env GOARCH)" "$hub")/img" 2>&1 | cut -d' ' -f1)"
host_tool=$(repo_path img_host_tool "$rules_img")
check_eq "toolchain: no source build when the lockfile has this platform" "absent" \
  "$(if [ -z "$host_tool" ]; then echo "rules_img has no img_host_tool"; elif [ -e "$host_tool" ]; then echo present; else echo absent; fi)"
check "toolchain: the layer was written by it" test -s bazel-bin/layer.layer.json

wrong=$(printf '%064d' 0)
write_lockfile "$wrong"
check_fails "toolchain: a wrong sha256 names the lockfile entry" \
  "binaries[0] ($(go env GOOS)/$(go env GOARCH)) in @@//:img_tool.lock.json has sha256 $wrong, but file://$work/img downloads with sha256 $sha" \
  bazel build //:image

jq '.binaries[0].sha256 = "not-a-digest"' img_tool.lock.json >"$work/lock" && cp "$work/lock" img_tool.lock.json
check_fails "toolchain: a malformed sha256 is refused" "has sha256 \"not-a-digest\", which is not 64 lowercase hex digits" \
  bazel build //:image
finish
