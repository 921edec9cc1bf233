"""What deploy rules (push, load) hand to the img tool: a spec that lists an
image's files as runfiles paths (for `bazel run`), or as exec paths (for an
action)."""

load(":providers.bzl", "ImageIndexInfo", "ImageManifestInfo")

def _place(f, state):
    """Records a file and returns the path the spec gives it.

    The manifests of an index are built in one configuration per platform,
    so their files share short paths: in runfiles each manifest's files go
    below a directory of their own (state.prefix), as symlinks.
    """
    state.files.append(f)
    if state.exec_paths:
        return f.path
    if not state.prefix:
        return f.short_path
    short = f.short_path
    if short.startswith("../"):
        short = "external/" + short[3:]
    path = state.prefix + "/" + short
    state.symlinks[path] = f
    return path

def _manifest_spec(m, state):
    layers = []
    for layer in m.layers:
        entry = {"metadata": _place(layer.metadata, state)}

        # A shallow layer is read from its registry at run time: its blob
        # stays remote. An action has no network of its own: it takes the
        # blob that a download action fetched.
        if layer.blob and (state.exec_paths or not getattr(layer, "shallow", False)):
            entry["blob"] = _place(layer.blob, state)
        layers.append(entry)
    return {
        "config": _place(m.config, state),
        "descriptor": _place(m.descriptor, state),
        "layers": layers,
        "manifest": _place(m.manifest, state),
    }

def _state(exec_paths, prefix = ""):
    return struct(exec_paths = exec_paths, prefix = prefix, files = [], symlinks = {})

def deploy_spec(ctx, image, exec_paths = False):
    """Describes an image or an index for the img tool's deploy commands.

    Args:
      ctx: the rule context.
      image: a target with ImageManifestInfo or ImageIndexInfo.
      exec_paths: name the files by exec path, for an action that runs the
        img tool with `--runfiles .`, and take the downloaded blobs of
        shallow layers; by default, runfiles paths for `bazel run`.

    Returns:
      struct(spec = dict for JSON, files = list of the Files the spec names
      (an action's inputs), runfiles = the runfiles that hold them where
      the spec says).
    """
    workspace = "" if exec_paths else ctx.workspace_name
    states = []
    if ImageIndexInfo in image:
        info = image[ImageIndexInfo]
        top = _state(exec_paths)
        spec = {"index": _place(info.index, top), "manifests": [], "workspace_name": workspace}
        _place(info.descriptor, top)
        states.append(top)
        for i, m in enumerate(info.manifests):
            prefix = "/".join([x for x in [ctx.label.package, "%s.deploy" % ctx.label.name, str(i)] if x])
            state = _state(exec_paths, prefix)
            spec["manifests"].append(_manifest_spec(m, state))
            states.append(state)
    elif ImageManifestInfo in image:
        state = _state(exec_paths)
        spec = {"manifests": [_manifest_spec(image[ImageManifestInfo], state)], "workspace_name": workspace}
        states.append(state)
    else:
        fail("%s: %s is not an image (image_manifest or image_index)" % (ctx.label, image.label))
    files, plain, symlinks = [], [], {}
    for state in states:
        files.extend(state.files)
        if state.prefix:
            symlinks.update(state.symlinks)
        else:
            plain.extend(state.files)
    return struct(
        spec = spec,
        files = files,
        runfiles = ctx.runfiles(files = plain, symlinks = symlinks),
    )

def rlocation(ctx, f):
    """The runfiles path of a file, for launchers.

    Args:
      ctx: the rule context.
      f: a File.

    Returns:
      The path of f below the runfiles root.
    """
    if f.short_path.startswith("../"):
        return f.short_path[3:]
    return ctx.workspace_name + "/" + f.short_path
