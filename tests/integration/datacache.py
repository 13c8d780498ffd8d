#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""datacache.py - the decompressed-data cache (issue 18), run by datacache.sh.

An OCI layout with a gzip, a zstd and an uncompressed layer (random data,
a big file and small ones, a file replaced by a later layer).  The
expected bytes are the ones this script generated.  Checked:

* a first mount reads every file right and inflates what it reads into the
  cache's data/ directory (one file per compressed layer, none for the
  uncompressed one, which is read in place); --stats says so;
* a later mount serves every file from there: no block inflated again;
* a damaged block in the cache is noticed and read from the layer again,
  a damaged header makes the file anew, the bytes right in both cases;
* a copy-up on a writable mount copies the right bytes;
* --data-cache-size bounds what is kept (softly: one block over at most),
  and 0 keeps nothing.
Prints "ok ..." / "FAIL ..." per check; exits 1 on any failure.
"""
import os
import random
import re
import shutil
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import difftest  # noqa: E402
import mkimage  # noqa: E402
from checks import check, summary  # noqa: E402
from mkimage import Entry  # noqa: E402

LAYERFS = sys.argv[1]
STATS_RE = re.compile(r"data cache: (\d+) blocks served from it, (\d+) inflated")


def image(root):
    rnd = random.Random(18)
    data = {}
    layers = []
    for k in ("gzip", "zstd", "none"):
        ents = []
        big = rnd.randbytes(1_500_000) + b"x" * 700_000
        data["big-" + k] = big
        ents.append(Entry("file", "big-" + k, data=big))
        for i in range(40):
            body = ("%s small %d\n" % (k, i)).encode() * rnd.randint(1, 400)
            data["d-%s/s%d" % (k, i)] = body
            ents.append(Entry("file", "d-%s/s%d" % (k, i), data=body))
        # the same path in every layer: the top one shows
        data["shared"] = ("shared from %s\n" % k).encode() * 5000
        ents.append(Entry("file", "shared", data=data["shared"]))
        layers.append(mkimage.make_layer(ents, k))
    mkimage.write_oci_dir(os.path.join(root, "oci"), layers, tag="v1")
    return data


def read_all(mnt, data):
    got = {}
    for name in data:
        with open(os.path.join(mnt, name), "rb") as f:
            got[name] = f.read()
    return got


def mount(root, n, opts, writable=False):
    mnt = os.path.join(root, "m%d" % n)
    os.makedirs(mnt)
    extra = ["--stats"] + ([] if writable else ["--read-only"]) + opts
    difftest.LayerfsSide(LAYERFS, dict(os.environ)).mount(
        [os.path.join(root, "oci")], extra, mnt, mnt + ".log")
    return mnt


def umount(mnt):
    """Unmount; (served, inflated) from --stats, or None without the line."""
    difftest.MOUNTS.umount(mnt)
    with open(mnt + ".log") as f:
        m = STATS_RE.search(f.read())
    return (int(m.group(1)), int(m.group(2))) if m else None


def lfd_files(cache):
    d = os.path.join(cache, "data")
    return sorted(os.path.join(d, n) for n in os.listdir(d)
                  if n.endswith(".lfd")) if os.path.isdir(d) else []


def flip(path, off):
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0xA5]))


def run(root, data):
    cache = os.path.join(root, "cache")
    mnt = mount(root, 1, ["--cache", cache])
    check(read_all(mnt, data) == data, "first mount: every file's bytes")
    st = umount(mnt)
    files = lfd_files(cache)
    check(len(files) == 2, "first mount: one data file per compressed layer", files)
    # (a block the read-ahead thread wrote may serve a read of the same mount)
    check(st is not None and st[1] > 0, "first mount: blocks inflated", st)

    mnt = mount(root, 2, ["--cache", cache])
    check(read_all(mnt, data) == data, "later mount: every file's bytes")
    st = umount(mnt)
    check(st is not None and st[0] > 0 and st[1] == 0,
          "later mount: every block from the cache, none inflated", st)

    # a damaged data byte in each file (the big file's second block), then a header
    for p in files:
        with open(p, "rb") as f:
            data_off = struct.unpack("<Q", f.read(64)[40:48])[0]
        flip(p, data_off + 65536 + 1234)
    mnt = mount(root, 3, ["--cache", cache])
    check(read_all(mnt, data) == data, "damaged blocks: every file's bytes")
    st = umount(mnt)
    check(st is not None and st[1] == 2, "damaged blocks: the two read from the layers again", st)
    flip(files[0], 20)
    mnt = mount(root, 4, ["--cache", cache])
    check(read_all(mnt, data) == data, "damaged header: every file's bytes")
    st = umount(mnt)
    check(st is not None and st[1] > 2, "damaged header: that layer inflated again", st)

    # copy-up through the cache
    upper = os.path.join(root, "upper")
    mnt = mount(root, 5, ["--cache", cache, "--upper", upper, "--work", upper + ".work"],
                writable=True)
    with open(os.path.join(mnt, "big-gzip"), "r+b") as f:
        f.seek(5)
        f.write(b"HELLO")
    want = data["big-gzip"][:5] + b"HELLO" + data["big-gzip"][10:]
    with open(os.path.join(mnt, "big-gzip"), "rb") as f:
        check(f.read() == want, "copy-up: the copy has the layer's bytes and the change")
    umount(mnt)
    with open(os.path.join(upper, "big-gzip"), "rb") as f:
        check(f.read() == want, "copy-up: the upper file has them too")

    # the bound
    small = os.path.join(root, "small")
    mnt = mount(root, 6, ["--cache", small, "--data-cache-size", "100K"])
    check(read_all(mnt, data) == data, "--data-cache-size 100K: every file's bytes")
    umount(mnt)
    used = sum(os.stat(p).st_blocks * 512 for p in lfd_files(small))
    check(0 < used <= 100 * 1024 + 65536 + 2 * 8192,
          "--data-cache-size 100K: %d bytes kept" % used)
    none = os.path.join(root, "none")
    mnt = mount(root, 7, ["--cache", none, "--data-cache-size", "0"])
    check(read_all(mnt, data) == data, "--data-cache-size 0: every file's bytes")
    st = umount(mnt)
    check(not lfd_files(none) and st is None, "--data-cache-size 0: nothing kept, no line",
          (lfd_files(none), st))


def main():
    root = tempfile.mkdtemp(prefix="lfs-datacache.")
    t0 = time.monotonic()
    try:
        run(root, image(root))
    except difftest.Failure as e:
        check(False, "mount", str(e))
    finally:
        difftest.MOUNTS.cleanup()
        shutil.rmtree(root, ignore_errors=True)
    return summary(t0)


if __name__ == "__main__":
    sys.exit(main())
