#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""load_reader.py - the random readers of load.sh.

  load_reader.py chunks ROOT OUT
      pick ranges of every file of ROOT over 1 MiB (both ends, ranges across
      each 1 MiB boundary where compressed layers keep restart points,
      random ones, a 4 MiB one), read them once, write "PATH OFF LEN SHA256"
  load_reader.py check ROOT CHUNKS SECONDS SEED
      until SECONDS have passed: read CHUNKS in a random order (a new open
      for some, a shared fd for others), each after dropping the range from
      the page cache so that layerfs serves it, and compare; prints the
      number of reads; exit 1 at the first difference or error
  load_reader.py drop ROOT
      drop every regular file of ROOT from the page cache

All three leave ROOT/w out: the writers of load.sh change it meanwhile.
"""

import hashlib
import os
import random
import sys
import time

MiB = 1 << 20


def files(root):
    """Regular files of ROOT, but not below ROOT/w (load.sh's writers)."""
    for d, dirs, names in os.walk(root):
        if d == root and "w" in dirs:
            dirs.remove("w")
        for n in names:
            p = os.path.join(d, n)
            if not os.path.islink(p):
                yield p


def drop(fd, off=0, length=0):
    os.posix_fadvise(fd, off, length, os.POSIX_FADV_DONTNEED)


def read_range(fd, off, length):
    drop(fd, off, length)
    buf = bytearray()
    while len(buf) < length:
        b = os.pread(fd, length - len(buf), off + len(buf))
        if not b:
            break
        buf += b
    return hashlib.sha256(buf).hexdigest()


def chunks(root, out):
    rnd = random.Random(7)
    lines = []
    for p in sorted(files(root)):
        size = os.path.getsize(p)
        if size <= MiB:
            continue
        ranges = [(0, 4096), (size - 1, 1), (size - 5000, 5000), (0, min(size, 4 * MiB))]
        ranges += [(k * MiB - 100, 200) for k in range(1, size // MiB)]
        ranges += [(o, rnd.randrange(1, 256 * 1024))
                   for o in (rnd.randrange(size) for _ in range(30))]
        fd = os.open(p, os.O_RDONLY)
        for off, length in ranges:
            length = min(length, size - off)
            lines.append("%s %d %d %s\n" % (os.path.relpath(p, root), off, length,
                                             read_range(fd, off, length)))
        os.close(fd)
    with open(out, "w") as f:
        f.writelines(lines)


def check(root, chunk_file, seconds, seed):
    rnd = random.Random(seed)
    todo = []
    for line in open(chunk_file):
        p, off, length, h = line.split()
        todo.append((os.path.join(root, p), int(off), int(length), h))
    fds = {}
    n = 0
    deadline = time.time() + seconds
    while True:
        rnd.shuffle(todo)
        for p, off, length, h in todo:
            if rnd.random() < 0.3:
                fd = os.open(p, os.O_RDONLY)
                got = read_range(fd, off, length)
                os.close(fd)
            else:
                if p not in fds:
                    fds[p] = os.open(p, os.O_RDONLY)
                got = read_range(fds[p], off, length)
            n += 1
            if got != h:
                print("MISMATCH %s at %d+%d: %s, serial run read %s" % (p, off, length, got, h))
                return 1
            if time.time() > deadline:
                print("%d reads" % n)
                return 0


def main():
    mode = sys.argv[1]
    if mode == "chunks":
        chunks(sys.argv[2], sys.argv[3])
    elif mode == "check":
        return check(sys.argv[2], sys.argv[3], float(sys.argv[4]), int(sys.argv[5]))
    elif mode == "drop":
        for p in files(sys.argv[2]):
            fd = os.open(p, os.O_RDONLY)
            drop(fd)
            os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
