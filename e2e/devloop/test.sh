#!/usr/bin/env bash
# The development loop never runs a stale img tool. The images extension
# runs the img tool built from the module's source (no prebuilt lockfile),
# and the generator and its templates are compiled into that binary: an
# edit of either, in a copy of the module, must change what the extension
# generates on the next Bazel command, with no clean and no restart.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../lib.sh
expect_checks 6

work=$(mktemp -d /tmp/e2e-devloop.XXXXXX)
module=$work/rules_img ws=$work/ws
trap '[ ! -d "$ws" ] || (cd "$ws" && bazel shutdown >/dev/null 2>&1); rm -rf "$work"' EXIT

# The module's files as they are in the work tree, edits included; not the
# other e2e workspaces, docs or benchmarks.
mkdir -p "$module" "$ws"
git -C "$REPO_ROOT" ls-files --cached --others --exclude-standard |
  grep -Ev '^(e2e|docs|bench)/' |
  while read -r f; do [ ! -e "$REPO_ROOT/$f" ] || printf '%s\0' "$f"; done |
  tar -C "$REPO_ROOT" --null -T - -cf - | tar -C "$module" -xf -

# A pull with no lockfile entry: the extension generates its error target
# without a registry, from the pull_error template and a message written
# by the generator.
cat >"$ws/MODULE.bazel" <<MODULE
module(name = "e2e_devloop")

bazel_dep(name = "rules_img")
local_path_override(
    module_name = "rules_img",
    path = "$module",
)

images = use_extension("@rules_img//img:extensions.bzl", "images")
images.pull(
    name = "base",
    registry = "127.0.0.1:5000",
    repository = "e2e/base",
    tag = "1.0",
)
images.lockfile(file = "//:images.lock.json")
use_repo(images, "base")
MODULE
: >"$ws/BUILD.bazel"
echo '{}' >"$ws/images.lock.json"
echo "try-import $REPO_ROOT/.bazel-offline/offline.bazelrc" >"$ws/.bazelrc"
cd "$ws" || finish

# target_build: the generated target @base//:base, as Bazel reads it.
target_build() { bazel query --output=build @base//:base 2>"$work/query.err" || cat "$work/query.err"; }

before=$(target_build)
check_eq "devloop: the extension generates the error target of a pull with no lockfile entry" "pull_error" \
  "$(sed -n 's/^\(pull_error\)(.*/\1/p' <<<"$before" | head -1)"
check "devloop: its message comes from the generator" grep -q 'has no entry for the pull' <<<"$before"

# A template edit: the generated target gets a tag.
sed -i 's/^    name = NAME,$/    name = NAME,\n    tags = ["edited_template"],/' "$module/templates/pull_error.BUILD.tmpl"
check "devloop: the template edit is in the copy" grep -q edited_template "$module/templates/pull_error.BUILD.tmpl"
check_eq "devloop: after a template edit, the next query sees the generated target change" "@base//:base" \
  "$(bazel query 'attr(tags, edited_template, @base//:all)' 2>"$work/query.err" | sed 's#^@@*[^/]*base//#@base//#' || cat "$work/query.err")"

# A Go edit of the generator: its message changes.
sed -i 's/has no entry for the pull/has NO ENTRY (edited generator) for the pull/' "$module/generator/generate.go"
check "devloop: the generator edit is in the copy" grep -q 'edited generator' "$module/generator/generate.go"
check "devloop: after a generator edit, the next query sees the new message" \
  grep -q 'has NO ENTRY (edited generator) for the pull' <<<"$(target_build)"
finish
