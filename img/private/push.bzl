"""The image_push rule: `bazel run` pushes an image to a registry."""

load(":deploy.bzl", "deploy_info", "deploy_operation", "remote_cache_setting")
load(":providers.bzl", "ImageIndexInfo", "ImageManifestInfo")
load(":push_bes.bzl", "bes_outputs")
load(":settings.bzl", "SettingValueInfo")
load(":templates.bzl", "template_attrs")

_TOOLCHAIN = "//img:toolchain_type"

PUSH_STRATEGIES = ["eager", "lazy", "cas_registry", "bes"]

def _label(label):
    """The label as users write it: //pkg:name in the main repository."""
    s = str(label)
    for prefix in ["@@//", "@//"]:
        if s.startswith(prefix):
            return s[len(prefix) - 2:]
    return s

def push_strategy(ctx, value):
    """The push strategy of a target: its attribute, unless auto.

    Args:
      ctx: the context of a rule with the _push_strategy setting.
      value: the attribute's value: auto (or empty) or a strategy.

    Returns:
      eager, lazy, cas_registry or bes.
    """
    if value in ["", "auto"]:
        return ctx.attr._push_strategy[SettingValueInfo].value
    return value

def _image_push_impl(ctx):
    strategy = push_strategy(ctx, ctx.attr.strategy)
    op = deploy_operation(
        ctx,
        "push",
        data = {
            "credential_helper": ctx.attr._credential_helper[SettingValueInfo].value,
            "label": _label(ctx.label),
            "remote_cache": remote_cache_setting(ctx),
            "strategy": strategy,
        },
        templates = {
            "registry": ctx.attr.registry,
            "repository": ctx.attr.repository,
        },
    )

    # Every strategy but eager streams the layer blobs from the remote
    # cache at run time: the runfiles hold only metadata, so that `bazel
    # run` under --remote_download_minimal downloads no layer.
    runfiles = op.runfiles if strategy == "eager" else op.metadata_runfiles
    return [
        DefaultInfo(
            executable = op.launcher,
            runfiles = runfiles,
            # bes: a BES server pushes after `bazel build`, from these files.
            files = bes_outputs(ctx, op) if strategy == "bes" else None,
        ),
        deploy_info(op, strategy, runfiles),
    ]

image_push = rule(
    implementation = _image_push_impl,
    doc = """Pushes an image or an index with `bazel run`. It prints the pushed
reference with its digest, then each tag.

Blobs the registry has are skipped, blobs in another repository of the same
registry are mounted, layers of pulled bases are streamed from their source
registry; tags are written last. With no tag the image is pushed by digest
only. At run time, `--registry`, `--repository` and `--tag` (repeated)
override the attributes, and `--strategy` the push strategy.

`registry`, `repository`, `tag` and `tag_list` are templates: see
`build_settings` and `stamp`. `tags` is Bazel's own attribute (for
example `tags = ["manual"]`), never an image tag.""",
    executable = True,
    attrs = dict(
        image = attr.label(
            mandatory = True,
            providers = [[ImageManifestInfo], [ImageIndexInfo]],
            doc = "The image to push: an image_manifest, an image_index (every platform is pushed), or a " +
                  "pulled image such as `@ubuntu`.",
        ),
        registry = attr.string(
            doc = "Registry host[:port], for example `ghcr.io`, `index.docker.io` or `localhost:5000`; a " +
                  "template. Empty: give `--registry` at run time.",
        ),
        repository = attr.string(
            doc = "Repository in the registry, for example `my-project/app`; a template such as " +
                  "`{{.PROJECT}}/app`. Empty: give `--repository` at run time.",
        ),
        tag = attr.string(doc = "A tag, for example `latest`; a template such as `{{.VERSION}}`. Not with `tag_list`."),
        tag_list = attr.string_list(
            doc = "Tags, for example `[\"latest\", \"v1.0.0\"]`; each a template. A tag that expands to the " +
                  "empty string is dropped, so `{{if .RELEASE}}stable{{end}}` adds a tag only for releases.",
        ),
        tag_file = attr.label(allow_single_file = True, doc = "A file with one tag per line, for tags computed by another rule. Not with `tag` or `tag_list`."),
        strategy = attr.string(
            default = "auto",
            values = ["auto"] + PUSH_STRATEGIES,
            doc = "The push strategy: `eager`, `lazy`, `cas_registry` or `bes` (see " +
                  "docs/guides/push-load-stamp.md); `auto` follows --@rules_img//img/settings:push_strategy " +
                  "(default eager).",
        ),
        _credential_helper = attr.label(default = "//img/settings:credential_helper", providers = [SettingValueInfo]),
        _push_strategy = attr.label(default = "//img/settings:push_strategy", providers = [SettingValueInfo]),
        _remote_cache = attr.label(default = "//img/settings:remote_cache", providers = [SettingValueInfo]),
        _launcher = attr.label(allow_single_file = True, default = "//img/private:deploy.sh.tpl"),
        **template_attrs("registry, repository, tag and tag_list")
    ),
    toolchains = [_TOOLCHAIN],
)
