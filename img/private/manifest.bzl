"""The image_manifest rule: a single-platform image from a base and layers."""

load(":layer_from_tar.bzl", "TAR_EXTENSIONS", "tar_file_layer")
load(":platforms.bzl", "oci_platform", "platform_attrs")
load(":providers.bzl", "ImageIndexInfo", "ImageManifestInfo", "LayerInfo", "platform_string")
load(":settings.bzl", "SettingValueInfo")
load(":templates.bzl", "expand_templates", "template_attrs")
load(":worker.bzl", "WORKER_REQUIREMENTS", "worker_arguments")

_TOOLCHAIN = "//img:toolchain_type"

# Keys of the `platform` attribute: the OCI platform's fields beyond os and
# architecture.
_PLATFORM_KEYS = ["variant", "os.version", "os.features"]

def _optional(value):
    return value if value else None

def _platform(ctx):
    """The image's OCI platform: the target platform's, with the `platform` attribute over it.

    Returns:
      struct(os, architecture, extra): extra is the dict of ImageManifestInfo.platform.
    """
    target = oci_platform(ctx)
    extra = {"variant": target.variant} if target.variant else {}
    for key, value in ctx.attr.platform.items():
        if key not in _PLATFORM_KEYS:
            fail("%s: platform has the key %r: use %s (os and architecture come from the target platform)" % (
                ctx.label,
                key,
                ", ".join(_PLATFORM_KEYS),
            ))
        if value:
            extra[key] = value
        elif key in extra:
            extra.pop(key)
    return struct(os = target.os, architecture = target.architecture, extra = extra)

def _matches(info, platform):
    if (info.os, info.architecture) != (platform.os, platform.architecture):
        return False
    want, have = platform.extra.get("variant", ""), (info.platform or {}).get("variant", "")
    return not want or not have or want == have

def _base(ctx, platform):
    """The ImageManifestInfo to build on: `base`, or its image for the platform when it is an index."""
    target = ctx.attr.base
    if not target:
        return None
    if ImageIndexInfo in target:
        candidates = [m for m in target[ImageIndexInfo].manifests if _matches(m, platform)]
        exact = [m for m in candidates if (m.platform or {}).get("variant", "") == platform.extra.get("variant", "")]
        if exact or candidates:
            return (exact or candidates)[0]
        fail("%s: the base %s is an index without an image for %s/%s: it has %s. Build for one of those (--platforms), or pick another base" % (
            ctx.label,
            target.label,
            platform.os,
            platform.architecture,
            ", ".join([platform_string(m) for m in target[ImageIndexInfo].manifests]) or "none",
        ))
    base = target[ImageManifestInfo]
    if not _matches(base, platform):
        fail("%s: the base %s is %s, but the target platform is %s/%s: build for the base's platform, or use an index as base" % (
            ctx.label,
            target.label,
            platform_string(base),
            platform.os,
            platform.architecture,
        ))
    return base

def _layers(ctx):
    """LayerInfo of each of `layers`: a layer target's own, or one per tar file it gives."""
    layers = []
    for target in ctx.attr.layers:
        if LayerInfo in target:
            layers.append(target[LayerInfo])
            continue
        files = target[DefaultInfo].files.to_list()
        if not files:
            fail("%s: layers has %s, which is no layer and gives no tar file" % (ctx.label, target.label))
        for i, f in enumerate(files):
            if not [e for e in TAR_EXTENSIONS if f.basename.endswith(e)]:
                fail("%s: layers has %s, whose file %s is not a layer: give image_layer or layer_from_tar targets, or .tar, .tar.gz, .tgz, .tar.zst or .tzst files" % (
                    ctx.label,
                    target.label,
                    f.short_path,
                ))
            layers.append(tar_file_layer(ctx, f, "%s.layers/%d_%d" % (ctx.label.name, len(layers), i), "layers"))
    return layers

def _structured_config(ctx):
    return {
        "cmd": ctx.attr.cmd,
        "entrypoint": ctx.attr.entrypoint,
        "env": ctx.attr.env,
        "exposed_ports": ctx.attr.exposed_ports,
        "labels": ctx.attr.labels,
        "stop_signal": ctx.attr.stop_signal,
        "user": ctx.attr.user,
        "volumes": ctx.attr.volumes,
        "working_dir": ctx.attr.working_dir,
    }

