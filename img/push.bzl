"""Public API: pushing images."""

load("//img/private:push.bzl", _image_push = "image_push")

image_push = _image_push
