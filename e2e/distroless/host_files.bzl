"""host_files and host_python: snapshots of host files, to build image layers from.

Each repository copies the host files it is given into itself, so a build
reads a fixed snapshot, and writes `files.bzl` with two dicts for
image_layer:

    FILES     image path -> label of the copied file
    SYMLINKS  image path -> link target, as the host has it

Files keep their real path: parent directories are resolved first, so on a
merged-/usr host /lib/x86_64-linux-gnu/libc.so.6 becomes
/usr/lib/x86_64-linux-gnu/libc.so.6. A symlink is kept as a symlink and
its target is copied as well, so the snapshot never has a dangling link.

Bazel fetches the repository again when a copied host file changes. Layers
built from it are as reproducible as the host: the same package versions
give the same digests.
"""

# Characters that may appear in the copied file names (they become labels).
_LABEL_SAFE = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=,@~"

# find(1) prints "<type>\t<path>\t<link target>" for each file and symlink
# below each argument. Parent directories are resolved (realpath) first;
# excluded names and paths are pruned. Exit 2 names a missing path.
_LIST = r"""
set -u
excl=$1
shift
for p in "$@"; do
  d=$(realpath -e -- "$(dirname -- "$p")" 2>/dev/null) || { echo "$p" >&2; exit 2; }
  t=$d/${p##*/}
  [ -e "$t" ] || [ -L "$t" ] || { echo "$p" >&2; exit 2; }
  eval "find -P \"\$t\" \( $excl \) -prune -o \( -type f -o -type l \) -printf '%y\t%p\t%l\n'"
done
"""

def _run(rctx, args, what):
    result = rctx.execute(args, quiet = True)
    if result.return_code != 0:
        fail("%s: %s failed (exit %d): %s" % (rctx.name, what, result.return_code, result.stderr.strip()))
    return [line for line in result.stdout.split("\n") if line]

def _normalize(path):
    """Resolves "." and ".." in an absolute path, without touching the disk."""
    parts = []
    for part in path.split("/"):
        if part in ["", "."]:
            continue
        if part == "..":
            if parts:
                parts.pop()
        else:
            parts.append(part)
    return "/" + "/".join(parts)

def _find_args(exclude):
    """The find(1) expression that matches excluded entries."""
    if not exclude:
        return "-false"
    tests = []
    for pattern in exclude:
        if "'" in pattern:
            fail("exclude pattern %r may not contain a single quote" % pattern)
        tests.append("%s '%s'" % ("-path" if "/" in pattern else "-name", pattern))
    return " -o ".join(tests)

def _shared_libraries(rctx, libraries, exclude):
    """Host paths of `libraries` and every shared library they need, by ldd."""
    elf_files = []
    for library in libraries:
        if "/" not in library:
            # A soname: the host's linker cache knows its path.
            matches = [
                line.split(" => ")[-1].strip()
                for line in _run(rctx, [_ldconfig(rctx), "-p"], "ldconfig -p")
                if line.strip().startswith(library + " ")
            ]
            if not matches:
                fail("%s: no shared library %r in the host's linker cache (ldconfig -p); install it or give its path" % (rctx.name, library))
            elf_files.append(matches[0])
            continue

        # A file, or a directory of ELF files (say Python's lib-dynload).
        for line in _run(rctx, ["sh", "-c", _LIST, "sh", _find_args(exclude), library], "listing " + library):
            elf_files.append(line.split("\t")[1])  # ldd follows symlinks
    if not elf_files:
        return []
    found = []
    result = rctx.execute(["ldd"] + elf_files, quiet = True)
    for line in result.stdout.split("\n"):
        line = line.strip()
        if "not found" in line:
            fail("%s: ldd: %s; install the package that has it, or exclude the file that needs it" % (rctx.name, line))
        if " => /" in line:
            found.append(line.split(" => ")[1].split(" (")[0])
        elif line.startswith("/") and " (0x" in line:
            found.append(line.split(" (")[0])  # the dynamic loader
    if result.return_code != 0 and not found:
        fail("%s: ldd %s failed: %s" % (rctx.name, " ".join(elf_files), (result.stderr + result.stdout).strip()))
    return elf_files + found

def _ldconfig(rctx):
    for candidate in ["ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"]:
        path = rctx.which(candidate) if "/" not in candidate else rctx.path(candidate)
        if path and path.exists:
            return str(path)
    fail("%s: ldconfig is not on PATH, so sonames can't be looked up; give library paths instead" % rctx.name)

