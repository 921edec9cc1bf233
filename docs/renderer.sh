#!/usr/bin/env bash
# stardoc's markdown renderer, run with the machine's `java`. Debian's
# bazel-stardoc ships it as a prebuilt jar; running it through stardoc's
# java_binary would need Bazel's java_tools, which offline machines lack.
set -euo pipefail
# The jar is in stardoc's repository, under the canonical name that the
# runfiles' repository mapping gives for the main repository's "stardoc".
stardoc=$(awk -F, '$1 == "" && $2 == "stardoc" { print $3; exit }' "$0.runfiles/_repo_mapping" 2>/dev/null || true)
jar=$0.runfiles/$stardoc/stardoc/renderer_prebuilt.jar
[ -n "$stardoc" ] && [ -f "$jar" ] || { echo "renderer.sh: no renderer_prebuilt.jar in the runfiles of $0 (Debian's bazel-stardoc provides it)" >&2; exit 1; }
out=
for a in "$@"; do
  case $a in --output=*) out=${a#--output=} ;; esac
done
# The JDK's warnings about the renderer's protobuf are noise here.
java -jar "$jar" "$@" 2> >(grep -vE 'sun\.misc\.Unsafe|terminally deprecated|Please consider reporting' >&2)
# Bazel 7 hands docstrings over as Latin-1 decoded bytes, so UTF-8 text
# such as "→" comes out encoded twice: undo the second encoding.
iconv -f UTF-8 -t LATIN1 "$out" >"$out.tmp"
mv "$out.tmp" "$out"
