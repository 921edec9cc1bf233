"""The image_push rule: `bazel run` pushes an image to a registry."""

load(":deploy.bzl", "deploy_operation", "remote_cache_setting")
load(":providers.bzl", "DeployInfo", "ImageIndexInfo", "ImageManifestInfo")
load(":push_bes.bzl", "bes_outputs")
load(":settings.bzl", "SettingValueInfo", "StampInfo")

_TOOLCHAIN = "//toolchains:toolchain_type"

PUSH_STRATEGIES = ["eager", "lazy", "cas_registry", "bes"]

def _label(label):
    """The label as users write it: //pkg:name in the main repository."""
    s = str(label)
    for prefix in ["@@//", "@//"]:
        if s.startswith(prefix):
            return s[len(prefix) - 2:]
    return s

def _image_push_impl(ctx):
    strategy = ctx.attr.strategy or ctx.attr._push_strategy[SettingValueInfo].value
    op = deploy_operation(ctx, "push", {
        "credential_helper": ctx.attr._credential_helper[SettingValueInfo].value,
        "label": _label(ctx.label),
        "registry": ctx.attr.registry,
        "remote_cache": remote_cache_setting(ctx),
        "repository": ctx.attr.repository,
        "strategy": strategy,
    })

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
        DeployInfo(
            kind = "push",
            spec = op.spec,
            config = op.config,
            runfiles = runfiles,
            strategy = strategy,
            eager_runfiles = op.runfiles,
            lazy_runfiles = op.metadata_runfiles,
        ),
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
        "registry": attr.string(doc = "Registry host[:port], for example `ghcr.io` or `localhost:5000`. Empty: give `--registry` at run time."),
        "repository": attr.string(doc = "Repository in the registry, for example `my-project/app`. Empty: give `--repository` at run time."),
        "tag": attr.string(doc = "A tag, for example `latest`; may use `{VAR}` from the workspace status when stamping, as in `{BUILD_USER}-dev`."),
        "image_tags": attr.string_list(doc = "More tags, like tag (the image_push macro's `tags`). With no tag at all, the image is pushed by digest only."),
        "tag_file": attr.label(allow_single_file = True, doc = "A file with one tag per line, for tags computed by another rule."),
        "strategy": attr.string(
            values = [""] + PUSH_STRATEGIES,
            doc = "The push strategy (eager, lazy, cas_registry or bes); empty follows " +
                  "//img/settings:push_strategy.",
        ),
        "_credential_helper": attr.label(default = "//img/settings:credential_helper", providers = [SettingValueInfo]),
        "_push_strategy": attr.label(default = "//img/settings:push_strategy", providers = [SettingValueInfo]),
        "_remote_cache": attr.label(default = "//img/settings:remote_cache", providers = [SettingValueInfo]),
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
      **kwargs: the attributes of image_push_rule (image, registry, repository,
        tag, tag_file, strategy, ...) and common attributes such as visibility.
    """
    image_push_rule(name = name, image_tags = tags, tags = target_tags, **kwargs)
