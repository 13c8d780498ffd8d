#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""load_writer.py - the writers of load.sh.

Writer K owns ROOT/w/K (load_image.py puts lower files there in all four
layers: plain tar, gzip, zstd, hard links, whiteouts, an opaque directory,
xattrs, three big files) and changes it in rounds of 8 operations drawn
from one RNG seeded with K: appends (copy-up of lower files with their
data), writes in the middle, truncates, open O_TRUNC + write, open O_RDWR
without a write (copy-up, no change), chmod, chown, setxattr/removexattr,
creating files, renames (to a new name, over another file, of directories
it made - and of lower directories, EXDEV), unlink, link, symlink, mkdir,
rmdir, reads.  It keeps a model of its subtree (names, types, contents,
hard-link groups) and checks every content it changes by reading the whole
file back, and after each round one directory listing and one file;
every operation's result (OK or the errno name) is logged.  Since nothing
else writes to w/K, the results, the log and the final tree depend only
on K and the number of rounds - so load.sh replays the same number of
rounds serially on a fresh mount and compares.

  load_writer.py run ROOT K SECONDS MAX LOG rounds until SECONDS have passed or
                                            MAX rounds are done (then reads and
                                            checks until SECONDS have passed);
                                            prints the number of rounds done
  load_writer.py replay ROOT K ROUNDS LOG   exactly ROUNDS rounds
  load_writer.py dump ROOT K                the state of ROOT/w/K, one line per
                                            entry: name, type, mode, owner, size,
                                            links, sha256, link target, user.*
                                            xattrs (no times)

