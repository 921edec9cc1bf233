#!/usr/bin/env python3
"""The two small HTTP servers of e2e/shapes, on 127.0.0.1 only.

usage: servers.py files DIR PORTFILE LOG
       servers.py proxy UPSTREAM SCHEMA1_DIR PORTFILE LOG

`files` serves the files of DIR (the urls of foreign layers).
`proxy` passes every request on to the registry UPSTREAM (host:port) and
changes what it answers for three repositories:
  e2e/shapes/ctype     the manifests' Content-Type is not their mediaType:
                       a tag is answered as a Docker v2 image manifest, a
                       digest as application/json
  e2e/shapes/nodigest  no Docker-Content-Digest header, on any answer
  e2e/shapes/schema1   the manifests are the files SCHEMA1_DIR/<tag>.json
                       (by tag or by digest), as Docker schema 1: tag
                       "prettyjws" signed, tag "json" unsigned
Each binds a free port, writes it to PORTFILE, and logs one line per
request to LOG: method, path, status, the Content-Type and
Docker-Content-Digest it answered, and the client's User-Agent.
"""

import hashlib
import http.client
import http.server
import os
import sys
import threading

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization"}
SCHEMA1 = {"prettyjws": "application/vnd.docker.distribution.manifest.v1+prettyjws",
           "json": "application/vnd.docker.distribution.manifest.v1+json"}

log_lock = threading.Lock()


def write_log(path, line):
    with log_lock, open(path, "a") as f:
        f.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mode = dir = upstream = schema1 = log = None

    def log_message(self, *args):
        pass

    def answer(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        sent = dict((k.lower(), v) for k, v in headers)
        write_log(self.log, "\t".join([self.command, self.path, str(status), sent.get("content-type", "-"),
                                       sent.get("docker-content-digest", "-"), self.headers.get("User-Agent", "-")]))

    def do_GET(self):
        if self.mode == "files":
            return self.serve_file()
        return self.proxy()

    do_HEAD = do_GET

    def do_POST(self):
        return self.proxy()

    do_PUT = do_PATCH = do_DELETE = do_POST

    def serve_file(self):
        name = os.path.basename(self.path.split("?")[0])
        path = os.path.join(self.dir, name)
        if not name or not os.path.isfile(path):
            return self.answer(404, [("Content-Length", "0")], b"")
        data = open(path, "rb").read()
        return self.answer(200, [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(data)))], data)

    def proxy(self):
        path = self.path.split("?")[0]
        if path.startswith("/v2/e2e/shapes/schema1/manifests/"):
            return self.schema1_manifest(path.rsplit("/", 1)[1])
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP and k.lower() != "host"}
        conn = http.client.HTTPConnection(self.upstream, timeout=60)
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        out = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP]
        if path.startswith("/v2/e2e/shapes/ctype/manifests/") and resp.status == 200:
            ref = path.rsplit("/", 1)[1]
            wrong = "application/json" if ref.startswith("sha256:") else \
                "application/vnd.docker.distribution.manifest.v2+json"
            out = [(k, wrong if k.lower() == "content-type" else v) for k, v in out]
        if path.startswith("/v2/e2e/shapes/nodigest/"):
            out = [(k, v) for k, v in out if k.lower() != "docker-content-digest"]
        if self.command != "HEAD":
            out = [(k, v) for k, v in out if k.lower() != "content-length"] + [("Content-Length", str(len(data)))]
        return self.answer(resp.status, out, data)

    def schema1_manifest(self, ref):
        for tag, media_type in SCHEMA1.items():
            data = open(os.path.join(self.schema1, tag + ".json"), "rb").read()
            if ref in (tag, "sha256:" + hashlib.sha256(data).hexdigest()):
                return self.answer(200, [("Content-Type", media_type), ("Content-Length", str(len(data))),
                                         ("Docker-Content-Digest", "sha256:" + hashlib.sha256(data).hexdigest())],
                                   data)
        body = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
        return self.answer(404, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))], body)


def main(argv):
    if len(argv) == 5 and argv[1] == "files":
        Handler.mode, Handler.dir, portfile, Handler.log = "files", argv[2], argv[3], argv[4]
    elif len(argv) == 6 and argv[1] == "proxy":
        Handler.mode, Handler.upstream, Handler.schema1, portfile, Handler.log = "proxy", *argv[2:]
    else:
        raise SystemExit(__doc__)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    open(Handler.log, "a").close()
    with open(portfile + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(portfile + ".tmp", portfile)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv)
