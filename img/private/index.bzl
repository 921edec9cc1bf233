"""The image_index rule: one image for several platforms."""

load(":manifest.bzl", "allow_shallow_layout")
load(":providers.bzl", "ImageIndexInfo", "ImageManifestInfo")
load(":settings.bzl", "SettingValueInfo")
load(":templates.bzl", "expand_templates", "template_attrs")
load(":worker.bzl", "WORKER_REQUIREMENTS", "worker_arguments")

_TOOLCHAIN = "//img:toolchain_type"
_PLATFORMS = "//command_line_option:platforms"

# The key of the one branch when no platforms are given.
_AS_BUILT = "as_built"

def _branch(i):
    # Keyed by position, not label: an alias in `platforms` has another
    # label here than its target has in the rule.
    return "platform_%d" % i

def _platforms_transition_impl(settings, attr):
    if not attr.platforms:
        return {_AS_BUILT: {_PLATFORMS: settings[_PLATFORMS]}}
    return {_branch(i): {_PLATFORMS: [str(p)]} for i, p in enumerate(attr.platforms)}

def _unchanged_impl(_settings, _attr):
    return {}

# The rule's own transition changes nothing. It is there for rules that
# extend image_index (`rule(parent = image_index)`): Bazel gives such a rule
# the parent's transition allowlist, and accepts it only when the parent has
# a rule transition, so without one every extending rule would need a
# transition attribute of its own.
_unchanged = transition(implementation = _unchanged_impl, inputs = [], outputs = [])

# One branch per platform, in the order of `platforms`.
_platforms_transition = transition(
    implementation = _platforms_transition_impl,
    inputs = [_PLATFORMS],
    outputs = [_PLATFORMS],
)

def _manifests(ctx):
    """The manifests in index order: (ImageManifestInfo, name for messages)."""
    if not ctx.attr.platforms:
        return [(t[ImageManifestInfo], str(t.label)) for t in ctx.split_attr.manifests[_AS_BUILT]]
    manifests = []
    for i, p in enumerate(ctx.attr.platforms):
        for t in ctx.split_attr.manifests[_branch(i)]:
            manifests.append((t[ImageManifestInfo], "%s for %s" % (t.label, p.label)))
    return manifests

def _index_action(ctx, tool, manifests):
    index = ctx.actions.declare_file(ctx.label.name + ".index.json")
    descriptor = ctx.actions.declare_file(ctx.label.name + ".descriptor.json")
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")

    # Most indexes have no annotations: no file to write then.
    annotations = None
    if ctx.attr.annotations:
        annotations = expand_templates(ctx, ctx.label.name + ".annotations.json", templates = {"annotations": ctx.attr.annotations})
    arguments = worker_arguments(ctx, "index")
    flags = arguments.flags
    flags.add(str(ctx.label), format = "--label=%s")
    for info, name in manifests:
        flags.add(info.descriptor, format = "--manifest_descriptor=%s")
        flags.add(name, format = "--manifest_name=%s")
    if annotations:
        flags.add(annotations, format = "--annotations_file=%s")
    flags.add(index, format = "--index=%s")
    flags.add(descriptor, format = "--descriptor=%s")
    flags.add(digest, format = "--digest=%s")
    ctx.actions.run(
        executable = tool.executable,
        arguments = arguments.list,
        # Descriptors only: never a manifest, config or layer.
        inputs = ([annotations] if annotations else []) + [info.descriptor for info, _ in manifests],
        outputs = [index, descriptor, digest],
        mnemonic = "ImageIndex",
        execution_requirements = WORKER_REQUIREMENTS,
        progress_message = "Writing image index %{label}",
        toolchain = _TOOLCHAIN,
    )
    return index, descriptor, digest

