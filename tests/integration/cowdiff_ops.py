# SPDX-License-Identifier: Apache-2.0
"""cowdiff_ops.py - the write operations of cowdiff.py: generate, apply.

An operation is a plain tuple, ("kind", arg, ...), of str, bytes, int and
tuples of those, so that a log of operations is `repr` lines that
`ast.literal_eval` reads back (cowdiff.py --ops FILE replays one).  Paths
are bytes relative to the mount root (b"" is the root itself).

apply(root, op) runs one operation on the tree mounted at `root` and
returns its result as a string: "ok", "ok:VALUE" (bytes written, what a
read returned, ...) or the errno name ("ENOENT").  Every path is resolved
component by component with O_PATH|O_NOFOLLOW from the mount root and the
last component is never followed: the image's symlinks (absolute ones
included) must never make the test touch anything outside the mount.
Files are only ever written through an fd that fstat says is a regular
file, and device nodes are never opened on purpose (the generator avoids
them; O_NOCTTY|O_NONBLOCK covers the rest).

Generator(rng, excluded, off).next(snapshot) picks the next operation from
the reference side's current tree (snapshot(root): {rel: Ent(kind, size,
xattr names)}), among existing names and new ones, with enough collisions to
hit errors.
"""

import collections
import contextlib
import ctypes
import errno
import hashlib
import os
import random
import stat

_libc = ctypes.CDLL(None, use_errno=True)
_libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                            ctypes.c_uint]
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
FALLOC_FL_KEEP_SIZE = 1
FALLOC_FL_PUNCH_HOLE = 2
XATTR_CREATE = 1
XATTR_REPLACE = 2

O_BASE = os.O_NOFOLLOW | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC

KINDS = {stat.S_IFDIR: "dir", stat.S_IFREG: "file", stat.S_IFLNK: "symlink",
         stat.S_IFCHR: "char", stat.S_IFBLK: "block", stat.S_IFIFO: "fifo",
         stat.S_IFSOCK: "socket"}

# ------------------------------------------------------------ helpers ---


def errname(e):
    return errno.errorcode.get(e.errno, "E%d" % e.errno)


