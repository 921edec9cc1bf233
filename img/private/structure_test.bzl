"""image_structure_test: container-structure-test configs checked without a
container runtime, from the image config and per-layer file listings."""

load(":layer_files.bzl", "layer_file_aspect", "manifests_of")
load(":providers.bzl", "ImageIndexInfo", "ImageManifestInfo")

_TOOLCHAIN = "//img:toolchain_type"

_LayerListingsInfo = provider(
    doc = "The file listings of the layers of an image and of its bases.",
    fields = {
        "by_blob": "dict of File to File: the listing (img layer-listing) of each layer blob.",
    },
)

_layer_listings = layer_file_aspect(_LayerListingsInfo, "layer-listing", ".jsonl", "ImageLayerListing", "Listing")

def _platform_name(manifest):
    name = "%s/%s" % (manifest.os, manifest.architecture)
    if manifest.platform.get("variant"):
        name += "/" + manifest.platform["variant"]
    return name

def _contents(ctx, tool, m, manifest, listings):
    """The actions that take from each layer the files the content tests read.

    A plan action reads the configs and the listings; then one action per
    layer reads its blob for the files the plan names, and its blob only
    when it names some. The test reads their small outputs, never a blob, so
    it needs no layer bytes where it runs, and a plan that stays the same
    for a layer keeps that layer's action cached.

    Returns:
      list of File: the contents file of each layer, in order.
    """
    prefix = "%s.contents/%d_" % (ctx.label.name, m)
    image = ctx.actions.declare_file(prefix + "image.json")
    ctx.actions.write(image, json.encode({
        "config": manifest.config.path,
        "layers": [{"listing": listing.path} for listing in listings],
        "platform": _platform_name(manifest),
    }))
    plans = [ctx.actions.declare_file("%s%d.plan.json" % (prefix, i)) for i in range(len(listings))]
    args = ctx.actions.args()
    args.add("structure-plan")
    args.add("--image", image)
    args.add_all(ctx.files.configs, before_each = "--config")
    args.add_all(plans, before_each = "--out")
    ctx.actions.run(
        executable = tool,
        arguments = [args],
        inputs = [image, manifest.config] + listings + ctx.files.configs,
        outputs = plans,
        mnemonic = "ImageStructurePlan",
        progress_message = "Planning the content tests of %{label}",
        toolchain = _TOOLCHAIN,
    )
    contents = []
    for i, layer in enumerate(manifest.layers):
        out = ctx.actions.declare_file("%s%d.json" % (prefix, i))
        ctx.actions.run(
            executable = tool,
            arguments = ["layer-contents", "--plan", plans[i].path, "--blob", layer.blob.path, "--out", out.path],
            inputs = [plans[i], layer.blob],
            outputs = [out],
            mnemonic = "ImageLayerContents",
            progress_message = "Reading the files that %%{label} tests from layer %d" % i,
            toolchain = _TOOLCHAIN,
        )
        contents.append(out)
    return contents

def _image_structure_test_impl(ctx):
    by_blob = ctx.attr.image[_LayerListingsInfo].by_blob
    manifests = manifests_of(ctx.attr.image)

    # The img tool is one static binary: it needs no runfiles of its own.
    tool = ctx.toolchains[_TOOLCHAIN].imgtool.executable
    images = []
    files = []
    for m, manifest in enumerate(manifests):
        for i, layer in enumerate(manifest.layers):
            if layer.blob == None:
                fail(("%s: layer %d of %s (%s) has no bytes in the build: it is a layer of a base pulled " +
                      "with layer_handling = \"shallow\", and its file listing needs them. Pull that base " +
                      "with layer_handling = \"lazy\" (downloaded when a test needs it) or \"eager\".") % (
                    ctx.label,
                    i,
                    ctx.attr.image.label,
                    _platform_name(manifest),
                ))
        listings = [by_blob[layer.blob] for layer in manifest.layers]
        contents = _contents(ctx, tool, m, manifest, listings)
        images.append({
            "config": manifest.config.short_path,
            "layers": [
                {"contents": contents[i].short_path, "listing": listings[i].short_path}
                for i in range(len(listings))
            ],
            "platform": _platform_name(manifest),
        })
        files.extend([manifest.config] + listings + contents)
    images_json = ctx.actions.declare_file(ctx.label.name + ".images.json")
    ctx.actions.write(images_json, json.encode(images))

    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    command = [tool.short_path, "structure-test", "--images", images_json.short_path]
    for config in ctx.files.configs:
        command.extend(["--config", config.short_path])
    ctx.actions.write(script, "#!/bin/sh\nexec %s\n" % " ".join([_shell_quote(c) for c in command]), is_executable = True)
    runfiles = ctx.runfiles(files = files + ctx.files.configs + [images_json, tool])
    return [DefaultInfo(executable = script, runfiles = runfiles)]

def _shell_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"

image_structure_test = rule(
    implementation = _image_structure_test_impl,
    doc = """Checks an image against container-structure-test configs, without a container runtime.

The configs are container-structure-test's YAML or JSON files (schemaVersion
2.0.0). Metadata tests read the image config. File existence tests read a
listing of each layer (type, mode, owner, size, link target; written by an
action from the layer blob when a test first needs it, and shared by every
test of the images on that base), applied in order with whiteouts and
opaque directories. File content tests read only the layers that hold the
files they name: build actions take those files out of the blobs, so the
test itself needs no layer bytes where it runs.

Supported: `metadataTest` (`env`/`envVars`, `labels`, `entrypoint`, `cmd`,
`workdir`, `user`, `exposedPorts`, `unexposedPorts`, `volumes`,
`unmountedVolumes`), `fileExistenceTests` (`path`, `shouldExist`,
`permissions`, `uid`, `gid`, `isExecutableBy`) and `fileContentTests`
(`path`, `expectedContents`, `excludedContents`). Refused, with the file and
the reason: `commandTests`, `globalEnvVars` and `containerRunOptions` (they
run a container: use image_run_test) and `licenseTests`.

`image` is an image_manifest, an image_index (every config is checked
against every platform) or a pulled base. A base pulled with
`layer_handling = "shallow"` has no layer bytes in the build: pull it
`lazy` or `eager` to test it.""",
    attrs = {
        "image": attr.label(
            mandatory = True,
            providers = [[ImageManifestInfo], [ImageIndexInfo]],
            aspects = [_layer_listings],
            doc = "The image to check: image_manifest, image_index or a pulled image.",
        ),
        "configs": attr.label_list(
            mandatory = True,
            allow_files = [".yaml", ".yml", ".json"],
            allow_empty = False,
            doc = "container-structure-test config files, YAML or JSON.",
        ),
    },
    test = True,
    toolchains = [_TOOLCHAIN],
)
