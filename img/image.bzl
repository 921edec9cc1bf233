"""Images: `image_manifest` (one platform) and `image_index` (several
platforms), with their providers.

    load("@rules_img//img:image.bzl", "image_index", "image_manifest")

Building an image reads the metadata of its layers, never their bytes. The
`oci_layout` output group of either rule writes an OCI image layout
directory with every blob, for skopeo, crane, umoci or `ctr images import`.
"""

load("//img/private:index.bzl", _image_index = "image_index")
load("//img/private:manifest.bzl", _image_manifest = "image_manifest")
load("//img/private:providers.bzl", _ImageIndexInfo = "ImageIndexInfo", _ImageManifestInfo = "ImageManifestInfo")

image_index = _image_index
image_manifest = _image_manifest
ImageIndexInfo = _ImageIndexInfo
ImageManifestInfo = _ImageManifestInfo
