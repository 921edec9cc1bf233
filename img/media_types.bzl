"""The OCI media types of layer blobs, for the `layers` attribute of the
rules in `@rules_img//img:convert.bzl`: `UNCOMPRESSED_LAYER` (a tar),
`GZIP_LAYER` (gzip, eStargz too) and `ZSTD_LAYER` (zstd, zstd:chunked too).

    load("@rules_img//img:media_types.bzl", "GZIP_LAYER", "UNCOMPRESSED_LAYER", "ZSTD_LAYER")
"""

load("//img/private:compression.bzl", "MEDIA_TYPES")

UNCOMPRESSED_LAYER = MEDIA_TYPES["none"]
GZIP_LAYER = MEDIA_TYPES["gzip"]
ZSTD_LAYER = MEDIA_TYPES["zstd"]
