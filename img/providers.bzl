"""Providers, for rules of your own that produce or consume layers and images.

    load("@rules_img//img:providers.bzl", "ImageIndexInfo", "ImageManifestInfo", "LayerInfo", "PullInfo")

A rule that returns `LayerInfo` can be a layer of `image_manifest`; one
that returns `ImageManifestInfo` or `ImageIndexInfo` can be a `base`, and
the image of `image_push` and `image_load`; `ImageManifestInfo` is also a
manifest of `image_index`. Pulled base images also return `PullInfo`.
"""

load(
    "//img/private:providers.bzl",
    _AttestationInfo = "AttestationInfo",
    _ImageIndexInfo = "ImageIndexInfo",
    _ImageManifestInfo = "ImageManifestInfo",
    _LayerInfo = "LayerInfo",
    _PullInfo = "PullInfo",
)

AttestationInfo = _AttestationInfo
ImageIndexInfo = _ImageIndexInfo
ImageManifestInfo = _ImageManifestInfo
LayerInfo = _LayerInfo
PullInfo = _PullInfo
