"""Repository rules behind the img toolchains: prebuilt, source build and hub."""

_TOOL_BUILD = """\
load("@rules_img//toolchains:toolchain.bzl", "img_toolchain")

img_toolchain(
    name = "img_toolchain",
    tool = "{binary}",
    visibility = ["//visibility:public"],
)
"""

def _binary_name(os):
    return "img.exe" if os == "windows" else "img"

def _img_prebuilt_impl(rctx):
    binary = _binary_name(rctx.attr.os)
    where = "%s in %s" % (rctx.attr.entry, rctx.attr.lockfile)
    got = rctx.download(
        url = rctx.attr.url,
        output = binary,
        sha256 = rctx.attr.sha256,
        executable = True,
        allow_fail = True,
    )
    if not got.success:
        # Download again without a checksum to tell a wrong sha256 from a bad url.
        probe = rctx.download(url = rctx.attr.url, output = "probe", allow_fail = True)
        if probe.success:
            rctx.delete("probe")
            fail(("img toolchain: %s has sha256 %s, but %s downloads with sha256 %s. " +
                  "Fix the sha256 of that entry, or its url if it points at the wrong binary.") % (
                where,
                rctx.attr.sha256,
                rctx.attr.url,
                probe.sha256,
            ))
        fail("img toolchain: cannot download %s, the url of %s. Check the url, or the network." % (rctx.attr.url, where))
    rctx.file("BUILD.bazel", _TOOL_BUILD.format(binary = binary))

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

def _img_source_build_impl(rctx):
    root = rctx.path(Label("//:go.mod")).dirname
    go = rctx.which("go")
    if not go:
        fail(("img toolchain: there is no prebuilt img binary for this machine, and building it from " +
              "source needs Go 1.26 or newer on PATH. Install Go, or register a prebuilt lockfile with " +
              "img_tool.prebuilt(lockfile = ...) in MODULE.bazel."))

    # Rebuild when the tool's sources change.
    rctx.watch_tree(root.get_child("tools"))
    rctx.watch(root.get_child("go.mod"))
    rctx.watch(root.get_child("go.sum"))
    binary = _binary_name(rctx.os.name)
    result = rctx.execute(
        [go, "build", "-o", rctx.path(binary), "./tools/cmd/img"],
        working_directory = str(root),
        environment = {
            "CGO_ENABLED": "0",
            "GOFLAGS": "-mod=readonly -trimpath -buildvcs=false",
            "GOTOOLCHAIN": "local",
            "GOWORK": "off",
        },
        timeout = 1800,
        quiet = True,
    )
    if result.return_code != 0:
        fail("img toolchain: `go build ./tools/cmd/img` in %s failed:\n%s%s" % (root, result.stdout, result.stderr))
    rctx.file("BUILD.bazel", _TOOL_BUILD.format(binary = binary))

img_source_build = repository_rule(
    implementation = _img_source_build_impl,
    doc = "Builds the img tool with the host's `go build`, CGO disabled.",
    environ = ["PATH", "GOPROXY", "GOPATH", "GOMODCACHE", "GOCACHE"],
)

_HUB_BUILD = """\
load("@rules_img//toolchains/private:hub.bzl", "declare_toolchains")
load(":toolchains.bzl", "TOOLCHAINS")

declare_toolchains(TOOLCHAINS)
"""

def _img_toolchains_hub_impl(rctx):
    # JSON lists of string dicts are also valid Starlark.
    rctx.file("toolchains.bzl", "TOOLCHAINS = %s\n" % json.encode_indent(json.decode(rctx.attr.toolchains)))
    rctx.file("BUILD.bazel", _HUB_BUILD)

img_toolchains_hub = repository_rule(
    implementation = _img_toolchains_hub_impl,
    doc = "Holds the toolchain() declarations of every img tool repository.",
    attrs = {"toolchains": attr.string(doc = "JSON list of {repo, os, cpu}.")},
)