Exit status 1 (with a message on stderr) at the first content or listing
that differs from the model.
"""

import errno
import hashlib
import os
import random
import stat
import sys
import time

OPS_PER_ROUND = 8
MAX_FILES = 150


class Mismatch(Exception):
    pass


def sha(b):
    return hashlib.sha256(b).hexdigest()


def read_all(p):
    fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        parts = []
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            parts.append(b)
        return b"".join(parts)
    finally:
        os.close(fd)


class Writer:
    def __init__(self, root, k):
        self.base = os.path.join(root, "w", str(k))
        self.k = k
        self.rnd = random.Random(1000 + k)
        self.log = []
        self.ents = {}       # relative path -> 'd', 'f' or 'l'
        self.key = {}        # file path -> inode key
        self.data = {}       # inode key -> bytearray
        self.made = set()    # directories this writer made (no lower parts)
        self.serial = 0
        keys = {}
        for d, dirs, files in os.walk(self.base):
            rd = os.path.relpath(d, self.base)
            rd = "" if rd == "." else rd
            for n in dirs:
                self.ents[os.path.join(rd, n)] = "d"
            for n in files:
                rel = os.path.join(rd, n)
                st = os.lstat(self.p(rel))
                if stat.S_ISLNK(st.st_mode):
                    self.ents[rel] = "l"
                    continue
                self.ents[rel] = "f"
                if st.st_ino not in keys:
                    keys[st.st_ino] = len(keys)
                    self.data[keys[st.st_ino]] = bytearray(read_all(self.p(rel)))
                self.key[rel] = keys[st.st_ino]

    def p(self, rel):
        return os.path.join(self.base, rel) if rel else self.base

    def files(self):
        return sorted(r for r, t in self.ents.items() if t == "f")

    def nondirs(self):
        return sorted(r for r, t in self.ents.items() if t != "d")

    def dirs(self):
        return [""] + sorted(r for r, t in self.ents.items() if t == "d")

    def new_name(self, prefix):
        self.serial += 1
        d = self.rnd.choice(self.dirs())
        return os.path.join(d, "%s%05d" % (prefix, self.serial))

    def children(self, d):
        pre = d + "/" if d else ""
        return sorted(r[len(pre):] for r in self.ents
                      if r.startswith(pre) and "/" not in r[len(pre):])

    # --- model updates
    def drop_name(self, rel):
        t = self.ents.pop(rel)
        if t == "f":
            key = self.key.pop(rel)
            if key not in self.key.values():
                del self.data[key]

    def move(self, src, dst):
        moved = [r for r in self.ents if r == src or r.startswith(src + "/")]
        for r in moved:
            nr = dst + r[len(src):]
            self.ents[nr] = self.ents.pop(r)
            if r in self.key:
                self.key[nr] = self.key.pop(r)
            if r in self.made:
                self.made.discard(r)
                self.made.add(nr)

    def check_file(self, rel, why):
        got = read_all(self.p(rel))
        want = bytes(self.data[self.key[rel]])
        if got != want:
            raise Mismatch("%s: %s reads %d bytes (sha256 %s), expected %d (%s)" % (
                self.p(rel), why, len(got), sha(got)[:16], len(want), sha(want)[:16]))

    # --- the operations: each returns None or raises OSError
    def op(self, r):
        rnd = self.rnd
        files = self.files()
        nondirs = self.nondirs()
        weights = {
            "append": 4, "pwrite": 2, "truncate": 1, "trunc-write": 1, "rdwr": 1,
            "chmod": 1, "chown": 1, "setxattr": 1, "removexattr": 1, "create": 3,
            "rename": 2, "rename-over": 1, "unlink": 2, "link": 1, "symlink": 1,
            "mkdir": 1, "rmdir": 1, "rename-dir": 1, "read": 2,
        }
        if len(nondirs) > MAX_FILES:
            weights["unlink"] = 12
        if not files:
            for o in ("append", "pwrite", "truncate", "trunc-write", "rdwr", "read", "link",
                      "rename-over"):
                weights[o] = 0
        names = sorted(weights)
        name = rnd.choices(names, [weights[n] for n in names])[0]
        f = rnd.choice(files) if files else None
        x = rnd.choice(nondirs) if nondirs else None
        args = getattr(self, "op_" + name.replace("-", "_"))(rnd, f, x, r)
        return name, args

    def run_op(self, r):
        """One operation; log it with its result."""
        self._pending = None
        try:
            name, args = self.op(r)
            res = "OK"
        except OSError as e:
            name, args = self._pending
            res = errno.errorcode.get(e.errno, str(e.errno))
        self.log.append("%d %s %s %s" % (r, name, args, res))

    def pend(self, name, args):
        self._pending = (name, args)
        return args

    def op_append(self, rnd, f, x, r):
        self.pend("append", f)
        m = b"<w%d r%d>" % (self.k, r)
        fd = os.open(self.p(f), os.O_WRONLY | os.O_APPEND)
        try:
            n = os.write(fd, m)
        finally:
            os.close(fd)
        self.data[self.key[f]] += m[:n]
        self.check_file(f, "after an append")
        return f

    def op_pwrite(self, rnd, f, x, r):
        d = self.data[self.key[f]]
        off = rnd.randrange(len(d) + 1)
        buf = rnd.randbytes(rnd.randrange(1, 5000))
        args = self.pend("pwrite", "%s@%d+%d" % (f, off, len(buf)))
        fd = os.open(self.p(f), os.O_WRONLY)
        try:
            n = os.pwrite(fd, buf, off)
        finally:
            os.close(fd)
        d[off:off + n] = buf[:n]
        self.check_file(f, "after a write")
        return args

    def op_truncate(self, rnd, f, x, r):
        d = self.data[self.key[f]]
        size = rnd.choice((0, len(d) // 2, len(d) + 100))
        args = self.pend("truncate", "%s@%d" % (f, size))
        os.truncate(self.p(f), size)
        if size < len(d):
            del d[size:]
        else:
            d += bytes(size - len(d))
        self.check_file(f, "after a truncate")
        return args

    def op_trunc_write(self, rnd, f, x, r):
        buf = rnd.randbytes(rnd.randrange(0, 9000))
        args = self.pend("trunc-write", "%s+%d" % (f, len(buf)))
        fd = os.open(self.p(f), os.O_WRONLY | os.O_TRUNC)
        try:
            n = os.write(fd, buf) if buf else 0
        finally:
            os.close(fd)
        self.data[self.key[f]][:] = buf[:n]
        self.check_file(f, "after O_TRUNC and a write")
        return args

    def op_rdwr(self, rnd, f, x, r):
        self.pend("rdwr", f)
        os.close(os.open(self.p(f), os.O_RDWR))
        self.check_file(f, "after an open O_RDWR")
        return f

    def op_read(self, rnd, f, x, r):
        self.pend("read", f)
        self.check_file(f, "on a read")
        return f

    def op_chmod(self, rnd, f, x, r):
        # files and directories (chmod follows a symlink)
        tgt = rnd.choice(self.files() + self.dirs())
        mode = rnd.choice((0o644, 0o600, 0o755, 0o640, 0o4755))
        args = self.pend("chmod", "%s %o" % (tgt or ".", mode))
        os.chmod(self.p(tgt), mode)
        return args

    def op_chown(self, rnd, f, x, r):
        uid = rnd.choice((0, 1000 + self.k))
        args = self.pend("chown", "%s %d" % (x, uid))
        os.chown(self.p(x), uid, 100 + self.k, follow_symlinks=False)
        return args

    def op_setxattr(self, rnd, f, x, r):
        tgt = rnd.choice([t for t in (f, rnd.choice(self.dirs())) if t is not None])
        args = self.pend("setxattr", tgt or ".")
        os.setxattr(self.p(tgt), "user.w", b"%d" % r, follow_symlinks=False)
        return args

    def op_removexattr(self, rnd, f, x, r):
        name = rnd.choice(("user.w", "user.x"))
        args = self.pend("removexattr", "%s %s" % (x, name))
        os.removexattr(self.p(x), name, follow_symlinks=False)
        return args

    def op_create(self, rnd, f, x, r):
        n = self.new_name("n")
        buf = rnd.randbytes(rnd.randrange(0, 9000))
        self.pend("create", n)
        fd = os.open(self.p(n), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            self.ents[n] = "f"
            key = max(self.data, default=-1) + 1
            self.key[n] = key
            self.data[key] = bytearray()
            w = os.write(fd, buf) if buf else 0
            self.data[key] += buf[:w]
        finally:
            os.close(fd)
        self.check_file(n, "after creating it")
        return n

    def op_rename(self, rnd, f, x, r):
        n = self.new_name("r")
        args = self.pend("rename", "%s %s" % (x, n))
        os.rename(self.p(x), self.p(n))
        self.move(x, n)
        return args

    def op_rename_over(self, rnd, f, x, r):
        args = self.pend("rename-over", "%s %s" % (x, f))
        os.rename(self.p(x), self.p(f))
        if self.ents[x] == "f" and self.key[x] == self.key[f]:
            return args            # two names of one file: nothing happens
        self.drop_name(f)
        self.move(x, f)
        return args

    def op_unlink(self, rnd, f, x, r):
        self.pend("unlink", x)
        os.unlink(self.p(x))
        self.drop_name(x)
        return x

    def op_link(self, rnd, f, x, r):
        n = self.new_name("h")
        args = self.pend("link", "%s %s" % (f, n))
        os.link(self.p(f), self.p(n))
        self.ents[n] = "f"
        self.key[n] = self.key[f]
        return args

    def op_symlink(self, rnd, f, x, r):
        n = self.new_name("s")
        tgt = rnd.choice(("../a/f01", "big0", "missing", f or "x"))
        args = self.pend("symlink", "%s %s" % (n, tgt))
        os.symlink(tgt, self.p(n))
        self.ents[n] = "l"
        return args

    def op_mkdir(self, rnd, f, x, r):
        n = self.new_name("d")
        self.pend("mkdir", n)
        os.mkdir(self.p(n), 0o755)
        self.ents[n] = "d"
        self.made.add(n)
        return n

    def op_rmdir(self, rnd, f, x, r):
        d = rnd.choice(self.dirs()[1:] or ["nodir"])
        self.pend("rmdir", d)
        os.rmdir(self.p(d))
        del self.ents[d]
        self.made.discard(d)
        return d

    def op_rename_dir(self, rnd, f, x, r):
        # mostly directories made here (upper only), sometimes lower ones (EXDEV)
        pool = sorted(self.made) if self.made and rnd.random() < 0.8 else self.dirs()[1:]
        d = rnd.choice(pool or ["nodir"])
        n = self.new_name("m")
        args = self.pend("rename-dir", "%s %s" % (d, n))
        if n.startswith(d + "/"):
            n = os.path.basename(n)          # not into itself
            args = self.pend("rename-dir", "%s %s" % (d, n))
        os.rename(self.p(d), self.p(n))
        self.move(d, n)
        return args

    # --- rounds
    def check_round(self):
        d = self.rnd.choice(self.dirs())
        got = sorted(os.listdir(self.p(d)))
        want = self.children(d)
        if got != want:
            raise Mismatch("%s lists %s, expected %s" % (
                self.p(d), sorted(set(got) - set(want)) or "",
                "missing %s" % sorted(set(want) - set(got))))
        files = self.files()
        if files:
            self.check_file(self.rnd.choice(files), "at the end of a round")

    def round(self, r):
        for _ in range(OPS_PER_ROUND):
            self.run_op(r)
        self.check_round()


def dump(root, k):
    base = os.path.join(root, "w", str(k))
    out = []
    for d, dirs, files in os.walk(base):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            line = [os.path.relpath(p, base), "%o" % stat.S_IFMT(st.st_mode),
                    "%04o" % stat.S_IMODE(st.st_mode), "%d:%d" % (st.st_uid, st.st_gid)]
            if stat.S_ISREG(st.st_mode):
                line += [str(st.st_size), "n%d" % st.st_nlink, sha(read_all(p))]
            elif stat.S_ISLNK(st.st_mode):
                line += ["->", os.readlink(p)]
            xs = sorted(x for x in os.listxattr(p, follow_symlinks=False)
                        if x.startswith("user."))
            line += ["%s=%r" % (x, os.getxattr(p, x, follow_symlinks=False)) for x in xs]
            out.append(" ".join(line))
    for line in sorted(out):
        print(line)


def main():
    mode, root, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "dump":
        dump(root, k)
        return 0
    w = Writer(root, k)
    r = 0
    try:
        if mode == "run":
            deadline = time.monotonic() + float(sys.argv[4])
            while time.monotonic() < deadline and r < int(sys.argv[5]):
                w.round(r)
                r += 1
            rounds = r
            # enough rounds for the replay: keep reading until the end
            w.rnd = random.Random(-1 - k)
            while time.monotonic() < deadline:
                w.check_round()
        else:
            for r in range(int(sys.argv[4])):
                w.round(r)
            rounds = int(sys.argv[4])
    except Mismatch as e:
        print("writer %d, round %d: %s" % (k, r, e), file=sys.stderr)
        return 1
    finally:
        with open(sys.argv[-1], "w") as f:
            f.write("\n".join(w.log) + "\n")
    print(rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
