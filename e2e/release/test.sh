#!/usr/bin/env bash
# The release command, for this machine only: its binary, lockfile and
# source archive are reproducible, and a workspace that takes rules_img
# from that archive (archive_override, file:// urls) builds an image with
# the released binary, with no Go on PATH.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh
expect_checks 24

work=$(mktemp -d /tmp/e2e-release.XXXXXX)
ws=$work/ws
cleanup() {
  [ ! -d "$ws" ] || (cd "$ws" && bazel shutdown >/dev/null 2>&1)
  chmod -R u+w "$work" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

version=1.2.3
os=$(go env GOOS) arch=$(go env GOARCH)
bin=img_${os}_${arch}
dist=$work/dist
# release DIR [ENV...]: the release command for this machine into DIR.
release() {
  local out=$1; shift
  # [snippet: release_command]
  env -C "$REPO_ROOT" "$@" go run ./tools/cmd/release --version "$version" --out "$out" \
    --platforms "$os/$arch" --url-template "file://$dist/{file}"
  # [end snippet]
}

check "release: the release command builds for $os/$arch" release "$dist"
check_eq "release: it writes the binary, lockfile, archive, source.json, notes and checksums" \
  "SHA256SUMS $bin prebuilt.lock.json release_notes.md rules_img-$version.tar.gz source.json" \
  "$(ls "$dist" 2>&1 | paste -sd' ')"
sha=$(sha256sum "$dist/$bin" | cut -d' ' -f1)
check_eq "release: the lockfile lists the binary with its url and sha256" \
  "$os $arch file://$dist/$bin $sha" \
  "$(jq -r '.binaries[] | [.os, .cpu, .url, .sha256] | join(" ")' "$dist/prebuilt.lock.json" 2>&1)"
check_eq "release: the binary says its version" "img $version $os/$arch" "$("$dist/$bin" version 2>&1)"
check "release: the binary is statically linked (CGO off)" grep -q "statically linked" <<<"$(file -b "$dist/$bin")"
check "release: SHA256SUMS checks" env -C "$dist" sha256sum --quiet -c SHA256SUMS
prefix=rules_img-$version
check_eq "release: the archive's MODULE.bazel has the version" "    version = \"$version\"," \
  "$(tar -xzOf "$dist/$prefix.tar.gz" "$prefix/MODULE.bazel" 2>&1 | grep '^    version = ')"
check_eq "release: the archive holds the release's lockfile" "$(cat "$dist/prebuilt.lock.json")" \
  "$(tar -xzOf "$dist/$prefix.tar.gz" "$prefix/toolchains/prebuilt.lock.json" 2>&1)"
check_eq "release: the archive holds the committed tree, no more" \
  "$(git -C "$REPO_ROOT" ls-tree -r --name-only HEAD | sort)" \
  "$(tar -tzf "$dist/$prefix.tar.gz" | grep -v '/$' | sed "s#^$prefix/##" | sort)"
check_eq "release: source.json gives the archive's url and integrity" \
  "file://$dist/$prefix.tar.gz sha256-$(openssl dgst -sha256 -binary "$dist/$prefix.tar.gz" | base64 -w0)" \
  "$(jq -r '.url + " " + .integrity' "$dist/source.json" 2>&1)"

# Reproducible: the binary carries no path of this machine and no VCS
# stamp, and a second run gives the same bytes. The second run reuses Go's
# build cache unless E2E_RELEASE_COLD=1 (then it compiles everything again,
# about 10 minutes on 2 busy cores).
buildinfo=$(go version -m "$dist/$bin" 2>&1)
check_eq "release: the binary was built with -trimpath, CGO off, no VCS stamp" "-trimpath=true CGO_ENABLED=0" \
  "$(awk '$1 == "build" && $2 ~ /^(-trimpath|CGO_ENABLED)=/ {print $2} $1 == "build" && $2 ~ /^vcs/ {print "vcs"}' <<<"$buildinfo" | paste -sd' ')"
check_eq "release: the binary holds no path of this machine" "0" \
  "$(grep -a -c -e "$REPO_ROOT" -e "$(go env GOMODCACHE)" -e "${TMPDIR:-/tmp}/rules_img-release" "$dist/$bin")"
cold=()
[ "${E2E_RELEASE_COLD:-}" != 1 ] || cold=(GOCACHE="$work/gocache")
check "release: a second run${cold:+ with an empty Go build cache}" release "$work/dist2" "${cold[@]}"
# sha256sum of every file both runs wrote, not the release's own SHA256SUMS.
hashes() { [ -d "$1" ] && [ -n "$(ls "$1")" ] && (cd "$1" && sha256sum -- *) 2>&1 || echo "nothing in '$1'"; }
check_eq "release: both runs wrote the same bytes" "$(hashes "$dist")" "$(hashes "$work/dist2")"

# A workspace on the released archive, as a registry would serve it.
cp -r . "$ws" && rm -f "$ws/test.sh"
sed -i -e "s#RELEASE_VERSION#$version#; s#RELEASE_STRIP_PREFIX#$(jq -r .strip_prefix "$dist/source.json")#" \
  -e "s#RELEASE_INTEGRITY#$(jq -r .integrity "$dist/source.json")#; s#RELEASE_URL#$(jq -r .url "$dist/source.json")#" \
  "$ws/MODULE.bazel"
echo "try-import $REPO_ROOT/.bazel-offline/offline.bazelrc" >"$ws/.bazelrc"
cd "$ws"
# No go command on PATH: a source build of the img tool would fail.
nogo_path=$(tr ':' '\n' <<<"$PATH" | while read -r d; do [ -x "$d/go" ] || printf '%s:' "$d"; done)
nogo_path=${nogo_path%:}
check "release: bazel build on the released module, no Go on PATH, no cache" \
  env PATH="$nogo_path" bazel build //:image //:layer --output_groups=+oci_layout --disk_cache=
# The img_tool extension's repositories, as rules_img and its toolchain hub see them.
rules_img=$(repo_name rules_img)
hub=$(repo_name img_toolchains "$rules_img")
host_tool=$(repo_name img_host_tool "$rules_img")
check_eq "release: Bazel fetched the released module" "    version = \"$version\"," \
  "$(grep '^    version = ' "$(repo_path rules_img)/MODULE.bazel" 2>&1)"
check_eq "release: the toolchain is the released binary" "$sha" \
  "$(sha256sum "$(repo_path "img_tool_${os}_${arch}" "$hub")/img" 2>&1 | cut -d' ' -f1)"
# The host tool runs in repository rules (pull); it is fetched on demand.
check "release: fetch the host tool, no Go on PATH" env PATH="$nogo_path" bazel fetch --repo="@@${host_tool:-no-img_host_tool-in-rules_img}"
check_eq "release: the host tool is the released binary too, not a source build" "$sha" \
  "$(sha256sum "$(repo_path img_host_tool "$rules_img")/img" 2>&1 | cut -d' ' -f1)"
check "release: umoci unpack accepts the image" umoci unpack --rootless --image bazel-bin/image.oci_layout:latest "$work/bundle"
check_eq "release: the image holds the file" "hello from a released rules_img" "$(cat "$work/bundle/rootfs/hello.txt" 2>&1)"

# Windows binaries are img.exe in their toolchain repository. A stand-in
# file (any bytes do: it is only downloaded) for windows/amd64.
jq --arg url "file://$dist/$bin" --arg sha "$sha" \
  '.binaries += [{os: "windows", cpu: "amd64", url: $url, sha256: $sha}]' "$dist/prebuilt.lock.json" >img_tool.lock.json
cat >>MODULE.bazel <<'MOD'
img_tool = use_extension("@rules_img//toolchains:extensions.bzl", "img_tool")
img_tool.prebuilt(lockfile = "//:img_tool.lock.json")
MOD
windows=$(repo_name img_tool_windows_amd64 "$hub")
check "release: fetch the windows/amd64 toolchain repository" bazel fetch --repo="@@${windows:-no-img_tool_windows_amd64-in-the-hub}"
windows_dir=$(repo_path img_tool_windows_amd64 "$hub")
check_eq "release: its binary is img.exe" "img.exe $sha" \
  "$(cd "${windows_dir:-/nonexistent}" 2>&1 && echo "$(ls img*) $(sha256sum img.exe 2>&1 | cut -d' ' -f1)")"
check_eq "release: its toolchain runs img.exe" 'tool = "img.exe",' "$(grep -o 'tool = .*' "$windows_dir/BUILD.bazel" 2>&1)"
finish
