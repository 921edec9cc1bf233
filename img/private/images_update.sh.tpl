#!/usr/bin/env bash
# Refreshes the images lockfile of the workspace from the registries.
# bazel run starts it in its runfiles tree, where these paths are relative to.
set -euo pipefail
workspace=${BUILD_WORKSPACE_DIRECTORY:?run this with bazel run}
exec "$PWD/{IMG}" lock --pulls "$PWD/{PULLS}" --lockfile "$workspace/{LOCKFILE}" "$@"