def _request(ctx, base, layers, platform):
    """The manifest action's request: data, with labels, annotations and env expanded."""
    features = platform.extra.get("os.features", "")
    return expand_templates(
        ctx,
        ctx.label.name + ".request.json",
        templates = {
            "annotations": ctx.attr.annotations,
            "env": ctx.attr.env,
            "labels": ctx.attr.labels,
        },
        data = {
            "base_config": base.config.path if base else "",
            "base_manifest": base.manifest.path if base else "",
            "config": {
                "cmd": ctx.attr.cmd,
                "entrypoint": ctx.attr.entrypoint,
                "exposed_ports": ctx.attr.exposed_ports,
                "stop_signal": _optional(ctx.attr.stop_signal),
                "user": _optional(ctx.attr.user),
                "volumes": ctx.attr.volumes,
                "working_dir": _optional(ctx.attr.working_dir),
            },
            "config_fragment": ctx.file.config_fragment.path if ctx.file.config_fragment else "",
            "created": ctx.attr.created,
            "env_order": ctx.attr.env.keys(),
            "label": str(ctx.label),
            "layers": [layer.metadata.path for layer in layers],
            "platform": {
                "architecture": platform.architecture,
                "os": platform.os,
                "os_features": [f for f in features.split(",") if f],
                "os_version": platform.extra.get("os.version", ""),
                "variant": platform.extra.get("variant", ""),
            },
        },
    )

def allow_shallow_layout(ctx):
    """Whether --@rules_img//img/settings:shallow_oci_layout lets layouts leave out blobs.

    Args:
      ctx: the context of a rule with the _shallow_oci_layout attribute.

    Returns:
      bool.
    """
    return ctx.attr._shallow_oci_layout[SettingValueInfo].value == "i_know_what_i_am_doing"

def manifest_layout_action(ctx, tool, descriptor, manifest, config, layers, as_tar):
    """Declares the action that writes the OCI layout of one image; it runs only on request.

    Args:
      ctx: the context of a rule with the _shallow_oci_layout attribute.
      tool: the img tool (FilesToRunProvider).
      descriptor: File, the manifest's descriptor.
      manifest: File, the manifest.
      config: File, the config.
      layers: list of LayerInfo, in manifest order.
      as_tar: write a tar archive of the layout instead of a directory.

    Returns:
      The declared File: the directory or the archive.
    """
    if as_tar:
        out = ctx.actions.declare_file(ctx.label.name + ".oci_layout.tar")
    else:
        out = ctx.actions.declare_directory(ctx.label.name + ".oci_layout")
    args = ctx.actions.args()
    args.add("layout")
    args.add("--label", str(ctx.label))
    args.add("--descriptor", descriptor)
    args.add("--manifest", manifest)
    args.add("--config", config)
    if as_tar:
        args.add("--tar")
    if allow_shallow_layout(ctx):
        args.add("--allow_missing_blobs")
    blobs = []
    for layer in layers:
        if not layer.blob:
            continue
        args.add("--layer_meta", layer.metadata)
        args.add("--layer_blob", layer.blob)
        blobs.extend([layer.metadata, layer.blob])
    args.add("--out", out.path)
    ctx.actions.run(
        executable = tool.executable,
        arguments = [args],
        inputs = [descriptor, manifest, config] + blobs,
        outputs = [out],
        mnemonic = "ImageLayout",
        progress_message = "Writing OCI layout of %{label}",
        toolchain = _TOOLCHAIN,
    )
    return out

def _image_manifest_impl(ctx):
    platform = _platform(ctx)
    base = _base(ctx, platform)
    own_layers = _layers(ctx)
    layers = (base.layers if base else []) + own_layers
    request = _request(ctx, base, own_layers, platform)
    manifest = ctx.actions.declare_file(ctx.label.name + ".manifest.json")
    config = ctx.actions.declare_file(ctx.label.name + ".config.json")
    descriptor = ctx.actions.declare_file(ctx.label.name + ".descriptor.json")
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")

    # Metadata only: never the layer blobs.
    inputs = [request] + [layer.metadata for layer in own_layers]
    if base:
        inputs.extend([base.manifest, base.config])
    if ctx.file.config_fragment:
        inputs.append(ctx.file.config_fragment)

    tool = ctx.toolchains[_TOOLCHAIN].imgtool
    arguments = worker_arguments(ctx, "manifest")
    arguments.flags.add(request, format = "--request=%s")
    arguments.flags.add(manifest, format = "--manifest=%s")
    arguments.flags.add(config, format = "--config=%s")
    arguments.flags.add(descriptor, format = "--descriptor=%s")
    arguments.flags.add(digest, format = "--digest=%s")
    ctx.actions.run(
        executable = tool.executable,
        arguments = arguments.list,
        inputs = inputs,
        outputs = [manifest, config, descriptor, digest],
        mnemonic = "ImageManifest",
        execution_requirements = WORKER_REQUIREMENTS,
        progress_message = "Writing manifest of %{label}",
        toolchain = _TOOLCHAIN,
    )
    return [
        DefaultInfo(files = depset([manifest, config, descriptor])),
        OutputGroupInfo(
            descriptor = depset([descriptor]),
            digest = depset([digest]),
            oci_layout = depset([manifest_layout_action(ctx, tool, descriptor, manifest, config, layers, as_tar = False)]),
            oci_tarball = depset([manifest_layout_action(ctx, tool, descriptor, manifest, config, layers, as_tar = True)]),
        ),
        ImageManifestInfo(
            base_image = ctx.attr.base[ImageIndexInfo] if ctx.attr.base and ImageIndexInfo in ctx.attr.base else base,
            descriptor = descriptor,
            manifest = manifest,
            config = config,
            structured_config = _structured_config(ctx),
            architecture = platform.architecture,
            os = platform.os,
            platform = platform.extra,
            layers = layers,
            missing_blobs = base.missing_blobs if base else [],
        ),
    ]

