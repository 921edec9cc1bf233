"""The `pull` repository rule: one base image, without a lockfile.

    pull = use_repo_rule("@rules_img//img:pull.bzl", "pull")
    pull(name = "ubuntu", registry = "index.docker.io", repository = "library/ubuntu",
         digest = "sha256:...", platforms = ["linux/amd64"])

`@ubuntu` is the image: an index of the platforms taken when the source is
an index, else the single image. Without `digest`, the tag is resolved each
time the repository is fetched, with a warning. For several images and
tags that are resolved for you into a lockfile, prefer the `images` module
extension (`@rules_img//img:extensions.bzl`).
"""

load("//extensions:repositories.bzl", _pull = "pull")

pull = _pull
