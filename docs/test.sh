#!/usr/bin/env bash
# The docs: the checked-in API reference and settings page are what the
# source generates, every public .bzl file has a page, and every Starlark
# snippet in docs/ equals the e2e region it names (see tools/docs/update.sh).
# Each is judged here too without the docs tooling: stardoc's pages by cmp,
# the settings by bazel query, snippets and links by a few lines of Python.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ../e2e/lib.sh
expect_checks 6
trap 'bazel shutdown >/dev/null 2>&1' EXIT

# go_test_verdict PKG...: go test -json's verdict. A run in which no test
# passed (no test files, say) is no pass.
go_test_verdict() {
  local log rc passed failed
  log=$(go test -C "$REPO_ROOT" -json "$@" 2>&1)
  rc=$?
  passed=$(jq -rR 'fromjson? | select(.Action == "pass" and .Test) | .Test' <<<"$log" | wc -l)
  failed=$(jq -rR 'fromjson? | select(.Action == "fail" and .Test) | .Test' <<<"$log" | paste -sd' ')
  if [ "$rc" -eq 0 ] && [ "$passed" -gt 0 ] && [ -z "$failed" ]; then
    echo "tests passed, none failed"
  else
    echo "go test exited with $rc; $passed tests passed; failed: ${failed:-none}"
    jq -rR 'fromjson? // {Action: "output", Output: .} | select(.Action == "output") | .Output' <<<"$log" | tail -n 20
  fi
}
check_eq "docs: the docs tooling's unit tests pass" "tests passed, none failed" "$(go_test_verdict ./tools/docs/...)"

check "docs: tools/docs/update.sh --check finds nothing to update (reference, settings, index, snippets, links)" \
  "$REPO_ROOT/tools/docs/update.sh" --check

