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

  bench-registry.py stats PROXY [--reset]
      "BLOB_BYTES BLOB_REQUESTS ALL_BYTES ALL_REQUESTS" sent by the proxy
      since its counters were last reset (--reset: then reset them).
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
    print(b.get("bytes", 0), b.get("requests", 0), s["bytes"], s["requests"])
    if a.reset:
        c.reset_stats()


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
    p.set_defaults(fn=stats)
    a = ap.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
