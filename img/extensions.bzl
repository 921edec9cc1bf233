"""The `images` module extension: base images pinned in MODULE.bazel, resolved
through a lockfile.

    images = use_extension("@rules_img//img:extensions.bzl", "images")
    images.pull(name = "ubuntu", registry = "index.docker.io", repository = "library/ubuntu",
                tag = "24.04", platforms = ["linux/amd64", "linux/arm64"])
    images.lockfile(file = "//:images.lock.json")
    use_repo(images, "images", "ubuntu")

`bazel run @images//:update` resolves every pull and rewrites the lockfile;
`bazel run @images//:update -- --check` fails when the lockfile is stale.
`@NAME` (here `@ubuntu`) is the image for the target platform, usable as an
image_manifest's `base`. Only manifests and configs are downloaded when
the repositories are made; layers are downloaded by actions, and only when
an output needs their bytes.
"""

load("//extensions:images.bzl", _images = "images")

images = _images
