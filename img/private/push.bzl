"""The image_push rule: `bazel run` pushes an image to a registry."""

load(":deploy.bzl", "deploy_spec", "rlocation")
load(":providers.bzl", "DeployInfo", "ImageIndexInfo", "ImageManifestInfo")
load(":settings.bzl", "StampInfo")

_TOOLCHAIN = "//toolchains:toolchain_type"

def tags_file(ctx, tags, tool):
    """Writes the tags, expanded from the workspace status when stamping.

    Args:
      ctx: the rule context (with _stamp).
      tags: list of tag templates.
      tool: the img tool executable.

    Returns:
      The File with one tag per line.
    """
    out = ctx.actions.declare_file(ctx.label.name + ".tags.txt")
    if not ctx.attr._stamp[StampInfo].enabled:
        ctx.actions.write(out, "\n".join(tags) + "\n")
        return out
    raw = ctx.actions.declare_file(ctx.label.name + ".tags.in.txt")
    ctx.actions.write(raw, "\n".join(tags) + "\n")
    args = ctx.actions.args()
    args.add("stamp")
    args.add("--in", raw)
    args.add("--out", out)
    args.add("--status", ctx.info_file)
    args.add("--status", ctx.version_file)
    ctx.actions.run(
        executable = tool,
        arguments = [args],
        inputs = [raw, ctx.info_file, ctx.version_file],
        outputs = [out],
        mnemonic = "ImageStamp",
        progress_message = "Stamping tags of %{label}",
        toolchain = _TOOLCHAIN,
    )
    return out

def deploy_tag_files(ctx, tool):
    """The file of tags of a deploy rule: from tag and tags (stamped), or tag_file.

    Args:
      ctx: the rule context (with tag, image_tags, tag_file and _stamp).
      tool: the img tool executable.

    Returns:
      A list with the one File of tags, or an empty list.
    """
    tags = ([ctx.attr.tag] if ctx.attr.tag else []) + ctx.attr.image_tags
    for t in tags:
        if not t or " " in t or "\n" in t:
            fail("%s: tag %r is empty or has spaces" % (ctx.label, t))
    if tags and ctx.file.tag_file:
        fail("%s: give tag/tags or tag_file, not both" % ctx.label)
    if tags:
        return [tags_file(ctx, tags, tool)]
    return [ctx.file.tag_file] if ctx.file.tag_file else []

def deploy_launcher(ctx, command, args):
    """Writes the launcher that runs `img <command>` from runfiles.

    Args:
      ctx: the rule context (with _launcher).
      command: the img subcommand.
      args: list of extra arguments (runfiles paths are relative to the root).

    Returns:
      The executable File.
    """
    tool = ctx.toolchains[_TOOLCHAIN].imgtool.executable
    launcher = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.expand_template(
        template = ctx.file._launcher,
        output = launcher,
        substitutions = {
            "{ARGS}": " ".join(args),
            "{COMMAND}": command,
            "{IMG}": rlocation(ctx, tool),
        },
        is_executable = True,
    )
    return launcher

def _image_push_impl(ctx):
    tool = ctx.toolchains[_TOOLCHAIN].imgtool.executable
    image = deploy_spec(ctx, ctx.attr.image)
    tag_files = deploy_tag_files(ctx, tool)

    spec = ctx.actions.declare_file(ctx.label.name + ".deploy.json")
    ctx.actions.write(spec, json.encode(image.spec))
    config = ctx.actions.declare_file(ctx.label.name + ".push.json")
    ctx.actions.write(config, json.encode({
        "registry": ctx.attr.registry,
        "repository": ctx.attr.repository,
        "tags": [],
        "tags_file": tag_files[0].short_path if tag_files else "",
    }))
    launcher = deploy_launcher(ctx, "push", [
        "--spec",
        '"$runfiles/%s"' % rlocation(ctx, spec),
        "--config",
        '"$runfiles/%s"' % rlocation(ctx, config),
    ])
    runfiles = ctx.runfiles(files = [tool, spec, config] + tag_files).merge(image.runfiles)
    return [
        DefaultInfo(executable = launcher, runfiles = runfiles),
        DeployInfo(kind = "push", spec = spec, config = config, runfiles = runfiles),
    ]

image_push_rule = rule(
    implementation = _image_push_impl,
    doc = """Pushes an image with `bazel run`. It prints the pushed reference with its digest.

Blobs the registry has are skipped, blobs in another repository of the same
registry are mounted, layers of pulled bases are streamed from their source
registry; tags are written last. At run time, `--registry`, `--repository`
and `--tag` (repeated) override the attributes.""",
    executable = True,
    attrs = {
        "image": attr.label(mandatory = True, providers = [[ImageManifestInfo], [ImageIndexInfo]], doc = "The image_manifest or image_index to push."),
        "registry": attr.string(doc = "Registry host[:port], for example ghcr.io."),
        "repository": attr.string(doc = "Repository, for example my-project/app."),
        "tag": attr.string(doc = "A tag; may use {VAR} from the workspace status when stamping."),
        "image_tags": attr.string_list(doc = "More tags, like tag (the image_push macro's `tags`)."),
        "tag_file": attr.label(allow_single_file = True, doc = "A file with one tag per line."),
        "_launcher": attr.label(allow_single_file = True, default = "//img/private:deploy.sh.tpl"),
        "_stamp": attr.label(default = "//img/private:stamp", providers = [StampInfo]),
    },
    toolchains = [_TOOLCHAIN],
)

def image_push(name, tags = [], target_tags = None, **kwargs):
    """Pushes an image with `bazel run`; see image_push_rule for the attributes.

    Args:
      name: the target name.
      tags: image tags, each may use {VAR} when stamping (Bazel's target tags: target_tags).
      target_tags: Bazel tags of the target, such as "manual".
      **kwargs: image, registry, repository, tag, tag_file and common attributes.
    """
    image_push_rule(name = name, image_tags = tags, tags = target_tags, **kwargs)
