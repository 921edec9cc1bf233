"""How layer rules compress: the attributes image_layer and layer_from_tar
share, and how an attribute, its setting under //img/settings and the
compilation mode give one value.

Each value has one place that decides it: the layer's attribute when set,
else the build setting (whose default is documented in
img/settings/BUILD.bazel).
"""

load(":settings.bzl", "SettingValueInfo", "is_positive_int")

MEDIA_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "none": "application/vnd.oci.image.layer.v1.tar",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}

EXTENSIONS = {
    "gzip": ".tar.gz",
    "none": ".tar",
    "zstd": ".tar.zst",
}

# Level names of //img/settings:compression_level → level per algorithm.
_NAMED_LEVELS = {
    "auto": {"gzip": -1, "none": -1, "zstd": -1},
    "best": {"gzip": 9, "none": -1, "zstd": 4},
    "fastest": {"gzip": 1, "none": -1, "zstd": 1},
}

_LEVELS = {
    "gzip": (0, 9),
    "zstd": (1, 4),
}

def compression_attrs(compress_doc, estargz_doc = ""):
    """The compression attributes of a layer rule.

    Args:
      compress_doc: documentation of the `compress` attribute, which differs
        between rules.
      estargz_doc: more documentation of the `estargz` attribute.

    Returns:
      A dict of attribute names to attributes.
    """
    return {
        "compress": attr.string(default = "auto", values = ["auto", "gzip", "zstd", "none"], doc = compress_doc),
        "compression_level": attr.int(
            default = -1,
            doc = "gzip 0-9 or zstd 1-4 (none ignores it); -1 uses " +
                  "`--@rules_img//img/settings:compression_level`, whose default `auto` is the algorithm's own.",
        ),
        "compression_jobs": attr.string(
            doc = "Compression goroutines: `1` (single-stream gzip), `nproc`, a number, or `auto` " +
                  "(1 under -c opt, else nproc); empty uses `--@rules_img//img/settings:compression_jobs`. " +
                  "Any value but 1 writes gzip with pgzip, whose bytes differ from single-stream gzip.",
        ),
        "estargz": attr.string(
            default = "auto",
            values = ["auto", "enabled", "disabled"],
            doc = "`enabled` writes a seekable layer with a table of contents, for lazy pulling: eStargz " +
                  "when the compression is gzip, zstd:chunked when it is zstd (none refuses it). `auto` " +
                  "uses `--@rules_img//img/settings:estargz` (default disabled)." + estargz_doc,
        ),
        "create_parent_directories": attr.string(
            default = "auto",
            values = ["auto", "enabled", "disabled"],
            doc = "`enabled` adds an entry (0755, root, the epoch) for every parent directory of the " +
                  "layer's files; `auto` uses `--@rules_img//img/settings:create_parent_directories` (default enabled).",
        ),
        "annotations": attr.string_dict(
            doc = "Annotations of the layer's descriptor in the manifest, for example " +
                  "`{\"org.opencontainers.image.title\": \"app\"}`.",
        ),
        "_compress": attr.label(default = Label("//img/settings:compress")),
        "_compression_level": attr.label(default = Label("//img/settings:compression_level")),
        "_compression_jobs": attr.label(default = Label("//img/settings:compression_jobs")),
        "_estargz": attr.label(default = Label("//img/settings:estargz")),
        "_create_parent_directories": attr.label(default = Label("//img/settings:create_parent_directories")),
    }

# The attribute values that mean "use the setting".
_UNSET = ["", "auto", -1]

def _value(ctx, name):
    """The attribute's value when set, else its setting's, and where it came from."""
    value = getattr(ctx.attr, name)
    if value not in _UNSET or (name == "compression_jobs" and value == "auto"):
        return value, "the attribute %s" % name
    return getattr(ctx.attr, "_" + name)[SettingValueInfo].value, "--@rules_img//img/settings:%s" % name

def _jobs(ctx):
    value, origin = _value(ctx, "compression_jobs")
    if value == "auto":
        value = "1" if ctx.var["COMPILATION_MODE"] == "opt" else "nproc"
    if value == "nproc":
        return 0
    if not is_positive_int(value):
        fail("%s: %s is %r: use 1, nproc, auto or a positive number" % (ctx.label, origin, value))
    return int(value)

def resolve_compression(ctx):
    """The compression of a layer rule's blob, checked.

    Args:
      ctx: the rule context of a rule with compression_attrs().

    Returns:
      struct(algorithm, level, jobs, estargz, parent_directories, media_type,
      extension): level -1 is the algorithm's default, jobs 0 is one per CPU.
    """
    algorithm, origin = _value(ctx, "compress")
    estargz, estargz_origin = _value(ctx, "estargz")
    if estargz == "enabled" and algorithm == "none":
        fail(("%s: a seekable layer (%s) is compressed (eStargz with gzip, zstd:chunked with zstd), but " +
              "the compression is none (%s): set compress = \"gzip\" or \"zstd\", or estargz = \"disabled\"") % (
            ctx.label,
            estargz_origin,
            origin,
        ))
    level, level_origin = _value(ctx, "compression_level")
    level = _NAMED_LEVELS.get(level, {}).get(algorithm, level)
    level = int(level)
    if level != -1 and algorithm in _LEVELS:
        low, high = _LEVELS[algorithm]
        if level < low or level > high:
            fail("%s: %s is %d, out of range for %s: use %d to %d, or -1 for the default" % (
                ctx.label,
                level_origin,
                level,
                algorithm,
                low,
                high,
            ))
    parents, _ = _value(ctx, "create_parent_directories")
    return struct(
        algorithm = algorithm,
        level = level,
        jobs = _jobs(ctx),
        estargz = estargz == "enabled",
        parent_directories = parents == "enabled",
        media_type = MEDIA_TYPES[algorithm],
        extension = EXTENSIONS[algorithm],
    )

def compression_args(args, c):
    """Adds the img tool's flags for a compression to args.

    Each flag is one "--name=value" argument, as worker_arguments asks.

    Args:
      args: the action's Args.
      c: a resolve_compression() result.
    """
    args.add("--compress=" + c.algorithm)
    args.add("--level=%d" % c.level)
    args.add("--jobs=%d" % c.jobs)
    if c.estargz:
        args.add("--estargz")
    args.add("--parent_directories=" + ("true" if c.parent_directories else "false"))

def annotation_args(args, annotations):
    """Adds a layer rule's annotations to the img tool's flags.

    Each is one "--annotation=KEY=VALUE" argument, as worker_arguments asks.

    Args:
      args: the action's Args.
      annotations: dict of annotation key → value.
    """
    for key, value in sorted(annotations.items()):
        args.add("--annotation=%s=%s" % (key, value))
