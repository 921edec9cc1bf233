"""The image_push rule: `bazel run` pushes an image to a registry."""

load(":deploy.bzl", "deploy_info", "deploy_operation", "remote_cache_setting")
load(":providers.bzl", "AttestationInfo", "ImageIndexInfo", "ImageManifestInfo", "user_label")
load(":push_bes.bzl", "bes_outputs")
load(":settings.bzl", "SettingValueInfo")
load(":templates.bzl", "template_attrs")

_TOOLCHAIN = "//img:toolchain_type"

PUSH_STRATEGIES = ["eager", "lazy", "cas_registry", "bes"]

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

def _attestations(ctx, strategy):
    """The push config's attestations, and the files they name."""
    if ctx.attr.attestations and strategy == "bes":
        fail("%s: attestations are attached by `bazel run` of the push, and the bes strategy pushes from the BES server: use another strategy" % ctx.label)
    configs, files = [], []
    for target in ctx.attr.attestations:
        info = target[AttestationInfo]
        configs.append({
            "documents": [{"document": d.document.short_path, "subject": d.subject.short_path} for d in info.documents],
            "media_type": info.media_type,
            "predicate_type": info.predicate_type,
            "statement": getattr(info, "statement", False),
        })
        for d in info.documents:
            files.extend([d.document, d.subject])
    return configs, files

def _image_push_impl(ctx):
    strategy = push_strategy(ctx, ctx.attr.strategy)
    attestations, attestation_files = _attestations(ctx, strategy)
    op = deploy_operation(
        ctx,
        "push",
        data = {
            "attestations": attestations,
            "credential_helper": ctx.attr._credential_helper[SettingValueInfo].value,
            "label": user_label(ctx.label),
            "remote_cache": remote_cache_setting(ctx),
            "strategy": strategy,
        },
        templates = {
            "registry": ctx.attr.registry,
            "repository": ctx.attr.repository,
        },
        extra_files = attestation_files,
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

Signing happens at run time, with keys that never enter the build:
`--sign_key=cosign.key` (a `cosign generate-key-pair` key; its password in
`$COSIGN_PASSWORD`), or `--sign_command=PROGRAM` with
`--sign_public_key=cosign.pub` (a program that signs what it reads on
standard input), signs the pushed image (an index and each of its
images) in cosign's format, and each of `attestations` as a cosign
attestation; `--notation_key=KEY --notation_cert=CHAIN` adds a notation
signature. `--sign` fails, before anything is pushed, unless a key is
given. A push again signs nothing new.

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
        attestations = attr.label_list(
            providers = [AttestationInfo],
            doc = "Documents about the image to push with it, such as image_sbom and image_provenance " +
                  "targets: each an OCI artifact whose subject is the image (the registry's referrers API, " +
                  "or the `sha256-<hex>` tag where it has none), and a cosign attestation when the push signs.",
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