def data_of(spec):
    """(seed, length) -> the bytes a write operation writes."""
    seed, n = spec
    r = random.Random(seed)
    if seed % 3 == 0:                                # compressible text
        line = b"line %d of seed %d\n" % (r.randrange(1000), seed)
        return (line * (n // len(line) + 1))[:n]
    return r.randbytes(n)


def digest(b):
    return "%d:%s" % (len(b), hashlib.sha256(b).hexdigest()[:12])


@contextlib.contextmanager
def parent_of(root, rel):
    """(fd of the parent directory, last name) for `rel`, walking from the
    mount root without following any symlink; the root itself is (root, ".")."""
    parts = rel.split(b"/") if rel else []
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for c in parts[:-1]:
            nfd = os.open(c, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                          dir_fd=fd)
            os.close(fd)
            fd = nfd
        yield fd, (parts[-1] if parts else b".")
    finally:
        os.close(fd)


def lstat_rel(root, rel):
    """lstat of `rel` under `root`, or None."""
    try:
        with parent_of(root, rel) as (d, n):
            return os.stat(n, dir_fd=d, follow_symlinks=False)
    except OSError:
        return None


def _proc(d, n):
    """A path reaching n in directory fd d (the last component not followed
    by the l*xattr calls)."""
    return b"/proc/self/fd/%d/%s" % (d, n)


@contextlib.contextmanager
def open_file(root, rel, flags, mode=0o644):
    """An fd of `rel` opened with `flags` (never following a symlink)."""
    with parent_of(root, rel) as (d, n):
        try:
            st = os.stat(n, dir_fd=d, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None and (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
            raise _Device()            # an image's /dev/sda: never opened
        fd = os.open(n, flags | O_BASE, mode, dir_fd=d)
    try:
        yield fd
    finally:
        os.close(fd)


def _regular(fd):
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        raise _NotRegular()


class _NotRegular(Exception):
    pass


class _Device(Exception):
    pass


def _read_all(fd):
    out, off = [], 0
    while True:
        b = os.pread(fd, 1 << 20, off)
        if not b:
            return b"".join(out)
        out.append(b)
        off += len(b)


def _not_symlink(d, n):
    """Refuse symlinks for the calls that would follow one."""
    if stat.S_ISLNK(os.stat(n, dir_fd=d, follow_symlinks=False).st_mode):
        raise _Symlink()


class _Symlink(Exception):
    pass

# --------------------------------------------------------- operations ---


def op_create(root, rel, how, mode):
    """how: "excl" (O_CREAT|O_EXCL) or "trunc" (O_CREAT|O_TRUNC)."""
    fl = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if how == "excl" else os.O_TRUNC)
    with open_file(root, rel, fl, mode):
        return "ok"


def op_write(root, rel, off, data):
    with open_file(root, rel, os.O_WRONLY) as fd:
        _regular(fd)
        return "ok:%d" % os.pwrite(fd, data_of(data), off)


def op_append(root, rel, data):
    with open_file(root, rel, os.O_WRONLY | os.O_APPEND) as fd:
        _regular(fd)
        n = os.write(fd, data_of(data))
        return "ok:%d@%d" % (n, os.lseek(fd, 0, os.SEEK_CUR))


def op_truncate(root, rel, size):
    with open_file(root, rel, os.O_WRONLY) as fd:
        _regular(fd)
        os.ftruncate(fd, size)
        return "ok"


def op_fallocate(root, rel, mode, off, length):
    with open_file(root, rel, os.O_WRONLY) as fd:
        _regular(fd)
        if _libc.fallocate(fd, mode, off, length) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        return "ok"


def op_mkdir(root, rel, mode):
    with parent_of(root, rel) as (d, n):
        os.mkdir(n, mode, dir_fd=d)
    return "ok"


def op_rmdir(root, rel):
    with parent_of(root, rel) as (d, n):
        os.rmdir(n, dir_fd=d)
    return "ok"


def op_unlink(root, rel):
    with parent_of(root, rel) as (d, n):
        os.unlink(n, dir_fd=d)
    return "ok"


def op_rename(root, src, dst, flags):
    with parent_of(root, src) as (sd, sn), parent_of(root, dst) as (dd, dn):
        if _libc.renameat2(sd, sn, dd, dn, flags) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
    return "ok"


def op_link(root, src, dst):
    with parent_of(root, src) as (sd, sn), parent_of(root, dst) as (dd, dn):
        os.link(sn, dn, src_dir_fd=sd, dst_dir_fd=dd, follow_symlinks=False)
    return "ok"


def op_symlink(root, target, rel):
    with parent_of(root, rel) as (d, n):
        os.symlink(target, n, dir_fd=d)
    return "ok"


def op_mkfifo(root, rel, mode):
    with parent_of(root, rel) as (d, n):
        os.mkfifo(n, mode, dir_fd=d)
    return "ok"


def op_mknod(root, rel, mode, major, minor):
    with parent_of(root, rel) as (d, n):
        os.mknod(n, stat.S_IFCHR | mode, os.makedev(major, minor), dir_fd=d)
    return "ok"


def op_chmod(root, rel, mode):
    with parent_of(root, rel) as (d, n):
        _not_symlink(d, n)
        os.chmod(n, mode, dir_fd=d)
    return "ok"


def op_chown(root, rel, uid, gid, nofollow):
    """chown (never on a symlink: it would follow it) or lchown."""
    with parent_of(root, rel) as (d, n):
        if not nofollow:
            _not_symlink(d, n)
        os.chown(n, uid, gid, dir_fd=d, follow_symlinks=not nofollow)
    return "ok"


def op_utime(root, rel, atime, mtime):
    with parent_of(root, rel) as (d, n):
        os.utime(n, ns=(atime, mtime), dir_fd=d, follow_symlinks=False)
    return "ok"


def op_setxattr(root, rel, name, value, flags):
    with parent_of(root, rel) as (d, n):
        os.setxattr(_proc(d, n), name, value, flags, follow_symlinks=False)
    return "ok"


def op_removexattr(root, rel, name):
    with parent_of(root, rel) as (d, n):
        os.removexattr(_proc(d, n), name, follow_symlinks=False)
    return "ok"


def op_fsync(root, rel):
    with open_file(root, rel, os.O_RDONLY) as fd:
        os.fsync(fd)
    return "ok"


def op_open_write(root, rel):
    """Open for writing and close without writing: a copy-up, no change."""
    with open_file(root, rel, os.O_WRONLY):
        return "ok"


def op_read(root, rel):
    with open_file(root, rel, os.O_RDONLY) as fd:
        _regular(fd)
        return "ok:" + digest(_read_all(fd))


def op_stale_read(root, rel, how, off, data):
    """Open read-only, then change the file through another fd (that copies
    it up), then read through the first fd: it must see the new data."""
    with open_file(root, rel, os.O_RDONLY) as fa:
        _regular(fa)
        os.pread(fa, 16, 0)                  # the old content was read once
        fl = os.O_WRONLY | (os.O_TRUNC if how == "trunc" else 0)
        with open_file(root, rel, fl) as fb:
            os.pwrite(fb, data_of(data), off)
        seen = _read_all(fa)
    with open_file(root, rel, os.O_RDONLY) as fc:
        now = _read_all(fc)
    return "ok:" + digest(seen) + ("" if seen == now else " STALE (a fresh open reads %s)"
                                   % digest(now))


OPS = {"create": op_create, "write": op_write, "append": op_append,
       "truncate": op_truncate, "fallocate": op_fallocate, "mkdir": op_mkdir,
       "rmdir": op_rmdir, "unlink": op_unlink, "rename": op_rename, "link": op_link,
       "symlink": op_symlink, "mkfifo": op_mkfifo, "mknod": op_mknod, "chmod": op_chmod,
       "chown": op_chown, "utime": op_utime, "setxattr": op_setxattr,
       "removexattr": op_removexattr, "fsync": op_fsync, "open_write": op_open_write,
       "read": op_read, "stale_read": op_stale_read}


def apply(root, op):
    """Run one operation on the tree at `root`; its result as a string."""
    root = os.fsencode(root)
    try:
        return OPS[op[0]](root, *op[1:])
    except OSError as e:
        return errname(e)
    except _NotRegular:
        return "not-regular"          # opened, but not written: not a file
    except _Symlink:
        return "symlink-refused"      # the test does not follow symlinks
    except _Device:
        return "device-refused"       # nor open device nodes


def targets(op):
    """The paths an operation names (for the identity checks)."""
    if op[0] == "symlink":
        return [op[2]]
    if op[0] in ("rename", "link"):
        return [op[1], op[2]]
    return [op[1]]

# ---------------------------------------------------------- snapshots ---


Ent = collections.namedtuple("Ent", "kind size xattrs")
NO_ENT = Ent("", 0, ())


def _xattr_names(path):
    try:
        return tuple(sorted(os.fsencode(n) for n in os.listxattr(path, follow_symlinks=False)))
    except OSError:
        return ()


def snapshot(root):
    """{rel: Ent(kind, size, xattr names)} of the whole tree (phantom
    entries, which readdir lists but lstat does not find, are left out)."""
    root = os.fsencode(root)
    out = {b"": Ent("dir", 0, _xattr_names(root))}

    def walk(rel, path):
        try:
            names = sorted(os.listdir(path))
        except OSError:
            return
        for name in names:
            crel = rel + b"/" + name if rel else name
            try:
                st = os.lstat(path + b"/" + name)
            except OSError:
                continue
            kind = KINDS.get(stat.S_IFMT(st.st_mode), "?")
            out[crel] = Ent(kind, st.st_size, _xattr_names(path + b"/" + name))
            if kind == "dir":
                walk(crel, path + b"/" + name)
    walk(b"", root)
    return out

# ---------------------------------------------------------- generator ---


NEW_NAMES = [b"a", b"b", b"c", b"d", b"e", b"f", b"new", b"n1", b"n2", b"sub"]
FILE_MODES = [0o644, 0o644, 0o755, 0o600, 0o4755, 0o2755, 0o2745, 0o1777, 0o000, 0o777, 0o444]
DIR_MODES = [0o755, 0o755, 0o700, 0o1777, 0o555, 0o2775, 0o000]
IDS = [0, 0, 1, 1000, 65534, 100000, -1, -1]
XATTR_NAMES = [b"user.a", b"user.b", b"user.mime_type", b"user.k1", b"trusted.t",
               b"trusted.test"]
SYMLINK_TARGETS = [b"a", b"../a", b"/a/b", b"..", b"nonexistent", b"/", b"a/b/c",
                   b"t" * 300, b"\xff\xfe", "é".encode()]
CHAR_DEVS = [(1, 3), (1, 5), (1, 7), (0, 0)]      # 0:0 is a whiteout: EPERM on overlay
OPEN_KINDS = ("file", "dir", "symlink", "fifo")   # never a device node

WEIGHTS = {"create": 8, "write": 10, "append": 4, "truncate": 5, "fallocate": 3,
           "mkdir": 7, "rmdir": 5, "unlink": 7, "rename": 14, "link": 4, "symlink": 3,
           "mkfifo": 2, "mknod": 2, "chmod": 5, "chown": 5, "utime": 5, "setxattr": 6,
           "removexattr": 3, "fsync": 2, "open_write": 4, "stale_read": 3, "read": 2}


class Generator:
    """Random operations from one seeded RNG.  `excluded`: paths no
    operation may name (lower files with several hard links); `off`: kinds
    of operations never generated."""

    def __init__(self, rng, excluded=(), off=()):
        self.rng = rng
        self.excluded = set(excluded)
        self.kinds = sorted(k for k in WEIGHTS if k not in off)
        self.weights = [WEIGHTS[k] for k in self.kinds]

    # -- names --
    def existing(self, snap, kinds=None, root=False):
        c = [r for r, e in snap.items()
             if (root or r) and r not in self.excluded and (kinds is None or e.kind in kinds)]
        return self.rng.choice(sorted(c)) if c else None

    def new(self, snap):
        """A name in an existing directory (often one that exists: a
        collision), sometimes under a non-directory or a missing one."""
        rng = self.rng
        r = rng.random()
        if r < 0.85:
            parent = self.existing(snap, ("dir",), root=True)
        elif r < 0.93:
            parent = self.existing(snap, ("file", "symlink", "fifo"))
        else:
            parent = b"missing"
        if parent is None:
            parent = b""
        for _ in range(5):
            rel = (parent + b"/" if parent else b"") + rng.choice(NEW_NAMES)
            if rel not in self.excluded:
                return rel
        return b"new"

    def any(self, snap, kinds=None, p_new=0.4):
        if self.rng.random() < p_new:
            return self.new(snap)
        return self.existing(snap, kinds) or self.new(snap)

    def file(self, snap):
        """Mostly an existing regular file; else anything that may be opened."""
        if self.rng.random() < 0.8:
            r = self.existing(snap, ("file",))
            if r is not None:
                return r
        return self.any(snap, OPEN_KINDS, p_new=0.3)

    def data(self):
        rng = self.rng
        n = rng.choice([1, rng.randint(1, 100), rng.randint(1, 100), rng.randint(100, 5000),
                        rng.randint(5000, 70000)])
        return (rng.randrange(1 << 30), n)

    def offset(self, size):
        rng = self.rng
        return rng.choice([0, rng.randint(0, max(size, 1)), size, size + rng.randint(1, 9000)])

    def xattr_name(self, snap, rel):
        """Often one the entry has (user.* or trusted.*, never *.overlay.*)."""
        have = [n for n in snap.get(rel, NO_ENT).xattrs
                if n.startswith((b"user.", b"trusted.")) and b".overlay." not in n]
        if have and self.rng.random() < 0.6:
            return self.rng.choice(have)
        return self.rng.choice(XATTR_NAMES)

    # -- operations --
    def next(self, snap):
        rng = self.rng
        kind = rng.choices(self.kinds, self.weights)[0]
        size = lambda rel: snap.get(rel, NO_ENT).size     # noqa: E731
        if kind == "create":
            return ("create", self.any(snap, OPEN_KINDS, p_new=0.6),
                    rng.choice(["excl", "trunc"]), rng.choice(FILE_MODES))
        if kind == "write":
            p = self.file(snap)
            return ("write", p, self.offset(size(p)), self.data())
        if kind == "append":
            return ("append", self.file(snap), self.data())
        if kind == "truncate":
            p = self.file(snap)
            return ("truncate", p, rng.choice([0, size(p) // 2, size(p) + rng.randint(1, 70000),
                                               rng.randint(0, 100)]))
        if kind == "fallocate":
            p = self.file(snap)
            mode = rng.choice([0, 0, FALLOC_FL_KEEP_SIZE,
                               FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE])
            return ("fallocate", p, mode, self.offset(size(p)), rng.randint(1, 20000))
        if kind == "mkdir":
            return ("mkdir", self.any(snap, p_new=0.7), rng.choice(DIR_MODES))
        if kind == "rmdir":
            return ("rmdir", self.any(snap, ("dir",) if rng.random() < 0.8 else None, 0.15))
        if kind == "unlink":
            return ("unlink", self.any(snap, None, 0.15))
        if kind == "rename":
            src = self.existing(snap) or self.new(snap)
            r = rng.random()
            flags = rng.choice([0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE])
            if flags == RENAME_EXCHANGE and r < 0.8:
                dst = self.existing(snap) or self.new(snap)               # both must exist
            elif r < 0.1 and snap.get(src, NO_ENT).kind == "dir":
                dst = src + b"/" + rng.choice(NEW_NAMES)          # into its own subdirectory
            elif r < 0.25:
                dst = self.existing(snap, ("dir",)) or self.new(snap)
            elif r < 0.55:
                dst = self.existing(snap) or self.new(snap)
            else:
                dst = self.new(snap)
            return ("rename", src, dst, flags)
        if kind == "link":
            src = self.existing(snap, ("file", "symlink", "fifo", "char") if rng.random() < 0.9
                                else None) or self.new(snap)
            return ("link", src, self.any(snap, p_new=0.8))
        if kind == "symlink":
            return ("symlink", rng.choice(SYMLINK_TARGETS), self.any(snap, p_new=0.7))
        if kind == "mkfifo":
            return ("mkfifo", self.any(snap, p_new=0.7), rng.choice([0o644, 0o600]))
        if kind == "mknod":
            maj, mnr = rng.choice(CHAR_DEVS)
            return ("mknod", self.any(snap, p_new=0.7), rng.choice([0o600, 0o666]), maj, mnr)
        if kind == "chmod":
            p = self.existing(snap, root=rng.random() < 0.05) or b""
            modes = DIR_MODES if snap.get(p, NO_ENT).kind == "dir" else FILE_MODES
            return ("chmod", p, rng.choice(modes))
        if kind == "chown":
            p = self.existing(snap, root=rng.random() < 0.05) or b""
            nofollow = snap.get(p, NO_ENT).kind == "symlink" or rng.random() < 0.3
            return ("chown", p, rng.choice(IDS), rng.choice(IDS), nofollow)
        if kind == "utime":
            p = self.existing(snap, root=rng.random() < 0.05) or b""
            def t():
                return rng.choice([0, rng.randint(1, 2**31) * 10**9 + rng.randrange(10**9),
                                   rng.randint(1, 2**33) * 10**9])
            return ("utime", p, t(), t())
        if kind == "setxattr":
            p = self.any(snap, p_new=0.05) if rng.random() < 0.95 else b""
            value = rng.choice([b"", b"v", rng.randbytes(rng.randint(1, 300))])
            return ("setxattr", p, self.xattr_name(snap, p), value,
                    rng.choice([0, 0, XATTR_CREATE, XATTR_REPLACE]))
        if kind == "removexattr":
            have = sorted(r for r, e in snap.items() if r not in self.excluded and
                          any(n.startswith((b"user.", b"trusted.")) for n in e.xattrs))
            p = rng.choice(have) if have and rng.random() < 0.6 else self.any(snap, p_new=0.05)
            return ("removexattr", p, self.xattr_name(snap, p))
        if kind == "fsync":
            return ("fsync", self.any(snap, OPEN_KINDS, p_new=0.1))
        if kind == "open_write":
            return ("open_write", self.file(snap))
        if kind == "read":
            return ("read", self.file(snap))
        p = self.file(snap)
        return ("stale_read", p, rng.choice(["write", "write", "trunc"]), self.offset(size(p)),
                self.data())
