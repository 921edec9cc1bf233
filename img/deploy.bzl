"""The first home of multi_deploy; load it from `@rules_img//img:multi_deploy.bzl`.

    load("@rules_img//img:multi_deploy.bzl", "multi_deploy")
"""

load("//img/private:multi_deploy.bzl", _multi_deploy = "multi_deploy")

multi_deploy = _multi_deploy
