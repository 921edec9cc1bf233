"""Pushing images to a registry with `bazel run`.

    load("@rules_img//img:push.bzl", "image_push")

`image_push` is a macro over the `image_push_rule` rule: its `tags` are the
image's tags (Bazel's own target tags go in `target_tags`). Every attribute
of `image_push_rule` can be given to `image_push`.
"""

load("//img/private:push.bzl", _image_push = "image_push", _image_push_rule = "image_push_rule")

image_push = _image_push
image_push_rule = _image_push_rule
