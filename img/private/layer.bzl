"""The image_layer rule: files, runfiles and symlinks as one layer blob."""

load(":compression.bzl", "annotation_args", "compression_args", "compression_attrs", "resolve_compression")
load(":file_metadata.bzl", "check_metadata")
load(":providers.bzl", "LayerInfo")
load(":worker.bzl", "WORKER_REQUIREMENTS", "worker_arguments")

_TOOLCHAIN = "//img:toolchain_type"

def clean_path(label, attribute, path):
    """Normalizes a path in the image ("/a//b/" → "a/b"), or fails.

    Args:
      label: the target, for the message.
      attribute: the attribute that holds the path.
      path: the path as the user wrote it.

    Returns:
      The path without leading, trailing or doubled slashes.
    """
    for bad in ["\t", "\n"]:
        if bad in path:
            fail("%s: %s path %r contains a tab or newline" % (label, attribute, path))
    parts = [p for p in path.split("/") if p not in ["", "."]]
    if ".." in parts:
        fail("%s: %s path %r contains '..': write it from the image root, without '..'" % (label, attribute, path))
    if not parts:
        fail("%s: %s path %r names the image root: give a file path such as /app/bin/server" % (label, attribute, path))
    return "/".join(parts)

def _escape_format(s):
    return s.replace("%", "%%")

def _runfile_line(f):
    return f.short_path + "\t" + f.path

def _runfile_symlink_line(entry):
    return entry.path + "\t" + entry.target_file.path

def _empty_runfile_line(name):
    return name + "\t"

def _add_runfiles(args, path, target):
    """Adds the runfiles tree of an executable at <path>.runfiles."""
    info = target[DefaultInfo]
    runfiles = info.default_runfiles
    if runfiles == None:
        return []
    prefix = _escape_format(path)
    args.add_all(runfiles.files, map_each = _runfile_line, format_each = "runfile\t" + prefix + "\t%s")
    args.add_all(runfiles.symlinks, map_each = _runfile_symlink_line, format_each = "runfile\t" + prefix + "\t%s")
    args.add_all(runfiles.empty_filenames, map_each = _empty_runfile_line, format_each = "runfile\t" + prefix + "\t%s")
    args.add_all(runfiles.root_symlinks, map_each = _runfile_symlink_line, format_each = "rootrunfile\t" + prefix + "\t%s")
    inputs = [runfiles.files]

    # Symlink entries hold their files: only a tree that has some is
    # flattened (few do; an empty depset is false without flattening).
    for entries in [runfiles.symlinks, runfiles.root_symlinks]:
        if entries:
            inputs.append(depset([e.target_file for e in entries.to_list()]))
    repo_mapping = info.files_to_run.repo_mapping_manifest
    if repo_mapping:
        args.add("file\t%s.runfiles/_repo_mapping\t%s" % (path, repo_mapping.path))
        inputs.append(depset([repo_mapping]))
    return inputs

def _src_file(ctx, path, target):
    """The one file that a srcs entry puts at path."""
    info = target[DefaultInfo]
    executable = info.files_to_run.executable
    if executable:
        return executable
    files = info.files.to_list()
    if len(files) != 1:
        fail("%s: srcs[%r] is %s, which gives %d files; map it to a single file, or give each file its own path" % (
            ctx.label,
            path,
            target.label,
            len(files),
        ))
    return files[0]

def _decode_metadata(ctx, attribute, value):
    where = "%s: %s" % (ctx.label, attribute)
    fields = json.decode(value, default = None)
    if type(fields) != "dict":
        fail("%s: %r is not a file_metadata(...) value" % (where, value))
    check_metadata(fields, where)
    return fields

