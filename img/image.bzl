"""Public API for images."""

load("//img/private:manifest.bzl", _image_manifest = "image_manifest")
load("//img/private:providers.bzl", _ImageManifestInfo = "ImageManifestInfo")

image_manifest = _image_manifest
ImageManifestInfo = _ImageManifestInfo
