"""The pulled image at the bottom of an image, for the documents that name
it (image_sbom, image_provenance)."""

load(":layer_files.bzl", "manifests_of")
load(":providers.bzl", "PullInfo")

PulledBaseInfo = provider(
    doc = "The pulled image at the bottom of each image of a target.",
    fields = {"by_manifest": "dict of manifest File to dict: registry, repository, tag, digest."},
)

def _pulled_base_impl(target, ctx):
    images = manifests_of(target)
    if PullInfo in target:
        pull = target[PullInfo]
        base = {
            # The registries are mirrors first: the last is the image's home.
            "digest": pull.digest,
            "registry": pull.registries[-1],
            "repository": pull.repository,
            "tag": pull.tag,
        }
        return [PulledBaseInfo(by_manifest = {m.manifest: base for m in images})]
    by_manifest = {}
    deps = [getattr(ctx.rule.attr, "base", None)] + (getattr(ctx.rule.attr, "manifests", None) or [])
    found = [d[PulledBaseInfo].by_manifest for d in deps if type(d) == "Target" and PulledBaseInfo in d]
    for m in images:
        for dep_bases in found:
            if m.manifest in dep_bases:
                by_manifest[m.manifest] = dep_bases[m.manifest]
        if m.manifest not in by_manifest and found and len(images) == 1:
            # An image_manifest: its base's (any platform's: one pull).
            bases = [b for dep_bases in found for b in dep_bases.values()]
            if bases:
                by_manifest[m.manifest] = bases[0]
    return [PulledBaseInfo(by_manifest = by_manifest)]

pulled_base = aspect(
    implementation = _pulled_base_impl,
    attr_aspects = ["base", "manifests"],
)
