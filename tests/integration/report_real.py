#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""report_real.py - check layerfs-report on a real image built by buildah
(scripts/build-test-image) against an independent model, and time it.

The model reads the uncompressed layers (OUT/oci-raw) with python's tarfile
and merges them with the OCI rules on a plain dict, path -> file id, hashing
every file's content with sha256: stored bytes, what stays visible, and for
every file that stops being visible the layer that hid it and why.  It
shares no code with the C analysis.  The report is then run on the gzip OCI
layout and the docker archive and must agree to the byte, name the steps
of the build (apt-get install, the apt lists removal, chmod -R), and its
--fail-if gates must trip exactly at those figures.

Timing (printed, never a failure): the report against decompressing the
same gzip layers with zcat (and the zstd ones with zstd -dc).

  report_real.py --report BIN --image-dir /var/tmp/lfs-real
"""

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from report_cases import Fail, check, eq  # noqa: E402


def layer_blobs(layout):
    with open(os.path.join(layout, "index.json")) as f:
        idx = json.load(f)

    def blob(d):
        return os.path.join(layout, "blobs", *d.split(":"))
    with open(blob(idx["manifests"][0]["digest"])) as f:
        man = json.load(f)
    return [blob(l["digest"]) for l in man["layers"]]


def norm(name):
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return "/".join(parts)


class Model:
    """Overlay merge on dicts.  A file id is (layer, n); dirs are "D"."""

    def __init__(self):
        self.view = {}          # path -> id or "D"
        self.files = {}         # id -> (size, sha256, type)
        self.hidden = {}        # id -> (hidden_by layer, cause)
        self.names = {}         # id -> names in the view

    def _drop(self, path, k, cause):
        """Remove PATH (and its subtree) from the view."""
        gone = [path] if self.view.get(path) != "D" else \
            [p for p in self.view if p == path or p.startswith(path + "/")]
        for p in gone:
            fid = self.view.pop(p)
            if fid == "D":
                continue
            self.names[fid] -= 1
            if not self.names[fid]:
                self.hidden[fid] = (k, cause)

    def _cause(self, old, new):
        a, b = self.files[old], self.files[new]
        if a[2] != b[2]:
            return "type"
        return "identical" if a[1] == b[1] else "overwritten"

    def apply(self, k, path):
        own = {}        # the layer's own tree: later entries win
        opaque = set()
        n = 0
        with tarfile.open(path) as tf:
            for m in tf:
                p = norm(m.name)
                base = p.rsplit("/", 1)[-1]
                head = p[:-len(base)].rstrip("/")
                if base == ".wh..wh..opq":
                    opaque.add(head)
                    continue
                if base.startswith(".wh."):
                    own[(head + "/" if head else "") + base[4:]] = "W"
                    continue
                if m.isdir():
                    own[p] = "D"
                    continue
                if m.islnk():
                    if norm(m.linkname) in own:
                        own[p] = own[norm(m.linkname)]
                    continue
                fid = (k, n)
                n += 1
                h = hashlib.sha256()
                if m.isreg():
                    f = tf.extractfile(m)
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                    kind = "reg"
                else:
                    kind = "lnk:" + m.linkname if m.issym() else "other"
                    h.update(kind.encode())
                self.files[fid] = (m.size if m.isreg() else 0, h.hexdigest(), kind)
                own[p] = fid
        # implied parents of the layer's entries
        for p in list(own):
            parts = p.split("/")
            for i in range(1, len(parts)):
                own.setdefault("/".join(parts[:i]), "D")
        # below an opaque directory, whatever the layer does not list goes
        for d in opaque:
            pre = d + "/" if d else ""
            for q in sorted((q for q in self.view if q.startswith(pre) and q != d),
                            key=lambda q: q.count("/")):
                if q in self.view and q not in own:
                    self._drop(q, k, "deleted")
        for p in sorted(own, key=lambda q: q.count("/")):
            fid = own[p]
            old = self.view.get(p)
            if fid == "W":
                if old is not None:
                    self._drop(p, k, "deleted")
                continue
            if fid == "D":
                if old is not None and old != "D":
                    self._drop(p, k, "type")
                self.view[p] = "D"
                continue
            if old is not None:
                self._drop(p, k, "type" if old == "D" else self._cause(old, fid))
            self.view[p] = fid
            self.names[fid] = self.names.get(fid, 0) + 1


def model_figures(blobs):
    m = Model()
    for k, b in enumerate(blobs):
        m.apply(k + 1, b)
    stored = [0] * len(blobs)
    visible = [0] * len(blobs)
    hides = [dict.fromkeys(("deleted", "overwritten", "identical", "type"), 0)
             for _ in blobs]
    for fid, (size, _, _) in m.files.items():
        stored[fid[0] - 1] += size
        if fid in m.hidden:
            k, cause = m.hidden[fid]
            hides[k - 1][cause] += size
        else:
            visible[fid[0] - 1] += size
    return m, stored, visible, hides


def cpu_time(cmd, shell=False):
    t0 = time.monotonic()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, shell=shell, check=True, stdout=subprocess.DEVNULL)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.monotonic() - t0, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def best(cmd, shell=False, n=3):
    runs = [cpu_time(cmd, shell) for _ in range(n)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--report", required=True)
    ap.add_argument("--image-dir", required=True)
    ap.add_argument("--no-timing", action="store_true")
    a = ap.parse_args()
    d = a.image_dir
    t0 = time.monotonic()
    m, stored, visible, hides = model_figures(layer_blobs(os.path.join(d, "oci-raw")))
    print("model built in %.1fs" % (time.monotonic() - t0))
    wasted = sum(stored) - sum(visible)
    failed = 0
    for src in (os.path.join(d, "oci"), os.path.join(d, "docker.tar")):
        try:
            p = subprocess.run([a.report, "-q", "--json", "--top", "0", src],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            check(p.returncode == 0, p.stderr.decode())
            doc = json.loads(p.stdout)
            L = doc["layers"]
            eq([l["stored_bytes"] for l in L], stored, "stored bytes per layer")
            eq([l["visible_bytes"] for l in L], visible, "visible bytes per layer")
            eq([l["hides_by_cause"] for l in L], hides, "bytes each layer hides, by cause")
            eq(doc["totals"]["wasted_bytes"], wasted, "wasted")
            # the steps of the build, by their instruction
            step = {}
            for l in L:
                ins = l["instruction"] or ""
                for key, needle in (("install", "apt-get install"),
                                    ("rm_lists", "/var/lib/apt/lists/*"),
                                    ("chmod", "chmod -R")):
                    if needle in ins:
                        step[key] = l["number"]
            check(len(step) == 3, "steps not found in the history: %r" % step)
            lists = sum(size for fid, (size, _, _) in m.files.items()
                        if m.hidden.get(fid, (0,))[0] == step["rm_lists"]
                        and m.hidden[fid][1] == "deleted")
            got = sum(w["bytes"] for w in doc["wasted"]["paths"]
                      if w["hidden_by_layer"] == step["rm_lists"]
                      and w["cause"] == "deleted")
            eq(got, lists, "bytes deleted by the rm step")
            lists_only = sum(w["bytes"] for w in doc["wasted"]["paths"]
                             if w["path"].startswith("/var/lib/apt/lists/")
                             and w["hidden_by_layer"] == step["rm_lists"])
            check(lists_only > 10**6, "apt lists deleted by the rm step: %d" % lists_only)
            ident = hides[step["chmod"] - 1]["identical"]
            check(ident > 50 * 10**6, "chmod -R copy-up is only %d bytes" % ident)
            eq(L[step["chmod"] - 1]["hides_by_cause"]["identical"], ident, "chmod step")
            eq(L[step["install"] - 1]["stored_bytes"], stored[step["install"] - 1],
               "install step")
            kinds = {(s["kind"], s["hidden_by_layer"]) for s in doc["suggestions"]}
            check(("package-cache", step["rm_lists"]) in kinds, "no apt lists suggestion")
            check(("copy-up", step["chmod"]) in kinds, "no chmod suggestion")
            print("ok: %s: stored %d, visible %d, wasted %d; rm step deletes %d (apt lists "
                  "%d), chmod step re-stores %d" % (src, sum(stored), sum(visible), wasted,
                                                     lists, lists_only, ident))
        except Fail as e:
            failed += 1
            print("FAIL: %s: %s" % (src, e))
    # the gates trip exactly at the figures
    src = [os.path.join(d, "oci")]
    total_ident = sum(h["identical"] for h in hides)
    for expr, rc in (("wasted>%dB" % (wasted - 1), 2), ("wasted>%dB" % wasted, 0),
                     ("identical>=%dB" % total_ident, 2), ("identical>%dB" % total_ident, 0),
                     ("efficiency<%.6f" % (1 - wasted / sum(stored) + 1e-6), 2),
                     ("efficiency<%.6f" % (1 - wasted / sum(stored) - 1e-6), 0)):
        got = subprocess.run([a.report, "-q", "--json", "--fail-if", expr] + src,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        if got != rc:
            failed += 1
            print("FAIL: --fail-if '%s': exit %d, want %d" % (expr, got, rc))
    if not failed:
        print("ok: gates")
    if not a.no_timing:
        timing(a.report, d)
    return 1 if failed else 0


def timing(report, d):
    """Report time against plain decompression of the same layers."""
    for layout, tool in (("oci", "zcat"), ("oci-zstd", "zstd -dcq")):
        blobs = layer_blobs(os.path.join(d, layout))
        dec = best("%s %s > /dev/null" % (tool, " ".join(blobs)), shell=True)
        rep = best([report, "-q", "--json", os.path.join(d, layout)])
        rep1 = best([report, "-q", "-j", "1", "--json", os.path.join(d, layout)])
        print("timing %s: report %.2fs wall (%.2fs CPU), -j1 %.2fs wall; %s %.2fs wall "
              "(%.2fs CPU); ratio report/%s wall %.2f, -j1 %.2f, CPU %.2f" %
              (layout, rep[0], rep[1], rep1[0], tool.split()[0], dec[0], dec[1],
               tool.split()[0], rep[0] / dec[0], rep1[0] / dec[0], rep[1] / dec[1]))


if __name__ == "__main__":
    sys.exit(main())
