"""The image_provenance rule: the SLSA provenance of an image."""

load(":layer_files.bzl", "TOOLCHAIN", "manifests_of")
load(":providers.bzl", "AttestationInfo", "ImageIndexInfo", "ImageManifestInfo", "user_label")
load(":pulled_base.bzl", "PulledBaseInfo", "pulled_base")
load(":templates.bzl", "expand_templates", "template_attrs")

def _image_provenance_impl(ctx):
    bases = ctx.attr.image[PulledBaseInfo].by_manifest
    images = manifests_of(ctx.attr.image)
    source = expand_templates(
        ctx,
        ctx.label.name + ".source.json",
        templates = {"source_revision": ctx.attr.source_revision, "source_uri": ctx.attr.source_uri},
    )
    tool = ctx.toolchains[TOOLCHAIN].imgtool
    documents = []
    for i, m in enumerate(images):
        name = ctx.label.name + (".intoto.json" if len(images) == 1 else ".%d.intoto.json" % i)
        out = ctx.actions.declare_file(name)
        request = ctx.actions.declare_file(name + ".request.json")
        ctx.actions.write(request, json.encode({
            "base": bases.get(m.manifest),
            "builder_id": ctx.attr.builder_id,
            "label": user_label(ctx.attr.image.label),
            "manifest": m.manifest.path,
            "source": source.path,
        }))
        ctx.actions.run(
            executable = tool.executable,
            arguments = ["provenance", "--request", request.path, "--out", out.path],
            inputs = [request, m.manifest, source],
            outputs = [out],
            mnemonic = "ImageProvenance",
            progress_message = "Writing the provenance of %{label}",
            toolchain = TOOLCHAIN,
        )
        documents.append(struct(subject = m.descriptor, document = out))
    return [
        DefaultInfo(files = depset([d.document for d in documents])),
        AttestationInfo(
            predicate_type = "https://slsa.dev/provenance/v1",
            media_type = "application/vnd.in-toto+json",
            documents = documents,
            statement = True,
        ),
    ]

image_provenance = rule(
    implementation = _image_provenance_impl,
    doc = """The SLSA provenance v1 of an image, as an in-toto statement about its
digest: the Bazel target that built it, the source it was built from, and
the pulled base image it was built on, by digest.

`source_uri` and `source_revision` are templates over the workspace status
when the target stamps (see `build_settings` and `stamp`): with a
--workspace_status_command that prints `STABLE_GIT_COMMIT`, the default
revision is the commit built. Without --stamp they expand to nothing, and
the statement names no source: the build stays cacheable. For an
image_index, one statement per platform (`NAME.0.intoto.json`, ...).

Give it to image_push's `attestations`: pushed as an OCI artifact whose
subject is the image, and, when the push signs, as a cosign attestation
(`cosign verify-attestation --type slsaprovenance1`).""",
    attrs = dict(
        image = attr.label(
            mandatory = True,
            providers = [[ImageManifestInfo], [ImageIndexInfo]],
            aspects = [pulled_base],
            doc = "The image: an image_manifest, an image_index or a pulled image.",
        ),
        source_uri = attr.string(
            doc = "Where the source comes from, for example `git+https://github.com/org/repo`; a template " +
                  "such as `{{.STABLE_GIT_REMOTE}}`.",
        ),
        source_revision = attr.string(
            default = "{{.STABLE_GIT_COMMIT}}",
            doc = "The source revision built; a template. Default: the workspace status key STABLE_GIT_COMMIT.",
        ),
        builder_id = attr.string(
            default = "https://rules-img.dev/builder/bazel",
            doc = "The builder's id in the provenance (runDetails.builder.id), for example your CI's.",
        ),
        **template_attrs("source_uri and source_revision")
    ),
    toolchains = [TOOLCHAIN],
)
