#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""commit_registry.py - layerfs-commit and layerfs-squash to docker:// DESTs
(commit_registry.sh runs it).

An upper directory in the .wh. files form (no mknod needed) is committed
to oci: and to a local docker-registry; skopeo copies the pushed image back
(--preserve-digests): its manifest digest must be the oci: output's, and
umoci must unpack it.  Pushed again, the registry already has every blob.
layerfs-squash reads the pushed image from the registry (layers fetched,
never local files) and pushes the squashed one: umoci unpack of it shows
the tree of the unpacked original.
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import difftest as dt  # noqa: E402
import mkimage  # noqa: E402
import registry  # noqa: E402
from checks import check, summary  # noqa: E402


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return r.returncode, r.stderr.decode()


def digest_of(oci_dir):
    with open(os.path.join(oci_dir, "index.json")) as f:
        return json.load(f)["manifests"][0]["digest"]


def unpack(oci_dir, work):
    bundle = os.path.join(work, "b-" + os.path.basename(oci_dir))
    rc, err = run(["umoci", "unpack", "--image", oci_dir + ":t", bundle])
    check(rc == 0, "umoci unpack %s" % os.path.basename(oci_dir), err)
    t = dt.scan(os.path.join(bundle, "rootfs"))
    t.pop(b"", None)
    return t


def main():
    t0 = time.monotonic()
    work = sys.argv[1]
    commit, squash = os.environ["LAYERFS_COMMIT"], os.environ["LAYERFS_SQUASH"]
    E = mkimage.Entry
    img = os.path.join(work, "img")
    mkimage.write_image("oci-dir", img, [mkimage.make_layer(
        [E("dir", "etc"), E("file", "etc/a", data=b"a" * 3000), E("file", "etc/b", data=b"b")],
        "gzip")], tag="base")
    up = os.path.join(work, "up")
    os.makedirs(up + "/etc")
    with open(up + "/etc/new", "wb") as f:
        f.write(b"new\n")
    open(up + "/etc/.wh.a", "wb").close()
    with registry.Registry() as reg:
        ts = ["--timestamp", "1700000000"]
        local = os.path.join(work, "local")
        rc, err = run([commit, "-q", *ts, "--upper", up, "oci:%s:base" % img, "oci:%s:t" % local])
        check(rc == 0, "commit to oci:", err)
        dest = "docker://%s/lfs/app:v1" % reg.host
        rc, err = run([commit, "-q", *ts, "--tls-verify=false", "--upper", up,
                       "oci:%s:base" % img, dest])
        check(rc == 0, "commit to docker://", err)
        pulled = os.path.join(work, "pulled")
        rc, err = run(["skopeo", "copy", "-q", "--src-tls-verify=false", "--preserve-digests",
                       dest, "oci:%s:t" % pulled])
        check(rc == 0, "skopeo copy from the registry", err)
        if rc == 0:
            check(digest_of(pulled) == digest_of(local),
                  "the pushed manifest is the oci: output's", "%s %s" % (
                      digest_of(pulled), digest_of(local)))
            want = unpack(pulled, work)
            check(b"etc/new" in want and b"etc/a" not in want, "the commit's changes are there")
        rc, err = run([commit, "-q", *ts, "--tls-verify=false", "--upper", up,
                       "oci:%s:base" % img, "docker://%s/lfs/app:v2" % reg.host])
        check(rc == 0, "commit pushed again (blobs there already)", err)
        sq = "docker://%s/lfs/app:squashed" % reg.host
        rc, err = run([squash, "-q", *ts, "--tls-verify=false", dest, sq])
        check(rc == 0, "squash from docker:// to docker://", err)
        spulled = os.path.join(work, "spulled")
        rc, err = run(["skopeo", "copy", "-q", "--src-tls-verify=false", sq,
                       "oci:%s:t" % spulled])
        check(rc == 0, "skopeo copy of the squashed image", err)
        if rc == 0 and os.path.isdir(pulled):
            diffs = dt.compare_scans(want, unpack(spulled, work), ("pushed", "squashed"))
            check(not diffs, "the squashed image shows the same tree", "\n  ".join(diffs[:20]))
    return summary(t0)


if __name__ == "__main__":
    registry.install_signal_handlers()
    try:
        sys.exit(main())
    finally:
        registry.stop_all()
