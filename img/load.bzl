"""Public API: loading images into a local daemon."""

load("//img/private:load.bzl", _image_load = "image_load")

image_load = _image_load