image_manifest = rule(
    implementation = _image_manifest_impl,
    doc = """A single-platform OCI image: the base image's layers, then `layers`.

The platform (os, architecture, variant) comes from the target platform;
`platform` adds the OCI platform's other fields. `labels`, `annotations`
and `env` are templates: see `build_settings` and `stamp`.

Output groups: `descriptor` (the manifest's OCI descriptor), `digest`
(`sha256:...`), `oci_layout` (an OCI image layout directory with every
blob) and `oci_tarball` (the same layout as a tar archive, for `skopeo copy
oci-archive:...` or `podman load`).""",
    attrs = dict(
        base = attr.label(
            providers = [[ImageManifestInfo], [ImageIndexInfo]],
            doc = "Image to build on: an image_manifest, an image_index or a pulled image such as `@ubuntu` " +
                  "(the pull rule or the images extension). From an index, the image of the target platform is " +
                  "taken. Its layers come first and its config is the starting point. Empty: an image from scratch.",
        ),
        layers = attr.label_list(
            allow_files = TAR_EXTENSIONS,
            doc = "Layers on top of the base, bottom first: image_layer, layer_from_tar or any rule that " +
                  "returns LayerInfo, or tar files (.tar, .tar.gz, .tgz, .tar.zst, .tzst: each file a layer, " +
                  "kept as it is).",
        ),
        entrypoint = attr.string_list(
            doc = "Config Entrypoint, for example `[\"/app/bin/server\"]`; setting it drops the base's Cmd " +
                  "unless cmd is set too. Empty keeps the base's.",
        ),
        cmd = attr.string_list(doc = "Config Cmd: the entrypoint's default arguments, for example `[\"--port=8080\"]`. Empty keeps the base's."),
        env = attr.string_dict(
            doc = "Environment variables, for example `{\"PORT\": \"8080\"}`; they override the base's, " +
                  "and new ones keep this order. Values are templates, such as `{{.VERSION}}`.",
        ),
        user = attr.string(doc = "Config User, as NAME, UID, NAME:GROUP or UID:GID, for example `1000:1000`. Empty keeps the base's."),
        working_dir = attr.string(doc = "Config WorkingDir, for example `/app`. Empty keeps the base's."),
        exposed_ports = attr.string_list(doc = "Ports as \"8080\" or \"8080/tcp\", \"53/udp\"."),
        volumes = attr.string_list(doc = "Absolute paths of volumes, for example `[\"/data\"]`."),
        labels = attr.string_dict(
            doc = "Config labels, added to the base's, for example " +
                  "`{\"org.opencontainers.image.revision\": \"{{.STABLE_GIT_COMMIT}}\"}`; values are templates.",
        ),
        annotations = attr.string_dict(doc = "Manifest annotations; values are templates."),
        stop_signal = attr.string(doc = "Config StopSignal, for example SIGTERM."),
        platform = attr.string_dict(
            doc = "The OCI platform's fields beyond os and architecture: `variant` (default: the target " +
                  "platform's, such as `v8` for arm64), `os.version` and `os.features` (comma-separated), " +
                  "for example `{\"os.version\": \"10.0.20348.2227\"}`. They go into the config and the " +
                  "manifest's descriptor (and so the index), and choose the base's image from an index.",
        ),
        config_fragment = attr.label(
            allow_single_file = [".json"],
            doc = "A JSON file with a partial image config, such as `{\"config\": {\"Healthcheck\": ...}}`, " +
                  "merged over the base's config; the other attributes win over it.",
        ),
        created = attr.string(
            default = "1970-01-01T00:00:00Z",
            doc = "The config's creation time in RFC 3339, for example `2024-01-02T03:04:05Z`; the " +
                  "default, the Unix epoch, keeps builds reproducible.",
        ),
        _shallow_oci_layout = attr.label(default = "//img/settings:shallow_oci_layout", providers = [SettingValueInfo]),
        **dict(platform_attrs(), **template_attrs("labels, annotations and env"))
    ),
    toolchains = [_TOOLCHAIN],
)
