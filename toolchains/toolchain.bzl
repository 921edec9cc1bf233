"""The img_toolchain rule: wraps an img tool binary as a toolchain."""

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
            doc = "The img binary.",
        ),
    },
)
