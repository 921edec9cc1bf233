"""Providers, for rules of your own that produce or consume layers and images.

    load("@rules_img//img:providers.bzl", "ImageIndexInfo", "ImageManifestInfo", "LayerInfo")

A rule that returns `LayerInfo` can be a layer of `image_manifest`; one
that returns `ImageManifestInfo` can be a `base`, a manifest of
`image_index`, or the image of `image_push` and `image_load`.
"""

load("//img/private:providers.bzl", _ImageIndexInfo = "ImageIndexInfo", _ImageManifestInfo = "ImageManifestInfo", _LayerInfo = "LayerInfo")

ImageIndexInfo = _ImageIndexInfo
ImageManifestInfo = _ImageManifestInfo
LayerInfo = _LayerInfo
