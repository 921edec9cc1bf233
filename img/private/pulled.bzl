"""Rules for base images pulled from registries: shallow, metadata only.

Their manifests and configs are downloaded by repository rules; layer
blobs are downloaded by remote_blob actions, so only when a build needs
their bytes (an OCI layout, a load, a push to another registry).
"""

load(":providers.bzl", "ImageManifestInfo", "LayerInfo")

_TOOLCHAIN = "//toolchains:toolchain_type"

def _remote_blob_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + "_" + ctx.attr.digest.replace(":", "_"))
    args = ctx.actions.args()
    args.add("fetch-blob")
    args.add_all(ctx.attr.sources, before_each = "--source")
    args.add("--digest", ctx.attr.digest)
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
        "sources": attr.string_list(mandatory = True, doc = "registry/repository places to try, in order."),
    },
    toolchains = [_TOOLCHAIN],
)

def _pulled_image_impl(ctx):
    if len(ctx.files.layers) != len(ctx.files.blobs) or len(ctx.files.layers) != len(ctx.attr.layer_media_types):
        fail("%s: layers, blobs and layer_media_types differ in length" % ctx.label)
    layers = [
        LayerInfo(blob = b, metadata = m, media_type = t, shallow = True)
        for m, b, t in zip(ctx.files.layers, ctx.files.blobs, ctx.attr.layer_media_types)
    ]
    return [
        DefaultInfo(files = depset([ctx.file.manifest, ctx.file.config, ctx.file.descriptor])),
        ImageManifestInfo(
            manifest = ctx.file.manifest,
            config = ctx.file.config,
            descriptor = ctx.file.descriptor,
            layers = layers,
            platform = struct(os = ctx.attr.os, architecture = ctx.attr.architecture, variant = ctx.attr.variant),
        ),
    ]

pulled_image = rule(
    implementation = _pulled_image_impl,
    doc = "One platform of a pulled image: its manifest, config and layers.",
    attrs = {
        "manifest": attr.label(allow_single_file = True, mandatory = True, doc = "The manifest, verified by digest."),
        "config": attr.label(allow_single_file = True, mandatory = True, doc = "The config, verified by digest."),
        "descriptor": attr.label(allow_single_file = True, mandatory = True, doc = "The manifest's descriptor."),
        "layers": attr.label_list(allow_files = True, doc = "Layer metadata files, in manifest order."),
        "blobs": attr.label_list(doc = "remote_blob targets, in manifest order."),
        "layer_media_types": attr.string_list(doc = "Media type of each layer."),
        "os": attr.string(mandatory = True, doc = "OCI os."),
        "architecture": attr.string(mandatory = True, doc = "OCI architecture."),
        "variant": attr.string(doc = "OCI variant."),
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
