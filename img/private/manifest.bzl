"""The image_manifest rule: a single-platform image from a base and layers."""

load(":platforms.bzl", "oci_platform", "platform_attrs")
load(":providers.bzl", "ImageManifestInfo", "LayerInfo")
load(":settings.bzl", "StampInfo")

_TOOLCHAIN = "//toolchains:toolchain_type"

def _optional(value):
    return value if value else None

def _status_files(ctx):
    """Workspace status files, when stamping is on and a label or annotation uses {VAR}."""
    if not ctx.attr._stamp[StampInfo].enabled:
        return []
    values = ctx.attr.labels.values() + ctx.attr.annotations.values()
    if not [v for v in values if "{" in v]:
        return []
    return [ctx.info_file, ctx.version_file]

def _request(ctx, base, layers, platform, status_files):
    return {
        "annotations": ctx.attr.annotations,
        "base_config": base.config.path if base else "",
        "base_manifest": base.manifest.path if base else "",
        "config": {
            "cmd": ctx.attr.cmd,
            "entrypoint": ctx.attr.entrypoint,
            "env": [[k, v] for k, v in ctx.attr.env.items()],
            "exposed_ports": ctx.attr.exposed_ports,
            "labels": ctx.attr.labels,
            "stop_signal": _optional(ctx.attr.stop_signal),
            "user": _optional(ctx.attr.user),
            "volumes": ctx.attr.volumes,
            "working_dir": _optional(ctx.attr.working_dir),
        },
        "config_fragment": ctx.file.config_fragment.path if ctx.file.config_fragment else "",
        "created": ctx.attr.created,
        "label": str(ctx.label),
        "layers": [layer.metadata.path for layer in layers],
        "status_files": [f.path for f in status_files],
        "platform": {
            "architecture": platform.architecture,
            "os": platform.os,
            "variant": platform.variant,
        },
    }

def _oci_layout(ctx, tool, descriptor, manifest, config, layers):
    """Declares the action that writes the OCI layout; it runs only on request."""
    out = ctx.actions.declare_directory(ctx.label.name + ".oci_layout")
    args = ctx.actions.args()
    args.add("layout")
    args.add("--label", str(ctx.label))
    args.add("--descriptor", descriptor)
    args.add("--manifest", manifest)
    args.add("--config", config)
    blobs = []
    for layer in layers:
        if not layer.blob:
            fail("%s: a layer of the base image has no blob, so an OCI layout cannot hold it" % ctx.label)
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
    base = ctx.attr.base[ImageManifestInfo] if ctx.attr.base else None
    platform = oci_platform(ctx)
    if base and (base.platform.os, base.platform.architecture) != (platform.os, platform.architecture):
        fail("%s: the base %s is %s/%s, but the target platform is %s/%s" % (
            ctx.label,
            ctx.attr.base.label,
            base.platform.os,
            base.platform.architecture,
            platform.os,
            platform.architecture,
        ))
    own_layers = [target[LayerInfo] for target in ctx.attr.layers]
    layers = (base.layers if base else []) + own_layers

    request = ctx.actions.declare_file(ctx.label.name + ".request.json")
    status_files = _status_files(ctx)
    ctx.actions.write(request, json.encode(_request(ctx, base, own_layers, platform, status_files)))
    manifest = ctx.actions.declare_file(ctx.label.name + ".manifest.json")
    config = ctx.actions.declare_file(ctx.label.name + ".config.json")
    descriptor = ctx.actions.declare_file(ctx.label.name + ".descriptor.json")

    # Metadata only: never the layer blobs.
    inputs = [request] + [layer.metadata for layer in own_layers] + status_files
    if base:
        inputs.extend([base.manifest, base.config])
    if ctx.file.config_fragment:
        inputs.append(ctx.file.config_fragment)

    tool = ctx.toolchains[_TOOLCHAIN].imgtool
    args = ctx.actions.args()
    args.add("manifest")
    args.add("--request", request)
    args.add("--manifest", manifest)
    args.add("--config", config)
    args.add("--descriptor", descriptor)
    ctx.actions.run(
        executable = tool.executable,
        arguments = [args],
        inputs = inputs,
        outputs = [manifest, config, descriptor],
        mnemonic = "ImageManifest",
        progress_message = "Writing manifest of %{label}",
        toolchain = _TOOLCHAIN,
    )
    layout = _oci_layout(ctx, tool, descriptor, manifest, config, layers)
    return [
        DefaultInfo(files = depset([manifest, config, descriptor])),
        OutputGroupInfo(oci_layout = depset([layout])),
        ImageManifestInfo(
            manifest = manifest,
            config = config,
            descriptor = descriptor,
            layers = layers,
            platform = platform,
        ),
    ]

image_manifest = rule(
    implementation = _image_manifest_impl,
    doc = """A single-platform OCI image: the base image's layers, then `layers`.

The platform (os, architecture, variant) comes from the target platform.
Build the output group `oci_layout` for an OCI image layout directory that
holds every blob.""",
    attrs = dict(
        base = attr.label(
            providers = [ImageManifestInfo],
            doc = "Image to build on: an image_manifest, or a pulled image such as `@ubuntu` (images " +
                  "extension or pull rule). Its layers come first and its config is the starting point. " +
                  "Empty: an image from scratch.",
        ),
        layers = attr.label_list(
            providers = [LayerInfo],
            doc = "Layers on top of the base, bottom first: image_layer, layer_from_tar or any rule that returns LayerInfo.",
        ),
        entrypoint = attr.string_list(
            doc = "Config Entrypoint, for example `[\"/app/bin/server\"]`; setting it drops the base's Cmd " +
                  "unless cmd is set too. Empty keeps the base's.",
        ),
        cmd = attr.string_list(doc = "Config Cmd: the entrypoint's default arguments, for example `[\"--port=8080\"]`. Empty keeps the base's."),
        env = attr.string_dict(
            doc = "Environment variables, for example `{\"PORT\": \"8080\"}`; they override the base's, " +
                  "and new ones keep this order.",
        ),
        user = attr.string(doc = "Config User, as NAME, UID, NAME:GROUP or UID:GID, for example `1000:1000`. Empty keeps the base's."),
        working_dir = attr.string(doc = "Config WorkingDir, for example `/app`. Empty keeps the base's."),
        exposed_ports = attr.string_list(doc = "Ports as \"8080\" or \"8080/tcp\", \"53/udp\"."),
        volumes = attr.string_list(doc = "Absolute paths of volumes, for example `[\"/data\"]`."),
        labels = attr.string_dict(
            doc = "Config labels, added to the base's, for example " +
                  "`{\"org.opencontainers.image.source\": \"https://github.com/org/repo\"}`; values may use " +
                  "`{VAR}` from the workspace status when stamping.",
        ),
        annotations = attr.string_dict(doc = "Manifest annotations; values may use `{VAR}` from the workspace status when stamping."),
        stop_signal = attr.string(doc = "Config StopSignal, for example SIGTERM."),
        config_fragment = attr.label(
            allow_single_file = [".json"],
            doc = "A JSON file of config fields (the OCI image config's `config` object, such as " +
                  "`{\"Healthcheck\": ...}`), merged after the base's and before the other attributes, which win.",
        ),
        created = attr.string(
            default = "1970-01-01T00:00:00Z",
            doc = "The config's creation time in RFC 3339, for example `2024-01-02T03:04:05Z`; the " +
                  "default, the Unix epoch, keeps builds reproducible.",
        ),
        _stamp = attr.label(default = "//img/private:stamp", providers = [StampInfo]),
        **platform_attrs()
    ),
    toolchains = [_TOOLCHAIN],
)
