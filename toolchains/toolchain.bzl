"""The img_toolchain rule: wraps an img tool binary as a toolchain.

rules_img registers its own toolchains (see the img_tool extension). To run
an img binary of your own instead, wrap it and register it first:

    load("@rules_img//toolchains:toolchain.bzl", "img_toolchain")

    img_toolchain(name = "my_img", tool = "//third_party/img:img_linux_amd64")

    toolchain(
        name = "my_img_toolchain",
        exec_compatible_with = ["@platforms//os:linux", "@platforms//cpu:x86_64"],
        toolchain = ":my_img",
        toolchain_type = "@rules_img//toolchains:toolchain_type",
    )

and `register_toolchains("//:my_img_toolchain")` in MODULE.bazel.
"""

def _img_toolchain_impl(ctx):
    return [platform_common.ToolchainInfo(
        imgtool = ctx.attr.tool[DefaultInfo].files_to_run,
    )]

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
