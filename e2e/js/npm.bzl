"""npm_install: the node_modules of a package-lock.json, installed by npm ci at fetch time.

    # MODULE.bazel
    npm_install = use_repo_rule("//:npm.bzl", "npm_install")
    npm_install(
        name = "npm",
        package_json = "//:package.json",
        package_lock = "//:package-lock.json",
    )

    # BUILD.bazel
    image_layer(name = "node_modules", srcs = {"/app/node_modules": "@npm//:node_modules"})

The repository copies the two files into `install/` and runs
`npm ci --ignore-scripts` there: exactly the versions and integrity hashes
of the lockfile, and no install scripts (a package that compiles native code
at install time needs more than this rule). `@npm//:node_modules` is the
result as one directory, a tree artifact.

npm keeps the tarballs it downloads in its cache (`~/.npm`), by integrity,
and `--prefer-offline` makes it read them from there before it asks the
registry: a fetch in a second output base, or after `bazel clean --expunge`,
needs no network. Bazel fetches again when either file changes.
"""

def _npm_install_impl(rctx):
    npm = rctx.which("npm")
    if not npm:
        fail("%s: npm is not on PATH; install it (on Debian: apt-get install npm)" % rctx.name)
    rctx.file("install/package.json", rctx.read(rctx.attr.package_json))
    rctx.file("install/package-lock.json", rctx.read(rctx.attr.package_lock))
    result = rctx.execute(
        [
            npm,
            "ci",
            "--ignore-scripts",
            "--prefer-offline",
            "--no-audit",
            "--no-fund",
            "--no-update-notifier",
        ],
        working_directory = "install",
        quiet = True,
    )
    if result.return_code != 0:
        fail(("%s: npm ci failed (exit %d). It needs the registry for tarballs that npm's cache " +
              "lacks, and fails when %s doesn't match %s (then run npm install --package-lock-only):\n%s") % (
            rctx.name,
            result.return_code,
            rctx.attr.package_lock,
            rctx.attr.package_json,
            (result.stderr + result.stdout).strip(),
        ))

    # The same directory in every fetch: npm's bookkeeping (its copy of the
    # lockfile, the .bin links of command-line tools) differs between npm
    # versions, and the program never reads it.
    rctx.delete("install/node_modules/.package-lock.json")
    rctx.delete("install/node_modules/.bin")

    rctx.file("BUILD.bazel", """\
load("{bzl}", "node_modules_directory")

node_modules_directory(
    name = "node_modules",
    srcs = glob(["install/node_modules/**"]),
    strip_prefix = "install/node_modules",
    visibility = ["//visibility:public"],
)
""".format(bzl = str(Label("//:npm.bzl"))))

npm_install = repository_rule(
    implementation = _npm_install_impl,
    doc = "node_modules from a package-lock.json, by `npm ci --ignore-scripts`, as `@NAME//:node_modules`.",
    attrs = {
        "package_json": attr.label(
            mandatory = True,
            allow_single_file = True,
            doc = "The package.json, for example `//:package.json`.",
        ),
        "package_lock": attr.label(
            mandatory = True,
            allow_single_file = True,
            doc = "Its package-lock.json (lockfileVersion 2 or 3), written once by " +
                  "`npm install --package-lock-only` and checked in.",
        ),
    },
)

def _node_modules_directory_impl(ctx):
    root = "/".join([p for p in [ctx.label.workspace_root, ctx.label.package, ctx.attr.strip_prefix] if p])
    names = []
    for f in ctx.files.srcs:
        if not f.path.startswith(root + "/"):
            fail("%s: srcs has %s, which is not below strip_prefix %r" % (ctx.label, f.path, ctx.attr.strip_prefix))
        names.append(f.path[len(root) + 1:])
    listing = ctx.actions.declare_file(ctx.label.name + ".files.txt")
    ctx.actions.write(listing, "".join([n + "\n" for n in names]))
    out = ctx.actions.declare_directory(ctx.label.name)

    # One tar pipe for all files; -h copies the files that the sandbox links.
    ctx.actions.run_shell(
        inputs = ctx.files.srcs + [listing],
        outputs = [out],
        command = 'tar -C "$1" -chf - -T "$2" | tar -C "$3" -xf -',
        arguments = [root, listing.path, out.path],
        mnemonic = "NodeModules",
        progress_message = "Copying node_modules for %{label}",
    )
    return [DefaultInfo(files = depset([out]))]

node_modules_directory = rule(
    implementation = _node_modules_directory_impl,
    doc = "The files of srcs, below strip_prefix, as one directory (a tree artifact).",
    attrs = {
        "srcs": attr.label_list(allow_files = True, doc = "The files, all below strip_prefix."),
        "strip_prefix": attr.string(doc = "Their directory, relative to the package."),
    },
)
