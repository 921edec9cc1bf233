"""Public providers, for rules that produce or consume layers and images."""

load("//img/private:providers.bzl", _ImageIndexInfo = "ImageIndexInfo", _ImageManifestInfo = "ImageManifestInfo", _LayerInfo = "LayerInfo")

ImageIndexInfo = _ImageIndexInfo
ImageManifestInfo = _ImageManifestInfo
LayerInfo = _LayerInfo
