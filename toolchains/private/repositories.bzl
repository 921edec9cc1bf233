"""Repository rules behind the img toolchains: prebuilt, source build and hub.

img_prebuilt, img_source_build and img_toolchains_hub are created by the
img_tool module extension, which reads the lockfile itself. The img_locked_*
rules are their WORKSPACE counterparts: a WORKSPACE macro cannot read files,
so they read the lockfile when they are fetched, and do the same work.
"""

load(":lockfile.bzl", "host_platform", "plan_toolchains", "read_lockfile")

_TOOL_BUILD = """\
load("@rules_img//toolchains:toolchain.bzl", "img_toolchain")

img_toolchain(
    name = "img_toolchain",
    tool = "{binary}",
    visibility = ["//visibility:public"],
)
"""

def _binary_name(os):
    return "img.exe" if os.lower().startswith("windows") else "img"

def _download_tool(rctx, url, sha256, os, where):
    binary = _binary_name(os)
    got = rctx.download(
        url = url,
        output = binary,
        sha256 = sha256,
        executable = True,
        allow_fail = True,
    )
    if not got.success:
        # Download again without a checksum to tell a wrong sha256 from a bad url.
        probe = rctx.download(url = url, output = "probe", allow_fail = True)
        if probe.success:
            rctx.delete("probe")
            fail(("img toolchain: %s has sha256 %s, but %s downloads with sha256 %s. " +
                  "Fix the sha256 of that entry, or its url if it points at the wrong binary.") % (
                where,
                sha256,
                url,
                probe.sha256,
            ))
        fail("img toolchain: cannot download %s, the url of %s. Check the url, or the network." % (url, where))
    rctx.file("BUILD.bazel", _TOOL_BUILD.format(binary = binary))

def _module_path(rctx, root):
    """The module path that go.mod declares."""
    for line in rctx.read(root.get_child("go.mod")).splitlines():
        if line.startswith("module "):
            return line[len("module "):].strip()
    fail("img toolchain: %s/go.mod declares no module" % root)

def _build_tool(rctx):
    root = rctx.path(Label("//:go.mod")).dirname
    go = rctx.which("go")
    if not go:
        fail(("img toolchain: there is no prebuilt img binary for this machine, and building it from " +
              "source needs Go 1.26 or newer on PATH. Install Go, or use a lockfile of prebuilt binaries " +
              "that lists this machine."))

    # Rebuild when the tool's sources change: every package of this module
    # that the img binary imports (generator/ and templates/ too), as Go
    # itself lists them.
    go_env = {
        "CGO_ENABLED": "0",
        "GOFLAGS": "-mod=readonly -trimpath -buildvcs=false",
        "GOTOOLCHAIN": "local",
        "GOWORK": "off",
    }

    # One line per package of this module: its import path, then its Go
    # and embedded files. (Dir would be the symlink-resolved path.)
    deps = rctx.execute(
        [go, "list", "-deps", "-f", "{{if and .Module .Module.Main}}{{.ImportPath}} {{join .GoFiles \" \"}} {{join .EmbedFiles \" \"}}{{end}}", "./tools/cmd/img"],
        working_directory = str(root),
        environment = go_env,
        timeout = 600,
        quiet = True,
    )
    if deps.return_code != 0:
        fail("img toolchain: `go list -deps ./tools/cmd/img` in %s failed:\n%s" % (root, deps.stderr))
    module = _module_path(rctx, root)
    for line in deps.stdout.splitlines():
        fields = line.split(" ")
        if not fields[0].startswith(module + "/"):
            continue
        package = str(root) + "/" + fields[0][len(module) + 1:]

        # Files, not trees: Bazel 7 keeps only watched files in the
        # repository's marker, so only they survive a server restart.
        for name in fields[1:]:
            if name:
                rctx.watch(package + "/" + name)
    rctx.watch(root.get_child("go.mod"))
    rctx.watch(root.get_child("go.sum"))
    binary = _binary_name(rctx.os.name)
    result = rctx.execute(
        [go, "build", "-o", rctx.path(binary), "./tools/cmd/img"],
        working_directory = str(root),
        environment = go_env,
        timeout = 1800,
        quiet = True,
    )
    if result.return_code != 0:
        fail("img toolchain: `go build ./tools/cmd/img` in %s failed:\n%s%s" % (root, result.stdout, result.stderr))
    rctx.file("BUILD.bazel", _TOOL_BUILD.format(binary = binary))

