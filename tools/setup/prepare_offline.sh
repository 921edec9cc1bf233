#!/usr/bin/env bash
# prepare_offline.sh OUT_DIR: let Debian's Bazel resolve this module's
# dependencies with no Bazel Central Registry.
#
# Writes module overrides under OUT_DIR and OUT_DIR/offline.bazelrc, which
# every workspace of this repository try-imports. Sources: rules_go and
# gazelle from the Go module proxy (through `go mod download`), Debian's
# /usr/share/bazel, and small stubs for modules that are in Bazel's own
# dependency graph but never built. Machines that reach the Bazel Central
# Registry need none of this. Safe to run again.
set -euo pipefail

OUT=$(realpath -m "${1:?usage: $0 OUT_DIR}")
RULES_GO_VERSION=v0.65.0 # the newest rules_go that runs on Bazel 7.7
GAZELLE_VERSION=v0.54.0
DEBIAN_BAZEL=/usr/share/bazel

die() { printf 'prepare_offline: ERROR: %s\n' "$*" >&2; exit 1; }
command -v go >/dev/null || die "go is not on PATH: install Go 1.26"
[ -d "$DEBIAN_BAZEL/tools/features" ] || die "$DEBIAN_BAZEL/tools/features is missing: run tools/setup/install_bazel.sh"
[ -d "$DEBIAN_BAZEL/rules/shell" ] || die "$DEBIAN_BAZEL/rules/shell is missing: apt-get install -t sid bazel-rules-shell"

