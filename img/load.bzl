"""Loading images into a local daemon (containerd, Docker, podman) with
`bazel run`, or writing a docker-save tarball.

    load("@rules_img//img:load.bzl", "image_load")

`image_load` is a macro over the `image_load_rule` rule: its `tags` are the
image's names (Bazel's own target tags go in `target_tags`). Every
attribute of `image_load_rule` can be given to `image_load`.
"""

load("//img/private:load.bzl", _image_load = "image_load", _image_load_rule = "image_load_rule")

image_load = _image_load
image_load_rule = _image_load_rule
