"""Files made once per layer blob by an aspect on an image, and shared along
`base` and `manifests`: the images on one base share what was made of its
layers. Image tests use the listings, image_sbom the inventories."""

load(":providers.bzl", "ImageIndexInfo", "ImageManifestInfo")

TOOLCHAIN = "//img:toolchain_type"

def manifests_of(target):
    """The ImageManifestInfo of an image target, or of each image of an index.

    Args:
      target: a Target.

    Returns:
      list of ImageManifestInfo.
    """
    if ImageManifestInfo in target:
        return [target[ImageManifestInfo]]
    if ImageIndexInfo in target:
        return target[ImageIndexInfo].manifests
    return []

def _deps(attr, name):
    """The targets of attribute name; none when the rule's attribute of that name holds no labels."""
    value = getattr(attr, name, None)
    if value == None:
        return []
    values = value if type(value) == "list" else [value]
    return [v for v in values if type(v) == "Target"]

def layer_file_aspect(info, subcommand, suffix, mnemonic, what):
    """An aspect that runs `img SUBCOMMAND --blob BLOB --out FILE` once per layer blob.

    Args:
      info: the provider the aspect returns, with one field `by_blob`
        (dict of blob File to the File made of it).
      subcommand: the img subcommand.
      suffix: the extension of the files made.
      mnemonic: the actions' mnemonic.
      what: what the actions make, for progress messages.

    Returns:
      The aspect.
    """

    def _impl(target, ctx):
        by_blob = {}
        for dep in _deps(ctx.rule.attr, "base") + _deps(ctx.rule.attr, "manifests"):
            if info in dep:
                by_blob.update(dep[info].by_blob)
        tool = None
        for m, manifest in enumerate(manifests_of(target)):
            for i, layer in enumerate(manifest.layers):
                if layer.blob == None or layer.blob in by_blob:
                    continue
                if tool == None:
                    tool = ctx.toolchains[TOOLCHAIN].imgtool
                out = ctx.actions.declare_file("%s.%s/%d_%d%s" % (ctx.label.name, subcommand, m, i, suffix))
                ctx.actions.run(
                    executable = tool.executable,
                    arguments = [subcommand, "--blob", layer.blob.path, "--out", out.path],
                    inputs = [layer.blob],
                    outputs = [out],
                    mnemonic = mnemonic,
                    progress_message = "%s layer %d of %%{label}" % (what, i),
                    toolchain = TOOLCHAIN,
                )
                by_blob[layer.blob] = out
        return [info(by_blob = by_blob)]

    return aspect(
        implementation = _impl,
        attr_aspects = ["base", "manifests"],
        toolchains = [TOOLCHAIN],
    )