def index_layout_actions(ctx, tool, index, descriptor, manifests):
    """Declares the actions that write the OCI layout of an index, as a directory and as a tar.

    They run only on request (the oci_layout and oci_tarball output
    groups), and share one request file.

    Args:
      ctx: the context of a rule with the _shallow_oci_layout attribute.
      tool: the img tool (FilesToRunProvider).
      index: File, the index.
      descriptor: File, the index's descriptor.
      manifests: list of (ImageManifestInfo, name for messages), in index order.

    Returns:
      struct(directory, tarball): the declared Files.
    """
    images = []
    inputs = [index, descriptor]
    for info, _ in manifests:
        layers = []
        for layer in info.layers:
            if not layer.blob:
                # The layout action says what to do, if it is ever run.
                continue
            layers.append({"blob": layer.blob.path, "metadata": layer.metadata.path})
            inputs.extend([layer.blob, layer.metadata])
        images.append({
            "config": info.config.path,
            "descriptor": info.descriptor.path,
            "layers": layers,
            "manifest": info.manifest.path,
        })
        inputs.extend([info.descriptor, info.manifest, info.config])
    request = ctx.actions.declare_file(ctx.label.name + ".layout_request.json")
    ctx.actions.write(request, json.encode({
        "descriptor": descriptor.path,
        "images": images,
        "index": index.path,
    }))
    inputs = depset([request] + inputs)
    outputs = struct(
        directory = ctx.actions.declare_directory(ctx.label.name + ".oci_layout"),
        tarball = ctx.actions.declare_file(ctx.label.name + ".oci_layout.tar"),
    )
    for out in [outputs.directory, outputs.tarball]:
        args = ctx.actions.args()
        args.add("layout")
        args.add("--label", str(ctx.label))
        args.add("--index_request", request)
        if out == outputs.tarball:
            args.add("--tar")
        if allow_shallow_layout(ctx):
            args.add("--allow_missing_blobs")
        args.add("--out", out.path)
        ctx.actions.run(
            executable = tool.executable,
            arguments = [args],
            inputs = inputs,
            outputs = [out],
            mnemonic = "ImageLayout",
            progress_message = "Writing OCI layout of %{label}",
            toolchain = _TOOLCHAIN,
        )
    return outputs

def _image_index_impl(ctx):
    manifests = _manifests(ctx)
    if not manifests:
        fail("%s: manifests is empty: give at least one image_manifest" % ctx.label)
    tool = ctx.toolchains[_TOOLCHAIN].imgtool
    index, descriptor, digest = _index_action(ctx, tool, manifests)
    layouts = index_layout_actions(ctx, tool, index, descriptor, manifests)
    return [
        DefaultInfo(files = depset([index, descriptor])),
        OutputGroupInfo(
            digest = depset([digest]),
            oci_layout = depset([layouts.directory]),
            oci_tarball = depset([layouts.tarball]),
        ),
        ImageIndexInfo(
            index = index,
            descriptor = descriptor,
            manifests = [info for info, _ in manifests],
        ),
    ]

image_index = rule(
    implementation = _image_index_impl,
    doc = """An OCI image index: one image for several platforms.

With `platforms`, each of `manifests` is built once per platform, in the
order given, by a split transition on --platforms; the Go, C++ or other
toolchains cross-compile as they would for that platform. Without it, the
manifests are taken as they are built. Several manifests may have the same
OCI platform, as OCI allows (a runtime takes the first).

`annotations` are templates: see `build_settings` and `stamp`.

Output groups: `digest` (`sha256:...`), `oci_layout` (an OCI image layout
directory with every blob of every platform; its index.json names the index
`latest` and each platform's image `latest-OS-ARCH[-VARIANT]`, for tools
such as umoci that unpack one manifest), and `oci_tarball` (the same as a
tar archive).""",
    attrs = {
        "manifests": attr.label_list(
            providers = [ImageManifestInfo],
            cfg = _platforms_transition,
            doc = "image_manifest targets; built for each of `platforms`, when given.",
        ),
        "platforms": attr.label_list(
            providers = [platform_common.PlatformInfo],
            doc = "`platform` targets to build the manifests for, in index order, for example " +
                  "`[\"//platforms:linux_amd64\", \"//platforms:linux_arm64\"]`. Each needs @platforms//os and " +
                  "@platforms//cpu constraints with an OCI equivalent. Empty: the manifests as they are built.",
        ),
        "annotations": attr.string_dict(
            doc = "Annotations of the index, for example `{\"org.opencontainers.image.version\": \"{{.VERSION}}\"}`; " +
                  "values are templates.",
        ),
        "_shallow_oci_layout": attr.label(default = "//img/settings:shallow_oci_layout", providers = [SettingValueInfo]),
    } | template_attrs("annotations"),
    cfg = _unchanged,
    toolchains = [_TOOLCHAIN],
)
