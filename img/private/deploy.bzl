"""What deploy rules (push, load) hand to the img tool: a spec that lists an
image's files as runfiles paths (for `bazel run`), or as exec paths (for an
action)."""

load(":providers.bzl", "DeployInfo", "ImageIndexInfo", "ImageManifestInfo")
load(":settings.bzl", "SettingValueInfo")
load(":templates.bzl", "expand_templates")

_TOOLCHAIN = "//img:toolchain_type"

def _place(f, state, blob = False):
    """Records a file and returns the path the spec gives it.

    The manifests of an index are built in one configuration per platform,
    so their files share short paths: in runfiles each manifest's files go
    below a directory of their own (state.prefix), as symlinks.
    """
    state.files.append(f)
    if blob:
        state.blobs.append(f)
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
            entry["blob"] = _place(layer.blob, state, blob = True)
        layers.append(entry)
    return {
        "config": _place(m.config, state),
        "descriptor": _place(m.descriptor, state),
        "layers": layers,
        "manifest": _place(m.manifest, state),
    }

def _state(exec_paths, prefix = ""):
    return struct(exec_paths = exec_paths, prefix = prefix, files = [], blobs = [], symlinks = {})

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
      the spec says, metadata_runfiles = the same without the layer blobs,
      for pushes that stream the blobs from the remote cache).
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
    blobs = {}
    for state in states:
        files.extend(state.files)
        for b in state.blobs:
            blobs[b] = True
        if state.prefix:
            symlinks.update(state.symlinks)
        else:
            plain.extend(state.files)
    return struct(
        spec = spec,
        files = files,
        runfiles = ctx.runfiles(files = plain, symlinks = symlinks),
        metadata_runfiles = ctx.runfiles(
            files = [f for f in plain if f not in blobs],
            symlinks = {p: f for p, f in symlinks.items() if f not in blobs},
        ),
    )

def remote_cache_has_credentials(address):
    """Whether a cache address holds credentials (user@host, user:pw@host).

    The same notion as the img tool's cas.HasCredentials: an "@" in the
    authority, with a scheme or without one (user:pw@cache:443); the
    authority ends at the first "/", "?" or "#". unix: addresses have no
    authority, so an "@" in a socket path is no credential.

    Args:
      address: a cache address in the format of Bazel's --remote_cache.

    Returns:
      True if the address names credentials.
    """
    if address[:5].lower() == "unix:":
        return False
    rest = address.partition("://")[2] if "://" in address else address
    authority = rest
    for end in ["/", "?", "#"]:
        authority = authority.partition(end)[0]
    return "@" in authority

def remote_cache_setting(ctx):
    """The value of //img/settings:remote_cache, refused if it holds credentials.

    The value is written into the push and load configs (runfiles; for bes
    also uploaded to the cache), so a user:password in it would leak.

    Args:
      ctx: the rule context (with _remote_cache).

    Returns:
      The remote cache address, or "".
    """
    value = ctx.attr._remote_cache[SettingValueInfo].value
    if remote_cache_has_credentials(value):
        fail(("%s: --@rules_img//img/settings:remote_cache has credentials in its URL (user@host), " +
              "which would be copied into the target's outputs: give the address without them, and " +
              "the credentials through --@rules_img//img/settings:credential_helper or " +
              "$IMG_REAPI_HEADERS at run time") % ctx.label)
    return value

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

def image_tags(ctx):
    """The tag templates of a deploy rule: `tag`, then `tag_list`.

    Args:
      ctx: the context of a rule with tag, tag_list and tag_file.

    Returns:
      The list of tag templates, expanded later by expand_templates.
    """
    if ctx.attr.tag and ctx.attr.tag_list:
        fail("%s: give tag or tag_list, not both: tag_list = [%r, ...] holds every tag" % (ctx.label, ctx.attr.tag))
    tags = ([ctx.attr.tag] if ctx.attr.tag else []) + ctx.attr.tag_list
    for t in tags:
        if not t.strip() or "\n" in t:
            fail("%s: tag %r is empty or spans lines" % (ctx.label, t))
    if tags and ctx.file.tag_file:
        fail("%s: give tag/tag_list or tag_file, not both" % ctx.label)
    return tags

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

def deploy_operation(ctx, kind, data, templates, extra_files = []):
    """Writes what `bazel run` of a push or load needs: spec, config, launcher.

    Args:
      ctx: the rule context (with image, tag, tag_list, tag_file, the
        template_attrs() and _launcher).
      kind: the img subcommand, "push" or "load".
      data: the operation's settings that are not templates.
      templates: the operation's settings that are templates (registry,
        repository); the tags are added here.
      extra_files: more files the operation reads, whatever its strategy.

    Returns:
      struct(kind, launcher, runfiles, metadata_runfiles (runfiles without
      the layer blobs), spec, config, tool, tag_file).
    """
    tool = ctx.toolchains[_TOOLCHAIN].imgtool.executable
    image = deploy_spec(ctx, ctx.attr.image)
    tag_file = ctx.file.tag_file
    spec = ctx.actions.declare_file(ctx.label.name + ".deploy.json")
    ctx.actions.write(spec, json.encode(image.spec))
    config = expand_templates(
        ctx,
        "%s.%s.json" % (ctx.label.name, kind),
        templates = dict(templates, tags = image_tags(ctx)),
        data = dict(data, tags_file = tag_file.short_path if tag_file else ""),
        drop_empty = ["tags"],
    )
    launcher = deploy_launcher(ctx, kind, [
        "--spec",
        '"$runfiles/%s"' % rlocation(ctx, spec),
        "--config",
        '"$runfiles/%s"' % rlocation(ctx, config),
    ])
    base = ctx.runfiles(files = [tool, spec, config] + ([tag_file] if tag_file else []) + extra_files)
    return struct(
        kind = kind,
        launcher = launcher,
        runfiles = base.merge(image.runfiles),
        metadata_runfiles = base.merge(image.metadata_runfiles),
        spec = spec,
        config = config,
        tool = tool,
        tag_file = tag_file,
    )

def deploy_info(op, strategy, runfiles):
    """The DeployInfo of a push or load, for multi_deploy.

    Args:
      op: what deploy_operation returned.
      strategy: the strategy the target resolved.
      runfiles: the runfiles that strategy needs.

    Returns:
      DeployInfo.
    """
    return DeployInfo(
        kind = op.kind,
        spec = op.spec,
        config = op.config,
        runfiles = runfiles,
        strategy = strategy,
        eager_runfiles = op.runfiles,
        lazy_runfiles = op.metadata_runfiles,
    )
