"""Repository rules for base images: the `pull` rule and the repositories
that the images extension plans."""

load(":pull_attrs.bzl", "PULL_ATTRS", "pull_spec")

# The img tool for this machine (prebuilt, or built from source).
_IMG_HOST_TOOL = Label("@img_host_tool//:img")
_IMG_HOST_TOOL_WINDOWS = Label("@img_host_tool//:img.exe")

def host_tool(ctx):
    """The path of the img tool for this machine, for a module or repository context."""
    return ctx.path(_IMG_HOST_TOOL_WINDOWS if ctx.os.name.lower().startswith("windows") else _IMG_HOST_TOOL)

def _run(rctx, what, args):
    result = rctx.execute([host_tool(rctx)] + args, quiet = True, timeout = 600)
    if result.return_code != 0:
        fail("%s: %s" % (what, result.stderr.strip()))

def _generated_repo_impl(rctx):
    if rctx.attr.fetch:
        f = json.decode(rctx.attr.fetch)
        args = ["fetch-image", "--repository", f["repository"], "--digest", f["digest"], "--platform", f["platform"], "--out", "."]
        for r in f["registries"]:
            args.extend(["--registry", r])
        _run(rctx, "fetching %s of %s" % (f["platform"], f["repository"]), args)
    for path, content in rctx.attr.files.items():
        rctx.file(path, content)

generated_repo = repository_rule(
    implementation = _generated_repo_impl,
    doc = "A repository planned by the images extension's generator.",
    attrs = {
        "files": attr.string_dict(doc = "Path → content, written as they are."),
        "fetch": attr.string(doc = "JSON: the platform manifest to download first (registries, repository, digest, platform)."),
    },
)

def _pull_impl(rctx):
    # The apparent name, the last part of the canonical one, names the image target.
    name = rctx.name.split("~")[-1]
    spec = pull_spec(name, rctx.attr)
    if not spec["digest"]:
        fail("pull %r: give digest, so that the image cannot change under the build; the images extension with a lockfile resolves tags for you" % name)
    args = ["pull-repo", "--name", name, "--repository", spec["repository"], "--digest", spec["digest"], "--out", "."]
    if spec["tag"]:
        args.extend(["--tag", spec["tag"]])
    for r in spec["registries"]:
        args.extend(["--registry", r])
    for p in spec["platforms"]:
        args.extend(["--platform", p])
    _run(rctx, "pull %r" % name, args)

pull = repository_rule(
    implementation = _pull_impl,
    doc = """A base image pinned by digest, pulled shallowly: manifests and
configs only. `@NAME` is the image for the target platform.""",
    attrs = PULL_ATTRS,
)
