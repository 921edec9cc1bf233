"""WORKSPACE counterpart of the img_tool module extension (extensions.bzl).

Users load it through @rules_img//img:repositories.bzl.
"""

load("//toolchains/private:hub.bzl", "CPU_CONSTRAINTS", "OS_CONSTRAINTS")
load("//toolchains/private:lockfile.bzl", "tool_repo_name")
load("//toolchains/private:repositories.bzl", "img_locked_tool", "img_locked_toolchains_hub")

# buildifier: disable=unnamed-macro
def rules_img_register_toolchains(lockfile = Label("//toolchains:prebuilt.lock.json"), source = False):
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
