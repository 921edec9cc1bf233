"""Public API for images."""

load("//img/private:index.bzl", _image_index = "image_index")
load("//img/private:manifest.bzl", _image_manifest = "image_manifest")
load("//img/private:providers.bzl", _ImageIndexInfo = "ImageIndexInfo", _ImageManifestInfo = "ImageManifestInfo")

image_index = _image_index
image_manifest = _image_manifest
ImageIndexInfo = _ImageIndexInfo
ImageManifestInfo = _ImageManifestInfo
