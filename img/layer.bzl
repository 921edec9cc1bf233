"""Layers: `image_layer` (files, executables with their runfiles, symlinks),
`layer_from_tar` (an existing tar archive), `file_metadata` (tar attributes
of entries) and the `LayerInfo` provider.

    load("@rules_img//img:layer.bzl", "file_metadata", "image_layer", "layer_from_tar")

Every layer is written by one action of the img tool. Its metadata (digest,
diff_id, size, media type) travels in `LayerInfo`, so images are assembled
without reading layer bytes.
"""

load("//img/private:file_metadata.bzl", _file_metadata = "file_metadata")
load("//img/private:layer.bzl", _image_layer = "image_layer")
load("//img/private:layer_from_tar.bzl", _layer_from_tar = "layer_from_tar")
load("//img/private:providers.bzl", _LayerInfo = "LayerInfo")

image_layer = _image_layer
layer_from_tar = _layer_from_tar
file_metadata = _file_metadata
LayerInfo = _LayerInfo