def _snapshot(rctx, paths, libraries, exclude):
    """Copies paths (files, directories, symlinks) and libraries into the repository."""
    for path in paths:
        if not path.startswith("/"):
            fail("%s: host path %r is relative: give it from the root, like /etc/ssl/certs" % (rctx.name, path))
    excluded = _find_args(exclude)
    paths = [p.rstrip("/") for p in paths]
    files = {}
    symlinks = {}
    pending = list(paths) + _shared_libraries(rctx, libraries, exclude)
    for _ in range(64):  # rounds of symlink targets; a loop stops here
        if not pending:
            break
        result = rctx.execute(["sh", "-c", _LIST, "sh", excluded] + pending, quiet = True)
        if result.return_code == 2:
            fail("%s: host path %s does not exist (or is a dangling symlink's target); install it, or exclude the link" % (rctx.name, result.stderr.strip()))
        if result.return_code != 0:
            fail("%s: listing host files failed: %s" % (rctx.name, result.stderr.strip()))
        pending = []
        for line in result.stdout.split("\n"):
            if not line:
                continue
            kind, path, target = line.split("\t")
            if [c for c in path.elems() if c not in _LABEL_SAFE]:
                fail("%s: host file %r has a character Bazel labels can't carry; add it to exclude" % (rctx.name, path))
            if path.rsplit("/", 1)[-1] in ["BUILD", "BUILD.bazel"]:
                fail("%s: host file %r would start a Bazel package; add it to exclude" % (rctx.name, path))
            if kind == "l":
                symlinks[path] = target
                resolved = _normalize(target if target.startswith("/") else path.rsplit("/", 1)[0] + "/" + target)
                if resolved not in files and resolved not in symlinks:
                    pending.append(resolved)
            else:
                files[path] = True
    if pending:
        fail("%s: symlinks still unresolved after 64 rounds (a loop?): %s" % (rctx.name, pending))

    # One tar pipe for all files (it keeps their modes): a process per file
    # would take seconds.
    rctx.file("files.txt", "".join([p[1:] + "\n" for p in sorted(files)]))
    _run(rctx, ["sh", "-c", "tar -C / --no-recursion -T files.txt -cf - | tar -C root -xf -"], "copying host files")
    rctx.delete("files.txt")

    # Fetch again when the host changes a copied file, or a directory that
    # was asked for gains or loses one.
    for path in sorted(files) + sorted(symlinks):
        rctx.watch(path)
    for path in paths:
        if rctx.path(path).is_dir:
            rctx.watch_tree(path)
    return files, symlinks

def _write(rctx, files, symlinks):
    rctx.file("BUILD.bazel", "exports_files(glob([\"root/**\"]), visibility = [\"//visibility:public\"])\n")
    lines = ['"""Generated by host_files for @%s: host files, by their path in the image."""' % rctx.name, ""]
    lines.append("FILES = {")
    lines.extend(["    %r: Label(%r)," % (p, "//:root" + p) for p in sorted(files)])
    lines.append("}")
    lines.append("")
    lines.append("SYMLINKS = {")
    lines.extend(["    %r: %r," % (p, symlinks[p]) for p in sorted(symlinks)])
    lines.append("}")
    rctx.file("files.bzl", "\n".join(lines) + "\n")

def _host_files_impl(rctx):
    rctx.file("root/.keep", "")
    files, symlinks = _snapshot(rctx, rctx.attr.paths, rctx.attr.libraries, rctx.attr.exclude)
    _write(rctx, files, symlinks)

_COMMON_ATTRS = {
    "exclude": attr.string_list(
        doc = "find(1) patterns to leave out: a pattern with a slash matches a whole path " +
              "(-path), one without matches a file or directory name anywhere (-name).",
    ),
    "libraries": attr.string_list(
        doc = "Shared libraries to add with everything they need (by ldd): a soname " +
              "(\"libstdc++.so.6\"), looked up in the host's linker cache, or the path of " +
              "an ELF file or a directory of them.",
    ),
}

host_files = repository_rule(
    implementation = _host_files_impl,
    doc = "A snapshot of host files (and the shared libraries they need) for image layers.",
    attrs = dict(
        paths = attr.string_list(doc = "Absolute host paths: files, directories or symlinks."),
        **_COMMON_ATTRS
    ),
)

def _host_python_impl(rctx):
    name = rctx.attr.interpreter
    python = rctx.path(name) if name.startswith("/") else rctx.which(name)
    if not python or not python.exists:
        fail("%s: there is no Python at %s; install python3, or set interpreter" % (rctx.name, name))
    stdlib = _run(rctx, [python, "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"], "asking Python for its standard library")[0]
    rctx.file("root/.keep", "")
    files, symlinks = _snapshot(
        rctx,
        paths = [stdlib, str(python)],
        libraries = [str(python), stdlib + "/lib-dynload"] + rctx.attr.libraries,
        exclude = rctx.attr.exclude,
    )
    _write(rctx, files, symlinks)

host_python = repository_rule(
    implementation = _host_python_impl,
    doc = "The host's Python 3: the interpreter, its standard library and the shared libraries both need.",
    attrs = dict(
        interpreter = attr.string(
            default = "/usr/bin/python3",
            doc = "The system Python to copy: an absolute path, or a name looked up on PATH.",
        ),
        **_COMMON_ATTRS
    ),
)
