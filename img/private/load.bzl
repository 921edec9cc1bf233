"""The image_load rule: `bazel run` loads an image into a local daemon."""

load(":deploy.bzl", "deploy_info", "deploy_operation", "deploy_spec", "image_tags", "remote_cache_setting")
load(":providers.bzl", "ImageIndexInfo", "ImageManifestInfo", "platform_string")
load(":settings.bzl", "SettingValueInfo")
load(":templates.bzl", "expand_templates", "template_attrs")

_TOOLCHAIN = "//img:toolchain_type"

DAEMONS = ["containerd", "docker", "podman", "tar"]

LOAD_STRATEGIES = ["eager", "lazy"]

def load_strategy(ctx, value):
    """The load strategy of a target: its attribute, unless auto.

    Args:
      ctx: the context of a rule with the _load_strategy setting.
      value: the attribute's value: auto (or empty), eager or lazy.

    Returns:
      eager or lazy.
    """
    if value in ["", "auto"]:
        return ctx.attr._load_strategy[SettingValueInfo].value
    return value

def _tarball_action(ctx, tool):
    """Declares the action of the `tarball` output group: a docker-save tarball."""
    image = deploy_spec(ctx, ctx.attr.image, exec_paths = True)
    platform = ""
    if ImageIndexInfo in ctx.attr.image:
        # A docker-save tarball holds one platform per name: the first one.
        platform = platform_string(ctx.attr.image[ImageIndexInfo].manifests[0])
    spec = ctx.actions.declare_file(ctx.label.name + ".tarball.deploy.json")
    ctx.actions.write(spec, json.encode(image.spec))
    tag_file = ctx.file.tag_file
    config = expand_templates(
        ctx,
        ctx.label.name + ".tarball.load.json",
        templates = {"tags": image_tags(ctx)},
        data = {"daemon": "tar", "platform": platform, "tags_file": tag_file.path if tag_file else ""},
        drop_empty = ["tags"],
    )
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
        inputs = [spec, config] + ([tag_file] if tag_file else []) + image.files,
        outputs = [out],
        mnemonic = "ImageTarball",
        progress_message = "Writing the docker-save tarball of %{label}",
        toolchain = _TOOLCHAIN,
    )
    return out

def _image_load_impl(ctx):
    strategy = load_strategy(ctx, ctx.attr.strategy)
    daemon = ctx.attr.daemon
    if daemon == "auto":
        daemon = ctx.attr._daemon[SettingValueInfo].value
    op = deploy_operation(
        ctx,
        "load",
        data = {
            "credential_helper": ctx.attr._credential_helper[SettingValueInfo].value,
            "daemon": daemon,
            "remote_cache": remote_cache_setting(ctx),
            "strategy": strategy,
        },
        templates = {},
    )

    # lazy: the layers the daemon lacks are streamed from the remote cache.
    runfiles = op.metadata_runfiles if strategy == "lazy" else op.runfiles
    return [
        DefaultInfo(executable = op.launcher, runfiles = runfiles),
        OutputGroupInfo(tarball = depset([_tarball_action(ctx, op.tool)])),
        deploy_info(op, strategy, runfiles),
    ]

image_load = rule(
    implementation = _image_load_impl,
    doc = """Loads an image into a local daemon with `bazel run`. It prints the image's names.

containerd, and Docker with the containerd image store, are written to over
containerd's API: only the blobs the daemon lacks, then the names, then an
unpack so that the image runs at once. Docker's classic store and podman
get a docker-save tarball streamed to `docker load` / `podman load`. `tar`
writes that tarball to `--output FILE` or standard output.

At run time: `--platform os/arch[/variant]` picks a platform of an index
(default: the daemon's; `all` loads every one; Docker takes one), `--daemon`
the daemon, `--address` its socket, `--namespace` the containerd
namespace, `--tag` (repeated) the names.

The output group `tarball` is the docker-save tarball, written by an
action (an index: its first platform).

`tag` and `tag_list` are templates: see `build_settings` and `stamp`.
`tags` is Bazel's own attribute (for example `tags = ["manual"]`), never
an image name.""",
    executable = True,
    attrs = dict(
        image = attr.label(
            mandatory = True,
            providers = [[ImageManifestInfo], [ImageIndexInfo]],
            doc = "The image to load: an image_manifest, an image_index, or a pulled image such as `@ubuntu`.",
        ),
        tag = attr.string(
            doc = "The name to load as, `name:tag` such as `my-app:dev` (Docker's short names are expanded: " +
                  "`docker.io/library/my-app:dev`); a template such as `my-app:{{.BUILD_USER}}`. Not with `tag_list`.",
        ),
        tag_list = attr.string_list(
            doc = "Several names, each a template; one that expands to the empty string is dropped. Not with `tag`.",
        ),
        tag_file = attr.label(allow_single_file = True, doc = "A file with one `name:tag` per line, for names computed by another rule."),
        daemon = attr.string(
            default = "auto",
            values = ["auto"] + DAEMONS,
            doc = "Where to load: `containerd` (every platform of an index can be loaded; only missing blobs " +
                  "are written), `docker` (through its containerd when Docker uses the containerd image " +
                  "store and the socket is reachable, else a stream to `docker load`, one platform), " +
                  "`podman`, `tar`; `auto` follows --@rules_img//img/settings:load_daemon (default docker). " +
                  "`--daemon` at run time wins.",
        ),
        strategy = attr.string(
            default = "auto",
            values = ["auto"] + LOAD_STRATEGIES,
            doc = "`eager`: the layer blobs are built and in the runfiles. `lazy`: the runfiles hold only " +
                  "metadata; the blobs the daemon lacks are streamed from the remote cache " +
                  "(--@rules_img//img/settings:remote_cache), as a lazy push does. `auto` follows " +
                  "--@rules_img//img/settings:load_strategy (default eager).",
        ),
        _credential_helper = attr.label(default = "//img/settings:credential_helper", providers = [SettingValueInfo]),
        _daemon = attr.label(default = "//img/settings:load_daemon", providers = [SettingValueInfo]),
        _load_strategy = attr.label(default = "//img/settings:load_strategy", providers = [SettingValueInfo]),
        _remote_cache = attr.label(default = "//img/settings:remote_cache", providers = [SettingValueInfo]),
        _launcher = attr.label(allow_single_file = True, default = "//img/private:deploy.sh.tpl"),
        **template_attrs("tag and tag_list")
    ),
    toolchains = [_TOOLCHAIN],
)
