"""What image_push builds for the bes push strategy: the files a Build Event
Service server (tools/cmd/bes) reads from the remote cache to push."""

load(":deploy.bzl", "deploy_spec")

def _rewrite(spec, renamed):
    """Replaces the paths of spec that renamed maps."""
    if spec.get("index"):
        spec["index"] = renamed.get(spec["index"], spec["index"])
    for m in spec["manifests"]:
        for key in ["manifest", "config", "descriptor"]:
            m[key] = renamed.get(m[key], m[key])
        for layer in m["layers"]:
            layer["metadata"] = renamed.get(layer["metadata"], layer["metadata"])

def bes_outputs(ctx, op):
    """The default outputs of an image_push whose strategy is bes.

    The server recognises a push target by `<name>.bes.deploy.json` and
    `<name>.bes.push.json` among its outputs, and reads every file by the
    digest Bazel reports for it, from the remote cache. So every file it
    reads is the output of an action that Bazel runs or finds in the cache,
    which puts it there: the spec, settings and tags (written by Bazel
    itself otherwise) and the metadata of pulled base images (source files
    of their repositories) are copied by one action. Layer blobs are not
    outputs: the server streams them from the cache by the digests in the
    layer metadata, and as outputs they would make Bazel run the downloads
    of shallow base layers.

    Args:
      ctx: the rule context of image_push.
      op: what deploy_operation returned.

    Returns:
      A depset of Files.
    """
    image = deploy_spec(ctx, ctx.attr.image, exec_paths = True)
    blobs = {}
    for m in image.spec["manifests"]:
        for layer in m["layers"]:
            if "blob" in layer:
                blobs[layer.pop("blob")] = True
    copies = []  # (from, to)
    renamed = {}
    metadata = []
    for f in image.files:
        if f.path in blobs or f.path in renamed:
            continue
        if f.is_source:
            copy = ctx.actions.declare_file("%s.bes/%s" % (ctx.label.name, f.path))
            copies.append((f, copy))
            renamed[f.path] = copy.path
            metadata.append(copy)
        else:
            metadata.append(f)
    _rewrite(image.spec, renamed)
    written = ctx.actions.declare_file(ctx.label.name + ".bes.deploy.in.json")
    ctx.actions.write(written, json.encode(image.spec))
    spec = ctx.actions.declare_file(ctx.label.name + ".bes.deploy.json")
    config = ctx.actions.declare_file(ctx.label.name + ".bes.push.json")
    copies += [(written, spec), (op.config, config)]
    outputs = [spec, config]
    if op.tag_file:
        tags = ctx.actions.declare_file(ctx.label.name + ".bes.tags.txt")
        copies.append((op.tag_file, tags))
        outputs.append(tags)
    args = ctx.actions.args()
    for src, dst in copies:
        args.add(src)
        args.add(dst)
    ctx.actions.run_shell(
        command = 'while [ $# -gt 0 ]; do cp "$1" "$2"; shift 2; done',
        arguments = [args],
        inputs = [src for src, _ in copies],
        outputs = [dst for _, dst in copies],
        mnemonic = "ImageBesFiles",
        progress_message = "Writing the BES push files of %{label}",
    )
    return depset([op.launcher] + outputs + metadata)
