"""The img_tool module extension: picks how the img tool is provided.

    img_tool = use_extension("@rules_img//toolchains:extensions.bzl", "img_tool")
    img_tool.prebuilt(lockfile = "//:img_tool.lock.json")   # or
    img_tool.source()                                       # host `go build`

The root module's choice wins; otherwise rules_img's own lockfile is used.
When the lockfile has no binary for this machine, the tool is built from
source, so development and offline machines work with no binaries at all.
"""

load("//toolchains/private:hub.bzl", "CPU_CONSTRAINTS", "OS_CONSTRAINTS")
load("//toolchains/private:repositories.bzl", "img_prebuilt", "img_source_build", "img_toolchains_hub")

_HOST_CPU = {"aarch64": "arm64", "amd64": "amd64", "arm64": "arm64", "x86_64": "amd64"}
_HOST_OS = {"linux": "linux", "mac os x": "darwin"}

def _host(mctx):
    os = _HOST_OS.get(mctx.os.name.lower(), "windows" if mctx.os.name.lower().startswith("windows") else mctx.os.name)
    return os, _HOST_CPU.get(mctx.os.arch, mctx.os.arch)

def _check_hex(s):
    return len(s) == 64 and not [c for c in s.elems() if c not in "0123456789abcdef"]

def read_lockfile(mctx, lockfile):
    """Reads and checks a prebuilt-binary lockfile.

    Args:
      mctx: the module context.
      lockfile: Label of the JSON lockfile.

    Returns:
      A list of dicts with os, cpu, url, sha256 and entry (a name for messages).
    """
    data = json.decode(mctx.read(mctx.path(lockfile)))
    entries = []
    seen = {}
    for i, b in enumerate(data.get("binaries", [])):
        entry = "binaries[%d] (%s/%s)" % (i, b.get("os"), b.get("cpu"))
        if b.get("os") not in OS_CONSTRAINTS or b.get("cpu") not in CPU_CONSTRAINTS:
            fail("%s: %s needs os in %s and cpu in %s" % (lockfile, entry, OS_CONSTRAINTS.keys(), CPU_CONSTRAINTS.keys()))
        if not b.get("url"):
            fail("%s: %s has no url" % (lockfile, entry))
        if not _check_hex(b.get("sha256", "")):
            fail("%s: %s has sha256 %r, which is not 64 lowercase hex digits" % (lockfile, entry, b.get("sha256")))
        key = (b["os"], b["cpu"])
        if key in seen:
            fail("%s: %s and %s are for the same platform; keep one" % (lockfile, seen[key], entry))
        seen[key] = entry
        entries.append(dict(b, entry = entry))
    return entries

def _img_tool_impl(mctx):
    source = False
    lockfile = None
    for mod in mctx.modules:
        if mod.is_root and mod.tags.source:
            source = True
        for tag in mod.tags.prebuilt:
            lockfile = lockfile or tag.lockfile
    entries = [] if source or not lockfile else read_lockfile(mctx, lockfile)

    toolchains = []
    for e in entries:
        repo = "img_tool_%s_%s" % (e["os"], e["cpu"])
        img_prebuilt(name = repo, url = e["url"], sha256 = e["sha256"], os = e["os"], lockfile = str(lockfile), entry = e["entry"])
        toolchains.append({"cpu": e["cpu"], "os": e["os"], "repo": repo})

    # img_host_tool runs on this machine outside actions: in repository
    # rules and module extensions. Without a prebuilt binary for the host it
    # is built from source, and then also serves as the host's toolchain.
    host_os, host_cpu = _host(mctx)
    host = [e for e in entries if (e["os"], e["cpu"]) == (host_os, host_cpu)]
    if host:
        e = host[0]
        img_prebuilt(name = "img_host_tool", url = e["url"], sha256 = e["sha256"], os = e["os"], lockfile = str(lockfile), entry = e["entry"])
    else:
        img_source_build(name = "img_host_tool")
        toolchains.append({"cpu": host_cpu, "os": host_os, "repo": "img_host_tool"})
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
