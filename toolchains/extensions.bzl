"""The img_tool module extension: picks how the img tool is provided.

    img_tool = use_extension("@rules_img//toolchains:extensions.bzl", "img_tool")
    img_tool.prebuilt(lockfile = "//:img_tool.lock.json")   # or
    img_tool.source()                                       # host `go build`

The root module's choice wins; otherwise rules_img's own lockfile is used.
When the lockfile has no binary for this machine, the tool is built from
source, so development and offline machines work with no binaries at all.
"""

load("//toolchains/private:lockfile.bzl", "host_platform", "plan_toolchains", "read_lockfile", "tool_repo_name")
load("//toolchains/private:repositories.bzl", "img_prebuilt", "img_source_build", "img_toolchains_hub")

def _img_tool_impl(mctx):
    source = False
    lockfile = None
    for mod in mctx.modules:
        if mod.is_root and mod.tags.source:
            source = True
        for tag in mod.tags.prebuilt:
            lockfile = lockfile or tag.lockfile
    entries = [] if source or not lockfile else read_lockfile(mctx, lockfile)
    for e in entries:
        img_prebuilt(name = tool_repo_name(e["os"], e["cpu"]), url = e["url"], sha256 = e["sha256"], os = e["os"], lockfile = str(lockfile), entry = e["entry"])

    # img_host_tool runs on this machine outside actions: in repository
    # rules and module extensions. Without a prebuilt binary for the host it
    # is built from source, and then also serves as the host's toolchain.
    toolchains, host = plan_toolchains(entries, host_platform(mctx))
    if host:
        img_prebuilt(name = "img_host_tool", url = host["url"], sha256 = host["sha256"], os = host["os"], lockfile = str(lockfile), entry = host["entry"])
    else:
        img_source_build(name = "img_host_tool")
    img_toolchains_hub(name = "img_toolchains", toolchains = json.encode(toolchains))

img_tool = module_extension(
    implementation = _img_tool_impl,
    doc = "Provides the img tool: prebuilt binaries from a lockfile, or a host source build.",
    tag_classes = {
        "prebuilt": tag_class(
            doc = "Use the prebuilt binaries listed in a lockfile.",
            attrs = {"lockfile": attr.label(mandatory = True, doc = "JSON: {\"binaries\": [{os, cpu, url, sha256}]}.")},
        ),
        "source": tag_class(doc = "Build the img tool from source with the host Go (root module only)."),
    },
)
