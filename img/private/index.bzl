"""The image_index rule: one image for several platforms."""

load(":providers.bzl", "ImageIndexInfo", "ImageManifestInfo")

_TOOLCHAIN = "//toolchains:toolchain_type"
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

# One branch per platform, in the order of `platforms`.
_platforms_transition = transition(
    implementation = _platforms_transition_impl,
    inputs = [_PLATFORMS],
    outputs = [_PLATFORMS],
)

def _platform_string(p):
    return "/".join([x for x in [p.os, p.architecture, p.variant] if x])

def _manifests(ctx):
    """The manifests in index order: (ImageManifestInfo, name for messages)."""
    if not ctx.attr.platforms:
        return [(t[ImageManifestInfo], str(t.label)) for t in ctx.split_attr.manifests[_AS_BUILT]]
    manifests = []
    for i, p in enumerate(ctx.attr.platforms):
        for t in ctx.split_attr.manifests[_branch(i)]:
            manifests.append((t[ImageManifestInfo], "%s for %s" % (t.label, p.label)))
    return manifests

def _check_platforms(ctx, manifests):
    seen = {}
    for info, name in manifests:
        p = _platform_string(info.platform)
        if p in seen:
            fail(("%s: manifests %s and %s are both %s, and an index holds one manifest per platform: " +
                  "drop one, or build them for different platforms") % (ctx.label, seen[p], name, p))
        seen[p] = name

def _index_action(ctx, tool, manifests):
    index = ctx.actions.declare_file(ctx.label.name + ".index.json")
    descriptor = ctx.actions.declare_file(ctx.label.name + ".descriptor.json")
    args = ctx.actions.args()
    args.add("index")
    args.add("--label", str(ctx.label))
    for info, name in manifests:
        args.add("--manifest_descriptor", info.descriptor)
        args.add("--manifest_name", name)
    for k, v in sorted(ctx.attr.annotations.items()):
        args.add("--annotation", "%s=%s" % (k, v))
    args.add("--index", index)
    args.add("--descriptor", descriptor)
    ctx.actions.run(
        executable = tool.executable,
        arguments = [args],
        # Descriptors only: never a manifest, config or layer.
        inputs = [info.descriptor for info, _ in manifests],
        outputs = [index, descriptor],
        mnemonic = "ImageIndex",
        progress_message = "Writing image index %{label}",
        toolchain = _TOOLCHAIN,
    )
    return index, descriptor

def _layout_action(ctx, tool, index, descriptor, manifests):
    """Declares the action that writes the OCI layout; it runs only on request."""
    out = ctx.actions.declare_directory(ctx.label.name + ".oci_layout")
    images = []
    inputs = [index, descriptor]
    for info, name in manifests:
        layers = []
        for layer in info.layers:
            if not layer.blob:
                fail("%s: a layer of %s has no blob, so an OCI layout cannot hold it" % (ctx.label, name))
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
    args = ctx.actions.args()
    args.add("layout")
    args.add("--label", str(ctx.label))
    args.add("--index_request", request)
    args.add("--out", out.path)
    ctx.actions.run(
        executable = tool.executable,
        arguments = [args],
        inputs = depset([request] + inputs),
        outputs = [out],
        mnemonic = "ImageLayout",
        progress_message = "Writing OCI layout of %{label}",
        toolchain = _TOOLCHAIN,
    )
    return out

def _image_index_impl(ctx):
    manifests = _manifests(ctx)
    if not manifests:
        fail("%s: manifests is empty: give at least one image_manifest" % ctx.label)
    _check_platforms(ctx, manifests)
    tool = ctx.toolchains[_TOOLCHAIN].imgtool
    index, descriptor = _index_action(ctx, tool, manifests)
    layout = _layout_action(ctx, tool, index, descriptor, manifests)
    return [
        DefaultInfo(files = depset([index, descriptor])),
        OutputGroupInfo(oci_layout = depset([layout])),
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
manifests are taken as they are built. No two manifests of the index may
have the same OCI platform.

Build the output group `oci_layout` for an OCI image layout directory that
holds every blob of every platform. Its index.json names the index `latest`
and each platform's image `latest-OS-ARCH[-VARIANT]`, for tools such as
umoci that unpack one manifest and do not choose a platform.""",
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
        "annotations": attr.string_dict(doc = "Annotations of the index, for example `{\"org.opencontainers.image.title\": \"app\"}`."),
    },
    toolchains = [_TOOLCHAIN],
)
