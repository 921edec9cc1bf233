"""The layer_from_tar rule: an existing tar archive as a layer."""

load(":compression.bzl", "MEDIA_TYPES", "annotation_args", "compression_args", "compression_attrs", "resolve_compression")
load(":providers.bzl", "LayerInfo")
load(":settings.bzl", "SettingValueInfo")
load(":worker.bzl", "WORKER_REQUIREMENTS", "worker_arguments")

_TOOLCHAIN = "//img:toolchain_type"

# File name ending → the compression it says.
_SOURCE_COMPRESSION = [
    (".tar", "none"),
    (".tar.gz", "gzip"),
    (".tgz", "gzip"),
    (".tar.zst", "zstd"),
    (".tzst", "zstd"),
]

TAR_EXTENSIONS = [ending for ending, _ in _SOURCE_COMPRESSION]

def _source_compression(ctx, src, attribute):
    for ending, algorithm in _SOURCE_COMPRESSION:
        if src.basename.endswith(ending):
            return algorithm
    fail("%s: %s %s is not a .tar, .tar.gz, .tgz, .tar.zst or .tzst file: give the archive a name that says its compression" % (
        ctx.label,
        attribute,
        src.short_path,
    ))

def _tar_layer(ctx, src, name, attribute, annotations = {}, allow_devices = False, compression = None, optimize = False):
    """Declares the action that checks a tar archive and describes it as a layer.

    Args:
      ctx: the rule context (with the img toolchain).
      src: the archive File.
      name: a name for the outputs, unique in the target.
      attribute: the attribute that gave src, for messages.
      annotations: the layer's annotations.
      allow_devices: accept device entries.
      compression: a resolve_compression() result to write the layer anew
        with, or None to keep the archive as the blob.
      optimize: when writing anew, store equal files once (hardlinks).

    Returns:
      LayerInfo.
    """
    source = _source_compression(ctx, src, attribute)
    metadata = ctx.actions.declare_file(name + ".layer.json")
    command = worker_arguments(ctx, "tar-layer")
    args = command.flags
    args.add(str(ctx.label), format = "--label=%s")
    args.add(src, format = "--src=%s")
    args.add(source, format = "--src_compression=%s")
    if allow_devices:
        args.add("--allow_devices")
    args.add(metadata, format = "--meta=%s")
    annotation_args(args, annotations)
    outputs = [metadata]
    blob = src
    if compression:
        blob = ctx.actions.declare_file(name + compression.extension)
        args.add(blob, format = "--blob=%s")
        compression_args(args, compression)
        if optimize:
            args.add("--deduplicate")
        outputs.append(blob)
    ctx.actions.run(
        executable = ctx.toolchains[_TOOLCHAIN].imgtool.executable,
        arguments = command.list,
        inputs = [src],
        outputs = outputs,
        mnemonic = "ImageLayerFromTar",
        progress_message = ("Rewriting %s as a layer of %%{label}" if compression else "Checking %s as a layer of %%{label}") % src.short_path,
        execution_requirements = WORKER_REQUIREMENTS,
        toolchain = _TOOLCHAIN,
    )
    return LayerInfo(
        blob = blob,
        metadata = metadata,
        media_type = compression.media_type if compression else MEDIA_TYPES[source],
        estargz = bool(compression and compression.estargz),
    )

def tar_file_layer(ctx, src, name, attribute):
    """A tar archive as it is, as a layer (image_manifest's plain tar `layers`).

    Args:
      ctx: the rule context (with the img toolchain).
      src: the archive File.
      name: a name for the metadata file, unique in the target.
      attribute: the attribute that gave src, for messages.

    Returns:
      LayerInfo whose blob is src.
    """
    return _tar_layer(ctx, src, name, attribute)

def _layer_from_tar_impl(ctx):
    src = ctx.file.src
    source = _source_compression(ctx, src, "src")
    estargz = ctx.attr.estargz
    if estargz == "auto":
        estargz = ctx.attr._estargz[SettingValueInfo].value
    optimize = ctx.attr.optimize or ctx.attr.deduplicate
    rewrite = (
        (ctx.attr.compress != "auto" and ctx.attr.compress != source) or
        ctx.attr.compression_level != -1 or
        estargz == "enabled" or
        optimize
    )
    layer = _tar_layer(
        ctx,
        src,
        ctx.label.name,
        "src",
        annotations = ctx.attr.annotations,
        allow_devices = ctx.attr.allow_devices,
        compression = resolve_compression(ctx) if rewrite else None,
        optimize = optimize,
    )
    return [DefaultInfo(files = depset([layer.blob, layer.metadata])), layer]

layer_from_tar = rule(
    implementation = _layer_from_tar_impl,
    doc = """A layer from an existing tar archive: .tar, .tar.gz (.tgz) or .tar.zst (.tzst).

Every entry is checked first. The layer is refused, with the entry named,
for a name with `..`, an entry below a symlink of the same tar, a hardlink
to a path no earlier entry holds, a symlink whose target leaves the image
root once unpacked, or a device file unless `allow_devices` is set.

The archive is the layer blob byte for byte, read once for its digest and
diff_id, unless a change is asked for: `compress` naming another
compression, `compression_level`, a seekable layer (`estargz`, the
attribute or --@rules_img//img/settings:estargz), or `optimize`. Then the layer is
written anew with the compression settings of image_layer, and
`create_parent_directories` adds the parent directories the archive lacks.""",
    attrs = dict(
        src = attr.label(
            mandatory = True,
            allow_single_file = [".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst"],
            doc = "The tar archive; its name says its compression.",
        ),
        optimize = attr.bool(
            doc = "Rewrite the archive so that files of equal content and attributes are stored once, as " +
                  "hardlinks to the first: a smaller layer, for one more action.",
        ),
        deduplicate = attr.bool(doc = "The same as `optimize` (this module's first name for it)."),
        allow_devices = attr.bool(doc = "Accept character and block device entries."),
        **compression_attrs(
            "gzip, zstd or none: a compression other than the archive's rewrites it. `auto` keeps the " +
            "archive's compression, or uses --@rules_img//img/settings:compress when the layer is rewritten.",
        )
    ),
    toolchains = [_TOOLCHAIN],
)
