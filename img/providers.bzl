"""Public providers, for rules that produce or consume layers and images."""

load("//img/private:providers.bzl", _ImageManifestInfo = "ImageManifestInfo", _LayerInfo = "LayerInfo")

ImageManifestInfo = _ImageManifestInfo
LayerInfo = _LayerInfo
