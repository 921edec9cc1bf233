"""Loading images into a local daemon (containerd, Docker, podman) with
`bazel run`, or writing a docker-save tarball.

    load("@rules_img//img:load.bzl", "image_load")

`tag` is a Go template over `build_settings` and, when stamping, the
workspace status. `tags` is Bazel's attribute, as for every rule.
"""

load("//img/private:load.bzl", _image_load = "image_load")

image_load = _image_load
