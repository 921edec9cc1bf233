"""Repository rules for base images: the `pull` rule and the repositories
that the images extension plans."""

load(":fetch.bzl", "resolve_tag", "run_img_tool")
load(":pull_attrs.bzl", "pull_attrs", "pull_spec")

_SPEC = "fetch.json"

def last_segment(canonical_name):
    """The part of a canonical repository name after its last separator.

    Bazel 7 separates the parts of a canonical name with "~", Bazel 8 with
    "+" (--incompatible_use_plus_in_repo_names). Apparent names contain
    neither, so the part after the last of either is the apparent name.

    Args:
      canonical_name: a canonical repository name, or a WORKSPACE name.

    Returns:
      The last part.
    """
    return canonical_name.split("~")[-1].split("+")[-1]

def apparent_name(rctx):
    """The name that the repository was declared with.

    Args:
      rctx: the repository context.

    Returns:
      rctx.original_name when Bazel has it, else the last part of rctx.name.
    """
    if hasattr(rctx, "original_name"):
        return rctx.original_name
    return last_segment(rctx.name)

def _generated_repo_impl(rctx):
    if rctx.attr.fetch:
        spec = json.decode(rctx.attr.fetch)
        rctx.file(_SPEC, rctx.attr.fetch)
        run_img_tool(
            rctx,
            "fetching %s@%s" % (spec["repository"], spec["digest"]),
            ["fetch-image", "--spec", _SPEC, "--out", "."],
            downloader = spec["downloader"],
            registries = spec["registries"],
            repository = spec["repository"],
        )
        rctx.delete(_SPEC)
    for path, content in rctx.attr.files.items():
        rctx.file(path, content)

generated_repo = repository_rule(
    implementation = _generated_repo_impl,
    doc = "A repository planned by the images extension's generator.",
    attrs = {
        "files": attr.string_dict(doc = "Path → content, written as they are."),
        "fetch": attr.string(doc = "JSON: what to download first (generator.Fetch): an index, or a platform's manifest."),
    },
)

def _pull_impl(rctx):
    name = apparent_name(rctx)
    spec = pull_spec(name, rctx.attr)
    what = "pull %r" % name
    digest = spec["digest"]
    if not digest:
        if not spec["tag"]:
            fail("%s: give digest (recommended), or tag" % what)
        digest = resolve_tag(rctx, what, name, spec["tag"], spec["registries"], spec["repository"])

        # buildifier: disable=print
        print("WARNING: %s: the tag %r resolved to %s; add digest = %r so that the image cannot change under the build" % (
            what,
            spec["tag"],
            digest,
            digest,
        ))
    args = [
        "pull-repo",
        "--name",
        name,
        "--repository",
        spec["repository"],
        "--digest",
        digest,
        "--layer-handling",
        spec["layer_handling"],
        "--out",
        ".",
    ]
    if spec["tag"]:
        args.extend(["--tag", spec["tag"]])
    for r in spec["registries"]:
        args.extend(["--registry", r])
    for p in spec["platforms"]:
        args.extend(["--platform", p])
    run_img_tool(rctx, what, args, spec["downloader"], spec["registries"], spec["repository"])

pull = repository_rule(
    implementation = _pull_impl,
    doc = """A base image from a registry: by `digest` (reproducible), or by `tag`, resolved when
the repository is fetched with a warning that gives the digest to pin.

`@NAME` is the image: for an index, an index of the platforms taken (see
`platforms`), which `image_manifest(base = ...)` picks the target
platform's image from, and which `image_push` pushes whole; for a single
manifest, that image. `@NAME//:linux_amd64` (os_arch[_variant]) is one
platform's image.

The index of `@NAME` has the source index's digest when every manifest
of it was taken; when some were left out (platforms not asked for,
attestations), it is a new index of those taken, written when the
repository is fetched, with the source's media type, order and
annotations.

Manifests and configs are downloaded when Bazel makes the repository;
layers as `layer_handling` says.""",
    attrs = pull_attrs(layer_handling = "shallow"),
)
