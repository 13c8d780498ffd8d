#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""enospc_ops.py - the image and the operations of enospc.sh.

  enospc_ops.py image OUT
      OUT/l0.tar (data/small, data/tiny (empty), data/medium2 (2 MiB),
      data/raw10 (10 MiB)), OUT/l1.tar.gz (data/big12, 12 MiB), and the
      same layers extracted in OUT/ref/l0, OUT/ref/l1.  Prints the layer
      files, lowest first.
  enospc_ops.py run MNT UPPERFS WORKDIR REF
      the sequence below on MNT, a writable mount (layerfs, or the kernel's
      overlayfs) whose upper directory is on the small filesystem UPPERFS;
      WORKDIR: its work directory (what a failed copy-up may leave there is
      counted).  Prints one line per step: the result (bytes, OK, or the
      errno name) and, at checkpoints, the free blocks of UPPERFS and of
      MNT's statfs - so that two runs can be compared line by line - and a
      line "BAD: ..." for every expectation that does not hold whatever the
      reference does.
  enospc_ops.py tree ROOT
      path, type, mode, owner, size, sha256 of every entry (no times)

The sequence: write two files that must survive (keep1, keep2) and copy a
small lower file up; copy-ups of lower files bigger than the space left
(append, chmod, open O_RDWR, setxattr, truncate to 1 byte: ENOSPC), which
must leave the lower files readable and intact and nothing in WORKDIR;
fill the space with 256 KiB writes until ENOSPC; then writes, new files,
a new directory and copy-ups while full; keep1, keep2 and the small copy
must still be complete; remove the filler: writes and a 2 MiB copy-up work
again; last, open O_TRUNC on the 12 MiB lower file and write.
"""

import errno
import hashlib
import os
import stat
import sys

sys.dont_write_bytecode = True
KiB = 1 << 10
MiB = 1 << 20
MARKER = b"<appended>\n"


def pattern(seed, size):
    """Deterministic bytes that compress a little (so gzip has work)."""
    h = hashlib.sha256(b"%d" % seed).digest()
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(h + b"%d" % i).hexdigest().encode()
        i += 1
    return bytes(out[:size])


FILES = {  # path: (layer, size)
    "data/small": (0, 5000),
    "data/tiny": (0, 0),
    "data/medium2": (0, 2 * MiB),
    "data/raw10": (0, 10 * MiB),
    "data/big12": (1, 12 * MiB),
}


def image(out):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import mkimage as mk
    mt = 1700000000 * 10**9
    layers = [[mk.Entry("dir", "data", mode=0o755, mtime=mt)], []]
    for i, (path, (layer, size)) in enumerate(sorted(FILES.items())):
        data = pattern(i, size)
        layers[layer].append(mk.Entry("file", path, data=data, mode=0o644, mtime=mt))
        ref = os.path.join(out, "ref", "l%d" % layer, path)
        os.makedirs(os.path.dirname(ref), exist_ok=True)
        with open(ref, "wb") as f:
            f.write(data)
        os.utime(ref, ns=(mt, mt))
    os.makedirs(os.path.join(out, "ref", "l1"), exist_ok=True)
    for n, (name, comp) in enumerate((("l0.tar", "none"), ("l1.tar.gz", "gzip"))):
        p = os.path.join(out, name)
        with open(p, "wb") as f:
            f.write(mk.make_layer(layers[n], comp, level=1).blob)
        print(p)


def old_content(ref, path):
    for layer in ("l1", "l0"):
        p = os.path.join(ref, layer, path)
        if os.path.exists(p):
            with open(p, "rb") as f:
                return f.read()
    raise FileNotFoundError(path)


class Run:
    def __init__(self, mnt, upfs, work, ref):
        self.mnt, self.upfs, self.work, self.ref = mnt, upfs, work, ref
        self.lines = []

    def p(self, path):
        return os.path.join(self.mnt, path)

    def out(self, line):
        self.lines.append(line)
        print(line)
        sys.stdout.flush()

    def bad(self, what):
        self.out("BAD: " + what)

    def do(self, name, fn):
        """Run FN, print NAME and the result; return the result or the errno name."""
        try:
            r = fn()
            res = "OK" if r is None else r
        except OSError as e:
            res = errno.errorcode.get(e.errno, str(e.errno))
        self.out("%s: %s" % (name, res))
        return res

    def free(self, what):
        up = os.statvfs(self.upfs)
        mn = os.statvfs(self.mnt)
        self.out("free %s: upper fs %d blocks of %d, statfs of the mount %d" % (
            what, up.f_bfree * up.f_frsize // 4096, up.f_blocks * up.f_frsize // 4096,
            mn.f_bfree * mn.f_frsize // 4096))
        return up.f_bavail * up.f_frsize

    def work_left(self, when):
        left = sorted(os.listdir(self.work))
        if left:
            self.bad("%s: left in the work directory: %s" % (when, left[:5]))

    def write_file(self, path, data, flags=os.O_WRONLY | os.O_CREAT | os.O_EXCL, chunk=None):
        """Write DATA to PATH in chunks; the results, comma-separated."""
        fd = os.open(self.p(path), flags, 0o644)
        res = []
        try:
            for off in range(0, len(data), chunk or max(len(data), 1)):
                piece = data[off:off + (chunk or len(data))]
                try:
                    n = os.write(fd, piece)
                    res.append(str(n))
                    if n < len(piece):
                        # a short write: the next one tells why
                        n2 = os.write(fd, piece[n:])
                        res.append(str(n2))
                except OSError as e:
                    res.append(errno.errorcode.get(e.errno, str(e.errno)))
                    break
            try:
                os.fsync(fd)
            except OSError as e:
                res.append("fsync " + errno.errorcode.get(e.errno, str(e.errno)))
        finally:
            os.close(fd)
        return ",".join(res)

    def append(self, path, data=MARKER):
        fd = os.open(self.p(path), os.O_WRONLY | os.O_APPEND)
        try:
            return str(os.write(fd, data))
        finally:
            os.close(fd)

    def same(self, path, want, what):
        try:
            with open(self.p(path), "rb") as f:
                got = f.read()
        except OSError as e:
            self.bad("%s: %s cannot be read: %s" % (what, path, e))
            return
        ok = got == want
        self.out("%s %s: %s (%d bytes)" % (what, path, "intact" if ok else "DIFFERENT", len(got)))
        if not ok:
            self.bad("%s: %s has %d bytes, expected %d" % (what, path, len(got), len(want)))

    def expect(self, res, want, what):
        if res != want:
            self.bad("%s: %s, expected %s" % (what, res, want))

    def run(self):
        keep1 = pattern(101, 100 * KiB)
        keep2 = pattern(102, 300 * KiB)
        small = old_content(self.ref, "data/small")
        self.free("at the start")

        # 1. things that must survive
        self.expect(self.do("write keep1", lambda: self.write_file("keep1", keep1)),
                    str(len(keep1)), "write keep1")
        self.expect(self.do("write keep2", lambda: self.write_file("keep2", keep2, chunk=64 * KiB)),
                    ",".join(["65536"] * 4 + ["45056"]), "write keep2")
        self.expect(self.do("append data/small", lambda: self.append("data/small")),
                    str(len(MARKER)), "copy-up of data/small")
        self.free("after keep1, keep2, data/small")

        # 2. copy-ups bigger than the space left
        for path in ("data/big12", "data/raw10"):
            ops = (
                ("append", lambda: self.append(path)),
                ("chmod", lambda: os.chmod(self.p(path), 0o600)),
                ("open O_RDWR", lambda: os.close(os.open(self.p(path), os.O_RDWR))),
                ("setxattr", lambda: os.setxattr(self.p(path), "user.x", b"1")),
                ("truncate 1", lambda: os.truncate(self.p(path), 1)),
            )
            for name, fn in ops:
                self.expect(self.do("%s %s" % (name, path), fn), "ENOSPC",
                            "copy-up of %s (%s) bigger than the space left" % (path, name))
                self.work_left("after %s %s" % (name, path))
            self.same(path, old_content(self.ref, path), "after the failed copy-ups")
            st = os.stat(self.p(path))
            self.out("stat %s: mode %o size %d" % (path, st.st_mode, st.st_size))
        self.free("after the failed copy-ups")

        # 3. fill the space
        res = self.do("write fill", lambda: self.write_file(
            "fill", pattern(103, 16 * MiB), chunk=256 * KiB))
        if "ENOSPC" not in res:
            self.bad("filling the upper filesystem did not end with ENOSPC: %s" % res)
        self.free("full")

        # 4. while full
        self.expect(self.do("append keep1", lambda: self.append("keep1", b"x" * 4096)),
                    "ENOSPC", "a write past the space")
        res = self.do("write new", lambda: self.write_file("new", pattern(104, 64 * KiB)))
        if "ENOSPC" not in res:
            self.bad("a new file's write past the space: %s" % res)
        self.do("mkdir newdir", lambda: os.mkdir(self.p("newdir")))
        self.expect(self.do("append data/medium2", lambda: self.append("data/medium2")),
                    "ENOSPC", "a copy-up while full")
        self.work_left("after the copy-up of data/medium2 while full")
        self.do("chmod data/tiny", lambda: os.chmod(self.p("data/tiny"), 0o600))
        self.free("still full")

        # 5. nothing written before is lost
        self.same("keep1", keep1, "while full")
        self.same("keep2", keep2, "while full")
        self.same("data/small", small + MARKER, "while full")
        self.same("data/medium2", old_content(self.ref, "data/medium2"), "while full")
        self.same("data/big12", old_content(self.ref, "data/big12"), "while full")

        # 6. space again
        self.expect(self.do("rm fill", lambda: os.unlink(self.p("fill"))), "OK", "rm fill")
        self.do("rm new", lambda: os.unlink(self.p("new")))
        self.free("after rm")
        again = pattern(105, MiB)
        self.expect(self.do("write again", lambda: self.write_file("again", again, chunk=256 * KiB)),
                    ",".join(["262144"] * 4), "a write once space is free")
        self.expect(self.do("append data/medium2", lambda: self.append("data/medium2")),
                    str(len(MARKER)), "a copy-up once space is free")
        self.work_left("after the copy-up of data/medium2")
        self.same("data/medium2", old_content(self.ref, "data/medium2") + MARKER, "after rm")
        self.same("again", again, "after rm")
        self.same("keep1", keep1, "after rm")
        self.same("keep2", keep2, "after rm")
        self.expect(self.do("append data/big12", lambda: self.append("data/big12")),
                    "ENOSPC", "a copy-up still bigger than the space")
        self.same("data/big12", old_content(self.ref, "data/big12"), "after rm")
        self.free("after writing again")

        # 7. O_TRUNC: the kernel copies nothing it is about to drop
        self.do("open O_TRUNC data/big12 + write", lambda: self.write_file(
            "data/big12", b"truncated\n", flags=os.O_WRONLY | os.O_TRUNC))
        self.work_left("at the end")
        self.free("at the end")


def tree(root):
    out = []
    for d, dirs, names in os.walk(root):
        for n in dirs + names:
            p = os.path.join(d, n)
            st = os.lstat(p)
            line = "%s %o %d:%d" % (os.path.relpath(p, root), st.st_mode, st.st_uid, st.st_gid)
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    line += " %d %s" % (st.st_size, hashlib.sha256(f.read()).hexdigest())
            out.append(line)
    for line in sorted(out):
        print(line)


def main():
    if sys.argv[1] == "image":
        image(sys.argv[2])
    elif sys.argv[1] == "run":
        Run(*sys.argv[2:6]).run()
    elif sys.argv[1] == "tree":
        tree(sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
