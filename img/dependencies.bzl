"""WORKSPACE: the repositories rules_img needs.

    load("@rules_img//img:dependencies.bzl", "rules_img_dependencies")

    rules_img_dependencies()

Declare your own version of a dependency before the call to use it instead.
With Bzlmod, `bazel_dep(name = "rules_img", ...)` does this.
"""

load("//img/private:workspace.bzl", _rules_img_dependencies = "rules_img_dependencies")

rules_img_dependencies = _rules_img_dependencies
