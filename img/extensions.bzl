"""Public API: the images module extension."""

load("//extensions:images.bzl", _images = "images")

images = _images
