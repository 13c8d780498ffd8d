#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""hostile_ops.py ROOT CANARY - every kind of write, from inside a chroot.

Chroots into ROOT (a mount of hostile_image.py's image): that is the view a
container has, where the image's symlinks resolve inside the image (from the
host, the kernel resolves an absolute symlink against the host's root, which
has nothing to do with layerfs).  Then tries every kind of write - create,
utimes, mkdir, rmdir, unlink, rename both ways, symlink, link both ways,
chmod, chown, truncate, write, append, setxattr, mknod - on each symlink of
the image, on a new name below it, on a name below that, and on an existing
name below it; and on a few plain paths.  Prints one line per attempt:

    OP PATH RESULT        RESULT: the errno name, or "SUCCEEDED"

hostile.sh runs it on layerfs and on the kernel's overlayfs over the same
layers and compares.  Needs root (chroot).

    hostile_ops.py --tree ROOT [SKIP...]

prints the tree below ROOT, one line per entry, sorted, never following a
symlink nor opening anything but regular files: path, type, mode, owner,
size (not for directories), link target, sha256 of the contents, user.*
xattrs.  No times.  SKIP: names (relative to ROOT) left out with what is
below them.  hostile.sh compares the writable mounts with it.
"""

import errno
import hashlib
import os
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_image import links  # noqa: E402


def writes(p):
    def creat():
        os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK, 0o666))

    def write(flags):
        def f():
            fd = os.open(p, os.O_WRONLY | os.O_NONBLOCK | flags)
            try:
                os.write(fd, b"hostile\n")
            finally:
                os.close(fd)
        return f
    return [
        ("touch", creat),
        ("utime", lambda: os.utime(p)),
        ("utime-h", lambda: os.utime(p, follow_symlinks=False)),
        ("mkdir", lambda: os.mkdir(p)),
        ("rmdir", lambda: os.rmdir(p)),
        ("rm", lambda: os.unlink(p)),
        ("mv-from", lambda: os.rename(p, "/data/moved")),
        ("mv-to", lambda: os.rename("/data/file", p)),
        ("ln-s", lambda: os.symlink("x", p)),
        ("ln-to", lambda: os.link("/data/file", p)),
        ("ln-from", lambda: os.link(p, "/data/hardlink")),
        ("chmod", lambda: os.chmod(p, 0o777)),
        ("chown", lambda: os.chown(p, 1, 1)),
        ("chown-h", lambda: os.lchown(p, 1, 1)),
        ("truncate", lambda: os.truncate(p, 0)),
        ("echo>", write(os.O_TRUNC)),
        ("echo>>", write(os.O_APPEND)),
        ("setxattr", lambda: os.setxattr(p, "user.hostile", b"1")),
        ("setxattr-h", lambda: os.setxattr(p, "user.hostile", b"1", follow_symlinks=False)),
        ("mkfifo", lambda: os.mkfifo(p)),
    ]


def tree(root, skip):
    out = []

    def entry(rel):
        p = os.path.join(root, rel) if rel else root
        st = os.lstat(p)
        kind = stat.S_IFMT(st.st_mode)
        fields = [repr(rel or "."), "%o" % kind, "%04o" % stat.S_IMODE(st.st_mode),
                  "%d:%d" % (st.st_uid, st.st_gid)]
        if stat.S_ISDIR(st.st_mode):
            fields.append("-")
        else:
            fields.append(str(st.st_size))
        if stat.S_ISLNK(st.st_mode):
            fields.append("-> " + repr(os.readlink(p)))
        elif stat.S_ISREG(st.st_mode):
            h = hashlib.sha256()
            fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            try:
                while True:
                    b = os.read(fd, 1 << 20)
                    if not b:
                        break
                    h.update(b)
            finally:
                os.close(fd)
            fields.append(h.hexdigest())
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            fields.append("%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)))
        xs = []
        for x in sorted(os.listxattr(p, follow_symlinks=False)):
            if x.startswith("user."):
                xs.append("%s=%r" % (x, os.getxattr(p, x, follow_symlinks=False)))
        fields.append("[" + " ".join(xs) + "]")
        out.append(" ".join(fields))
        if stat.S_ISDIR(st.st_mode):
            for n in os.listdir(p):
                r = os.path.join(rel, n) if rel else n
                if r not in skip:
                    entry(r)

    entry("")
    for line in sorted(out):
        print(line)


def main():
    if sys.argv[1] == "--tree":
        tree(sys.argv[2], set(sys.argv[3:]))
        return
    root, canary = sys.argv[1], sys.argv[2]
    paths = ["/", "/data/file", "/dir", "/dir/existing", "/data/new", "/nonexistent/x"]
    for _, link, _, existing in links(canary):
        paths += ["/" + link, "/%s/new" % link, "/%s/new/deeper" % link]
        if existing:
            paths.append("/%s/%s" % (link, existing))
    os.chroot(root)
    os.chdir("/")
    for p in paths:
        for name, op in writes(p):
            try:
                op()
                res = "SUCCEEDED"
            except OSError as e:
                res = errno.errorcode.get(e.errno, str(e.errno))
            print(name, p, res)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
