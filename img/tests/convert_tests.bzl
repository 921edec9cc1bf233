"""Analysis tests of image_manifest_from_oci_layout and
image_index_from_oci_layout: bad attributes fail with what to write, and
the actions declare one blob per layer, linking only what another action
wrote."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load("//img:convert.bzl", "image_index_from_oci_layout", "image_manifest_from_oci_layout")
load("//img:image.bzl", "ImageIndexInfo", "ImageManifestInfo")
load("//img:media_types.bzl", "GZIP_LAYER", "ZSTD_LAYER")

def _expect_failure_impl(ctx):
    env = analysistest.begin(ctx)
    asserts.expect_failure(env, ctx.attr.message)
    return analysistest.end(env)

_failure_test = analysistest.make(
    _expect_failure_impl,
    expect_failure = True,
    attrs = {"message": attr.string(mandatory = True)},
)

def _from_layout_actions(env):
    return [a for a in analysistest.target_actions(env) if a.mnemonic == "ImageFromLayout"]

def _source_layout_impl(ctx):
    env = analysistest.begin(ctx)
    actions = _from_layout_actions(env)
    asserts.equals(env, 1, len(actions), "one ImageFromLayout action")
    outputs = sorted([f.basename for f in actions[0].outputs.to_list()])
    asserts.equals(env, ["0.json", "0.tar.gz", "1.json", "1.tar.zst"], [o for o in outputs if o[0].isdigit()])
    asserts.false(env, "--link" in actions[0].argv, "a layout of source files is copied, never linked")
    info = analysistest.target_under_test(env)[ImageManifestInfo]
    asserts.equals(env, [GZIP_LAYER, ZSTD_LAYER], [layer.media_type for layer in info.layers])
    asserts.equals(env, "linux/arm64/v8", "%s/%s/%s" % (info.os, info.architecture, info.platform["variant"]))
    return analysistest.end(env)

_source_layout_test = analysistest.make(_source_layout_impl)

def _generated_layout_impl(ctx):
    env = analysistest.begin(ctx)
    actions = _from_layout_actions(env)
    asserts.equals(env, 2, len(actions), "one ImageFromLayout action per platform")
    for a in actions:
        asserts.true(env, "--link" in a.argv, "a layout another action wrote is linked")
    info = analysistest.target_under_test(env)[ImageIndexInfo]
    asserts.equals(env, ["amd64", "arm64"], [m.architecture for m in info.manifests])
    return analysistest.end(env)

_generated_layout_test = analysistest.make(_generated_layout_impl)

def _generated_layout_dir_impl(ctx):
    out = ctx.actions.declare_directory(ctx.label.name)
    ctx.actions.run_shell(outputs = [out], command = "exit 1")
    return [DefaultInfo(files = depset([out]))]

_generated_layout_dir = rule(implementation = _generated_layout_dir_impl)

def convert_test_suite(name):
    """Declares the analysis tests of the conversion rules.

    Args:
      name: name of the test_suite.
    """
    native.filegroup(name = "layout_files", srcs = native.glob(["layout/**"]))
    _generated_layout_dir(name = "generated_layout", tags = ["manual"])
    image_manifest_from_oci_layout(
        name = "from_layout_files",
        src = ":layout_files",
        os = "linux",
        architecture = "arm64",
        variant = "v8",
        layers = [GZIP_LAYER, ZSTD_LAYER],
        tags = ["manual"],
    )
    _source_layout_test(name = "from_layout_files_test", target_under_test = ":from_layout_files", size = "small")
    image_index_from_oci_layout(
        name = "index_from_generated_layout",
        src = ":generated_layout",
        manifests = ["linux/amd64", "linux/arm64"],
        layers = [GZIP_LAYER],
        tags = ["manual"],
    )
    _generated_layout_test(name = "index_from_generated_layout_test", target_under_test = ":index_from_generated_layout", size = "small")
    image_manifest_from_oci_layout(
        name = "bad_media_type",
        src = ":layout_files",
        os = "linux",
        architecture = "amd64",
        layers = ["application/vnd.docker.image.rootfs.diff.tar.gzip"],
        tags = ["manual"],
    )
    _failure_test(
        name = "bad_media_type_test",
        target_under_test = ":bad_media_type",
        message = "//img/tests:bad_media_type: layers has \"application/vnd.docker.image.rootfs.diff.tar.gzip\": give GZIP_LAYER, ZSTD_LAYER or UNCOMPRESSED_LAYER",
        size = "small",
    )
    image_index_from_oci_layout(
        name = "bad_platform",
        src = ":layout_files",
        manifests = ["linux"],
        layers = [GZIP_LAYER],
        tags = ["manual"],
    )
    _failure_test(
        name = "bad_platform_test",
        target_under_test = ":bad_platform",
        message = "//img/tests:bad_platform: manifests has \"linux\": write os/architecture or os/architecture/variant",
        size = "small",
    )
    native.filegroup(name = "no_layout_files", srcs = ["a.txt", "b.txt"], tags = ["manual"])
    image_manifest_from_oci_layout(
        name = "no_index_json",
        src = ":no_layout_files",
        os = "linux",
        architecture = "amd64",
        layers = [],
        tags = ["manual"],
    )
    _failure_test(
        name = "no_index_json_test",
        target_under_test = ":no_index_json",
        message = "src gives 2 files, 0 of them index.json: give an OCI layout directory, or the files of one layout",
        size = "small",
    )
    native.test_suite(
        name = name,
        tests = [
            ":from_layout_files_test",
            ":index_from_generated_layout_test",
            ":bad_media_type_test",
            ":bad_platform_test",
            ":no_index_json_test",
        ],
    )
