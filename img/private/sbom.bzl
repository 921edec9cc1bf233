"""The image_sbom rule: the SPDX 2.3 document of an image."""

load(":layer_files.bzl", "TOOLCHAIN", "layer_file_aspect", "manifests_of")
load(":providers.bzl", "AttestationInfo", "ImageIndexInfo", "ImageManifestInfo", "user_label")
load(":pulled_base.bzl", "PulledBaseInfo", "pulled_base")

_LayerInventoriesInfo = provider(
    doc = "The inventories of the layers of an image and of its bases.",
    fields = {"by_blob": "dict of File to File: the inventory (img layer-inventory) of each layer blob."},
)

_layer_inventories = layer_file_aspect(_LayerInventoriesInfo, "layer-inventory", ".jsonl", "ImageLayerInventory", "Inventorying")

def _image_sbom_impl(ctx):
    inventories = ctx.attr.image[_LayerInventoriesInfo].by_blob
    bases = ctx.attr.image[PulledBaseInfo].by_manifest
    tool = ctx.toolchains[TOOLCHAIN].imgtool
    images = manifests_of(ctx.attr.image)
    documents = []
    for i, m in enumerate(images):
        missing = [n for n, layer in enumerate(m.layers) if layer.blob == None]
        if missing:
            fail(("%s: layers %s of %s have no bytes in the build (a base pulled with " +
                  "layer_handling = \"shallow\"), and an SBOM lists their files: pull the base with " +
                  "layer_handling = \"lazy\" or \"eager\".") % (ctx.label, missing, ctx.attr.image.label))
        name = ctx.label.name + (".spdx.json" if len(images) == 1 else ".%d.spdx.json" % i)
        out = ctx.actions.declare_file(name)
        layer_inventories = [inventories[layer.blob] for layer in m.layers]
        request = ctx.actions.declare_file(name + ".request.json")
        ctx.actions.write(request, json.encode({
            "base": bases.get(m.manifest),
            "config": m.config.path,
            "inventories": [f.path for f in layer_inventories],
            "manifest": m.manifest.path,
            "name": user_label(ctx.attr.image.label),
        }))
        ctx.actions.run(
            executable = tool.executable,
            arguments = ["sbom", "--request", request.path, "--out", out.path],
            inputs = [request, m.manifest, m.config] + layer_inventories,
            outputs = [out],
            mnemonic = "ImageSBOM",
            progress_message = "Writing the SPDX document of %{label}",
            toolchain = TOOLCHAIN,
        )
        documents.append(struct(subject = m.descriptor, document = out))
    return [
        DefaultInfo(files = depset([d.document for d in documents])),
        AttestationInfo(
            predicate_type = "https://spdx.dev/Document",
            media_type = "application/spdx+json",
            documents = documents,
            statement = False,
        ),
    ]

image_sbom = rule(
    implementation = _image_sbom_impl,
    doc = """The SPDX 2.3 JSON document of an image: every regular file of every layer
with its SHA-1 and SHA-256, the Go modules of its Go programs (from their
build info), and the pulled base image by digest.

A build output, deterministic: the same image gives the same bytes. Each
layer is read once, by an action shared by every SBOM of an image on that
layer; a lazily pulled base's layers are downloaded for it. For an
image_index, one document per platform (`NAME.0.spdx.json`, ...).

Give it to image_push's `attestations` to push it with the image: as an
OCI artifact whose subject is the image, and, when the push signs, as a
cosign attestation (`cosign verify-attestation --type spdxjson`).""",
    attrs = {
        "image": attr.label(
            mandatory = True,
            providers = [[ImageManifestInfo], [ImageIndexInfo]],
            aspects = [_layer_inventories, pulled_base],
            doc = "The image: an image_manifest, an image_index or a pulled image.",
        ),
    },
    toolchains = [TOOLCHAIN],
)
