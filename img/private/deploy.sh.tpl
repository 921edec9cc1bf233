#!/usr/bin/env bash
# Launcher of a rules_img deploy target: runs the img tool from runfiles.
set -euo pipefail
runfiles=${RUNFILES_DIR:-}
if [ -z "$runfiles" ] || [ ! -e "$runfiles/{IMG}" ]; then
  runfiles=$0.runfiles
fi
exec "$runfiles/{IMG}" {COMMAND} --runfiles "$runfiles" {ARGS} "$@"
