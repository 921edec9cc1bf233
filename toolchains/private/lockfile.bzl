"""Reads the prebuilt-binary lockfile and plans the img tool repositories.

Shared by the img_tool module extension and the WORKSPACE macros: `ctx` is
a module or a repository context (both have read, path and os).
"""

load(":hub.bzl", "CPU_CONSTRAINTS", "OS_CONSTRAINTS")

_HOST_CPU = {"aarch64": "arm64", "amd64": "amd64", "arm64": "arm64", "x86_64": "amd64"}
_HOST_OS = {"linux": "linux", "mac os x": "darwin"}

def host_platform(ctx):
    """The lockfile's (os, cpu) names of this machine: Go's GOOS and GOARCH.

    Args:
      ctx: a module or repository context.

    Returns:
      A tuple (os, cpu).
    """
    name = ctx.os.name.lower()
    os = _HOST_OS.get(name, "windows" if name.startswith("windows") else name)
    return os, _HOST_CPU.get(ctx.os.arch, ctx.os.arch)

def _check_hex(s):
    return len(s) == 64 and not [c for c in s.elems() if c not in "0123456789abcdef"]

def read_lockfile(ctx, lockfile):
    """Reads and checks a prebuilt-binary lockfile.

    Args:
      ctx: a module or repository context.
      lockfile: Label of the JSON lockfile.

    Returns:
      A list of dicts with os, cpu, url, sha256 and entry (a name for messages).
    """
    data = json.decode(ctx.read(ctx.path(lockfile)))
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

def tool_repo_name(os, cpu):
    """The name of the repository with the prebuilt binary for os/cpu.

    Args:
      os: GOOS.
      cpu: GOARCH.

    Returns:
      The repository name.
    """
    return "img_tool_%s_%s" % (os, cpu)

def plan_toolchains(entries, host):
    """Which repository serves each execution platform.

    Every lockfile entry gets its prebuilt repository. Without an entry for
    the host, img_host_tool (a source build) serves the host as well.

    Args:
      entries: from read_lockfile.
      host: the (os, cpu) tuple of this machine.

    Returns:
      A tuple: the list of {repo, os, cpu} dicts for the hub, and the
      lockfile entry for the host, or None.
    """
    toolchains = [{"cpu": e["cpu"], "os": e["os"], "repo": tool_repo_name(e["os"], e["cpu"])} for e in entries]
    host_entries = [e for e in entries if (e["os"], e["cpu"]) == host]
    if host_entries:
        return toolchains, host_entries[0]
    return toolchains + [{"cpu": host[1], "os": host[0], "repo": "img_host_tool"}], None
