"""The layer_from_tar rule: an existing tar archive as a layer."""

load(":compression.bzl", "MEDIA_TYPES", "compression_args", "compression_attrs", "resolve_compression")
load(":providers.bzl", "LayerInfo")
load(":settings.bzl", "SettingValueInfo")

_TOOLCHAIN = "//toolchains:toolchain_type"

# File name ending → the compression it says.
_SOURCE_COMPRESSION = [
    (".tar", "none"),
    (".tar.gz", "gzip"),
    (".tgz", "gzip"),
    (".tar.zst", "zstd"),
    (".tzst", "zstd"),
]

def _source_compression(ctx, src):
    for ending, algorithm in _SOURCE_COMPRESSION:
        if src.basename.endswith(ending):
            return algorithm
    fail("%s: src %s is not a .tar, .tar.gz, .tgz, .tar.zst or .tzst file: give the archive a name that says its compression" % (
        ctx.label,
        src.short_path,
    ))

def _layer_from_tar_impl(ctx):
    src = ctx.file.src
    source = _source_compression(ctx, src)
    estargz = ctx.attr.estargz or ctx.attr._estargz[SettingValueInfo].value
    rewrite = (
        (ctx.attr.compress and ctx.attr.compress != source) or
        ctx.attr.compression_level != -1 or
        estargz == "enabled" or
        ctx.attr.deduplicate
    )
    media_type = MEDIA_TYPES[source]

    metadata = ctx.actions.declare_file(ctx.label.name + ".layer.json")
    args = ctx.actions.args()
    args.add("tar-layer")
    args.add("--label", str(ctx.label))
    args.add("--src", src)
    args.add("--src_compression", source)
    if ctx.attr.allow_devices:
        args.add("--allow_devices")
    args.add("--meta", metadata)
    outputs = [metadata]
    blob = src
    if rewrite:
        compression = resolve_compression(ctx)
        media_type = compression.media_type
        blob = ctx.actions.declare_file(ctx.label.name + compression.extension)
        args.add("--blob", blob)
        compression_args(args, compression)
        if ctx.attr.deduplicate:
            args.add("--deduplicate")
        outputs.append(blob)
    ctx.actions.run(
        executable = ctx.toolchains[_TOOLCHAIN].imgtool.executable,
        arguments = [args],
        inputs = [src],
        outputs = outputs,
        mnemonic = "ImageLayerFromTar",
        progress_message = ("Rewriting %s as layer %%{label}" if rewrite else "Checking %s as layer %%{label}") % src.short_path,
        toolchain = _TOOLCHAIN,
    )
    return [
        DefaultInfo(files = depset([blob, metadata])),
        LayerInfo(blob = blob, metadata = metadata, media_type = media_type),
    ]

layer_from_tar = rule(
    implementation = _layer_from_tar_impl,
    doc = """A layer from an existing tar archive: .tar, .tar.gz (.tgz) or .tar.zst (.tzst).

Every entry is checked first. The layer is refused, with the entry named,
for a name with `..`, an entry below a symlink of the same tar, a hardlink
to a path no earlier entry holds, a symlink whose target leaves the image
root once unpacked, or a device file unless `allow_devices` is set.

The archive is the layer blob byte for byte, read once for its digest and
diff_id, unless a change is asked for: `compress` naming another
compression, `compression_level`, eStargz (the attribute or
--@rules_img//img/settings:estargz), or `deduplicate`. Then the layer is
written anew with the compression settings of image_layer, and
`create_parent_directories` adds the parent directories the archive lacks.""",
    attrs = dict(
        src = attr.label(
            mandatory = True,
            allow_single_file = [".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst"],
            doc = "The tar archive; its name says its compression.",
        ),
        deduplicate = attr.bool(doc = "Store files of equal content and attributes once, as hardlinks to the first."),
        allow_devices = attr.bool(doc = "Accept character and block device entries."),
        **compression_attrs(
            "gzip, zstd or none: a compression other than the archive's rewrites it. Empty keeps the " +
            "archive's compression, or uses --@rules_img//img/settings:compress when the layer is rewritten.",
        )
    ),
    toolchains = [_TOOLCHAIN],
)
