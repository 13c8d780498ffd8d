#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""crash_image.py OUT - the image of crash.sh: 50 big files of random bytes.

  OUT/l0.tar.gz   d0..d4/f00..f24, 1-8 MiB each (gzip, one member: a copy-up
                  has to decompress everything it copies, so it is slow)
  OUT/l1.tar.gz   d0..d4/f25..f49, 1-8 MiB each, and new contents for
                  f00..f02 (of other sizes)
  OUT/ref/l0, OUT/ref/l1   the same layers extracted: lower dirs for the
                  kernel's overlayfs, and the old contents crash_ops.py checks
                  against

Prints the layer files (lowest first), one a line.  Deterministic.
"""

import os
import random
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mkimage as mk  # noqa: E402

MiB = 1 << 20
FILES = 50
MTIME = 1700000000 * 10**9


# Random bytes from 16 symbols: random (an old content is never a prefix of
# another), yet compressible, so that gzip really has to decode them.
ALPHABET = bytes.maketrans(bytes(range(256)), bytes(b"0123456789abcdef"[i % 16] for i in range(256)))


def content(rnd):
    return rnd.randbytes(rnd.randrange(MiB, 8 * MiB)).translate(ALPHABET)


def name(i):
    return "d%d/f%02d" % (i % 5, i)


def main():
    out = sys.argv[1]
    rnd = random.Random(4242)
    layers = [[], []]
    for i in range(FILES):
        layers[0 if i < FILES // 2 else 1].append((name(i), content(rnd)))
    for i in range(3):
        layers[1].append((name(i), content(rnd)))
    for n, files in enumerate(layers):
        entries = [mk.Entry("dir", "d%d" % d, mode=0o755, mtime=MTIME) for d in range(5)]
        ref = os.path.join(out, "ref", "l%d" % n)
        for d in range(5):
            os.makedirs(os.path.join(ref, "d%d" % d))
        for path, data in files:
            entries.append(mk.Entry("file", path, data=data, mode=0o644, uid=n * 1000,
                                    mtime=MTIME))
            with open(os.path.join(ref, path), "wb") as f:
                f.write(data)
            os.chown(os.path.join(ref, path), n * 1000, 0)
            os.utime(os.path.join(ref, path), ns=(MTIME, MTIME))
        for d in range(5):
            os.utime(os.path.join(ref, "d%d" % d), ns=(MTIME, MTIME))
        p = os.path.join(out, "l%d.tar.gz" % n)
        with open(p, "wb") as f:
            f.write(mk.make_layer(entries, "gzip", level=1).blob)
        print(p)


if __name__ == "__main__":
    main()
