"""Images from OCI image layouts that other tools wrote (rules_oci,
`crane pull --format=oci`, `skopeo copy ... oci:DIR`), to move one image at
a time: `image_manifest_from_oci_layout` takes one platform,
`image_index_from_oci_layout` several.

    load("@rules_img//img:convert.bzl", "image_index_from_oci_layout", "image_manifest_from_oci_layout")
    load("@rules_img//img:media_types.bzl", "GZIP_LAYER")
"""

load("//img/private:index_from_oci_layout.bzl", _image_index_from_oci_layout = "image_index_from_oci_layout")
load("//img/private:manifest_from_oci_layout.bzl", _image_manifest_from_oci_layout = "image_manifest_from_oci_layout")

image_index_from_oci_layout = _image_index_from_oci_layout
image_manifest_from_oci_layout = _image_manifest_from_oci_layout
