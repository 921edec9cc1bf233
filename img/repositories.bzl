"""Public API for WORKSPACE users: dependencies and toolchains.

    load("@rules_img//img:repositories.bzl", "rules_img_dependencies", "rules_img_register_toolchains")

    rules_img_dependencies()

    rules_img_register_toolchains()

With Bzlmod, `bazel_dep(name = "rules_img", ...)` does all of this.
"""

load("//img/private:workspace.bzl", _rules_img_dependencies = "rules_img_dependencies")
load("//toolchains:repositories.bzl", _rules_img_register_toolchains = "rules_img_register_toolchains")

rules_img_dependencies = _rules_img_dependencies
rules_img_register_toolchains = _rules_img_register_toolchains