# module_dir MODULE VERSION: its directory in the Go module cache.
module_dir() {
  local dir
  dir=$(cd / && go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [ -n "$dir" ] && [ -d "$dir" ] || die "go mod download $1@$2 failed"
  printf '%s\n' "$dir"
}

# copy_writable SRC DST: module cache files are read-only and zips carry no
# modes, so copy, make writable and mark scripts executable again.
copy_writable() {
  rm -rf "$2.tmp" && cp -r "$1" "$2.tmp" && chmod -R u+w "$2.tmp"
  find "$2.tmp" -type f \( -name '*.sh' -o -name '*.bash' \) -exec chmod +x {} +
  rm -rf "$2" && mv "$2.tmp" "$2"
}

mkdir -p "$OUT"
stamp="rules_go=$RULES_GO_VERSION gazelle=$GAZELLE_VERSION"
if [ "$(cat "$OUT/.stamp" 2>/dev/null)" != "$stamp" ]; then
  copy_writable "$(module_dir github.com/bazelbuild/rules_go "$RULES_GO_VERSION")" "$OUT/rules_go"
  gazelle=$(module_dir github.com/bazelbuild/bazel-gazelle "$GAZELLE_VERSION")
  copy_writable "$gazelle" "$OUT/gazelle"
  # gazelle's go.work uses ./v2, a nested module that its zip leaves out.
  v2=$(sed -n 's#^[[:space:]]*github.com/bazel-contrib/bazel-gazelle/v2 \(v[^ ]*\).*#\1#p' "$gazelle/go.mod" | head -n1)
  [ -n "$v2" ] || die "no bazel-gazelle/v2 version in $gazelle/go.mod"
  copy_writable "$(module_dir github.com/bazel-contrib/bazel-gazelle/v2 "$v2")" "$OUT/gazelle/v2"
  : >>"$OUT/gazelle/v2/go.sum" # listed in gazelle's own source list
  echo "$stamp" >"$OUT/.stamp"
fi

# Debian's bazel_features lacks a field that rules_go reads; on Bazel 7 it is False.
rm -rf "$OUT/bazel_features"
cp -r "$DEBIAN_BAZEL/tools/features" "$OUT/bazel_features" && chmod -R u+w "$OUT/bazel_features"
if ! grep -q instrumented_files_info_has_baseline_coverage_files "$OUT/bazel_features/features.bzl"; then
  sed -i 's|^\([[:space:]]*\)instrumented_files_info_has_metadata_files = .*$|&\n\1instrumented_files_info_has_baseline_coverage_files = False,|' \
    "$OUT/bazel_features/features.bzl"
  grep -q instrumented_files_info_has_baseline_coverage_files "$OUT/bazel_features/features.bzl" ||
    die "could not patch $OUT/bazel_features/features.bzl"
fi

# empty_module NAME VERSION: a module that Bazel's graph names but nothing builds.
empty_module() {
  mkdir -p "$OUT/stubs/$1"
  printf 'module(name = "%s", version = "%s")\n' "$1" "$2" >"$OUT/stubs/$1/MODULE.bazel"
  : >"$OUT/stubs/$1/BUILD.bazel"
}
empty_module protobuf 3.19.6
empty_module zlib 1.3.1.bcr.3
empty_module buildozer 7.1.2
empty_module apple_support 1.23.1

# package_metadata: loaded by rules_go and by every gazelle-generated repo.
pm=$OUT/stubs/package_metadata
mkdir -p "$pm/providers" "$pm/rules"
echo 'module(name = "package_metadata", version = "0.0.5")' >"$pm/MODULE.bazel"
: >"$pm/BUILD.bazel"
echo 'exports_files(["package_metadata_info.bzl"])' >"$pm/providers/BUILD.bazel"
cat >"$pm/providers/package_metadata_info.bzl" <<'BZL'
"""Offline stand-in: rules_go only checks that the provider exists."""

PackageMetadataInfo = provider(doc = "Package metadata (stand-in).", fields = ["metadata"])
BZL
echo 'exports_files(["package_metadata.bzl"])' >"$pm/rules/BUILD.bazel"
cat >"$pm/rules/package_metadata.bzl" <<'BZL'
"""Offline stand-in for the package_metadata rule that gazelle writes into Go repositories."""

def _impl(_ctx):
    return [DefaultInfo()]

_package_metadata = rule(implementation = _impl, attrs = {"attributes": attr.label_list(), "purl": attr.string()})

def package_metadata(name, purl = "", attributes = [], visibility = None, **kwargs):
    # No licenses of its own: the repository default would point back at this target.
    _package_metadata(name = name, purl = purl, attributes = attributes, visibility = visibility, applicable_licenses = [], **kwargs)
BZL

# Paths must be absolute: --override_module resolves relative paths against
# the current directory, not the workspace. Bazel refuses overrides of modules
# that are not in the graph, so workspaces that use rules_go import
# offline-go.bazelrc and the others offline.bazelrc.
cat >"$OUT/offline.bazelrc" <<EOF
# Written by tools/setup/prepare_offline.sh. Read after /etc/bazel/bazelrc, so
# the bazel_features line here wins over Debian's.
common --noenable_workspace
# Debian's Bazel 7.7.1 writes MODULE.bazel.lock as "{}" and then cannot read it.
common --lockfile_mode=off
common --override_module=bazel_features=$OUT/bazel_features
common --override_module=protobuf=$OUT/stubs/protobuf
common --override_module=zlib=$OUT/stubs/zlib
common --override_module=buildozer=$OUT/stubs/buildozer
common --override_module=apple_support=$OUT/stubs/apple_support
build --nosandbox_debug
EOF
cat >"$OUT/offline-go.bazelrc" <<EOF
# Written by tools/setup/prepare_offline.sh, for workspaces that use rules_go.
import $OUT/offline.bazelrc
common --override_module=rules_go=$OUT/rules_go
common --override_module=gazelle=$OUT/gazelle
common --override_module=rules_shell=$DEBIAN_BAZEL/rules/shell
common --override_module=package_metadata=$OUT/stubs/package_metadata
common --repo_env=GO_REPOSITORY_USE_HOST_CACHE=1
EOF
# The docs/ workspace: stardoc from Debian's bazel-stardoc (install_bazel.sh).
[ -d "$DEBIAN_BAZEL/tools/stardoc" ] || die "$DEBIAN_BAZEL/tools/stardoc is missing: apt-get install -t sid bazel-stardoc"
cat >"$OUT/offline-docs.bazelrc" <<EOF
# Written by tools/setup/prepare_offline.sh, for the docs/ workspace (stardoc).
import $OUT/offline.bazelrc
common --override_module=stardoc=$DEBIAN_BAZEL/tools/stardoc
common --override_module=rules_shell=$DEBIAN_BAZEL/rules/shell
# stardoc's renderer runs with the machine's JDK (docs/renderer.sh): Bazel's
# own Java toolchains would be downloaded.
common --java_runtime_version=local_jdk
common --tool_java_runtime_version=local_jdk
EOF
echo "prepare_offline: wrote $OUT/offline.bazelrc, $OUT/offline-go.bazelrc and $OUT/offline-docs.bazelrc" >&2
