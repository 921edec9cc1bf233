"""Rules for base images pulled from registries.

The repository rules (extensions/) download the manifests and configs, and
write the BUILD files that use these rules. How layer bytes reach the build
is the pull's `layer_handling`: not at all (shallow: push and load read
them from the source registry at run time), files of the repository
(eager), or remote_blob actions that download them when an output needs
them (lazy).
"""

load(":providers.bzl", "ImageIndexInfo", "ImageManifestInfo", "LayerInfo", "PullInfo")

_TOOLCHAIN = "//img:toolchain_type"

def _remote_blob_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + "_" + ctx.attr.digest.replace(":", "_"))
    args = ctx.actions.args()
    args.add("fetch-blob")
    args.add_all(ctx.attr.sources, before_each = "--source")
    args.add("--digest", ctx.attr.digest)
    if ctx.attr.size >= 0:
        args.add("--size", str(ctx.attr.size))
    args.add("--out", out)
    ctx.actions.run(
        executable = ctx.toolchains[_TOOLCHAIN].imgtool.executable,
        arguments = [args],
        outputs = [out],
        mnemonic = "ImageBlobDownload",
        progress_message = "Downloading %s" % ctx.attr.digest,
        # The keychain reads Docker's config and credential helpers.
        execution_requirements = {"requires-network": "1"},
        toolchain = _TOOLCHAIN,
    )
    return [DefaultInfo(files = depset([out]))]

remote_blob = rule(
    implementation = _remote_blob_impl,
    doc = "A blob downloaded from a registry, verified against its digest.",
    attrs = {
        "digest": attr.string(mandatory = True, doc = "sha256 digest of the blob."),
        "size": attr.int(default = -1, doc = "Size of the blob as its descriptor declares it: no more is downloaded. -1: not known."),
        "sources": attr.string_list(mandatory = True, doc = "registry/repository places to try, in order."),
    },
    toolchains = [_TOOLCHAIN],
)

def _pull_info(ctx):
    return PullInfo(
        registries = ctx.attr.registries,
        repository = ctx.attr.repository,
        tag = ctx.attr.tag,
        digest = ctx.attr.digest,
    )

def _pulled_image_impl(ctx):
    count = len(ctx.files.layers)
    if len(ctx.attr.layer_media_types) != count or len(ctx.attr.layer_digests) != count:
        fail("%s: layers, layer_digests and layer_media_types differ in length" % ctx.label)
    blobs = ctx.files.blobs
    if blobs and len(blobs) != count:
        fail("%s: %d blobs for %d layers: give one blob per layer, or none" % (ctx.label, len(blobs), count))
    layers = [
        LayerInfo(
            blob = blobs[i] if blobs else None,
            metadata = ctx.files.layers[i],
            media_type = ctx.attr.layer_media_types[i],
            estargz = False,
            shallow = True,
        )
        for i in range(count)
    ]
    return [
        DefaultInfo(files = depset([ctx.file.manifest, ctx.file.config, ctx.file.descriptor])),
        ImageManifestInfo(
            base_image = None,
            descriptor = ctx.file.descriptor,
            manifest = ctx.file.manifest,
            config = ctx.file.config,
            structured_config = {},
            architecture = ctx.attr.architecture,
            os = ctx.attr.os,
            platform = dict(ctx.attr.platform),
            layers = layers,
            missing_blobs = [] if blobs else [d.removeprefix("sha256:") for d in ctx.attr.layer_digests],
        ),
        _pull_info(ctx),
    ]

