"""host_node: the host's node, with every file it needs at start, for an image layer.

    host_node = use_extension("//:host_node.bzl", "host_node")
    host_node.interpreter(name = "node")  # path = "/usr/bin/node"
    use_repo(host_node, "node")

A module extension around the distroless example's host_files: the
repository `@node` holds the interpreter, every shared library it links (by
ldd) and the built-in modules it reads from files, and its `files.bzl` has
FILES and SYMLINKS for image_layer.

Debian builds node with some of its built-in modules as files of other
packages (acorn, cjs-module-lexer, undici under /usr/share/nodejs), and that
node aborts at start without them ("Cannot load externalized builtin"). node
names them in `process.config`, as the values of its
NODE_SHARED_BUILTIN_<NAME>_PATH defines; a node that has every built-in in
its binary (nodejs.org's, NodeSource's) names none.
"""

load("@e2e_distroless//:host_files.bzl", "host_files")

# Prints the file of each built-in module that this node reads at start.
_EXTERNAL_BUILTINS = r"""
const defines = (process.config.target_defaults || {}).defines || [];
for (const define of defines) {
  const m = /^NODE_SHARED_BUILTIN_\w+_PATH=(\/.+)$/.exec(define);
  if (m) console.log(m[1]);
}
"""

def _host_node_impl(mctx):
    for mod in mctx.modules:
        for tag in mod.tags.interpreter:
            node = mctx.path(tag.path) if tag.path.startswith("/") else None
            if not node or not node.exists:
                fail("host_node.interpreter(name = %r): there is no node at %r; install nodejs, or give its absolute path" % (tag.name, tag.path))

            # Bazel asks once per server: a module extension can't watch
            # host files. host_files watches the files it copies.
            result = mctx.execute([node, "-e", _EXTERNAL_BUILTINS])
            if result.return_code != 0:
                fail("host_node.interpreter(name = %r): %s could not list its built-in modules: %s" % (tag.name, tag.path, result.stderr.strip()))
            builtins = [line for line in result.stdout.split("\n") if line]
            host_files(
                name = tag.name,
                paths = [tag.path] + builtins,
                libraries = [tag.path],
            )

host_node = module_extension(
    implementation = _host_node_impl,
    doc = "The host's node, its shared libraries and its built-in modules that are files, as a host_files repository.",
    tag_classes = {
        "interpreter": tag_class(
            doc = "A repository with the host's node.",
            attrs = {
                "name": attr.string(default = "node", doc = "The repository's name."),
                "path": attr.string(default = "/usr/bin/node", doc = "The interpreter: an absolute host path."),
            },
        ),
    },
)
