"""The attributes of a pull, shared by the `pull` repository rule and the
images extension's pull tag, so both accept the same fields."""

PULL_ATTRS = {
    "registry": attr.string(doc = "Registry host[:port], for example `index.docker.io` or `ghcr.io`. Give registry or registries."),
    "registries": attr.string_list(
        doc = "Registries to try in order, mirrors first, for example " +
              "`[\"mirror.example.com\", \"index.docker.io\"]`; instead of registry.",
    ),
    "repository": attr.string(mandatory = True, doc = "Repository in the registry, for example `library/ubuntu`."),
    "tag": attr.string(doc = "Tag to resolve, for example `24.04`; the lockfile records the digest it resolved to."),
    "digest": attr.string(
        doc = "Digest of the index or manifest, `sha256:...`. The pull rule needs it; the images " +
              "extension takes it from the lockfile when not given.",
    ),
    "platforms": attr.string_list(
        doc = "Platforms as `os/arch[/variant]`, for example `[\"linux/amd64\", \"linux/arm64\"]`; " +
              "empty takes every platform of the image.",
    ),
}

def pull_spec(name, attrs):
    """The pull as the Go tools read it (lock.Pull).

    Args:
      name: the pull's name.
      attrs: a struct with the PULL_ATTRS fields (a tag or rctx.attr).

    Returns:
      A dict for JSON.
    """
    registries = list(attrs.registries)
    if attrs.registry:
        if registries:
            fail("pull %r: give registry or registries, not both" % name)
        registries = [attrs.registry]
    if not registries:
        fail("pull %r: give registry (for example \"index.docker.io\") or registries" % name)
    return {
        "digest": attrs.digest,
        "name": name,
        "platforms": attrs.platforms,
        "registries": registries,
        "repository": attrs.repository,
        "tag": attrs.tag,
    }
