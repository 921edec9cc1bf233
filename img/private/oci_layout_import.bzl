"""What image_manifest_from_oci_layout and image_index_from_oci_layout share:
finding the layout among `src`'s files, and the action that takes one image
out of it.

An OCI layout is often a tree artifact, whose files Bazel knows only when
it runs the action that makes it; the rules' `layers` attribute gives the
layer count at analysis, so each layer can be a File of its own.
"""

load(":compression.bzl", "EXTENSIONS", "MEDIA_TYPES")
load(":providers.bzl", "ImageManifestInfo", "LayerInfo")

TOOLCHAIN = "//img:toolchain_type"

# Media type → the file extension of its blob.
_EXTENSIONS = {MEDIA_TYPES[k]: EXTENSIONS[k] for k in MEDIA_TYPES}

def layers_doc(scope):
    """The documentation of a rule's `layers` attribute.

    Args:
      scope: which images of the layout the list is for.

    Returns:
      string.
    """
    return ("The media type of each layer of the image, bottom first; %s. Use the names of " % scope +
            "`@rules_img//img:media_types.bzl`, for example `[GZIP_LAYER, GZIP_LAYER]`. The action " +
            "checks them against the layout and, when they differ, says what to write.")

def check_layers(ctx):
    """Fails unless each of `layers` is a layer media type this module knows.

    Args:
      ctx: the rule's context.
    """
    for t in ctx.attr.layers:
        if t not in _EXTENSIONS:
            fail("%s: layers has %r: give GZIP_LAYER, ZSTD_LAYER or UNCOMPRESSED_LAYER from @rules_img//img:media_types.bzl" % (ctx.label, t))

def parse_platform(ctx, value, attr):
    """Parses os/architecture[/variant], or fails naming attr.

    Args:
      ctx: the rule's context.
      value: the string to parse.
      attr: the attribute it comes from, for the message.

    Returns:
      struct(os, architecture, variant).
    """
    parts = value.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        fail("%s: %s has %r: write os/architecture or os/architecture/variant, such as \"linux/amd64\" or \"linux/arm64/v8\"" % (ctx.label, attr, value))
    return struct(os = parts[0], architecture = parts[1], variant = parts[2] if len(parts) == 3 else "")

def layout_of(ctx):
    """The layout among `src`'s files.

    `src` may give a directory (a tree artifact, such as a rules_oci image,
    or a source directory) or the layout's files (a glob), of which index.json
    says where the layout is.

    Args:
      ctx: the rule's context.

    Returns:
      struct(path, files, link): link tells whether blobs may be hard links.
    """
    files = ctx.files.src
    if len(files) == 1 and files[0].basename != "index.json":
        path = files[0].path
    else:
        roots = [f.dirname for f in files if f.basename == "index.json"]
        if len(roots) != 1:
            fail("%s: src gives %d files, %d of them index.json: give an OCI layout directory, or the files of one layout" % (ctx.label, len(files), len(roots)))
        path = roots[0]

    # A hard link to a source file would share the permissions Bazel sets
    # on its outputs: link only what another action wrote.
    return struct(path = path, files = files, link = not [f for f in files if f.is_source])

def import_image(ctx, layout, platform, prefix):
    """Declares the action that takes the image for platform out of layout.

    Args:
      ctx: the rule's context (attributes `layers`).
      layout: what layout_of returns.
      platform: what parse_platform returns.
      prefix: where the image's files go, relative to the package.

    Returns:
      struct(info, digest): the ImageManifestInfo, and the File with the
      manifest's digest.
    """
    manifest = ctx.actions.declare_file(prefix + ".manifest.json")
    config = ctx.actions.declare_file(prefix + ".config.json")
    descriptor = ctx.actions.declare_file(prefix + ".descriptor.json")
    digest = ctx.actions.declare_file(prefix + ".digest")
    blobs, metas = [], []
    for i, media_type in enumerate(ctx.attr.layers):
        blobs.append(ctx.actions.declare_file("%s.layers/%d%s" % (prefix, i, _EXTENSIONS[media_type])))
        metas.append(ctx.actions.declare_file("%s.layers/%d.json" % (prefix, i)))
    args = ctx.actions.args()
    args.add("from-layout")
    args.add("--label", str(ctx.label))
    args.add("--layout", layout.path)
    args.add("--platform", "/".join([x for x in [platform.os, platform.architecture, platform.variant] if x]))
    args.add_all(ctx.attr.layers, before_each = "--media_type")
    args.add_all(blobs, before_each = "--layer_blob")
    args.add_all(metas, before_each = "--layer_meta")
    if layout.link:
        args.add("--link")
    args.add("--manifest", manifest)
    args.add("--config", config)
    args.add("--descriptor", descriptor)
    args.add("--digest", digest)
    ctx.actions.run(
        executable = ctx.toolchains[TOOLCHAIN].imgtool.executable,
        arguments = [args],
        inputs = layout.files,
        outputs = [manifest, config, descriptor, digest] + blobs + metas,
        mnemonic = "ImageFromLayout",
        # Hard links: a sandbox mounts inputs apart from outputs, and a link
        # cannot cross mounts (the action reads only its inputs); a cache
        # would store the layers' bytes once more, for outputs that cost
        # nothing to make again.
        execution_requirements = {"no-remote": "1", "no-sandbox": "1"} if layout.link else {},
        progress_message = "Taking the %s image of %%{label} from its OCI layout" % platform.architecture,
        toolchain = TOOLCHAIN,
    )
    info = ImageManifestInfo(
        base_image = None,
        descriptor = descriptor,
        manifest = manifest,
        config = config,
        structured_config = {},
        architecture = platform.architecture,
        os = platform.os,
        platform = {"variant": platform.variant} if platform.variant else {},
        layers = [
            LayerInfo(blob = blobs[i], metadata = metas[i], media_type = t, estargz = False)
            for i, t in enumerate(ctx.attr.layers)
        ],
        missing_blobs = [],
    )
    return struct(info = info, digest = digest)
