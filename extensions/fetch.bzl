"""How the repositories of pulled images get their files: the img tool
downloads them (downloader = "img_tool"), or Bazel's downloader does and
the img tool only reads them (downloader = "bazel")."""

# The img tool for this machine (prebuilt, or built from source).
_IMG_HOST_TOOL = Label("@img_host_tool//:img")
_IMG_HOST_TOOL_WINDOWS = Label("@img_host_tool//:img.exe")

# The manifest media types a registry may answer with.
_MANIFEST_ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])

# With Bazel's downloader, each run of the img tool gets one step further
# (the index, its manifests, their configs, the layers) and names what it
# needs next.
_MAX_ROUNDS = 6
_MISSING = "missing.json"

def host_tool(ctx):
    """The path of the img tool for this machine.

    Args:
      ctx: a module or repository context.

    Returns:
      A path.
    """
    return ctx.path(_IMG_HOST_TOOL_WINDOWS if ctx.os.name.lower().startswith("windows") else _IMG_HOST_TOOL)

def _run(rctx, what, args):
    result = rctx.execute([host_tool(rctx)] + args, quiet = True, timeout = 600)
    if result.return_code != 0:
        fail("%s: %s" % (what, result.stderr.strip()))
    return result

def _is_private_ipv4(host):
    parts = host.split(".")
    if len(parts) != 4 or not all([p.isdigit() and int(p) < 256 for p in parts]):
        return False
    a, b = int(parts[0]), int(parts[1])
    return a == 10 or (a == 172 and b >= 16 and b < 32) or (a == 192 and b == 168)

def _is_port(s):
    return s.isdigit() and len(s) <= 5

def registry_scheme(registry):
    """The URL scheme of a registry, as go-containerregistry chooses it.

    http for localhost:PORT, *.localhost[:PORT], 127.0.0.1[:PORT], ::1,
    [::1][:PORT] and addresses of private IPv4 networks (10/8, 172.16/12,
    192.168/16); https for every other registry.

    Args:
      registry: host[:port].

    Returns:
      "http" or "https".
    """
    if registry.startswith("localhost:") or registry == "::1":
        return "http"
    host, _, port = registry.partition(":")
    if registry.startswith("["):
        host, _, port = registry.partition("]")
        host += "]"
        port = port.removeprefix(":")
    if port and not _is_port(port):
        return "https"
    if host in ["127.0.0.1", "[::1]"] or host.endswith(".localhost") or _is_private_ipv4(host):
        return "http"
    return "https"

def _urls(registries, repository, kind, reference):
    endpoint = "manifests" if kind == "manifest" else "blobs"
    return ["%s://%s/v2/%s/%s/%s" % (registry_scheme(r), r, repository, endpoint, reference) for r in registries]

def _headers(kind):
    return {"Accept": _MANIFEST_ACCEPT} if kind == "manifest" else {}

def _download(rctx, what, needs, registries, repository):
    """Downloads each need, all at once, checked against its sha256."""
    pending = []
    for need in needs:
        pending.append((need, rctx.download(
            url = _urls(registries, repository, need["kind"], need["digest"]),
            output = need["path"],
            sha256 = need["digest"].removeprefix("sha256:"),
            headers = _headers(need["kind"]),
            allow_fail = True,
            block = False,
        )))
    for need, download in pending:
        if not download.wait().success:
            fail("%s: Bazel's downloader could not get the %s %s from %s (the reason is in the warning above)" % (
                what,
                need["kind"],
                need["digest"],
                ", ".join(registries),
            ))

def run_img_tool(rctx, what, args, downloader, registries, repository):
    """Runs an img tool command that fills the repository.

    With downloader = "bazel", the command reads only what is in the
    repository and names what it lacks (in --missing); it is run again
    after Bazel downloaded that, until nothing is missing.

    Args:
      rctx: the repository context.
      what: what is being fetched, for messages.
      args: the img tool's subcommand and flags.
      downloader: "img_tool" or "bazel".
      registries: the registries to read from, in order.
      repository: the repository in those registries.

    Returns:
      The result of the last run.
    """
    if downloader == "img_tool":
        return _run(rctx, what, args)
    for _ in range(_MAX_ROUNDS):
        result = _run(rctx, what, args + ["--missing", _MISSING])
        needs = json.decode(rctx.read(_MISSING))
        rctx.delete(_MISSING)
        if not needs:
            return result
        _download(rctx, what, needs, registries, repository)
    fail("%s: still missing files after %d rounds of downloads" % (what, _MAX_ROUNDS))

def resolve_tag(rctx, what, name, tag, registries, repository):
    """Asks the registries which digest a tag points at now.

    The img tool asks, whatever the pull's downloader: Bazel's downloader
    fetches over http only what it can check against a sha256, and a tag
    has none.

    Args:
      rctx: the repository context.
      what: what is being fetched, for messages.
      name: the pull's name.
      tag: the tag.
      registries: the registries to ask, in order.
      repository: the repository in those registries.

    Returns:
      The digest of the manifest or index, "sha256:...".
    """
    args = ["pull-repo", "--resolve", "--name", name, "--repository", repository, "--tag", tag]
    for r in registries:
        args.extend(["--registry", r])
    return _run(rctx, what, args).stdout.strip()
