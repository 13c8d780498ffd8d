#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench-registry.py - the registry part of scripts/bench (issue 14).

Uses the registry test bed (tests/integration/registry.py): Debian's
docker-registry on 127.0.0.1 behind its FaultProxy.

  bench-registry.py serve --info FILE [--latency S] [--bandwidth B]
      start docker-registry and a FaultProxy in front of it, every request
      through the proxy delayed by S seconds (default 0.02) and every
      response body capped at B bytes/s (default 50000000); write
      {"registry", "proxy", "pid", "workdir"} to FILE once ready; run until
      SIGTERM/SIGINT, then stop both and remove the registry's storage.

  bench-registry.py push LAYOUT HOST REPO TAG
      push the OCI layout's image byte for byte (no recompression) to
      http://HOST (the registry itself, not the proxy); prints its digest.

  bench-registry.py layer-bytes LAYOUT
      "LAYERS BYTES SIZE,SIZE...": the number of layers, their compressed
      size, and each one's.

  bench-registry.py stats PROXY [--reset] [--parts FILE] [--log FILE]
      "BLOB_BYTES BLOB_REQUESTS ALL_BYTES ALL_REQUESTS" sent by the proxy
      since its counters were last reset (--reset: then reset them); with
      --parts (a JSON object: blob digest -> part name, as index-parts
      writes), then "PART=BYTES" for each part name, bytes of the blobs of
      that part (0 when none was fetched); --log: the proxy's request log
      (method, path, range, status, bytes of each) appended to FILE, one
      JSON object a line.

  bench-registry.py index-parts HOST REPO DIGEST
      the layerfs index published for the image manifest DIGEST in REPO
      (found through the referrers tag sha256-HEX of the registry at
      http://HOST): {BLOB_DIGEST: PART} for its parts (dev.layerfs.part:
      "index" or "scratch") and "manifest" for the artifact's manifest and
      the referrers tag, as JSON on stdout; {} when there is none.
"""

import argparse
import json
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import registry  # noqa: E402


def serve(a):
    registry.install_signal_handlers()
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    with registry.Registry() as reg, registry.FaultProxy(reg.host) as px:
        px.configure(latency=a.latency, bandwidth=a.bandwidth or None, path=None)
        info = {"registry": reg.host, "proxy": px.host, "pid": os.getpid(),
                "workdir": reg.workdir, "latency": a.latency, "bandwidth": a.bandwidth}
        tmp = a.info + ".tmp"
        with open(tmp, "w") as f:
            json.dump(info, f)
        os.rename(tmp, a.info)
        while True:
            time.sleep(3600)


def push(a):
    c = registry.RegistryClient("http://" + a.host, timeout=600)
    print(c.push_oci_dir(a.repo, a.layout, a.tag))


def manifest(layout):
    def blob(d):
        with open(os.path.join(layout, "blobs", *d.split(":", 1)), "rb") as f:
            return json.load(f)
    with open(os.path.join(layout, "index.json")) as f:
        m = blob(json.load(f)["manifests"][0]["digest"])
    while "manifests" in m:
        m = blob(m["manifests"][0]["digest"])
    return m


def layer_bytes(a):
    layers = manifest(a.layout)["layers"]
    sizes = [int(l["size"]) for l in layers]
    print(len(layers), sum(sizes), ",".join(map(str, sizes)))


def stats(a):
    c = registry.ProxyControl("http://" + a.proxy)
    s = c.stats()
    b = s["kinds"].get("blobs", {})
    out = [b.get("bytes", 0), b.get("requests", 0), s["bytes"], s["requests"]]
    if a.parts:
        with open(a.parts) as f:
            parts = json.load(f)
        by = dict.fromkeys(sorted(set(parts.values())), 0)
        for e in s["log"]:
            d = e["path"].split("?")[0].rsplit("/", 1)[-1]
            if d in parts:
                by[parts[d]] += e["bytes"]
        out += ["%s=%d" % kv for kv in by.items()]
    if a.log:
        with open(a.log, "a") as f:
            for e in s["log"]:
                f.write(json.dumps({k: e.get(k) for k in ("method", "path", "range", "status",
                                                          "bytes")}) + "\n")
    print(*out)
    if a.reset:
        c.reset_stats()


def index_parts(a):
    c = registry.RegistryClient("http://" + a.host)
    tag = a.digest.replace(":", "-")
    st, _, body = c.get_manifest(a.repo, tag, accept="application/vnd.oci.image.index.v1+json")
    parts = {}
    if st == 200:
        parts[tag] = "manifest"
        for d in json.loads(body).get("manifests", []):
            if d.get("artifactType") != "application/vnd.layerfs.index.v1":
                continue
            st, _, mb = c.get_manifest(a.repo, d["digest"])
            if st != 200:
                continue
            parts[d["digest"]] = "manifest"
            for l in json.loads(mb).get("layers", []):
                parts[l["digest"]] = l.get("annotations", {}).get("dev.layerfs.part", "other")
    json.dump(parts, sys.stdout)
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve")
    p.add_argument("--info", required=True)
    p.add_argument("--latency", type=float, default=0.02)
    p.add_argument("--bandwidth", type=int, default=50000000)
    p.set_defaults(fn=serve)
    p = sub.add_parser("push")
    for n in ("layout", "host", "repo", "tag"):
        p.add_argument(n)
    p.set_defaults(fn=push)
    p = sub.add_parser("layer-bytes")
    p.add_argument("layout")
    p.set_defaults(fn=layer_bytes)
    p = sub.add_parser("stats")
    p.add_argument("proxy")
    p.add_argument("--reset", action="store_true")
    p.add_argument("--parts")
    p.add_argument("--log")
    p.set_defaults(fn=stats)
    p = sub.add_parser("index-parts")
    for n in ("host", "repo", "digest"):
        p.add_argument(n)
    p.set_defaults(fn=index_parts)
    a = ap.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
