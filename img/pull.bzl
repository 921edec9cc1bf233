"""The `pull` repository rule: one base image pinned by digest, without a
lockfile.

    pull = use_repo_rule("@rules_img//img:pull.bzl", "pull")
    pull(name = "ubuntu", registry = "index.docker.io", repository = "library/ubuntu",
         digest = "sha256:...", platforms = ["linux/amd64"])

For several images and tags that are resolved for you, prefer the `images`
module extension (`@rules_img//img:extensions.bzl`).
"""

load("//extensions:repositories.bzl", _pull = "pull")

pull = _pull
