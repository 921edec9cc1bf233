"""The img tool as a toolchain: `image_toolchain` and `TOOLCHAIN_TYPE`.

    load("@rules_img//img:image_toolchain.bzl", "TOOLCHAIN_TYPE", "image_toolchain")

rules_img registers prebuilt (or source-built) img tools itself; use these
to run an img binary of your own, or to find the tool from a rule of yours
(`ctx.toolchains[TOOLCHAIN_TYPE].imgtoolchaininfo.tool_exe`).
"""

load("//img/private:image_toolchain.bzl", _TOOLCHAIN_TYPE = "TOOLCHAIN_TYPE", _image_toolchain = "image_toolchain")

image_toolchain = _image_toolchain
TOOLCHAIN_TYPE = _TOOLCHAIN_TYPE
