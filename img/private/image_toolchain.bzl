"""The image_toolchain rule, and the ToolchainInfo every img toolchain gives."""

load("//toolchains:toolchain.bzl", "img_toolchain_info")

TOOLCHAIN_TYPE = str(Label("//img:toolchain_type"))

def _image_toolchain_impl(ctx):
    return [img_toolchain_info(struct(executable = ctx.file.tool_exe), ctx.file.tool_exe)]

image_toolchain = rule(
    implementation = _image_toolchain_impl,
    doc = """An img tool binary as a toolchain of type `@rules_img//img:toolchain_type`.

The img tool writes images for any target platform, so a toolchain needs
only `exec_compatible_with` constraints:

    image_toolchain(name = "my_img", tool_exe = "//third_party/img:img_linux_amd64")

    toolchain(
        name = "my_img_toolchain",
        exec_compatible_with = ["@platforms//os:linux", "@platforms//cpu:x86_64"],
        toolchain = ":my_img",
        toolchain_type = "@rules_img//img:toolchain_type",
    )

and register it before rules_img's own (`register_toolchains` in MODULE.bazel).""",
    attrs = {
        "tool_exe": attr.label(
            allow_single_file = True,
            doc = "The img binary for the execution platform (built from `tools/cmd/img` of this module).",
        ),
    },
)
