"""WORKSPACE counterpart of the img_tool module extension (extensions.bzl).

Users load it through @rules_img//img:repositories.bzl.
"""

load("//toolchains/private:hub.bzl", "CPU_CONSTRAINTS", "OS_CONSTRAINTS")
load("//toolchains/private:lockfile.bzl", "tool_repo_name")
load("//toolchains/private:repositories.bzl", "img_locked_tool", "img_locked_toolchains_hub")

_DEFAULT_LOCKFILE = Label("//toolchains:prebuilt.lock.json")

def _platform_pairs(caller, platforms):
    """The (os, cpu) pairs of a macro's `platforms`, checked; None is every pair."""
    pairs = platforms or [(os, cpu) for os in OS_CONSTRAINTS for cpu in CPU_CONSTRAINTS]
    for os, cpu in pairs:
        if os not in OS_CONSTRAINTS or cpu not in CPU_CONSTRAINTS:
            fail("%s: platform (%r, %r) is unknown: use an os of %s and a cpu of %s" % (
                caller,
                os,
                cpu,
                ", ".join(OS_CONSTRAINTS),
                ", ".join(CPU_CONSTRAINTS),
            ))
    return pairs

def _declare(rule, name, **kwargs):
    # As http_archive's maybe(): a repository the user declared first wins.
    if not native.existing_rule(name):
        rule(name = name, **kwargs)

def img_register_prebuilt_toolchains(name = "img_toolchain", lockfile = _DEFAULT_LOCKFILE, platforms = None):
    """Declares the img tool repositories and a hub of their toolchains.

    The toolchains are not registered: call
    `register_toolchains("@img_toolchain//:all")` (with this `name`) after it.
    Bazel downloads only the binary of the toolchain it selects.

    Args:
      name: the hub repository, which holds one toolchain() per platform.
      lockfile: JSON lockfile of prebuilt binaries,
        `{"binaries": [{"os", "cpu", "url", "sha256"}]}`; defaults to the one
        released with rules_img. When it lists no binary for this machine,
        the machine's tool is built from source with the host Go.
      platforms: (os, cpu) pairs in Go's names, for example
        `[("linux", "amd64"), ("darwin", "arm64")]`, whose binaries to
        declare; None declares every pair this module knows.
    """
    for os, cpu in _platform_pairs("img_register_prebuilt_toolchains", platforms):
        _declare(img_locked_tool, tool_repo_name(os, cpu), lockfile = lockfile, os = os, cpu = cpu)
    _declare(img_locked_tool, "img_host_tool", lockfile = lockfile, host = True)
    img_locked_toolchains_hub(name = name, lockfile = lockfile)

def pull_tool_register_prebuilt_repositories(name = "pull_hub_repo", lockfile = _DEFAULT_LOCKFILE, platforms = None):
    """Declares the img tool that repository rules (`pull`) run on this machine.

    In this module the same img binary builds images and pulls bases, so
    this declares `@img_host_tool` (the machine's binary from the lockfile,
    or a build from source) unless img_register_prebuilt_toolchains already
    did.

    Args:
      name: accepted as rules_img 0.2.7 does; the repository is
        `@img_host_tool` whatever the name.
      lockfile: as for img_register_prebuilt_toolchains.
      platforms: checked as for img_register_prebuilt_toolchains; only this
        machine's binary is ever used by repository rules.
    """
    _platform_pairs("pull_tool_register_prebuilt_repositories", platforms)
    _declare(img_locked_tool, "img_host_tool", lockfile = lockfile, host = True)

# buildifier: disable=unnamed-macro
def rules_img_register_toolchains(lockfile = _DEFAULT_LOCKFILE, source = False):
    """Declares the img tool repositories and registers their toolchains.

    Each platform of the lockfile gets a prebuilt binary; Bazel downloads
    only the ones it selects. The machine Bazel runs on gets `@img_host_tool`
    (used by the `pull` repository rule): its prebuilt binary, or, when the
    lockfile has none for it, a build from source with the host Go.

    Args:
      lockfile: JSON lockfile of prebuilt binaries,
        `{"binaries": [{"os", "cpu", "url", "sha256"}]}`. Defaults to the one
        released with rules_img.
      source: build the img tool from source with the host Go instead
        (Go 1.26 or newer on PATH), ignoring the lockfile.
    """
    locked = None if source else lockfile
    for os in OS_CONSTRAINTS:
        for cpu in CPU_CONSTRAINTS:
            img_locked_tool(name = tool_repo_name(os, cpu), lockfile = locked, os = os, cpu = cpu)
    img_locked_tool(name = "img_host_tool", lockfile = locked, host = True)
    img_locked_toolchains_hub(name = "img_toolchains", lockfile = locked)
    native.register_toolchains("@img_toolchains//:all")