# stardoc_pages_match: stardoc builds the pages again; each equals its copy
# in reference/, and reference/ has no page besides those, README.md and
# settings.md.
stardoc_pages_match() {
  local pages page n=0
  bazel build //:reference >/dev/null 2>&1 || { echo "bazel build //:reference failed"; return 1; }
  pages=$(bazel cquery //:reference --output=files 2>/dev/null) || { echo "bazel cquery //:reference failed"; return 1; }
  for page in $pages; do
    cmp "$page" "reference/$(basename "$page")" || return 1
    n=$((n + 1))
  done
  [ "$n" -gt 0 ] || { echo "stardoc made no page"; return 1; }
  for page in reference/*.md; do
    case $page in reference/README.md | reference/settings.md) continue ;; esac
    grep -qx ".*/$(basename "$page")" <<<"$pages" || { echo "$page is no stardoc page"; return 1; }
  done
}
check "docs: every page of docs/reference/ is what stardoc makes of the source" stardoc_pages_match

# Each setting that bazel query finds in img/settings has its row in the
# settings page: its default, and each value it accepts.
check "docs: the settings page lists every setting with its default and values (bazel query)" python3 -c '
import re, sys
query, page = sys.stdin.read(), open("reference/settings.md").read()
settings = re.findall(r"^\w+\(\n  name = \"(\w+)\",\n(.*?)^\)", query, re.M | re.S)
if not settings:
    sys.exit("bazel query found no setting")
# A row: | [`NAME`](#NAME) | `DEFAULT` | `VALUE`, `VALUE`, ... |
rows = {m[1]: (m[2], m[3]) for m in re.finditer(r"^\| \[`(\w+)`\]\(#\w+\) \| (.*?) \| (.*) \|$", page, re.M)}
bad = []
for name, attrs in settings:
    default = re.search(r"build_setting_default = \"(.*)\",", attrs)
    values = re.search(r"values = \[(.*)\],", attrs)
    if name not in rows:
        bad.append("%s: no row" % name)
        continue
    if "`%s`" % (default[1] if default else "") != rows[name][0]:
        bad.append("%s: the default is %s, the row says %s" % (name, default and default[1], rows[name][0]))
    bad += ["%s: no value `%s` in %r" % (name, v, rows[name][1])
            for v in (re.findall(r"\"([^\"]*)\"", values[1]) if values else []) if "`%s`" % v not in rows[name][1]]
bad += ["%s: a row, but no such setting" % n for n in rows if n not in dict(settings)]
sys.exit("\n".join(bad) or None)
' < <(bazel query '@rules_img//img/settings:*' --output=build 2>/dev/null)

# The snippet rule of tools/docs/snippets.go, written again: a fenced
# Starlark block in docs/ (not reference/) has "<!-- snippet: NAME [with
# OLD=NEW, ...] -->" above it, and equals the region "# [snippet: NAME]" ...
# "# [end snippet]" of an e2e file, dedented, with OLD replaced by NEW.
check "docs: every Starlark snippet in docs/ equals the e2e region it names" python3 -c '
import os, re, sys
root = sys.argv[1]
def dedent(lines):
    while lines and not lines[0].strip(): lines = lines[1:]
    while lines and not lines[-1].strip(): lines = lines[:-1]
    indent = min([len(l) - len(l.lstrip(" \t")) for l in lines if l.strip()] or [0])
    return "\n".join(l[indent:].rstrip(" \t") for l in lines)
regions, starlark = {}, ("BUILD.bazel", "BUILD", "MODULE.bazel", "WORKSPACE.bazel", "WORKSPACE")
for d, dirs, files in os.walk(os.path.join(root, "e2e")):
    dirs[:] = [x for x in dirs if not x.startswith(("bazel-", "."))]
    for f in files:
        if f not in starlark and not f.endswith(".bzl"):
            continue
        stack = []
        for line in open(os.path.join(d, f)).read().split("\n"):
            m = re.match(r"^\s*# \[snippet: ([A-Za-z0-9_.-]+)\]\s*$", line)
            if m:
                stack.append((m[1], []))
            elif re.match(r"^\s*# \[end snippet\]\s*$", line):
                name, body = stack.pop()
                regions[name] = dedent(body)
            else:
                for _, body in stack:
                    body.append(line)
bad, blocks = [], 0
for d, dirs, files in os.walk(os.path.join(root, "docs")):
    dirs[:] = [x for x in dirs if not x.startswith("bazel-") and os.path.join(d, x) != os.path.join(root, "docs", "reference")]
    for f in sorted(files):
        if not f.endswith(".md"):
            continue
        path = os.path.join(d, f)
        lines = open(path).read().split("\n")
        i = 0
        while i < len(lines):
            fence = re.match(r"^(```+)\s*([A-Za-z0-9_+-]*)\s*$", lines[i])
            if not fence:
                i += 1
                continue
            end = i + 1
            while end < len(lines) and lines[end].strip() != fence[1]:
                end += 1
            if fence[2] in ("starlark", "python", "py", "bzl", "bazel"):
                blocks += 1
                above = [l.strip() for l in lines[:i] if l.strip()][-1:]
                marker = re.match(r"^<!-- snippet: ([A-Za-z0-9_.-]+)(?: with (.+?))? -->$", above[0]) if above else None
                if not marker or marker[1] not in regions:
                    bad.append("%s:%d: no snippet marker naming an e2e region" % (path, i + 1))
                else:
                    text = regions[marker[1]]
                    for pair in (marker[2] or "").split(",") if marker[2] else []:
                        old, new = pair.strip().split("=", 1)
                        text = text.replace(old, new)
                    if text != "\n".join(lines[i + 1:end]):
                        bad.append("%s:%d: differs from snippet %s" % (path, i + 1, marker[1]))
            i = end + 1
if not blocks:
    bad.append("no Starlark block in docs/")
sys.exit("\n".join(bad) or None)
' "$REPO_ROOT"

# Relative links, outside code blocks, name files that exist; the index of
# the reference links every page.
check "docs: every relative link in docs/ names a file, and the reference index links every page" python3 -c '
import glob, os, re, sys
bad, links, paths = [], 0, []
for d, dirs, files in os.walk("."):
    dirs[:] = [x for x in dirs if not x.startswith("bazel-")]
    paths += [os.path.normpath(os.path.join(d, f)) for f in files if f.endswith(".md")]
for path in paths:
    fenced = False
    for n, line in enumerate(open(path), 1):
        if line.strip().startswith("```"):
            fenced = not fenced
        if fenced:
            continue
        for target in re.findall(r"\]\(([^)\s]+)\)", line):
            target = target.split("#")[0]
            if not target or re.match(r"^[a-z]+:", target):
                continue
            links += 1
            if not os.path.exists(os.path.join(os.path.dirname(path), target)):
                bad.append("%s:%d: %s does not exist" % (path, n, target))
index = open("reference/README.md").read()
bad += ["reference/README.md does not link %s" % os.path.basename(p)
        for p in glob.glob("reference/*.md") if p != "reference/README.md" and "](%s)" % os.path.basename(p) not in index]
if not links:
    bad.append("no relative link in docs/")
sys.exit("\n".join(bad) or None)
'
finish
