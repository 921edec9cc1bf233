"""Providers that rules_img rules pass to each other.

They carry small metadata files (digests, sizes, media types), never the
meaning of the bytes: a manifest action reads metadata only. The public
names and fields are those of rules_img 0.2.7, so that rules written for it
keep working; fields marked "this module" are additions.
"""

LayerInfo = provider(
    doc = "One layer of an image.",
    fields = {
        "blob": "File or None: the layer blob (a tar, compressed or not). None when the bytes " +
                "are not part of the build, as for a layer of a base image pulled with " +
                "`layer_handling = \"shallow\"`.",
        "metadata": "File: JSON with the layer's mediaType, digest, size, diff_id and annotations.",
        "media_type": "string: the blob's media type, known at analysis time.",
        "estargz": "bool: the blob is seekable (eStargz, or zstd:chunked for zstd), with a table " +
                   "of contents for lazy pulling.",
        "shallow": "bool, optional (False when unset; this module): True for a layer of a pulled " +
                   "base image. Deploy rules read its bytes from the registries named in its " +
                   "metadata instead of from `blob`.",
    },
)

ImageManifestInfo = provider(
    doc = "A single-platform image: its manifest, config and layers.",
    fields = {
        "base_image": "ImageManifestInfo, ImageIndexInfo or None: the `base` the image was built on, " +
                      "as given (an index stays an index).",
        "descriptor": "File: the manifest's OCI descriptor JSON (mediaType, digest, size, platform).",
        "manifest": "File: the image manifest JSON.",
        "config": "File: the image config JSON.",
        "structured_config": "dict: the config values known at analysis time (entrypoint, cmd, env, " +
                             "user, working_dir, labels, exposed_ports, volumes, stop_signal) as the " +
                             "rule's attributes give them, before templates are expanded; empty for " +
                             "pulled images.",
        "architecture": "string: the OCI architecture, such as `amd64` or `arm64`.",
        "os": "string: the OCI os, such as `linux`.",
        "platform": "dict of string: the rest of the OCI platform: `variant` (such as `v8`) when " +
                    "there is one, and `os.version`, `os.features`, `features` when set.",
        "layers": "list of LayerInfo: every layer of the image, the base image's first, in manifest order.",
        "missing_blobs": "list of string: hex sha256 digests of the layers whose blob is not part of " +
                         "the build (layers of shallow-pulled bases).",
    },
)

ImageIndexInfo = provider(
    doc = "A multi-platform image: an OCI image index and the manifests it lists.",
    fields = {
        "index": "File: the image index JSON.",
        "manifests": "list of ImageManifestInfo: the images of the index, in the index's order.",
        "descriptor": "File, optional (this module): the index's OCI descriptor JSON (mediaType, " +
                      "digest, size). Rules of your own may leave it unset.",
    },
)

PullInfo = provider(
    doc = "Where a pulled base image comes from.",
    fields = {
        "registries": "list of string: the registries to read it from, in order (mirrors first).",
        "repository": "string: the repository in those registries, such as `library/ubuntu`.",
        "tag": "string: the tag it was pulled by, or empty.",
        "digest": "string: the digest of the pulled manifest or index, `sha256:...`.",
    },
)

AttestationInfo = provider(
    doc = "Documents about images (an SBOM, a provenance) that image_push attaches to them " +
          "(this module).",
    fields = {
        "predicate_type": "string: the in-toto predicate type of the documents, such as " +
                          "`https://spdx.dev/Document` or `https://slsa.dev/provenance/v1`.",
        "media_type": "string: the media type of a document, which is also the artifactType of " +
                      "the OCI artifact that carries it, such as `application/spdx+json`.",
        "documents": "list of struct(subject, document): per image, the File with the descriptor " +
                     "of the manifest described, and the File of the document.",
        "statement": "bool, optional (False when unset): the documents are in-toto statements about " +
                     "their images already; else each is the predicate of one.",
    },
)

DeployInfo = provider(
    doc = "One deploy operation (a push or a load) that multi_deploy can run with others.",
    fields = {
        "kind": "string: the img subcommand that runs it, \"push\" or \"load\".",
        "spec": "File: the deploy spec (the image's files as runfiles paths).",
        "config": "File: the operation's settings (registry, repository, tags; or daemon, tags).",
        "runfiles": "runfiles: everything the operation reads at run time.",
        "strategy": "string: the strategy the target resolved: eager, lazy, cas_registry or bes " +
                    "for a push; eager or lazy for a load.",
        "eager_runfiles": "runfiles: the runfiles with the layer blobs, for a multi_deploy that " +
                          "forces the eager strategy.",
        "lazy_runfiles": "runfiles: the runfiles without the layer blobs, for a multi_deploy that " +
                         "forces a strategy that streams them from the remote cache.",
    },
)

def platform_string(info):
    """The OCI platform of an ImageManifestInfo as os/architecture[/variant].

    Args:
      info: an ImageManifestInfo.

    Returns:
      A string such as "linux/arm64/v8".
    """
    variant = info.platform.get("variant", "") if info.platform else ""
    return "/".join([x for x in [info.os, info.architecture, variant] if x])

def user_label(label):
    """The label as users write it: //pkg:name in the main repository.

    Args:
      label: a Label.

    Returns:
      string.
    """
    s = str(label)
    for prefix in ["@@//", "@//"]:
        if s.startswith(prefix):
            return s[len(prefix) - 2:]
    return s