def _image_layer_impl(ctx):
    compression = resolve_compression(ctx)
    blob = ctx.actions.declare_file(ctx.label.name + compression.extension)
    layer_metadata = ctx.actions.declare_file(ctx.label.name + ".layer.json")

    # Most layers set no metadata: no file to write then (one action less
    # to analyse per layer, which counts with hundreds of layers).
    metadata = None
    if ctx.attr.default_metadata or ctx.attr.file_metadata:
        metadata = ctx.actions.declare_file(ctx.label.name + ".file_metadata.json")
        ctx.actions.write(metadata, json.encode({
            "default": _decode_metadata(ctx, "default_metadata", ctx.attr.default_metadata or "{}"),
            "paths": {
                clean_path(ctx.label, "file_metadata", p): _decode_metadata(ctx, "file_metadata[%r]" % p, m)
                for p, m in ctx.attr.file_metadata.items()
            },
        }))

    # The flags, then the input list, one entry per argument: all of it in
    # the param file of the action, which a worker gets as one request.
    command = worker_arguments(ctx, "layer")
    args = command.flags
    args.add(str(ctx.label), format = "--label=%s")
    args.add(ctx.workspace_name, format = "--workspace_name=%s")
    if metadata:
        args.add(metadata, format = "--metadata=%s")
    compression_args(args, compression)
    annotation_args(args, ctx.attr.annotations)
    args.add(blob, format = "--blob=%s")
    args.add(layer_metadata, format = "--meta=%s")

    inputs = []
    claimed = {}

    def claim(path, what):
        if path in claimed:
            fail("%s: two entries map to /%s: %s and %s; give each its own path" % (ctx.label, path, claimed[path], what))
        claimed[path] = what

    for raw_path, target in ctx.attr.srcs.items():
        path = clean_path(ctx.label, "srcs", raw_path)
        claim(path, "srcs[%r]" % raw_path)
        src = _src_file(ctx, raw_path, target)
        args.add("file\t%s\t%s" % (path, src.path))
        inputs.append(depset([src]))
        if target[DefaultInfo].files_to_run.executable and ctx.attr.include_runfiles:
            inputs.extend(_add_runfiles(args, path, target))
    for raw_path, link_target in ctx.attr.symlinks.items():
        path = clean_path(ctx.label, "symlinks", raw_path)
        claim(path, "symlinks[%r]" % raw_path)
        if not link_target or "\t" in link_target or "\n" in link_target:
            fail("%s: symlinks[%r] needs a target without tabs or newlines" % (ctx.label, raw_path))
        args.add("symlink\t%s\t%s" % (path, link_target))

    ctx.actions.run(
        executable = ctx.toolchains[_TOOLCHAIN].imgtool.executable,
        arguments = command.list,
        inputs = depset([metadata] if metadata else [], transitive = inputs),
        outputs = [blob, layer_metadata],
        mnemonic = "ImageLayer",
        progress_message = "Writing layer %{label}",
        execution_requirements = WORKER_REQUIREMENTS,
        toolchain = _TOOLCHAIN,
    )
    return [
        DefaultInfo(files = depset([blob, layer_metadata])),
        LayerInfo(blob = blob, metadata = layer_metadata, media_type = compression.media_type, estargz = compression.estargz),
    ]

image_layer = rule(
    implementation = _image_layer_impl,
    doc = """A layer built from files, directories, executables and symlinks.

The tar is deterministic: entries sorted by path, parent directories
created, fixed mtimes, no host users or groups. Files with identical
content and attributes are stored once and hardlinked.""",
    attrs = dict(
        srcs = attr.string_keyed_label_dict(
            allow_files = True,
            doc = "Path in the image → file, directory (tree artifact) or executable, for example " +
                  "`{\"/app/bin/server\": \"//cmd/server\", \"/app/config\": \"//configs:prod\"}`. " +
                  "An executable brings its runfiles at `PATH.runfiles/` (unless `include_runfiles` " +
                  "is False); any other target must give exactly one file.",
        ),
        symlinks = attr.string_dict(
            doc = "Link path in the image → link target, written as it is (absolute or relative), " +
                  "for example `{\"/usr/local/bin/server\": \"/app/bin/server\"}`.",
        ),
        file_metadata = attr.string_dict(
            doc = "Path in the image → `file_metadata(...)` for that entry, over `default_metadata`, " +
                  "for example `{\"/app/config\": file_metadata(mode = \"0750\")}`.",
        ),
        default_metadata = attr.string(
            doc = "`file_metadata(...)` for every entry, for example `file_metadata(uid = 1000, gid = 1000)`; " +
                  "its mode applies to files only. Empty: root-owned, 0755 executables and directories, " +
                  "0644 files, the epoch as mtime.",
        ),
        include_runfiles = attr.bool(
            default = True,
            doc = "Lay out the runfiles of executables in `srcs` at `PATH.runfiles/`, with the " +
                  "`_repo_mapping` file, where Bazel's launchers and runfiles libraries look for them.",
        ),
        **compression_attrs("`gzip`, `zstd` or `none`; `auto` uses `--@rules_img//img/settings:compress` (default gzip).")
    ),
    toolchains = [_TOOLCHAIN],
)
