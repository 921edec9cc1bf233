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
        "shallow": "bool, optional (False when unset): True for a layer of a shallow-pulled base " +
                   "image. Its blob is downloaded only by actions that need the bytes, and deploy " +
                   "rules read it from the registries named in its metadata instead.",
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

ImageIndexInfo = provider(
    doc = "A multi-platform image: an OCI image index and the manifests it lists.",
    fields = {
        "index": "File: the image index JSON.",
        "descriptor": "File: the index's OCI descriptor JSON (mediaType, digest, size).",
        "manifests": "list of ImageManifestInfo: the images of the index, in the index's order, " +
                     "one per platform.",
    },
)

DeployInfo = provider(
    doc = "One deploy operation (a push or a load) that multi_deploy can run with others.",
    fields = {
        "kind": "string: the img subcommand that runs it, \"push\" or \"load\".",
        "spec": "File: the deploy spec (the image's files as runfiles paths).",
        "config": "File: the operation's settings (registry, repository, tags; or daemon, tags).",
        "runfiles": "runfiles: everything the operation reads at run time.",
        "strategy": "string, optional (pushes only): the push strategy the target resolved, " +
                    "eager, lazy, cas_registry or bes.",
        "eager_runfiles": "runfiles, optional (pushes only): the runfiles with the layer blobs, " +
                          "for a multi_deploy that pushes eagerly.",
        "lazy_runfiles": "runfiles, optional (pushes only): the runfiles without the layer blobs, " +
                         "for a multi_deploy that streams them from the remote cache.",
    },
)
