"""Analysis tests of image_push strategies: which runfiles each one carries."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load("//img:deploy.bzl", "multi_deploy")
load("//img:push.bzl", "image_push")

def _blobs(target):
    return [f.basename for f in target[DefaultInfo].default_runfiles.files.to_list() if f.basename.endswith((".tar.gz", ".tar.zst", ".tar"))]

def _metadata(target):
    return [f.basename for f in target[DefaultInfo].default_runfiles.files.to_list() if f.basename.endswith(".layer.json")]

def _push_config(env):
    for a in analysistest.target_actions(env):
        if a.mnemonic == "FileWrite" and a.outputs.to_list()[0].basename.endswith(".push.json"):
            return json.decode(a.content)
    return None

def _runfiles_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    asserts.equals(env, ctx.attr.blobs, len(_blobs(target)), "layer blobs in runfiles: %s" % _blobs(target))
    asserts.equals(env, 2, len(_metadata(target)), "layer metadata files in runfiles")
    if ctx.attr.strategy:
        config = _push_config(env)
        asserts.equals(env, ctx.attr.strategy, config and config["strategy"])
        asserts.equals(env, "//img/tests:" + ctx.attr.label_name, config and config["label"])
    return analysistest.end(env)

_runfiles_test = analysistest.make(_runfiles_test_impl, attrs = {
    "blobs": attr.int(doc = "How many layer blobs the runfiles should hold."),
    "label_name": attr.string(doc = "The push target's name, expected in its config."),
    "strategy": attr.string(doc = "The strategy expected in the push config; empty skips the check."),
})

_runfiles_lazy_by_flag_test = analysistest.make(
    _runfiles_test_impl,
    attrs = {
        "blobs": attr.int(),
        "label_name": attr.string(),
        "strategy": attr.string(),
    },
    config_settings = {str(Label("//img/settings:push_strategy")): "lazy"},
)

def _credentials_refused_test_impl(ctx):
    env = analysistest.begin(ctx)
    asserts.expect_failure(env, "remote_cache has credentials in its URL")
    asserts.expect_failure(env, "credential_helper")
    return analysistest.end(env)

_credentials_refused_test = analysistest.make(
    _credentials_refused_test_impl,
    expect_failure = True,
    config_settings = {str(Label("//img/settings:remote_cache")): "https://user:secret@cache.invalid/x"},
)

def push_strategy_test_suite(name):
    """Declares the push strategy tests.

    Args:
      name: name of the test_suite.
    """
    for strategy in ["eager", "lazy", "cas_registry", "bes"]:
        image_push(name = "push_" + strategy, image = ":image", registry = "r.invalid", repository = "a", strategy = strategy, tags = ["manual"])
        _runfiles_test(
            name = "push_%s_runfiles_test" % strategy,
            target_under_test = ":push_" + strategy,
            blobs = 2 if strategy == "eager" else 0,
            label_name = "push_" + strategy,
            strategy = strategy,
            size = "small",
        )
    image_push(name = "push_default", image = ":image", registry = "r.invalid", repository = "a", tags = ["manual"])
    _runfiles_test(name = "push_default_runfiles_test", target_under_test = ":push_default", blobs = 2, label_name = "push_default", strategy = "eager", size = "small")
    _runfiles_lazy_by_flag_test(name = "push_flag_lazy_runfiles_test", target_under_test = ":push_default", blobs = 0, label_name = "push_default", strategy = "lazy", size = "small")
    multi_deploy(name = "deploy_lazy", operations = [":push_eager"], push_strategy = "lazy", tags = ["manual"])
    _runfiles_test(name = "deploy_lazy_runfiles_test", target_under_test = ":deploy_lazy", blobs = 0, size = "small")
    multi_deploy(name = "deploy_eager", operations = [":push_lazy"], push_strategy = "eager", tags = ["manual"])
    _runfiles_test(name = "deploy_eager_runfiles_test", target_under_test = ":deploy_eager", blobs = 2, size = "small")
    _credentials_refused_test(name = "push_remote_cache_credentials_test", target_under_test = ":push_lazy", size = "small")
    native.test_suite(name = name, tests = [
        ":push_%s_runfiles_test" % s
        for s in ["eager", "lazy", "cas_registry", "bes", "default", "flag_lazy"]
    ] + [":deploy_lazy_runfiles_test", ":deploy_eager_runfiles_test", ":push_remote_cache_credentials_test"])
