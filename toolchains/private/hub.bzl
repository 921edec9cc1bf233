"""Declares the toolchain() targets of the img_toolchains hub repository."""

# Lockfile names (Go's GOOS/GOARCH) → Bazel constraint values.
OS_CONSTRAINTS = {
    "darwin": "@platforms//os:macos",
    "linux": "@platforms//os:linux",
    "windows": "@platforms//os:windows",
}

CPU_CONSTRAINTS = {
    "amd64": "@platforms//cpu:x86_64",
    "arm64": "@platforms//cpu:aarch64",
}

# buildifier: disable=unnamed-macro
def declare_toolchains(toolchains):
    """One toolchain() per tool repository.

    The hub holds only these declarations, so Bazel fetches nothing but the
    repository of the toolchain it selects.

    Args:
      toolchains: list of dicts with repo, os and cpu.
    """
    for t in toolchains:
        native.toolchain(
            name = t["repo"],
            exec_compatible_with = [OS_CONSTRAINTS[t["os"]], CPU_CONSTRAINTS[t["cpu"]]],
            toolchain = "@%s//:img_toolchain" % t["repo"],
            toolchain_type = str(Label("//img:toolchain_type")),
        )
