"""Analysis tests of image_index, layer_from_tar and the compression
settings: bad input fails at analysis with a message naming the target,
and each setting reaches the img tool's flags."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load("//img:image.bzl", "ImageIndexInfo", "image_index", "image_manifest")
load("//img:layer.bzl", "LayerInfo", "image_layer", "layer_from_tar")
load("//img/private:providers.bzl", "platform_string")

def _expect_failure_impl(ctx):
    env = analysistest.begin(ctx)
    asserts.expect_failure(env, ctx.attr.message)
    return analysistest.end(env)

_failure_test = analysistest.make(
    _expect_failure_impl,
    expect_failure = True,
    attrs = {"message": attr.string(mandatory = True)},
)

_failure_under_estargz_test = analysistest.make(
    _expect_failure_impl,
    expect_failure = True,
    attrs = {"message": attr.string(mandatory = True)},
    config_settings = {str(Label("//img/settings:estargz")): "enabled"},
)

def _argv(env, mnemonic):
    actions = [a for a in analysistest.target_actions(env) if a.mnemonic == mnemonic]
    asserts.equals(env, 1, len(actions), "one %s action" % mnemonic)
    return actions[0].argv if actions else []

def _flag(argv, name):
    """The value after --name in argv, True for a flag without one, or None."""
    for i, arg in enumerate(argv):
        if arg == "--" + name:
            return argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("--") else True
        if arg.startswith("--" + name + "="):
            return arg.split("=", 1)[1]
    return None

def _layer_flags_impl(ctx):
    env = analysistest.begin(ctx)
    argv = _argv(env, ctx.attr.mnemonic)
    for name, want in ctx.attr.flags.items():
        got = _flag(argv, name)
        if want == "<absent>":
            asserts.equals(env, None, got, "--%s in %s" % (name, argv))
        elif want == "<set>":
            asserts.equals(env, True, got, "--%s in %s" % (name, argv))
        else:
            asserts.equals(env, want, got, "--%s in %s" % (name, argv))
    info = analysistest.target_under_test(env)[LayerInfo]
    asserts.equals(env, ctx.attr.media_type, info.media_type)
    asserts.true(env, info.blob.basename.endswith(ctx.attr.blob_suffix), "blob %s" % info.blob.basename)
    return analysistest.end(env)

def _layer_flags_test(config_settings = {}):
    return analysistest.make(
        _layer_flags_impl,
        attrs = {
            "blob_suffix": attr.string(mandatory = True),
            "flags": attr.string_dict(doc = "flag → value, <set> or <absent>"),
            "media_type": attr.string(mandatory = True),
            "mnemonic": attr.string(default = "ImageLayer"),
        },
        config_settings = config_settings,
    )

_layer_flags_default_test = _layer_flags_test()
_layer_flags_opt_test = _layer_flags_test({"//command_line_option:compilation_mode": "opt"})
_layer_flags_settings_test = _layer_flags_test({
    str(Label("//img/settings:compression_jobs")): "3",
    str(Label("//img/settings:create_parent_directories")): "disabled",
    str(Label("//img/settings:estargz")): "enabled",
})
_layer_flags_zstd_test = _layer_flags_test({str(Label("//img/settings:compress")): "zstd"})

def _index_impl(ctx):
    env = analysistest.begin(ctx)
    actions = [a for a in analysistest.target_actions(env) if a.mnemonic == "ImageIndex"]
    asserts.equals(env, 1, len(actions), "one ImageIndex action")

    # The img tool aside; an index without annotations writes no file of them.
    inputs = [
        f.basename
        for f in actions[0].inputs.to_list()
        if f.basename not in ["img", "img.exe"]
    ]
    asserts.equals(env, 2, len(inputs), "inputs %s" % inputs)
    for name in inputs:
        asserts.true(env, name.endswith(".descriptor.json"), "the index action reads %s, not only descriptors" % name)
    info = analysistest.target_under_test(env)[ImageIndexInfo]
    asserts.equals(
        env,
        ["linux/amd64", "linux/arm64/v8"],
        [platform_string(m) for m in info.manifests],
    )
    asserts.true(env, info.index.basename.endswith(".index.json"))
    return analysistest.end(env)

_index_test = analysistest.make(_index_impl)

def _actions_impl(ctx):
    env = analysistest.begin(ctx)
    mnemonics = sorted([a.mnemonic for a in analysistest.target_actions(env)])
    asserts.equals(env, sorted(ctx.attr.mnemonics), mnemonics, "the actions of %s" % ctx.attr.target_under_test.label)
    return analysistest.end(env)

# Every action counts when a monorepo analyses thousands of targets.
_actions_test = analysistest.make(_actions_impl, attrs = {"mnemonics": attr.string_list()})

def _index_manifest_count_impl(ctx):
    env = analysistest.begin(ctx)
    info = analysistest.target_under_test(env)[ImageIndexInfo]
    asserts.equals(env, ctx.attr.count, len(info.manifests))
    return analysistest.end(env)

_index_manifest_count_test = analysistest.make(_index_manifest_count_impl, attrs = {"count": attr.int()})

def _test(rule, name, **kwargs):
    rule(name = name, size = "small", **kwargs)
    return name

def index_and_layer_test_suite(name):
    """Declares the analysis tests of image_index, layer_from_tar and the settings.

    Args:
      name: name of the test_suite.
    """
    image_layer(name = "idx_layer", srcs = {"/a.txt": "a.txt"}, tags = ["manual"])
    image_manifest(name = "idx_image", layers = [":idx_layer"], tags = ["manual"])
    image_manifest(name = "idx_image2", layers = [":idx_layer"], tags = ["manual"])
    image_index(
        name = "index_two_platforms",
        manifests = [":idx_image"],
        platforms = [":linux_amd64", ":linux_arm64"],
        tags = ["manual"],
    )
    image_index(
        name = "index_same_oci_platform",
        manifests = [":idx_image"],
        platforms = [":linux_amd64", ":linux_x86_64_too"],
        tags = ["manual"],
    )
    image_index(name = "index_as_built_twice", manifests = [":idx_image", ":idx_image2"], tags = ["manual"])
    image_index(name = "index_unmapped", manifests = [":idx_image"], platforms = [":no_oci_os"], tags = ["manual"])
    image_layer(name = "esgz_zstd", srcs = {"/a.txt": "a.txt"}, compress = "zstd", estargz = "enabled", tags = ["manual"])
    image_layer(name = "zstd_only", srcs = {"/a.txt": "a.txt"}, compress = "zstd", tags = ["manual"])
    image_layer(name = "none_only", srcs = {"/a.txt": "a.txt"}, compress = "none", tags = ["manual"])
    image_layer(name = "bad_jobs", srcs = {"/a.txt": "a.txt"}, compression_jobs = "many", tags = ["manual"])
    image_layer(name = "zstd_level", srcs = {"/a.txt": "a.txt"}, compress = "zstd", compression_level = 7, tags = ["manual"])
    image_layer(name = "plain_layer", srcs = {"/a.txt": "a.txt"}, tags = ["manual"])
    image_layer(
        name = "tuned_layer",
        srcs = {"/a.txt": "a.txt"},
        compression_jobs = "1",
        create_parent_directories = "enabled",
        estargz = "disabled",
        tags = ["manual"],
    )
    layer_from_tar(name = "tar_kept", src = "sample.tar.gz", tags = ["manual"])
    layer_from_tar(name = "tar_same_compression", src = "sample.tar.gz", compress = "gzip", tags = ["manual"])
    layer_from_tar(name = "tar_to_zstd", src = "sample.tar.gz", compress = "zstd", deduplicate = True, tags = ["manual"])
    layer_from_tar(name = "tar_plain_dedup", src = "sample.tar", deduplicate = True, allow_devices = True, tags = ["manual"])

    tests = [
        _test(_index_test, "index_two_platforms_test", target_under_test = ":index_two_platforms"),
        _test(
            _actions_test,
            "layer_actions_test",
            target_under_test = ":plain_layer",
            mnemonics = ["ImageLayer"],
        ),
        _test(
            _actions_test,
            "index_actions_test",
            target_under_test = ":index_two_platforms",
            mnemonics = ["ImageIndex", "ImageLayout", "ImageLayout", "FileWrite"],
        ),
        # OCI allows several manifests of one platform.
        _test(_index_manifest_count_test, "index_same_oci_platform_test", target_under_test = ":index_same_oci_platform", count = 2),
        _test(_index_manifest_count_test, "index_as_built_twice_test", target_under_test = ":index_as_built_twice", count = 2),
        _test(
            _failure_test,
            "index_unmapped_test",
            target_under_test = ":index_unmapped",
            message = "the target platform has no @platforms//os constraint that maps to an OCI platform",
        ),
        _test(
            _layer_flags_default_test,
            "esgz_zstd_test",
            target_under_test = ":esgz_zstd",
            flags = {"compress": "zstd", "estargz": "<set>"},
            media_type = "application/vnd.oci.image.layer.v1.tar+zstd",
            blob_suffix = ".tar.zst",
        ),
        _test(
            _failure_under_estargz_test,
            "esgz_setting_none_test",
            target_under_test = ":none_only",
            message = "//img/tests:none_only: a seekable layer (--@rules_img//img/settings:estargz) is compressed (eStargz with gzip, zstd:chunked with zstd), but the compression is none (the attribute compress)",
        ),
        _test(
            _failure_test,
            "bad_jobs_test",
            target_under_test = ":bad_jobs",
            message = "//img/tests:bad_jobs: the attribute compression_jobs is \"many\": use 1, nproc, auto or a positive number",
        ),
        _test(
            _failure_test,
            "zstd_level_test",
            target_under_test = ":zstd_level",
            message = "the attribute compression_level is 7, out of range for zstd: use 1 to 4",
        ),
        _test(
            _layer_flags_default_test,
            "default_flags_test",
            target_under_test = ":plain_layer",
            flags = {"compress": "gzip", "estargz": "<absent>", "jobs": "0", "level": "-1", "parent_directories": "true"},
            media_type = "application/vnd.oci.image.layer.v1.tar+gzip",
            blob_suffix = ".tar.gz",
        ),
        _test(
            _layer_flags_opt_test,
            "opt_jobs_test",
            target_under_test = ":plain_layer",
            flags = {"jobs": "1"},
            media_type = "application/vnd.oci.image.layer.v1.tar+gzip",
            blob_suffix = ".tar.gz",
        ),
        _test(
            _layer_flags_settings_test,
            "settings_flags_test",
            target_under_test = ":plain_layer",
            flags = {"estargz": "<set>", "jobs": "3", "parent_directories": "false"},
            media_type = "application/vnd.oci.image.layer.v1.tar+gzip",
            blob_suffix = ".tar.gz",
        ),
        _test(
            _layer_flags_settings_test,
            "attributes_win_test",
            target_under_test = ":tuned_layer",
            flags = {"estargz": "<absent>", "jobs": "1", "parent_directories": "true"},
            media_type = "application/vnd.oci.image.layer.v1.tar+gzip",
            blob_suffix = ".tar.gz",
        ),
        _test(
            _layer_flags_zstd_test,
            "zstd_setting_test",
            target_under_test = ":plain_layer",
            flags = {"compress": "zstd"},
            media_type = "application/vnd.oci.image.layer.v1.tar+zstd",
            blob_suffix = ".tar.zst",
        ),
        _test(
            _layer_flags_zstd_test,
            "tar_kept_test",
            target_under_test = ":tar_kept",
            mnemonic = "ImageLayerFromTar",
            flags = {"blob": "<absent>", "compress": "<absent>", "src_compression": "gzip"},
            media_type = "application/vnd.oci.image.layer.v1.tar+gzip",
            blob_suffix = "sample.tar.gz",
        ),
        _test(
            _layer_flags_default_test,
            "tar_same_compression_test",
            target_under_test = ":tar_same_compression",
            mnemonic = "ImageLayerFromTar",
            flags = {"blob": "<absent>"},
            media_type = "application/vnd.oci.image.layer.v1.tar+gzip",
            blob_suffix = "sample.tar.gz",
        ),
        _test(
            _layer_flags_default_test,
            "tar_to_zstd_test",
            target_under_test = ":tar_to_zstd",
            mnemonic = "ImageLayerFromTar",
            flags = {"compress": "zstd", "deduplicate": "<set>", "src_compression": "gzip"},
            media_type = "application/vnd.oci.image.layer.v1.tar+zstd",
            blob_suffix = "tar_to_zstd.tar.zst",
        ),
        _test(
            _layer_flags_default_test,
            "tar_plain_dedup_test",
            target_under_test = ":tar_plain_dedup",
            mnemonic = "ImageLayerFromTar",
            # Rewritten: the compress setting applies.
            flags = {"allow_devices": "<set>", "compress": "gzip", "src_compression": "none"},
            media_type = "application/vnd.oci.image.layer.v1.tar+gzip",
            blob_suffix = "tar_plain_dedup.tar.gz",
        ),
        _test(
            _layer_flags_settings_test,
            "tar_estargz_setting_zstd_test",
            target_under_test = ":tar_to_zstd",
            mnemonic = "ImageLayerFromTar",
            # A seekable zstd layer is zstd:chunked.
            flags = {"compress": "zstd", "estargz": "<set>", "deduplicate": "<set>"},
            media_type = "application/vnd.oci.image.layer.v1.tar+zstd",
            blob_suffix = "tar_to_zstd.tar.zst",
        ),
    ]
    native.test_suite(name = name, tests = tests)
