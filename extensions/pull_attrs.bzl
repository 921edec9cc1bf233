"""The attributes of a pull, shared by the `pull` repository rule and the
images extension's pull tag, so both accept the same fields."""

DOCKER_HUB = "index.docker.io"

LAYER_HANDLINGS = ["shallow", "eager", "lazy"]

DOWNLOADERS = ["img_tool", "bazel"]

def pull_attrs(layer_handling):
    """The attribute schema of a pull.

    Args:
      layer_handling: the default of `layer_handling`: "shallow" for the
        pull rule (as in rules_img 0.2.7), "lazy" for the images extension.

    Returns:
      A dict of attribute name → attr.
    """
    return {
        "registry": attr.string(
            doc = "Registry host[:port], for example `index.docker.io` or `ghcr.io`. It is tried after " +
                  "`registries`. Without registry and registries, the image comes from Docker Hub " +
                  "(`index.docker.io`).",
        ),
        "registries": attr.string_list(
            doc = "Registries to try first, in order, for example mirrors: " +
                  "`[\"mirror.example.com\"]`. `registry`, when given, is tried after them.",
        ),
        "repository": attr.string(mandatory = True, doc = "Repository in the registry, for example `library/ubuntu`."),
        "tag": attr.string(doc = "Tag to resolve, for example `24.04`; the lockfile records the digest it resolved to."),
        "digest": attr.string(
            doc = "Digest of the index or manifest, `sha256:...`. The images extension takes it from the " +
                  "lockfile when not given; the pull rule resolves `tag` each time the repository is " +
                  "fetched when it is not given, and warns with the digest to write here.",
        ),
        "platforms": attr.string_list(
            doc = "Platforms as `os/arch[/variant]`, for example `[\"linux/amd64\", \"linux/arm64\"]`; " +
                  "empty takes every platform of the image. When the image is an index, `@NAME` is an " +
                  "index of the platforms taken, and `@NAME//:os_arch[_variant]` (such as " +
                  "`@NAME//:linux_amd64`) one of them.",
        ),
        "downloader": attr.string(
            default = "img_tool",
            values = DOWNLOADERS,
            doc = "What downloads manifests, configs and eager layers. `img_tool`: the img tool, with " +
                  "Docker's credentials and credential helpers. `bazel`: Bazel's downloader " +
                  "(repository_ctx.download, checked by sha256 and kept in the repository cache), " +
                  "which authenticates with `--credential_helper` or `.netrc` only; registries that " +
                  "require a token even for anonymous pulls, such as Docker Hub, need a credential " +
                  "helper. Registries on localhost, 127.0.0.1, [::1] and private IPv4 networks are " +
                  "read over http, others over https, as the img tool does. Resolving a tag " +
                  "(`bazel run @images//:update`, or a pull rule without digest) always uses the img " +
                  "tool: Bazel's downloader needs a checksum.",
        ),
        "layer_handling": attr.string(
            default = layer_handling,
            values = LAYER_HANDLINGS,
            doc = "How the layers' bytes reach the build. `shallow`: they do not; pushes and loads " +
                  "read them from the source registry at run time (the layers are mounted or streamed), " +
                  "but outputs that need the bytes, such as an OCI layout, cannot be built. `eager`: " +
                  "the repository downloads every layer of the platforms taken. `lazy`: an action " +
                  "downloads a layer when an output needs it. The default is `shallow` for the pull " +
                  "rule, as in rules_img 0.2.7, and `lazy` for images.pull, this module's own " +
                  "extension, whose images are meant as bases of images whose OCI layouts and " +
                  "tarballs are built.",
        ),
    }

def registries_of(attrs):
    """The registries of a pull, in the order they are tried.

    Args:
      attrs: a struct with the pull attributes (a tag or rctx.attr).

    Returns:
      `registries`, then `registry` (unless already listed); Docker Hub
      when neither is given.
    """
    out = list(attrs.registries)
    if attrs.registry and attrs.registry not in out:
        out.append(attrs.registry)
    return out or [DOCKER_HUB]

def pull_spec(name, attrs):
    """The pull as the Go tools read it (lock.Pull).

    Args:
      name: the pull's name.
      attrs: a struct with the pull attributes (a tag or rctx.attr).

    Returns:
      A dict for JSON.
    """
    return {
        "digest": attrs.digest,
        "downloader": attrs.downloader,
        "layer_handling": attrs.layer_handling,
        "name": name,
        "platforms": attrs.platforms,
        "registries": registries_of(attrs),
        "repository": attrs.repository,
        "tag": attrs.tag,
    }
