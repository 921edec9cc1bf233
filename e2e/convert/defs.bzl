"""A layout as rules_oci's oci_image writes it: a directory that another
action made (a tree artifact), whose index.json lists the manifest with no
platform and no annotations."""

def _rules_oci_style_layout_impl(ctx):
    out = ctx.actions.declare_directory(ctx.label.name)
    index = [f for f in ctx.files.srcs if f.basename == "index.json"][0]
    ctx.actions.run_shell(
        inputs = ctx.files.srcs,
        outputs = [out],
        command = """
set -eu
src=$(dirname "$1")
cp -RL "$src/oci-layout" "$src/blobs" "$2/"
digest=$(sed -n 's/.*"digest": *"\\(sha256:[0-9a-f]*\\)".*/\\1/p' "$1" | head -1)
size=$(wc -c <"$2/blobs/sha256/${digest#sha256:}")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":%d,"digest":"%s"}]}' "$size" "$digest" >"$2/index.json"
""",
        arguments = [index.path, out.path],
        mnemonic = "RulesOciStyleLayout",
    )
    return [DefaultInfo(files = depset([out]))]

rules_oci_style_layout = rule(
    implementation = _rules_oci_style_layout_impl,
    attrs = {"srcs": attr.label_list(allow_files = True, mandatory = True)},
)
