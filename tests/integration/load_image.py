#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""load_image.py OUT - the image of load.sh: about 5,500 entries in four layers.

  l0.tar       2,000 small files in 50 directories, symlinks, an 8 MiB file
  l1.tar.gz    1,500 files, 200 overrides of l0, hard links, 16 + 8 MiB files
  l2.tar.zst   1,200 files (one zstd frame), whiteouts, an opaque directory,
               16 + 8 MiB files
  l3.tar.zst   300 files in 6 zstd frames, a 12 MiB file

plus, under w/0 ... w/3, one subtree per writer of load.sh (load_writer.py),
spread over the four layers the same way: small files in l0 (a/, o/, a
2 MiB big0), overrides, files with hard links and a 3 MiB big1 in l1 (b/),
whiteouts, an opaque directory and files of another owner in l2 (c/, o/),
files with xattrs and a 2 MiB big3 in l3.  Nothing else of the image is
below w/, so readers and walkers leave it out.

The big files are half random, half zeros (in 4 KiB blocks), so the
compressed layers need restart points to be read at random offsets.  Prints
the layer files (the SOURCEs, lowest first), one a line, and writes
OUT/big.sha256: `sha256sum` lines (relative paths) for the big files.
Deterministic: the same image every time.
"""

import hashlib
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mkimage as mk  # noqa: E402

MiB = 1 << 20


def big(rnd, size):
    blocks = []
    for i in range(size // 4096):
        blocks.append(rnd.randbytes(4096) if rnd.random() < 0.5 else bytes(4096))
    return b"".join(blocks)


def small(rnd):
    return rnd.randbytes(rnd.choice((0, 1, 17, 512, 4096, 5000, 9000, 30000)))


WRITERS = 4


def add_writer_trees(l0, l1, l2, l3, mt):
    """The subtrees w/K of load.sh's writers (their own random stream)."""
    rnd = random.Random(7070)
    E = mk.Entry

    def F(p, d, **kw):
        return E("file", p, data=d, mtime=mt + rnd.randrange(10**9), **kw)

    def data():
        return rnd.randbytes(rnd.choice((0, 1, 100, 4096, 5000, 70000)))

    l0.append(E("dir", "w", mode=0o755, mtime=mt))
    for k in range(WRITERS):
        w = "w/%d/" % k
        l0.append(E("dir", w[:-1], mode=0o755, mtime=mt))
        l0 += [F(w + "a/f%02d" % i, data(), mode=0o644) for i in range(30)]
        l0 += [F(w + "o/old%d" % i, data()) for i in range(5)]
        l0.append(F(w + "big0", big(rnd, 2 * MiB)))
        l1 += [F(w + "b/g%02d" % i, data(), mode=0o600) for i in range(20)]
        l1 += [E("hardlink", w + "b/h%02d" % i, target=w + "b/g%02d" % i) for i in range(4)]
        l1 += [F(w + "a/f%02d" % i, b"override %d\n" % i) for i in range(0, 30, 5)]
        l1.append(F(w + "big1", big(rnd, 3 * MiB)))
        l2 += [F(w + "c/z%02d" % i, data(), uid=1000, gid=100) for i in range(15)]
        l2 += [E("whiteout", w + "a/f%02d" % i) for i in (3, 13, 23)]
        l2 += [E("opaque", w + "o"), F(w + "o/new", b"opaque\n")]
        l3 += [F(w + "c/x%02d" % i, data(), xattrs={"user.x": b"%d" % i}) for i in range(5)]
        l3.append(F(w + "big3", big(rnd, 2 * MiB)))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rnd = random.Random(20240611)
    mt = 1700000000 * 10**9
    F = lambda p, d, **kw: mk.Entry("file", p, data=d, mtime=mt + rnd.randrange(10**9), **kw)  # noqa
    bigs = {}

    def add_big(entries, path, size):
        bigs[path] = big(rnd, size)
        entries.append(F(path, bigs[path]))

    l0 = [mk.Entry("dir", "d%02d" % i, mode=0o755) for i in range(50)]
    for i in range(2000):
        l0.append(F("d%02d/f%04d" % (i % 50, i), small(rnd), mode=rnd.choice((0o644, 0o600, 0o755))))
    for i in range(100):
        l0.append(mk.Entry("symlink", "links/l%03d" % i, target="../d%02d/f%04d" % (i % 50, i)))
    add_big(l0, "big/raw8", 8 * MiB)

    l1 = []
    for i in range(1500):
        l1.append(F("e%02d/g%04d" % (i % 30, i), small(rnd)))
    for i in range(0, 2000, 10):
        l1.append(F("d%02d/f%04d" % (i % 50, i), b"override %d\n" % i))
    for i in range(50):
        l1.append(mk.Entry("hardlink", "e%02d/h%04d" % (i % 30, i), target="e%02d/g%04d" % (i % 30, i)))
    add_big(l1, "big/gz16", 16 * MiB)
    add_big(l1, "big/gz8", 8 * MiB)

    l2 = []
    for i in range(1200):
        l2.append(F("z%02d/h%04d" % (i % 24, i), small(rnd), uid=1000 + i % 3, gid=100))
    for i in range(5, 2000, 20):
        l2.append(mk.Entry("whiteout", "d%02d/f%04d" % (i % 50, i)))
    l2.append(mk.Entry("opaque", "d07"))
    l2.append(F("d07/new", b"opaque\n"))
    add_big(l2, "big/zst16", 16 * MiB)
    add_big(l2, "big/zst8", 8 * MiB)

    l3 = []
    for i in range(300):
        l3.append(F("y%02d/k%04d" % (i % 10, i), small(rnd), xattrs={"user.i": b"%d" % i}))
    add_big(l3, "big/zst12", 12 * MiB)

    add_writer_trees(l0, l1, l2, l3, mt)

    for name, entries, comp, kw in (("l0.tar", l0, "none", {}),
                                    ("l1.tar.gz", l1, "gzip", {"level": 1}),
                                    ("l2.tar.zst", l2, "zstd", {"level": 1}),
                                    ("l3.tar.zst", l3, "zstd", {"level": 1, "members": 6})):
        p = os.path.join(out, name)
        with open(p, "wb") as f:
            f.write(mk.make_layer(entries, comp, **kw).blob)
        print(p)
    with open(os.path.join(out, "big.sha256"), "w") as f:
        for p in sorted(bigs):
            f.write("%s  ./%s\n" % (hashlib.sha256(bigs[p]).hexdigest(), p))


if __name__ == "__main__":
    main()
