"""Public API for WORKSPACE users: dependencies and toolchains.

    load("@rules_img//img:dependencies.bzl", "rules_img_dependencies")

    rules_img_dependencies()

    load("@rules_img//img:repositories.bzl", "img_register_prebuilt_toolchains", "pull_tool_register_prebuilt_repositories")

    img_register_prebuilt_toolchains()

    pull_tool_register_prebuilt_repositories()

    register_toolchains("@img_toolchain//:all")

or, in one call, `rules_img_register_toolchains()` (which also registers).
With Bzlmod, `bazel_dep(name = "rules_img", ...)` does all of this.
"""

load("//img/private:workspace.bzl", _rules_img_dependencies = "rules_img_dependencies")
load(
    "//toolchains:repositories.bzl",
    _img_register_prebuilt_toolchains = "img_register_prebuilt_toolchains",
    _pull_tool_register_prebuilt_repositories = "pull_tool_register_prebuilt_repositories",
    _rules_img_register_toolchains = "rules_img_register_toolchains",
)

rules_img_dependencies = _rules_img_dependencies
rules_img_register_toolchains = _rules_img_register_toolchains
img_register_prebuilt_toolchains = _img_register_prebuilt_toolchains
pull_tool_register_prebuilt_repositories = _pull_tool_register_prebuilt_repositories
