"""Public API: the pull repository rule."""

load("//extensions:repositories.bzl", _pull = "pull")

pull = _pull