def _where(entry, lockfile):
    return "%s in %s" % (entry, lockfile)

def _img_prebuilt_impl(rctx):
    _download_tool(rctx, rctx.attr.url, rctx.attr.sha256, rctx.attr.os, _where(rctx.attr.entry, rctx.attr.lockfile))

img_prebuilt = repository_rule(
    implementation = _img_prebuilt_impl,
    doc = "Downloads one prebuilt img binary and checks its sha256.",
    attrs = {
        "url": attr.string(mandatory = True),
        "sha256": attr.string(mandatory = True),
        "os": attr.string(mandatory = True),
        "lockfile": attr.string(doc = "The lockfile, for error messages."),
        "entry": attr.string(doc = "The lockfile entry, for error messages."),
    },
)

img_source_build = repository_rule(
    implementation = _build_tool,
    doc = "Builds the img tool with the host's `go build`, CGO disabled.",
    environ = ["PATH", "GOPROXY", "GOPATH", "GOMODCACHE", "GOCACHE"],
)

_HUB_BUILD = """\
load("@rules_img//toolchains/private:hub.bzl", "declare_toolchains")
load(":toolchains.bzl", "TOOLCHAINS")

declare_toolchains(TOOLCHAINS)
"""

def _write_hub(rctx, toolchains):
    # JSON lists of string dicts are also valid Starlark.
    rctx.file("toolchains.bzl", "TOOLCHAINS = %s\n" % json.encode_indent(toolchains))
    rctx.file("BUILD.bazel", _HUB_BUILD)

def _img_toolchains_hub_impl(rctx):
    _write_hub(rctx, json.decode(rctx.attr.toolchains))

img_toolchains_hub = repository_rule(
    implementation = _img_toolchains_hub_impl,
    doc = "Holds the toolchain() declarations of every img tool repository.",
    attrs = {"toolchains": attr.string(doc = "JSON list of {repo, os, cpu}.")},
)

def _locked_entries(rctx):
    return read_lockfile(rctx, rctx.attr.lockfile) if rctx.attr.lockfile else []

def _img_locked_tool_impl(rctx):
    if rctx.attr.host:
        want = host_platform(rctx)
    else:
        want = (rctx.attr.os, rctx.attr.cpu)
    found = [e for e in _locked_entries(rctx) if (e["os"], e["cpu"]) == want]
    if found:
        e = found[0]
        _download_tool(rctx, e["url"], e["sha256"], e["os"], _where(e["entry"], rctx.attr.lockfile))
    elif rctx.attr.host:
        _build_tool(rctx)
    else:
        fail("img toolchain: %s has no binary for %s/%s. Add one, or build on a machine it lists." % (
            rctx.attr.lockfile,
            want[0],
            want[1],
        ))

img_locked_tool = repository_rule(
    implementation = _img_locked_tool_impl,
    doc = """The img binary for one platform, from a lockfile (WORKSPACE).

With host = True, the binary for this machine: downloaded when the lockfile
lists it, otherwise built from source with the host Go.""",
    attrs = {
        "lockfile": attr.label(doc = "The lockfile; none builds the host tool from source."),
        "os": attr.string(doc = "GOOS of the binary, unless host."),
        "cpu": attr.string(doc = "GOARCH of the binary, unless host."),
        "host": attr.bool(doc = "The binary for this machine."),
    },
    environ = ["PATH", "GOPROXY", "GOPATH", "GOMODCACHE", "GOCACHE"],
)

def _img_locked_toolchains_hub_impl(rctx):
    toolchains, _ = plan_toolchains(_locked_entries(rctx), host_platform(rctx))
    _write_hub(rctx, toolchains)

img_locked_toolchains_hub = repository_rule(
    implementation = _img_locked_toolchains_hub_impl,
    doc = "The toolchain() declarations for a lockfile's platforms, and the host (WORKSPACE).",
    attrs = {
        "lockfile": attr.label(doc = "The lockfile; none builds the host tool from source."),
    },
)