pulled_image = rule(
    implementation = _pulled_image_impl,
    doc = "One platform of a pulled image: its manifest, config and layers.",
    attrs = {
        "manifest": attr.label(allow_single_file = True, mandatory = True, doc = "The manifest, verified by digest."),
        "config": attr.label(allow_single_file = True, mandatory = True, doc = "The config, verified by digest."),
        "descriptor": attr.label(allow_single_file = True, mandatory = True, doc = "The manifest's descriptor, with its platform as the index gives it."),
        "layers": attr.label_list(allow_files = True, doc = "Layer metadata files, in manifest order."),
        "layer_digests": attr.string_list(doc = "Digest of each layer, in manifest order."),
        "layer_media_types": attr.string_list(doc = "Media type of each layer, in manifest order."),
        "blobs": attr.label_list(
            allow_files = True,
            doc = "The blob of each layer, in manifest order: files of the repository (eager) or " +
                  "remote_blob targets (lazy). None when the bytes are not part of the build (shallow).",
        ),
        "os": attr.string(mandatory = True, doc = "OCI os, as the index's descriptor of the manifest says."),
        "architecture": attr.string(mandatory = True, doc = "OCI architecture, as the index's descriptor says."),
        "platform": attr.string_dict(doc = "The rest of the OCI platform: variant, os.version, os.features, features."),
        "registries": attr.string_list(mandatory = True, doc = "Registries the image is read from, in order."),
        "repository": attr.string(mandatory = True, doc = "Repository in those registries."),
        "tag": attr.string(doc = "Tag of the pull, or empty."),
        "digest": attr.string(mandatory = True, doc = "Digest of this manifest."),
    },
)

def _pulled_index_impl(ctx):
    return [
        DefaultInfo(files = depset([ctx.file.index, ctx.file.descriptor])),
        ImageIndexInfo(
            index = ctx.file.index,
            manifests = [m[ImageManifestInfo] for m in ctx.attr.manifests],
            descriptor = ctx.file.descriptor,
        ),
        _pull_info(ctx),
    ]

pulled_index = rule(
    implementation = _pulled_index_impl,
    doc = "A pulled multi-platform image: the index and its pulled platforms.",
    attrs = {
        "index": attr.label(
            allow_single_file = True,
            mandatory = True,
            doc = "The index: the source's bytes when every manifest it lists was pulled, else a new " +
                  "index that lists the pulled ones (same media type, order and annotations).",
        ),
        "descriptor": attr.label(allow_single_file = True, mandatory = True, doc = "The index's descriptor."),
        "manifests": attr.label_list(
            mandatory = True,
            providers = [ImageManifestInfo],
            doc = "pulled_image targets, in the order of the index.",
        ),
        "registries": attr.string_list(mandatory = True, doc = "Registries the image is read from, in order."),
        "repository": attr.string(mandatory = True, doc = "Repository in those registries."),
        "tag": attr.string(doc = "Tag of the pull, or empty."),
        "digest": attr.string(mandatory = True, doc = "Digest of the source index."),
    },
)

def _pull_error_impl(ctx):
    fail(ctx.attr.message)

pull_error = rule(
    implementation = _pull_error_impl,
    doc = "Fails at analysis with a message: a pull whose lockfile entry is missing or stale.",
    attrs = {"message": attr.string(mandatory = True)},
)

def _images_update_impl(ctx):
    tool = ctx.toolchains[_TOOLCHAIN].imgtool.executable
    launcher = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.expand_template(
        template = ctx.file._launcher,
        output = launcher,
        substitutions = {
            "{IMG}": tool.short_path,
            "{PULLS}": ctx.file.pulls.short_path,
            "{LOCKFILE}": ctx.attr.lockfile,
        },
        is_executable = True,
    )
    runfiles = ctx.runfiles(files = [tool, ctx.file.pulls])
    return [DefaultInfo(executable = launcher, runfiles = runfiles)]

images_update = rule(
    implementation = _images_update_impl,
    doc = "bazel run target that refreshes the images lockfile (--check to only check it).",
    executable = True,
    attrs = {
        "pulls": attr.label(allow_single_file = True, mandatory = True),
        "lockfile": attr.string(mandatory = True, doc = "The lockfile's path in the root module."),
        "_launcher": attr.label(allow_single_file = True, default = "//img/private:images_update.sh.tpl"),
    },
    toolchains = [_TOOLCHAIN],
)
