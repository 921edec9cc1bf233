"""Analysis tests: bad input fails at analysis with a message that names the
target and the path, and the manifest action never reads layer blobs."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load("//img:image.bzl", "image_manifest")
load("//img:layer.bzl", "image_layer")

def _expect_failure_impl(ctx):
    env = analysistest.begin(ctx)
    asserts.expect_failure(env, ctx.attr.message)
    return analysistest.end(env)

expect_failure_test = analysistest.make(
    _expect_failure_impl,
    expect_failure = True,
    attrs = {"message": attr.string(mandatory = True)},
)

unmapped_platform_failure_test = analysistest.make(
    _expect_failure_impl,
    expect_failure = True,
    attrs = {"message": attr.string(mandatory = True)},
    config_settings = {"//command_line_option:platforms": str(Label("//img/tests:no_oci_os"))},
)

def _manifest_reads_metadata_only_impl(ctx):
    env = analysistest.begin(ctx)
    actions = [a for a in analysistest.target_actions(env) if a.mnemonic == "ImageManifest"]
    asserts.equals(env, 1, len(actions), "one ImageManifest action")
    inputs = [f.basename for f in actions[0].inputs.to_list()]
    for name in inputs:
        for ext in [".tar", ".tar.gz", ".tar.zst"]:
            asserts.false(env, name.endswith(ext), "the manifest action reads the layer blob %s" % name)
    asserts.true(env, "layer_a.layer.json" in inputs, "layer metadata is an input: %s" % inputs)
    asserts.true(env, "layer_b.layer.json" in inputs, "layer metadata is an input: %s" % inputs)
    return analysistest.end(env)

manifest_reads_metadata_only_test = analysistest.make(_manifest_reads_metadata_only_impl)

def _bad_layer(name, message, **kwargs):
    image_layer(name = name, tags = ["manual"], **kwargs)
    expect_failure_test(name = name + "_test", target_under_test = name, message = message, size = "small")
    return name + "_test"

def analysis_test_suite(name):
    """Declares every analysis test of this package.

    Args:
      name: name of the test_suite.
    """
    tests = [
        _bad_layer(
            name = "duplicate_path",
            srcs = {"/app/a.txt": "a.txt", "app//a.txt": "b.txt"},
            message = "two entries map to /app/a.txt",
        ),
        _bad_layer(
            name = "symlink_over_file",
            srcs = {"/app/a.txt": "a.txt"},
            symlinks = {"/app/a.txt": "/elsewhere"},
            message = "two entries map to /app/a.txt",
        ),
        _bad_layer(
            name = "dotdot",
            srcs = {"/app/../etc/passwd": "a.txt"},
            message = "//img/tests:dotdot: srcs path \"/app/../etc/passwd\" contains '..'",
        ),
        _bad_layer(
            name = "bad_mode",
            srcs = {"/app/a.txt": "a.txt"},
            file_metadata = {"/app/a.txt": '{"mode": "0999"}'},
            message = "//img/tests:bad_mode: file_metadata[\"/app/a.txt\"]: mode \"0999\" is not an octal permission",
        ),
        _bad_layer(
            name = "bad_default_uid",
            srcs = {"/app/a.txt": "a.txt"},
            default_metadata = '{"uid": -1}',
            message = "//img/tests:bad_default_uid: default_metadata: uid -1 must be a non-negative integer",
        ),
        _bad_layer(
            name = "root_path",
            srcs = {"/": "a.txt"},
            message = "names the image root",
        ),
        _bad_layer(
            name = "many_files",
            srcs = {"/app/both": ":two_files"},
            message = "which gives 2 files",
        ),
    ]

    image_layer(name = "layer_a", srcs = {"/a.txt": "a.txt"}, tags = ["manual"])
    image_layer(name = "layer_b", srcs = {"/b.txt": "b.txt"}, compress = "zstd", tags = ["manual"])
    image_manifest(name = "image", layers = [":layer_a", ":layer_b"], tags = ["manual"])
    manifest_reads_metadata_only_test(name = "manifest_reads_metadata_only_test", target_under_test = ":image", size = "small")
    tests.append("manifest_reads_metadata_only_test")
    unmapped_platform_failure_test(
        name = "unmapped_platform_test",
        target_under_test = ":image",
        message = "the target platform has no @platforms//os constraint that maps to an OCI platform",
        size = "small",
    )
    tests.append("unmapped_platform_test")

    native.test_suite(name = name, tests = tests)
