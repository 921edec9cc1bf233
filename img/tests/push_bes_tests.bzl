"""Analysis tests of what image_push builds for the bes push strategy."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load("//img:push.bzl", "image_push")

def _basenames(target):
    return sorted([f.basename for f in target[DefaultInfo].files.to_list()])

def _bes_outputs_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    names = _basenames(target)
    for want in ["bes_outputs.bes.deploy.json", "bes_outputs.bes.push.json", "image.manifest.json", "image.config.json"]:
        asserts.true(env, want in names, "%s is not among the default outputs %s" % (want, names))
    blobs = [n for n in names if n.endswith(".tar.gz") or n.endswith(".tar.zst")]
    asserts.equals(env, [], blobs, "layer blobs are default outputs")

    # The files Bazel writes itself are copied by an action, which puts them in the remote cache.
    copies = [a for a in analysistest.target_actions(env) if a.mnemonic == "ImageBesFiles"]
    asserts.equals(env, 1, len(copies))
    outs = sorted([f.basename for f in copies[0].outputs.to_list()])
    asserts.equals(env, ["bes_outputs.bes.deploy.json", "bes_outputs.bes.push.json"], outs)
    return analysistest.end(env)

bes_outputs_test = analysistest.make(_bes_outputs_impl)

def _lazy_outputs_impl(ctx):
    env = analysistest.begin(ctx)
    asserts.equals(env, ["lazy_outputs.sh"], _basenames(analysistest.target_under_test(env)))
    return analysistest.end(env)

lazy_outputs_test = analysistest.make(_lazy_outputs_impl)

def push_bes_test_suite(name, image):
    """Declares the tests; image is an image_manifest named "image".

    Args:
      name: name of the test_suite.
      image: label of the image to push.
    """
    image_push(name = "bes_outputs", image = image, registry = "r.example", repository = "a", tag = "latest", strategy = "bes", tags = ["manual"])
    image_push(name = "lazy_outputs", image = image, registry = "r.example", repository = "a", tag = "latest", strategy = "lazy", tags = ["manual"])
    bes_outputs_test(name = "bes_outputs_test", target_under_test = ":bes_outputs", size = "small")
    lazy_outputs_test(name = "lazy_outputs_test", target_under_test = ":lazy_outputs", size = "small")
    native.test_suite(name = name, tests = ["bes_outputs_test", "lazy_outputs_test"])
