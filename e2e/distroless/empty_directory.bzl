"""empty_directory: an empty directory (tree artifact), for image_layer srcs."""

def _empty_directory_impl(ctx):
    out = ctx.actions.declare_directory(ctx.label.name)

    # Bazel creates the output directory before the action runs.
    ctx.actions.run_shell(outputs = [out], command = "true", mnemonic = "EmptyDirectory")
    return [DefaultInfo(files = depset([out]))]

empty_directory = rule(
    implementation = _empty_directory_impl,
    doc = "An empty directory. Map it to a path in image_layer's srcs (such as /tmp) to create that directory.",
)
