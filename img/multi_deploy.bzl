"""Running several pushes and loads as one `bazel run`.

    load("@rules_img//img:multi_deploy.bzl", "multi_deploy")
"""

load("//img/private:multi_deploy.bzl", _multi_deploy = "multi_deploy")

multi_deploy = _multi_deploy
