"""Providers that rules_img rules pass to each other.

They carry small metadata files (digests, sizes, media types), never the
meaning of the bytes: a manifest action reads metadata only.
"""

LayerInfo = provider(
    doc = "One layer of an image.",
    fields = {
        "blob": "File or None: the layer blob (a compressed tar). None when the bytes " +
                "are not part of the build, as for a layer of a shallow-pulled base image.",
        "metadata": "File: JSON with the layer's mediaType, digest, size, diff_id and annotations.",
        "media_type": "string: the blob's media type, known at analysis time.",
    },
)

ImageManifestInfo = provider(
    doc = "A single-platform image: its manifest, config and layers.",
    fields = {
        "manifest": "File: the image manifest JSON.",
        "config": "File: the image config JSON.",
        "descriptor": "File: the manifest's OCI descriptor JSON (mediaType, digest, size, platform).",
        "layers": "list of LayerInfo: every layer of the image, the base image's first, in manifest order.",
        "platform": "struct(os, architecture, variant): the OCI platform of the image.",
    },
)
