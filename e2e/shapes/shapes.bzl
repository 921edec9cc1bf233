"""The app image of each shape: a base from a registry and one layer of ours."""

load("@rules_img//img:image.bzl", "image_manifest")
load("@rules_img//img:push.bzl", "image_push")

def shape_app(name, base, cmd = None, visibility = None):
    """An image on `base` that prints files of the base and the app, and its push.

    `name` is the image, `name + "_push"` pushes it to the test's registry
    (REGISTRY_UNDER_TEST, replaced by test.sh) as e2e/shapes-out/<name>:latest.

    Args:
      name: the image's name.
      base: the pulled base image.
      cmd: the files to print; by default /etc/shape.txt of the base and
        /app/app.txt of the app layer.
      visibility: of both targets.
    """
    image_manifest(
        name = name,
        base = base,
        cmd = cmd or [
            "/etc/shape.txt",
            "/app/app.txt",
        ],
        entrypoint = [
            "/bin/busybox",
            "cat",
        ],
        layers = [":app_layer"],
        visibility = visibility,
    )
    image_push(
        name = name + "_push",
        image = ":" + name,
        registry = "REGISTRY_UNDER_TEST",
        repository = "e2e/shapes-out/" + name,
        tag = "latest",
        visibility = visibility,
    )
