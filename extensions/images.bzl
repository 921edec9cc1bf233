"""The images module extension: base images pinned in MODULE.bazel and a lockfile.

    images = use_extension("@rules_img//img:extensions.bzl", "images")
    images.pull(name = "ubuntu", registry = "index.docker.io", repository = "library/ubuntu",
                tag = "24.04", platforms = ["linux/amd64", "linux/arm64"])
    images.lockfile(file = "//:images.lock.json")
    use_repo(images, "images", "ubuntu")

`bazel run @images//:update` resolves every pull and rewrites the lockfile.
The Go generator decides the repositories and writes their BUILD files.
"""

load("//extensions:fetch.bzl", "host_tool")
load("//extensions:pull_attrs.bzl", "pull_attrs", "pull_spec")
load("//extensions:repositories.bzl", "generated_repo")

_HUB = "images"

def _lockfile_path(label):
    return label.name if not label.package else label.package + "/" + label.name

def _request(mctx):
    pulls = []
    lockfile = None
    for mod in mctx.modules:
        for tag in mod.tags.pull:
            pulls.append(pull_spec(tag.name, tag))
        if mod.is_root and mod.tags.lockfile:
            lockfile = mod.tags.lockfile[0].file
    content = ""
    if lockfile:
        path = mctx.path(lockfile)
        if path.exists:
            content = mctx.read(path)
    return {
        "hub": _HUB,
        "lockfile": content,
        "lockfile_label": str(lockfile) if lockfile else "",
        "lockfile_path": _lockfile_path(lockfile) if lockfile else "",
        "pulls": pulls,
    }

def _images_impl(mctx):
    mctx.file("request.json", json.encode(_request(mctx)))
    result = mctx.execute([host_tool(mctx), "generate", "--request", "request.json", "--out", "plan.json"])
    if result.return_code != 0:
        fail("images extension: %s" % result.stderr.strip())
    for repo in json.decode(mctx.read("plan.json"))["repos"]:
        fetch = repo.get("fetch")
        generated_repo(name = repo["name"], files = repo["files"], fetch = json.encode(fetch) if fetch else "")

images = module_extension(
    implementation = _images_impl,
    doc = "Base images pinned in MODULE.bazel and resolved through a lockfile.",
    tag_classes = {
        "pull": tag_class(
            doc = "A base image. `@NAME` is the image: for an index, an index of the platforms " +
                  "taken, which `image_manifest(base = ...)` picks the target platform's image from; " +
                  "`@NAME//:linux_amd64` (os_arch[_variant]) is one platform's image.",
            attrs = dict(
                name = attr.string(mandatory = True, doc = "Repository name of the image: `@NAME` in BUILD files, after `use_repo(images, \"NAME\")`."),
                **pull_attrs(layer_handling = "lazy")
            ),
        ),
        "lockfile": tag_class(
            doc = "The lockfile, in the root module. Create or refresh it with `bazel run @images//:update`.",
            attrs = {"file": attr.label(mandatory = True, doc = "A JSON file, for example //:images.lock.json.")},
        ),
    },
)
