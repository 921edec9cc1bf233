"""The image_load rule: `bazel run` loads an image into a local daemon."""

load(":deploy.bzl", "deploy_operation", "deploy_spec", "remote_cache_setting")
load(":providers.bzl", "DeployInfo", "ImageIndexInfo", "ImageManifestInfo")
load(":settings.bzl", "SettingValueInfo", "StampInfo")

_TOOLCHAIN = "//toolchains:toolchain_type"

def _platform_string(p):
    return "/".join([x for x in [p.os, p.architecture, p.variant] if x])

def _tarball_action(ctx, tool, tag_files):
    """Declares the action of the `tarball` output group: a docker-save tarball."""
    image = deploy_spec(ctx, ctx.attr.image, exec_paths = True)
    platform = ""
    if ImageIndexInfo in ctx.attr.image:
        # A docker-save tarball holds one platform per name: the first one.
        platform = _platform_string(ctx.attr.image[ImageIndexInfo].manifests[0].platform)
    spec = ctx.actions.declare_file(ctx.label.name + ".tarball.deploy.json")
    ctx.actions.write(spec, json.encode(image.spec))
    config = ctx.actions.declare_file(ctx.label.name + ".tarball.load.json")
    ctx.actions.write(config, json.encode({
        "daemon": "tar",
        "platform": platform,
        "tags": [],
        "tags_file": tag_files[0].path if tag_files else "",
    }))
    out = ctx.actions.declare_file(ctx.label.name + ".tar")
    args = ctx.actions.args()
    args.add("load")
    args.add("--quiet")
    args.add("--runfiles", ".")
    args.add("--spec", spec)
    args.add("--config", config)
    args.add("--daemon", "tar")
    args.add("--output", out)
    ctx.actions.run(
        executable = tool,
        arguments = [args],
        inputs = [spec, config] + tag_files + image.files,
        outputs = [out],
        mnemonic = "ImageTarball",
        progress_message = "Writing the docker-save tarball of %{label}",
        toolchain = _TOOLCHAIN,
    )
    return out

def _image_load_impl(ctx):
    strategy = ctx.attr._load_strategy[SettingValueInfo].value
    op = deploy_operation(ctx, "load", {
        "credential_helper": ctx.attr._credential_helper[SettingValueInfo].value,
        "daemon": ctx.attr._daemon[SettingValueInfo].value,
        "remote_cache": remote_cache_setting(ctx),
        "strategy": strategy,
    })

    # lazy: the layers the daemon lacks are streamed from the remote cache.
    runfiles = op.metadata_runfiles if strategy == "lazy" else op.runfiles
    return [
        DefaultInfo(executable = op.launcher, runfiles = runfiles),
        OutputGroupInfo(tarball = depset([_tarball_action(ctx, op.tool, op.tag_files)])),
        DeployInfo(kind = "load", spec = op.spec, config = op.config, runfiles = runfiles),
    ]

image_load_rule = rule(
    implementation = _image_load_impl,
    doc = """Loads an image into a local daemon with `bazel run`. It prints the image's names.

The daemon is `--@rules_img//img/settings:load_daemon` (containerd, docker,
podman or tar), or `--daemon` at run time. containerd, and Docker with the
containerd image store, are written to over containerd's API: only the
blobs the daemon lacks, then the names, then an unpack so that the image
runs at once. Docker's classic store and podman get a docker-save tarball
streamed to `docker load` / `podman load`. `tar` writes that tarball to
`--output FILE` or standard output.

At run time: `--platform os/arch[/variant]` picks a platform of an index
(default: the daemon's; `all` loads every one), `--address` the daemon's
socket, `--namespace` the containerd namespace, `--tag` (repeated) the
names.

The output group `tarball` is the docker-save tarball, written by an
action (an index: its first platform).

With `--@rules_img//img/settings:load_strategy=lazy` the layer blobs are
not in the runfiles: those the daemon lacks are streamed from the remote
cache (`//img/settings:remote_cache`), as a lazy push does.""",
    executable = True,
    attrs = {
        "image": attr.label(
            mandatory = True,
            providers = [[ImageManifestInfo], [ImageIndexInfo]],
            doc = "The image_manifest or image_index to load.",
        ),
        "tag": attr.string(
            doc = "The name to load as, `name:tag` such as `my-app:dev` (Docker's short names are expanded: " +
                  "`docker.io/library/my-app:dev`); may use `{VAR}` from the workspace status when stamping.",
        ),
        "image_tags": attr.string_list(doc = "More names, like tag (the image_load macro's `tags`)."),
        "tag_file": attr.label(allow_single_file = True, doc = "A file with one `name:tag` per line, for names computed by another rule."),
        "_credential_helper": attr.label(default = "//img/settings:credential_helper", providers = [SettingValueInfo]),
        "_daemon": attr.label(default = "//img/settings:load_daemon", providers = [SettingValueInfo]),
        "_load_strategy": attr.label(default = "//img/settings:load_strategy", providers = [SettingValueInfo]),
        "_remote_cache": attr.label(default = "//img/settings:remote_cache", providers = [SettingValueInfo]),
        "_launcher": attr.label(allow_single_file = True, default = "//img/private:deploy.sh.tpl"),
        "_stamp": attr.label(default = "//img/private:stamp", providers = [StampInfo]),
    },
    toolchains = [_TOOLCHAIN],
)

def image_load(name, tags = [], target_tags = None, **kwargs):
    """Loads an image with `bazel run`; see image_load_rule for the attributes.

    Args:
      name: the target name.
      tags: image names (name:tag), each may use {VAR} when stamping (Bazel's target tags: target_tags).
      target_tags: Bazel tags of the target, such as "manual".
      **kwargs: the attributes of image_load_rule (image, tag, tag_file) and
        common attributes such as visibility.
    """
    image_load_rule(name = name, image_tags = tags, tags = target_tags, **kwargs)
