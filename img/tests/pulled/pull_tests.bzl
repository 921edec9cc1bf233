"""Tests of pulls: the helpers of the repository rules (registries, URL
scheme, repository names) and the providers of pulled images."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts", "unittest")
load("//extensions:fetch.bzl", "registry_scheme")
load("//extensions:pull_attrs.bzl", "registries_of")
load("//extensions:repositories.bzl", "last_segment")
load("//img/private:providers.bzl", "ImageIndexInfo", "ImageManifestInfo", "PullInfo", "platform_string")
load("//img/private:pulled.bzl", "pulled_image", "pulled_index")

_LAYER_A = "sha256:" + "a" * 64
_LAYER_B = "sha256:" + "b" * 64

def _registry_scheme_test_impl(ctx):
    env = unittest.begin(ctx)
    for registry, want in [
        ("index.docker.io", "https"),
        ("ghcr.io", "https"),
        ("registry.example.com:5000", "https"),
        ("localhost", "https"),  # as go-containerregistry: only localhost:PORT
        ("localhost:5000", "http"),
        ("registry.localhost", "http"),
        ("registry.localhost:5000", "http"),
        ("127.0.0.1", "http"),
        ("127.0.0.1:5000", "http"),
        ("127.0.0.2:5000", "https"),
        ("::1", "http"),
        ("[::1]", "http"),
        ("[::1]:5000", "http"),
        ("10.1.2.3:5000", "http"),
        ("172.16.0.1", "http"),
        ("172.31.255.255:443", "http"),
        ("172.32.0.1", "https"),
        ("192.168.1.1:5000", "http"),
        ("192.169.1.1", "https"),
        ("8.8.8.8", "https"),
        ("10.1.2", "https"),
    ]:
        asserts.equals(env, want, registry_scheme(registry), registry)
    return unittest.end(env)

registry_scheme_test = unittest.make(_registry_scheme_test_impl)

def _last_segment_test_impl(ctx):
    env = unittest.begin(ctx)
    for canonical, want in [
        ("base", "base"),
        ("rules_img~~images~base", "base"),
        ("rules_img++images+base", "base"),
        ("_main~_repo_rules~base_by_digest", "base_by_digest"),
        ("+_repo_rules+base_by_digest", "base_by_digest"),
        ("some_module~1.0~ext~a.b-c", "a.b-c"),
    ]:
        asserts.equals(env, want, last_segment(canonical), canonical)
    return unittest.end(env)

last_segment_test = unittest.make(_last_segment_test_impl)

def _registries_test_impl(ctx):
    env = unittest.begin(ctx)
    for registry, registries, want in [
        ("", [], ["index.docker.io"]),
        ("ghcr.io", [], ["ghcr.io"]),
        ("", ["mirror.example.com", "ghcr.io"], ["mirror.example.com", "ghcr.io"]),
        ("ghcr.io", ["mirror.example.com"], ["mirror.example.com", "ghcr.io"]),
        ("ghcr.io", ["ghcr.io", "mirror.example.com"], ["ghcr.io", "mirror.example.com"]),
    ]:
        asserts.equals(env, want, registries_of(struct(registry = registry, registries = registries)), "%r %r" % (registry, registries))
    return unittest.end(env)

registries_test = unittest.make(_registries_test_impl)

def _shallow_image_test_impl(ctx):
    env = analysistest.begin(ctx)
    info = analysistest.target_under_test(env)[ImageManifestInfo]
    asserts.equals(env, "linux", info.os)
    asserts.equals(env, "arm64", info.architecture)
    asserts.equals(env, {"variant": "v8"}, info.platform)
    asserts.equals(env, "linux/arm64/v8", platform_string(info))
    asserts.equals(env, None, info.base_image)
    asserts.equals(env, {}, info.structured_config)
    asserts.equals(env, ["a" * 64, "b" * 64], info.missing_blobs)
    asserts.equals(env, 2, len(info.layers))
    for layer in info.layers:
        asserts.equals(env, None, layer.blob)
        asserts.false(env, layer.estargz)
        asserts.true(env, layer.shallow)
    asserts.equals(env, ["layer_0.json", "layer_1.json"], [layer.metadata.basename for layer in info.layers])
    pull = analysistest.target_under_test(env)[PullInfo]
    asserts.equals(env, ["mirror.example.com", "index.docker.io"], pull.registries)
    asserts.equals(env, "library/debian", pull.repository)
    asserts.equals(env, "bookworm", pull.tag)
    asserts.equals(env, "sha256:" + "3" * 64, pull.digest)
    return analysistest.end(env)

shallow_image_test = analysistest.make(_shallow_image_test_impl)

def _image_with_blobs_test_impl(ctx):
    env = analysistest.begin(ctx)
    info = analysistest.target_under_test(env)[ImageManifestInfo]
    asserts.equals(env, [], info.missing_blobs)
    asserts.equals(env, ["blob_0", "blob_1"], [layer.blob.basename for layer in info.layers])
    asserts.equals(env, {}, info.platform)
    return analysistest.end(env)

image_with_blobs_test = analysistest.make(_image_with_blobs_test_impl)

def _index_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    info = target[ImageIndexInfo]
    asserts.equals(env, "index.json", info.index.basename)
    asserts.equals(env, "descriptor.json", info.descriptor.basename)
    asserts.equals(env, ["linux/arm64/v8", "linux/amd64"], [platform_string(m) for m in info.manifests])
    asserts.equals(env, "sha256:" + "1" * 64, target[PullInfo].digest)
    asserts.false(env, ImageManifestInfo in target, "an index is not an image")
    return analysistest.end(env)

index_test = analysistest.make(_index_test_impl)

def _bad_blobs_test_impl(ctx):
    env = analysistest.begin(ctx)
    asserts.expect_failure(env, "1 blobs for 2 layers: give one blob per layer, or none")
    return analysistest.end(env)

bad_blobs_test = analysistest.make(_bad_blobs_test_impl, expect_failure = True)

def _image(name, platform, blobs = [], **kwargs):
    pulled_image(
        name = name,
        manifest = "testdata/manifest.json",
        config = "testdata/config.json",
        descriptor = "testdata/descriptor.json",
        layers = ["testdata/layer_0.json", "testdata/layer_1.json"],
        layer_digests = [_LAYER_A, _LAYER_B],
        layer_media_types = ["application/vnd.oci.image.layer.v1.tar+gzip"] * 2,
        blobs = blobs,
        os = "linux",
        architecture = platform.split("/")[1],
        platform = {"variant": platform.split("/")[2]} if platform.count("/") == 2 else {},
        registries = ["mirror.example.com", "index.docker.io"],
        repository = "library/debian",
        tag = "bookworm",
        tags = ["manual"],
        **kwargs
    )

def pull_test_suite(name):
    """The tests of pulls, and the targets they look at.

    Args:
      name: the test_suite's name.
    """
    _image(name = "pulled_arm64", platform = "linux/arm64/v8", digest = "sha256:" + "3" * 64)
    _image(name = "pulled_amd64", platform = "linux/amd64", digest = "sha256:" + "2" * 64, blobs = ["testdata/blob_0", "testdata/blob_1"])
    _image(name = "pulled_bad_blobs", platform = "linux/amd64", digest = "sha256:" + "2" * 64, blobs = ["testdata/blob_0"])
    pulled_index(
        name = "pulled_index",
        index = "testdata/index.json",
        descriptor = "testdata/descriptor.json",
        manifests = [":pulled_arm64", ":pulled_amd64"],
        registries = ["index.docker.io"],
        repository = "library/debian",
        digest = "sha256:" + "1" * 64,
        tags = ["manual"],
    )
    registry_scheme_test(name = "registry_scheme_test")
    last_segment_test(name = "last_segment_test")
    registries_test(name = "registries_test")
    shallow_image_test(name = "shallow_image_test", target_under_test = ":pulled_arm64")
    image_with_blobs_test(name = "image_with_blobs_test", target_under_test = ":pulled_amd64")
    index_test(name = "index_test", target_under_test = ":pulled_index")
    bad_blobs_test(name = "bad_blobs_test", target_under_test = ":pulled_bad_blobs")
    native.test_suite(
        name = name,
        tests = [
            ":registry_scheme_test",
            ":last_segment_test",
            ":registries_test",
            ":shallow_image_test",
            ":image_with_blobs_test",
            ":index_test",
            ":bad_blobs_test",
        ],
    )
