"""The image_index_from_oci_layout rule: several platforms of an OCI layout."""

load(":index.bzl", "index_layout_actions")
load(":oci_layout_import.bzl", "TOOLCHAIN", "check_layers", "import_image", "layers_doc", "layout_of", "parse_platform")
load(":providers.bzl", "ImageIndexInfo", "platform_string")
load(":settings.bzl", "SettingValueInfo")

def _index_action(ctx, layout, platforms):
    index = ctx.actions.declare_file(ctx.label.name + ".index.json")
    descriptor = ctx.actions.declare_file(ctx.label.name + ".descriptor.json")
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")
    args = ctx.actions.args()
    args.add("from-layout")
    args.add("--label", str(ctx.label))
    args.add("--layout", layout.path)
    args.add_all(platforms, before_each = "--platform")
    args.add_all(ctx.attr.layers, before_each = "--media_type")
    args.add("--index", index)
    args.add("--descriptor", descriptor)
    args.add("--digest", digest)
    ctx.actions.run(
        executable = ctx.toolchains[TOOLCHAIN].imgtool.executable,
        arguments = [args],
        inputs = layout.files,
        outputs = [index, descriptor, digest],
        mnemonic = "ImageIndexFromLayout",
        progress_message = "Taking the index of %{label} from its OCI layout",
        toolchain = TOOLCHAIN,
    )
    return index, descriptor, digest

def _image_index_from_oci_layout_impl(ctx):
    check_layers(ctx)
    if not ctx.attr.manifests:
        fail("%s: manifests is empty: give the platforms to take, such as [\"linux/amd64\", \"linux/arm64\"]" % ctx.label)
    layout = layout_of(ctx)
    images = [
        import_image(ctx, layout, parse_platform(ctx, p, "manifests"), "%s.images/%d" % (ctx.label.name, i))
        for i, p in enumerate(ctx.attr.manifests)
    ]
    index, descriptor, digest = _index_action(ctx, layout, ctx.attr.manifests)
    manifests = [(image.info, "%s for %s" % (ctx.label, platform_string(image.info))) for image in images]
    layouts = index_layout_actions(ctx, ctx.toolchains[TOOLCHAIN].imgtool, index, descriptor, manifests)
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
            manifests = [image.info for image in images],
        ),
    ]

image_index_from_oci_layout = rule(
    implementation = _image_index_from_oci_layout_impl,
    doc = """Several platforms of an OCI image layout, as an image_index: usable as
`base`, in image_push, image_load, multi_deploy and image tests.

For each of `manifests`, the first image of that platform in the layout
(through nested indexes) is taken, as image_manifest_from_oci_layout takes
one. The index is the layout's own, byte for byte, when one of its indexes
lists exactly those images in that order (as a rules_oci `oci_image_index`
or `crane pull --format=oci` of an index gives it); otherwise a new OCI
index of them, in the order of `manifests`.

Output groups: `digest`, `oci_layout`, `oci_tarball`, as image_index has them.""",
    attrs = {
        "src": attr.label(
            allow_files = True,
            mandatory = True,
            doc = "The OCI layout: a directory (such as a rules_oci `oci_image_index` target), or a filegroup of " +
                  "its files (index.json, oci-layout and blobs/).",
        ),
        "manifests": attr.string_list(
            mandatory = True,
            doc = "The platforms to take, in index order, as os/architecture or os/architecture/variant: " +
                  "for example `[\"linux/amd64\", \"linux/arm64/v8\"]`.",
        ),
        "layers": attr.string_list(mandatory = True, doc = layers_doc("every image taken must have these")),
        "_shallow_oci_layout": attr.label(default = "//img/settings:shallow_oci_layout", providers = [SettingValueInfo]),
    },
    toolchains = [TOOLCHAIN],
)
