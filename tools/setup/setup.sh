#!/usr/bin/env bash
# setup.sh: everything the demo and the tests need on a fresh machine:
# Bazel 7.7+, the offline module overrides, the test peers (containerd,
# runc, umoci, skopeo, crane) and buildifier. Safe to run again; when all is
# there it takes a few seconds.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tools=${RULES_IMG_PEERS_TOOLS:-/var/tmp/rules-img-peers}
BUILDIFIER_VERSION=v0.0.0-20260904073137-eaa4d125b423

command -v go >/dev/null || { echo "setup: Go 1.26 is needed on PATH" >&2; exit 1; }
"$root/tools/setup/install_bazel.sh"
"$root/tools/setup/prepare_offline.sh" "$root/.bazel-offline"
"$root/tools/setup/peers/install.sh"
if ! go version -m "$tools/bin/buildifier" 2>/dev/null | grep -qF "$BUILDIFIER_VERSION"; then
  GOBIN=$tools/bin GOTOOLCHAIN=local go install "github.com/bazelbuild/buildtools/buildifier@$BUILDIFIER_VERSION"
fi
