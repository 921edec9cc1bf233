"""The image_manifest_from_oci_layout rule: one image of an OCI layout."""

load(":manifest.bzl", "manifest_layout_action")
load(":oci_layout_import.bzl", "TOOLCHAIN", "check_layers", "import_image", "layers_doc", "layout_of", "parse_platform")
load(":settings.bzl", "SettingValueInfo")

def _image_manifest_from_oci_layout_impl(ctx):
    check_layers(ctx)
    platform = parse_platform(ctx, "/".join([x for x in [ctx.attr.os, ctx.attr.architecture, ctx.attr.variant] if x]), "os, architecture and variant")
    image = import_image(ctx, layout_of(ctx), platform, ctx.label.name)
    info = image.info
    tool = ctx.toolchains[TOOLCHAIN].imgtool
    return [
        DefaultInfo(files = depset([info.manifest, info.config, info.descriptor])),
        OutputGroupInfo(
            descriptor = depset([info.descriptor]),
            digest = depset([image.digest]),
            oci_layout = depset([manifest_layout_action(ctx, tool, info.descriptor, info.manifest, info.config, info.layers, as_tar = False)]),
            oci_tarball = depset([manifest_layout_action(ctx, tool, info.descriptor, info.manifest, info.config, info.layers, as_tar = True)]),
        ),
        info,
    ]

image_manifest_from_oci_layout = rule(
    implementation = _image_manifest_from_oci_layout_impl,
    doc = """One image of an OCI image layout, as an image_manifest: usable as `base`,
in image_index, image_push, image_load, multi_deploy and image tests.

The layout may come from rules_oci (`oci_image`), `crane pull --format=oci`,
`skopeo copy ... oci:DIR` or any tool that writes the OCI image layout. Of
the images it holds (through nested indexes), the first of the platform
given is taken. Its manifest and config keep their bytes, so the image has
the layout's digest; the layers keep theirs. Blobs are checked against
their digests as they are read; layer blobs of a layout another action
wrote are hard links where the file system allows it, not copies.

Output groups: `descriptor`, `digest`, `oci_layout`, `oci_tarball`, as
image_manifest has them.""",
    attrs = {
        "src": attr.label(
            allow_files = True,
            mandatory = True,
            doc = "The OCI layout: a directory (such as a rules_oci `oci_image` target), or a filegroup of " +
                  "its files (index.json, oci-layout and blobs/).",
        ),
        "os": attr.string(mandatory = True, doc = "OCI os of the image to take, for example `linux`."),
        "architecture": attr.string(mandatory = True, doc = "OCI architecture of the image to take, for example `amd64`."),
        "variant": attr.string(doc = "OCI variant, for example `v8` for arm64. Empty: any variant."),
        "layers": attr.string_list(mandatory = True, doc = layers_doc("the layout's image must have these")),
        "_shallow_oci_layout": attr.label(default = "//img/settings:shallow_oci_layout", providers = [SettingValueInfo]),
    },
    toolchains = [TOOLCHAIN],
)
