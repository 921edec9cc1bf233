"""node_image: a Node program and its node_modules on an image that has node.

The layout is the one of any npm project, rooted at `directory` (/app):

    /app/main.js          the program, and the other files of srcs
    /app/package.json
    /app/node_modules/    its dependencies

`require("ms")` in /app/main.js looks in /app/node_modules, as node does
everywhere, so there is no NODE_PATH and no launcher script: the entrypoint
starts the base's node with the program, `["/usr/bin/node", "/app/main.js"]`,
and the image needs no shell.

The dependencies and the program are layers of their own, in that order:
a change of the program rebuilds and pushes only its small layer.
"""

load("@rules_img//img:image.bzl", "image_manifest")
load("@rules_img//img:layer.bzl", "file_metadata", "image_layer")

def node_image(name, base, main, srcs, node_modules, directory = "/app", node = "/usr/bin/node", **kwargs):
    """The image `name`, with the layers `name`_node_modules and `name`_app.

    Args:
      name: the image_manifest.
      base: an image with node at `node`, and the libraries it needs.
      main: the program's entry file, one of srcs, for example "main.js".
      srcs: the program's files in this package; each lands at `directory`/its name.
      node_modules: a directory target, for example "@npm//:node_modules".
      directory: where the program lives in the image.
      node: the interpreter's path in the image.
      **kwargs: for image_manifest: env, user, working_dir, tags, ...
    """
    files = {}
    for src in srcs:
        files[directory + "/" + native.package_relative_label(src).name] = src
    entry = directory + "/" + native.package_relative_label(main).name
    if entry not in files:
        fail("%s: main %r is not in srcs; add it there" % (name, main))

    # [snippet: js_node_image_layers]
    image_layer(
        name = name + "_node_modules",
        srcs = {directory + "/node_modules": node_modules},
        # Bazel marks every file of a directory it built executable; node
        # reads these files, it never executes them.
        default_metadata = file_metadata(mode = "0644"),
    )

    image_layer(
        name = name + "_app",
        srcs = files,
    )

    image_manifest(
        name = name,
        base = base,
        entrypoint = [node, entry],
        layers = [
            ":" + name + "_node_modules",
            ":" + name + "_app",
        ],
        **kwargs
    )
    # [end snippet]
