#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""squash.py - layerfs-squash checked by independent readers (squash.sh runs it).

A four-layer image whose upper layers hide data of the lower ones
(a file rewritten, a file and a temporary file deleted, an opaque
directory) is squashed (--from 1, --from 3), slimmed (--slim, --slim
--keep 1) and each output unpacked by umoci: it must show exactly the tree
the source shows unpacked by umoci.  --slim must drop exactly the file
bytes the test hid (the sum of regular-file sizes in the output's layers,
read with Python's tarfile, is the source's less those); --keep N and
--from N must keep the first layers' digests; the same squash twice with
one --timestamp gives the same digest; skopeo inspects every output;
layerfs-report finds no waste above the kept layers of a slimmed image.
"""
import json
import os
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import difftest as dt  # noqa: E402
import mkimage  # noqa: E402
from checks import check, summary  # noqa: E402


def E(kind, path, **kw):
    return mkimage.Entry(kind, path, **kw)


# bytes of file data that the final image never shows
HIDDEN = 100000 + 30000 + 20000 + 5 + 40000


def layers():
    l0 = [E("dir", "etc"), E("file", "etc/big", data=b"a" * 100000), E("dir", "d"),
          E("file", "d/x", data=b"x" * 30000), E("file", "d/keep", data=b"k" * 10),
          E("dir", "o"), E("file", "o/h1", data=b"h" * 20000), E("file", "o/h2", data=b"h2h2h"),
          E("file", "link1", data=b"l" * 50), E("hardlink", "link2", target="link1")]
    l1 = [E("file", "etc/big", data=b"b" * 100), E("whiteout", "d/x"),
          E("file", "new1", data=b"n" * 1000)]
    l2 = [E("opaque", "o"), E("file", "o/n", data=b"seven!!"),
          E("file", "tmpfile", data=b"t" * 40000)]
    l3 = [E("whiteout", "tmpfile"), E("file", "etc/last", data=b"end")]
    return [mkimage.make_layer(l0, "gzip"), mkimage.make_layer(l1, "none"),
            mkimage.make_layer(l2, "gzip"), mkimage.make_layer(l3, "gzip")]


def run(cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def manifest(oci_dir):
    with open(os.path.join(oci_dir, "index.json")) as f:
        d = json.load(f)["manifests"][0]["digest"]
    with open(os.path.join(oci_dir, "blobs/sha256", d[7:])) as f:
        return d, json.load(f)


def layer_digests(oci_dir):
    return [l["digest"] for l in manifest(oci_dir)[1]["layers"]]


def file_bytes(oci_dir):
    """Regular-file bytes stored in the image's layers (hard links once)."""
    total = 0
    for tar in dt.read_image_layers([oci_dir]):
        with tarfile.open(fileobj=__import__("io").BytesIO(tar)) as tf:
            total += sum(m.size for m in tf if m.isreg())
    return total


def report_waste(oci_dir, tag="t"):
    """layerfs-report's wasted paths of the image (layers numbered from 1)."""
    r = run([os.environ["LAYERFS_REPORT"], "--json", "--no-cache", "--top", "0",
             "oci:%s:%s" % (oci_dir, tag)])
    check(r.returncode == 0, "layerfs-report %s" % os.path.basename(oci_dir), r.stderr.decode())
    return json.loads(r.stdout)["wasted"]["paths"] if r.returncode == 0 else []


def unpack(oci_dir, tag, work):
    bundle = os.path.join(work, "b-" + os.path.basename(oci_dir))
    r = run(["umoci", "unpack", "--image", "%s:%s" % (oci_dir, tag), bundle])
    check(r.returncode == 0, "umoci unpack %s" % os.path.basename(oci_dir), r.stderr.decode())
    t = dt.scan(os.path.join(bundle, "rootfs"))
    t.pop(b"", None)
    return t


def squash(work, name, *opts):
    out = os.path.join(work, name)
    r = run([os.environ["LAYERFS_SQUASH"], "--timestamp", "1700000000", *opts,
             "oci:%s:base" % os.path.join(work, "img"), "oci:%s:t" % out])
    check(r.returncode == 0, "layerfs-squash %s" % " ".join(opts), r.stderr.decode())
    saved = r.stdout.decode().split()[0] if r.returncode == 0 else "0"
    return out, int(saved)


def main():
    t0 = time.monotonic()
    work = sys.argv[1]
    img = os.path.join(work, "img")
    mkimage.write_image("oci-dir", img, layers(), tag="base")
    want = unpack(img, "base", work)
    src_digests = layer_digests(img)
    predicted = sum(w["bytes"] for w in report_waste(img, "base"))
    check(predicted == HIDDEN, "layerfs-report on the source counts the %d hidden bytes" % HIDDEN,
          str(predicted))
    for name, opts, kept in (("all", ("--from", "1"), 0), ("from3", ("--from", "3"), 2),
                             ("slim", ("--slim",), 0), ("slimkeep", ("--slim", "--keep", "1"), 1),
                             ("keep2", ("--keep", "2"), 2)):
        out, saved = squash(work, name, *opts)
        if not os.path.isdir(out):
            continue
        diffs = dt.compare_scans(want, unpack(out, "t", work), ("source", name))
        check(not diffs, "%s: umoci unpack shows the source's tree" % name,
              "\n  " + "\n  ".join(diffs[:20]))
        got = layer_digests(out)
        check(got[:kept] == src_digests[:kept], "%s: the first %d layers kept" % (name, kept),
              "%s vs %s" % (got, src_digests))
        r = run(["skopeo", "inspect", "oci:%s:t" % out])
        check(r.returncode == 0, "%s: skopeo inspect" % name, r.stderr.decode())
        if name.startswith("slim"):
            check(len(got) == 4, "%s: still four layers" % name)
            # the data a kept base layer hides stays; here layer 1 hides 100000+30000+20005
            hidden = HIDDEN if kept == 0 else 40000
            check(file_bytes(out) == file_bytes(img) - hidden,
                  "%s: exactly the %d hidden file bytes dropped" % (name, hidden),
                  "%d -> %d" % (file_bytes(img), file_bytes(out)))
            check(saved > 0, "%s: bytes saved printed (%d)" % (name, saved))
            above = [w for w in report_waste(out) if w["stored_layer"] > kept]
            check(not above, "%s: layerfs-report: nothing wasted above the kept layers" % name,
                  str(above))
        if name == "all":
            check(len(got) == 1, "all: one layer")
            again, _ = squash(work, "all-again", "--from", "1")
            check(manifest(again)[0] == manifest(out)[0], "all: squashed twice, one digest")
    r = run([os.environ["LAYERFS_SQUASH"], "--from", "9", "oci:%s:base" % img,
             "oci:%s/x:t" % work])
    check(r.returncode == 2 and not os.path.exists(work + "/x"), "--from past the top: exit 2")
    return summary(t0)


if __name__ == "__main__":
    sys.exit(main())
