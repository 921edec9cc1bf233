"""Pushing images to a registry with `bazel run`.

    load("@rules_img//img:push.bzl", "image_push")

`registry`, `repository`, `tag` and `tag_list` are Go templates over
`build_settings` and, when stamping, the workspace status. `tags` is
Bazel's attribute, as for every rule.
"""

load("//img/private:push.bzl", _image_push = "image_push")

image_push = _image_push
