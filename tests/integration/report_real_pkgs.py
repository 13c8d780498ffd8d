#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""report_real_pkgs.py - layerfs-report --packages on the real test image
against dpkg-query.

For every layer, the packages dpkg says are installed once that layer is
applied: the status file the layer stores (read from the layer's tar with
Python's tarfile; a layer without one keeps the one below) given to
`dpkg-query --admindir` in a scratch directory.  The report's per-layer
changes (installed, removed, upgraded), replayed from layer 1 on, must give
the same set, with the same versions, after every layer.

CLI: report_real_pkgs.py --report BIN --image-dir DIR --tmp DIR  (exit 77
when dpkg-query or DIR/oci-raw is missing)
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile


def layer_blobs(layout):
    with open(os.path.join(layout, "index.json")) as f:
        digest = json.load(f)["manifests"][0]["digest"]

    def blob(d):
        return os.path.join(layout, "blobs", *d.split(":", 1))
    with open(blob(digest)) as f:
        return [blob(l["digest"]) for l in json.load(f)["layers"]]


def status_of(layer):
    """The bytes of var/lib/dpkg/status in the layer's tar (its last entry), or None."""
    data = None
    with tarfile.open(layer) as tf:
        for m in tf:
            if m.name.lstrip("./") == "var/lib/dpkg/status" and m.isfile():
                data = tf.extractfile(m).read()
    return data


def dpkg_installed(status, tmp):
    """{package: version} dpkg-query reports installed for STATUS."""
    admin = os.path.join(tmp, "admindir")
    shutil.rmtree(admin, ignore_errors=True)
    os.makedirs(os.path.join(admin, "info"))
    for name in ("available", "diversions", "statoverride"):
        open(os.path.join(admin, name), "w").close()
    with open(os.path.join(admin, "status"), "wb") as f:
        f.write(status)
    out = subprocess.run(["dpkg-query", "--admindir=" + admin, "-W",
                          "-f=${db:Status-Abbrev}\t${Package}\t${Version}\n"],
                         stdout=subprocess.PIPE, check=True).stdout.decode()
    got = {}
    for line in out.splitlines():
        st, pkg, ver = line.split("\t")
        if st.startswith("ii"):
            got[pkg] = ver
    return got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--report", required=True)
    ap.add_argument("--image-dir", required=True)
    ap.add_argument("--tmp", required=True)
    a = ap.parse_args()
    raw = os.path.join(a.image_dir, "oci-raw")
    if not shutil.which("dpkg-query") or not os.path.exists(os.path.join(raw, "index.json")):
        print("SKIP: dpkg-query or %s is missing" % raw)
        return 77
    out = subprocess.run([a.report, "-q", "--json", "--packages", raw], stdout=subprocess.PIPE,
                         check=True).stdout
    layers = json.loads(out)["packages"]["layers"]
    blobs = layer_blobs(raw)
    if len(layers) != len(blobs):
        print("FAIL: %d layers reported, the image has %d" % (len(layers), len(blobs)))
        return 1
    failed = 0
    state, want, status = {}, {}, None
    for k, (L, path) in enumerate(zip(layers, blobs)):
        s = status_of(path)
        if s is not None:
            status = s
            want = dpkg_installed(status, a.tmp)
        for p in L["packages"]:
            if p["manager"] != "dpkg":
                continue
            if p["change"] == "removed":
                state.pop(p["name"], None)
            else:
                state[p["name"]] = p["version"]
        if state != want:
            failed += 1
            extra = sorted(set(state.items()) - set(want.items()))[:5]
            missing = sorted(set(want.items()) - set(state.items()))[:5]
            print("FAIL: layer %d: report's packages differ from dpkg-query's: extra %r, "
                  "missing %r" % (k + 1, extra, missing))
    if not failed:
        print("ok: --packages matches dpkg-query after each of %d layers (%d packages at the "
              "end)" % (len(layers), len(state)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
