#!/usr/bin/env python3
"""Pushes the image shapes of e2e/shapes to a registry, byte for byte the
same on every run (tar entries with fixed owners and times, gzip without a
timestamp), through the distribution API (blob uploads, manifest PUTs).

usage: make_shapes.py all REGISTRY WORKDIR URL_BASE
       make_shapes.py move REGISTRY WORKDIR

`all` pushes every shape under e2e/shapes/ and writes in WORKDIR:
  foreign/<hex>.tar.gz   the foreign layer's blob, which the registry never
                         gets: URL_BASE/<hex>.tar.gz serves it (its url)
  schema1/<tag>.json     Docker schema 1 manifests, for the proxy to serve
                         (distribution 2.8 refuses to store them)
`move` points e2e/shapes/moving:1 at its second image.
Each prints one line per tag: "<repository>:<tag> <digest>".
"""

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request

DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
IN_TOTO = "application/vnd.in-toto+json"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_of(files):
    """An uncompressed tar of {path: (bytes, mode)}, parents first."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = set()
        for path in sorted(files):
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            data, mode = files[path]
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Layer:
    def __init__(self, files, compression="gzip"):
        self.raw = tar_of(files)
        if compression == "gzip":
            self.blob = gzip.compress(self.raw, compresslevel=6, mtime=0)
        else:
            self.blob = subprocess.run(["zstd", "-q", "-3", "-c"], input=self.raw, stdout=subprocess.PIPE, check=True).stdout
        self.digest, self.diff_id = sha256(self.blob), sha256(self.raw)

    def descriptor(self, media_type, **extra):
        return dict(mediaType=media_type, size=len(self.blob), digest=self.digest, **extra)


def text(path, content):
    return {path: (content.encode(), 0o644)}


BUSYBOX = {"bin/busybox": (open("/bin/busybox", "rb").read(), 0o755)}


class Registry:
    def __init__(self, address):
        self.base = "http://" + address

    def _request(self, method, url, data=None, headers=None):
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def blob(self, repo, data):
        digest = sha256(data)
        status, _, _ = self._request("HEAD", f"{self.base}/v2/{repo}/blobs/{digest}")
        if status == 200:
            return digest
        status, headers, body = self._request("POST", f"{self.base}/v2/{repo}/blobs/uploads/")
        if status != 202:
            raise SystemExit(f"POST upload {repo}: {status} {body!r}")
        location = urllib.parse.urljoin(self.base, headers["Location"])
        sep = "&" if "?" in location else "?"
        status, _, body = self._request(
            "PUT", f"{location}{sep}digest={digest}", data=data, headers={"Content-Type": "application/octet-stream"}
        )
        if status != 201:
            raise SystemExit(f"PUT blob {repo} {digest}: {status} {body!r}")
        return digest

    def manifest(self, repo, ref, media_type, doc):
        data = json.dumps(doc, indent=3).encode() if not isinstance(doc, bytes) else doc
        status, _, body = self._request(
            "PUT", f"{self.base}/v2/{repo}/manifests/{ref}", data=data, headers={"Content-Type": media_type}
        )
        if status != 201:
            raise SystemExit(f"PUT manifest {repo}:{ref}: {status} {body!r}")
        return sha256(data), len(data)


def config(arch, layers, os_="linux", docker=False, variant="", os_version="", shape=""):
    doc = {
        "architecture": arch,
        "config": {"Env": ["PATH=/bin"], "Labels": {"e2e.shape": shape}},
        "os": os_,
        "rootfs": {"type": "layers", "diff_ids": [l.diff_id for l in layers]},
    }
    if variant:
        doc["variant"] = variant
    if os_version:
        doc["os.version"] = os_version
    return json.dumps(doc, sort_keys=True).encode()


def image(reg, repo, layers, arch="amd64", docker=False, ref=None, variant="", os_="linux", os_version="",
          layer_type=None, extra_layers=(), shape=""):
    """Pushes an image of layers (+ extra_layers: (Layer, descriptor) pushed
    by the caller or not at all) and returns its index descriptor."""
    all_layers = list(layers) + [l for l, _ in extra_layers]
    cfg = config(arch, all_layers, os_=os_, variant=variant, os_version=os_version, shape=shape)
    reg.blob(repo, cfg)
    for l in layers:
        reg.blob(repo, l.blob)
    mt = DOCKER_MANIFEST if docker else OCI_MANIFEST
    layer_type = layer_type or (DOCKER_LAYER if docker else OCI_LAYER)
    doc = {
        "schemaVersion": 2,
        "mediaType": mt,
        "config": {"mediaType": DOCKER_CONFIG if docker else OCI_CONFIG, "size": len(cfg), "digest": sha256(cfg)},
        "layers": [l.descriptor(layer_type) for l in layers] + [d for _, d in extra_layers],
    }
    digest, size = reg.manifest(repo, ref or "latest-" + arch, mt, doc)
    platform = {"architecture": arch, "os": os_}
    if variant:
        platform["variant"] = variant
    if os_version:
        platform["os.version"] = os_version
    return {"mediaType": mt, "size": size, "digest": digest, "platform": platform}


def attestation(reg, repo, subject, n):
    """An attestation manifest as BuildKit pushes it, for subject (a
    descriptor), and its index entry (platform unknown/unknown)."""
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v0.1", "n": n,
                            "subject": [{"digest": {"sha256": subject["digest"][7:]}}]}).encode()
    cfg = json.dumps({"architecture": "unknown", "os": "unknown", "config": {},
                      "rootfs": {"type": "layers", "diff_ids": [sha256(statement)]}}, sort_keys=True).encode()
    reg.blob(repo, statement)
    reg.blob(repo, cfg)
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(cfg), "size": len(cfg)},
        "layers": [{"mediaType": IN_TOTO, "digest": sha256(statement), "size": len(statement),
                    "annotations": {"in-toto.io/predicate-type": "https://spdx.dev/Document"}}],
    }
    digest, size = reg.manifest(repo, f"att-{n}", OCI_MANIFEST, doc)
    return {"mediaType": OCI_MANIFEST, "digest": digest, "size": size,
            "annotations": {"vnd.docker.reference.digest": subject["digest"],
                            "vnd.docker.reference.type": "attestation-manifest"},
            "platform": {"architecture": "unknown", "os": "unknown"}}


def index(reg, repo, tag, media_type, manifests):
    doc = {"schemaVersion": 2, "mediaType": media_type, "manifests": manifests}
    return reg.manifest(repo, tag, media_type, doc)[0]


def say(repo, tag, digest):
    print(f"{repo}:{tag} {digest}")


def shape_layer(shape, what):
    return Layer(text("etc/shape.txt", f"{shape}: {what}\n"))


def make_all(reg, work, url_base):
    busybox = Layer(BUSYBOX)
    p = "e2e/shapes/"

    # A Docker manifest list: two Docker v2 schema 2 images and, as BuildKit
    # pushes them, an attestation manifest for each (unknown/unknown).
    repo = p + "docker-list"
    amd = image(reg, repo, [busybox, shape_layer("docker-list", "linux/amd64")], docker=True, shape="docker-list")
    arm = image(reg, repo, [shape_layer("docker-list", "linux/arm64/v8")], arch="arm64", variant="v8", docker=True,
                shape="docker-list")
    say(repo, "1", index(reg, repo, "1", DOCKER_LIST,
                         [amd, arm, attestation(reg, repo, amd, 1), attestation(reg, repo, arm, 2)]))

    # One Docker v2 schema 2 image, no list.
    repo = p + "docker-single"
    d = image(reg, repo, [busybox, shape_layer("docker-single", "a Docker v2 image")], docker=True, ref="1",
              shape="docker-single")
    say(repo, "1", d["digest"])

    # An OCI index with an attestation.
    repo = p + "oci-attest"
    amd = image(reg, repo, [busybox, shape_layer("oci-attest", "linux/amd64")], shape="oci-attest")
    say(repo, "1", index(reg, repo, "1", OCI_INDEX, [amd, attestation(reg, repo, amd, 1)]))

    # An OCI index with variants and Windows entries (os.version) first.
    repo = p + "oci-variants"
    entries = []
    for version in ["10.0.17763.6054", "10.0.20348.2582"]:
        entries.append(image(reg, repo, [shape_layer("oci-variants", "windows " + version)], os_="windows",
                             os_version=version, ref="win-" + version, shape="oci-variants"))
    entries.append(image(reg, repo, [busybox, shape_layer("oci-variants", "linux/amd64")], shape="oci-variants"))
    entries.append(image(reg, repo, [shape_layer("oci-variants", "linux/arm/v7")], arch="arm", variant="v7",
                         shape="oci-variants"))
    entries.append(image(reg, repo, [shape_layer("oci-variants", "linux/arm64/v8")], arch="arm64", variant="v8",
                         shape="oci-variants"))
    say(repo, "1", index(reg, repo, "1", OCI_INDEX, entries))

    # zstd-compressed layers.
    repo = p + "zstd"
    d = image(reg, repo, [Layer(BUSYBOX, "zstd"), Layer(text("etc/shape.txt", "zstd: zstd layers\n"), "zstd")],
              layer_type=OCI_ZSTD, ref="1", shape="zstd")
    say(repo, "1", d["digest"])

    # A foreign layer: Docker's non-distributable type, with a url. The
    # registry never gets its blob; URL_BASE serves it.
    repo = p + "foreign"
    foreign = Layer(text("etc/shape.txt", "foreign: this layer came from its url\n"))
    os.makedirs(os.path.join(work, "foreign"), exist_ok=True)
    name = foreign.digest[7:] + ".tar.gz"
    with open(os.path.join(work, "foreign", name), "wb") as f:
        f.write(foreign.blob)
    desc = foreign.descriptor(DOCKER_FOREIGN, urls=[url_base + "/" + name])
    d = image(reg, repo, [busybox], docker=True, ref="1", extra_layers=[(foreign, desc)], shape="foreign")
    say(repo, "1", d["digest"])

    # 121 layers: busybox, then one file each.
    repo = p + "many"
    layers = [busybox] + [Layer(text(f"layers/{i:03d}", f"layer {i}\n")) for i in range(1, 120)]
    layers.append(shape_layer("many", "layer 121 of 121"))
    d = image(reg, repo, layers, ref="1", shape="many")
    say(repo, "1", d["digest"])

    # Served through the proxy: an OCI index whose tag is answered with
    # another Content-Type, and a Docker list without Docker-Content-Digest.
    repo = p + "ctype"
    amd = image(reg, repo, [busybox, shape_layer("ctype", "Content-Type is not the mediaType")], shape="ctype")
    say(repo, "1", index(reg, repo, "1", OCI_INDEX, [amd]))
    repo = p + "nodigest"
    amd = image(reg, repo, [busybox, shape_layer("nodigest", "no Docker-Content-Digest")], docker=True,
                shape="nodigest")
    say(repo, "1", index(reg, repo, "1", DOCKER_LIST, [amd]))

    # A tag that moves (make_shapes.py move).
    moving(reg, 1)

    # Docker schema 1, for the proxy: the layer is in the registry, the
    # manifests are not.
    repo = p + "schema1"
    layer = shape_layer("schema1", "a schema 1 image")
    reg.blob(repo, busybox.blob)
    reg.blob(repo, layer.blob)
    os.makedirs(os.path.join(work, "schema1"), exist_ok=True)
    for tag in ["prettyjws", "json"]:
        history = [{"v1Compatibility": json.dumps({"id": "b" * 64, "parent": "a" * 64, "architecture": "amd64",
                                                   "os": "linux", "created": "1970-01-01T00:00:00Z",
                                                   "config": {"Cmd": ["/bin/busybox", "cat", "/etc/shape.txt"]}})},
                   {"v1Compatibility": json.dumps({"id": "a" * 64, "created": "1970-01-01T00:00:00Z"})}]
        doc = {"schemaVersion": 1, "name": repo, "tag": tag, "architecture": "amd64",
               "fsLayers": [{"blobSum": layer.digest}, {"blobSum": busybox.digest}], "history": history}
        if tag == "prettyjws":
            doc["signatures"] = [{"header": {"alg": "ES256"}, "signature": "AAAA", "protected": "e30"}]
        data = json.dumps(doc, indent=3).encode()
        with open(os.path.join(work, "schema1", tag + ".json"), "wb") as f:
            f.write(data)
        say(repo, tag, sha256(data))


def moving(reg, version):
    repo = "e2e/shapes/moving"
    layer = Layer(text("etc/shape.txt", f"moving: version {version}\n"))
    busybox = Layer(BUSYBOX)
    d = image(reg, repo, [busybox, layer], ref="1", shape="moving")
    say(repo, "1", d["digest"])


def main(argv):
    if len(argv) == 5 and argv[1] == "all":
        make_all(Registry(argv[2]), argv[3], argv[4])
    elif len(argv) == 4 and argv[1] == "move":
        moving(Registry(argv[2]), 2)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
