"""The img_toolchain rule: wraps an img tool binary as a toolchain.

rules_img registers its own toolchains (see the img_tool extension). To run
an img binary of your own instead, wrap it and register it first:

    load("@rules_img//toolchains:toolchain.bzl", "img_toolchain")

    img_toolchain(name = "my_img", tool = "//third_party/img:img_linux_amd64")

    toolchain(
        name = "my_img_toolchain",
        exec_compatible_with = ["@platforms//os:linux", "@platforms//cpu:x86_64"],
        toolchain = ":my_img",
        toolchain_type = "@rules_img//img:toolchain_type",
    )

and `register_toolchains("//:my_img_toolchain")` in MODULE.bazel.
"""

def img_toolchain_info(files_to_run, executable):
    """The ToolchainInfo of an img tool.

    Args:
      files_to_run: what actions run (FilesToRunProvider, or a struct with
        `executable`).
      executable: the img binary File.

    Returns:
      platform_common.ToolchainInfo with `imgtool` (what this module's rules
      read) and `imgtoolchaininfo.tool_exe` (what rules written for
      rules_img 0.2.7 read).
    """
    return platform_common.ToolchainInfo(
        imgtool = files_to_run,
        imgtoolchaininfo = struct(tool_exe = executable),
    )

def _img_toolchain_impl(ctx):
    return [img_toolchain_info(ctx.attr.tool[DefaultInfo].files_to_run, ctx.executable.tool)]

img_toolchain = rule(
    implementation = _img_toolchain_impl,
    doc = "An img tool binary for one execution platform.",
    attrs = {
        "tool": attr.label(
            mandatory = True,
            executable = True,
            cfg = "exec",
            allow_single_file = True,
            doc = "The img binary (`tools/cmd/img` of this repository, built for the execution platform).",
        ),
    },
)
