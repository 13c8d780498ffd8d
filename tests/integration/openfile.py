#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""openfile.py - an open file (or working directory) keeps its identity.

What the kernel guarantees and the tests compare: an open file is the file
it opened, whatever later happens to its names.  An unlinked open file stays
readable and writable until the last close; the old fd of a file replaced
by write-to-temporary-then-rename (dpkg, editors, config tools) keeps
showing, and changing, the old file; a process whose working directory was
removed still gets an answer from stat(".").

  openfile.py image DIR   write the layers: DIR/l1, DIR/l2 (extracted, for
                          the kernel's overlayfs: lowerdir=DIR/l2:DIR/l1)
                          and DIR/l1.tar, DIR/l2.tar (for layerfs)
  openfile.py run MNT     run every scenario on the mount MNT, print one
                          line per step (what it returned, or the errno)
  openfile.py links MNT   layerfs only: a copy-up that splits a hard-link
                          group shows the new st_nlink at once (exit 1 if not)

openfile.sh runs the scenarios on layerfs and on the kernel's overlayfs over
the same layers and requires the same lines.  Everything printed is
deterministic: times only where a scenario set them.
"""

import errno
import io
import os
import stat
import sys
import tarfile

sys.dont_write_bytecode = True

OUT = []


def say(label, value):
    OUT.append("%-34s %s" % (label, value))


def fmt(v):
    if isinstance(v, os.stat_result):
        return "type=%s mode=%o nlink=%d size=%d" % (
            stat.S_IFMT(v.st_mode) >> 12, stat.S_IMODE(v.st_mode), v.st_nlink, v.st_size)
    if isinstance(v, list):
        return repr(sorted(v))
    return repr(v)


def r(label, f, *a, **kw):
    """Call f, record its result (or errno name); return the result or None."""
    try:
        v = f(*a, **kw)
    except OSError as e:
        say(label, errno.errorcode.get(e.errno, str(e.errno)))
        return None
    say(label, fmt(v))
    return v


def mtime(path_or_fd):
    st = os.stat(path_or_fd)
    return "mtime=%d.%09d" % (st.st_mtime_ns // 10**9, st.st_mtime_ns % 10**9)


def in_child(fn):
    """Run fn in a child process (it changes its cwd); collect its lines."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            OUT.clear()
            fn()
        except BaseException as e:      # noqa: B902 - reported, never hidden
            say("child", "exception %r" % e)
        os.write(wfd, ("\n".join(OUT) + "\n").encode())
        os._exit(0)
    os.close(wfd)
    data = b""
    while True:
        b = os.read(rfd, 65536)
        if not b:
            break
        data += b
    os.close(rfd)
    os.waitpid(pid, 0)
    OUT.extend(l for l in data.decode().splitlines() if l)


# ----------------------------------------------------------------- image ---

LOWER_FILES = {
    "a": b"lower a\n", "b": b"lower b\n", "c": b"lower c\n", "conf": b"old conf\n",
    "conf2": b"old conf2\n", "ro": b"lower ro\n", "stale": b"stale data\n",
    "d/x": b"x in d\n", "g/y": b"y in g\n", "big": bytes(range(256)) * 64,
}
LOWER_DIRS = ["d", "e", "g", "k", "m"]
HARDLINKS = ["h1", "h2", "h3"]          # one inode; layer 2 whites out h2


def image(out):
    l1, l2 = os.path.join(out, "l1"), os.path.join(out, "l2")
    os.makedirs(l1)
    os.makedirs(l2)
    for d in LOWER_DIRS:
        os.mkdir(os.path.join(l1, d))
    for p, data in LOWER_FILES.items():
        with open(os.path.join(l1, p), "wb") as f:
            f.write(data)
    with open(os.path.join(l1, HARDLINKS[0]), "wb") as f:
        f.write(b"linked\n")
    for h in HARDLINKS[1:]:
        os.link(os.path.join(l1, HARDLINKS[0]), os.path.join(l1, h))
    os.mknod(os.path.join(l2, "h2"), stat.S_IFCHR | 0o600, os.makedev(0, 0))
    for p in [l1] + [os.path.join(l1, x) for x in os.listdir(l1)]:
        os.utime(p, ns=(1600000000 * 10**9, 1600000000 * 10**9), follow_symlinks=False)
    os.utime(l2, ns=(1600000000 * 10**9, 1600000000 * 10**9))
    with tarfile.open(os.path.join(out, "l1.tar"), "w", format=tarfile.PAX_FORMAT) as tf:
        for name in sorted(os.listdir(l1)):
            tf.add(os.path.join(l1, name), arcname=name)
    with tarfile.open(os.path.join(out, "l2.tar"), "w", format=tarfile.PAX_FORMAT) as tf:
        ti = tarfile.TarInfo(".wh.h2")
        ti.mtime = 1600000000
        tf.addfile(ti, io.BytesIO(b""))


# ------------------------------------------------------------- scenarios ---


def put(path, data, mode=0o644):
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, mode)
    os.write(fd, data)
    os.close(fd)
    os.chmod(path, mode)


def unlinked_open_files(m):
    # A lower file opened for writing (copied up by the open), then unlinked.
    fd = os.open(m + "/a", os.O_RDWR)
    os.unlink(m + "/a")
    r("lower rw: fstat", os.fstat, fd)
    r("lower rw: read", os.pread, fd, 100, 0)
    r("lower rw: write", os.pwrite, fd, b"XY", 0)
    r("lower rw: read again", os.pread, fd, 100, 0)
    r("lower rw: fchmod", os.fchmod, fd, 0o600)
    r("lower rw: ftruncate", os.ftruncate, fd, 3)
    r("lower rw: fstat after", os.fstat, fd)
    r("lower rw: fsync", os.fsync, fd)
    r("lower rw: futimens", os.utime, fd, ns=(5 * 10**9, 7 * 10**9))
    say("lower rw: mtime", mtime(fd))
    r("lower rw: setxattr", os.setxattr, fd, "user.k", b"v")
    r("lower rw: getxattr", os.getxattr, fd, "user.k")
    r("lower rw: listxattr", os.listxattr, fd)
    r("lower rw: truncate via /proc", os.truncate, "/proc/self/fd/%d" % fd, 1)
    r("lower rw: fstat via /proc", os.stat, "/proc/self/fd/%d" % fd)
    r("lower rw: close", os.close, fd)
    r("lower rw: name gone", os.lstat, m + "/a")

    # A lower file opened read-only (no copy-up), then unlinked: still the lower file.
    fd = os.open(m + "/b", os.O_RDONLY)
    os.unlink(m + "/b")
    r("lower ro: fstat", os.fstat, fd)
    r("lower ro: read", os.pread, fd, 100, 0)
    r("lower ro: fchmod", os.fchmod, fd, 0o600)
    r("lower ro: reopen rw", os.open, "/proc/self/fd/%d" % fd, os.O_RDWR)
    r("lower ro: close", os.close, fd)

    # A copied-up file opened read-only, then unlinked.
    os.chmod(m + "/c", 0o640)
    fd = os.open(m + "/c", os.O_RDONLY)
    os.unlink(m + "/c")
    r("copied ro: fstat", os.fstat, fd)
    r("copied ro: read", os.pread, fd, 100, 0)
    r("copied ro: fchmod", os.fchmod, fd, 0o604)
    r("copied ro: fstat after", os.fstat, fd)
    r("copied ro: close", os.close, fd)

    # A file made in the mount, with a second name: each unlink drops a link.
    put(m + "/n1", b"new file\n")
    os.link(m + "/n1", m + "/n2")
    fd = os.open(m + "/n1", os.O_RDWR)
    os.unlink(m + "/n1")
    r("new linked: fstat", os.fstat, fd)
    r("new linked: other name", os.lstat, m + "/n2")
    os.unlink(m + "/n2")
    r("new linked: fstat, no name", os.fstat, fd)
    r("new linked: write", os.pwrite, fd, b"more", 9)
    r("new linked: read", os.pread, fd, 100, 0)
    r("new linked: close", os.close, fd)

    # Many open, unlinked files at once.
    fds = []
    for i in range(64):
        put(m + "/many%d" % i, b"file %d\n" % i)
        fds.append(os.open(m + "/many%d" % i, os.O_RDWR))
        os.unlink(m + "/many%d" % i)
    say("many: contents", all(os.pread(fd, 100, 0) == b"file %d\n" % i
                              for i, fd in enumerate(fds)))
    say("many: nlink", sorted({os.fstat(fd).st_nlink for fd in fds}))
    for fd in fds:
        os.close(fd)


def replaced_by_rename(m):
    # The dpkg / editor pattern on a file made in the mount.
    put(m + "/cfg", b"old contents\n", 0o644)
    os.utime(m + "/cfg", ns=(10**9, 10**9))
    fd = os.open(m + "/cfg", os.O_RDONLY)
    put(m + "/cfg.tmp", b"new\n", 0o600)
    os.utime(m + "/cfg.tmp", ns=(3 * 10**9, 3 * 10**9))
    os.rename(m + "/cfg.tmp", m + "/cfg")
    r("made: old fd fstat", os.fstat, fd)
    r("made: old fd read", os.pread, fd, 100, 0)
    r("made: old fd fchmod", os.fchmod, fd, 0o640)
    r("made: old fd futimens", os.utime, fd, ns=(2 * 10**9, 2 * 10**9))
    r("made: old fd fstat after", os.fstat, fd)
    say("made: old fd mtime", mtime(fd))
    r("made: new file", os.lstat, m + "/cfg")
    say("made: new file mtime", mtime(m + "/cfg"))
    r("made: new file read", lambda: open(m + "/cfg", "rb").read())
    os.close(fd)

    # A lower file opened for writing (copied up), replaced by a rename.
    fd = os.open(m + "/conf", os.O_RDWR)
    put(m + "/conf.tmp", b"new conf, longer than the old one\n", 0o600)
    os.rename(m + "/conf.tmp", m + "/conf")
    r("lower rw: old fd fstat", os.fstat, fd)
    r("lower rw: old fd read", os.pread, fd, 100, 0)
    r("lower rw: old fd write", os.pwrite, fd, b"OLD", 0)
    r("lower rw: old fd fchmod", os.fchmod, fd, 0o600)
    r("lower rw: new file", os.lstat, m + "/conf")
    r("lower rw: new file read", lambda: open(m + "/conf", "rb").read())
    os.close(fd)

    # A lower file opened read-only, replaced by a rename: still the lower file.
    fd = os.open(m + "/conf2", os.O_RDONLY)
    put(m + "/conf2.tmp", b"new conf2\n", 0o600)
    os.rename(m + "/conf2.tmp", m + "/conf2")
    r("lower ro: old fd fstat", os.fstat, fd)
    r("lower ro: old fd read", os.pread, fd, 100, 0)
    r("lower ro: new file read", lambda: open(m + "/conf2", "rb").read())
    os.close(fd)

    # An fd opened read-only before another fd copied the file up reads the
    # copy; the name then removed, it still does.
    fd = os.open(m + "/stale", os.O_RDONLY)
    w = os.open(m + "/stale", os.O_WRONLY)
    os.pwrite(w, b"STALE", 0)
    os.close(w)
    r("stale: read the copy", os.pread, fd, 100, 0)
    os.unlink(m + "/stale")
    r("stale: unlinked, read", os.pread, fd, 100, 0)
    r("stale: fstat", os.fstat, fd)
    os.close(fd)

    # A big lower file read through an fd while its name is replaced.
    fd = os.open(m + "/big", os.O_RDONLY)
    put(m + "/big.tmp", b"small\n")
    os.rename(m + "/big.tmp", m + "/big")
    say("big: old fd reads the old data",
        os.pread(fd, 1 << 20, 0) == LOWER_FILES["big"])
    os.close(fd)


def removed_cwd(m):
    def case(label, prepare, remove):
        def child():
            os.chdir(path)
            remove()
            r(label + ": stat .", os.stat, ".")
            r(label + ": lstat .", os.lstat, ".")
            r(label + ": listdir .", os.listdir, ".")
            r(label + ": chmod .", os.chmod, ".", 0o700)
            r(label + ": create in it", os.open, "x", os.O_CREAT | os.O_WRONLY, 0o644)
            r(label + ": mkdir in it", os.mkdir, "sub")
        path = prepare()
        in_child(child)

    def mk(name):
        def f():
            os.mkdir(m + "/" + name)
            return m + "/" + name
        return f

    def rmdir(name):
        return lambda: os.rmdir(m + "/" + name)

    case("new dir", mk("nd"), rmdir("nd"))
    case("lower dir", lambda: m + "/e", rmdir("e"))

    def opaque():
        os.rmdir(m + "/k")
        os.mkdir(m + "/k")
        return m + "/k"
    case("opaque dir", opaque, rmdir("k"))

    def merged():
        os.unlink(m + "/d/x")
        return m + "/d"
    case("merged dir", merged, rmdir("d"))

    def replaced():
        os.mkdir(m + "/rd")
        os.mkdir(m + "/rd2")
        return m + "/rd"
    case("dir renamed over", replaced, lambda: os.rename(m + "/rd2", m + "/rd"))

    def copied():
        os.chmod(m + "/m", 0o750)
        return m + "/m"
    case("copied-up dir", copied, rmdir("m"))

    def moved():
        os.mkdir(m + "/mv")
        return m + "/mv"

    def moved_child():
        os.chdir(m + "/mv")
        os.rename(m + "/mv", m + "/mv2")
        r("moved dir: stat .", os.stat, ".")
        r("moved dir: create in it", lambda: os.close(
            os.open("x", os.O_CREAT | os.O_WRONLY, 0o644)))
        r("moved dir: seen at new name", os.listdir, m + "/mv2")
    moved()
    in_child(moved_child)


def hard_link_split(m):
    """layerfs only: h1's copy-up links its visible names (h1, h3), as the
    kernel's index=on keeps a group together; the kernel's index=off (the
    reference of the other scenarios) breaks the group instead.  Every
    answer after the copy-up must say 2, without waiting for a readdir to
    refresh what the kernel cached before it.  Returns whether they do."""
    r("h1 before", os.stat, m + "/h1")
    fd = os.open(m + "/h1", os.O_WRONLY)
    got = [os.fstat(fd).st_nlink, os.stat(m + "/h1").st_nlink, os.stat(m + "/h3").st_nlink]
    os.listdir(m)
    got += [os.stat(m + "/h1").st_nlink, os.fstat(fd).st_nlink]
    os.close(fd)
    say("nlink: fstat, h1, h3, after a readdir: h1, fstat", got)
    return got == [2] * 5


def symlink_kept(m):
    # A symlink held by an O_PATH fd, then unlinked.
    os.symlink("target/of/link", m + "/sl")
    fd = os.open(m + "/sl", os.O_PATH | os.O_NOFOLLOW)
    os.unlink(m + "/sl")
    r("symlink: fstat", os.fstat, fd)
    r("symlink: readlinkat", os.readlink, "", dir_fd=fd)
    os.close(fd)


SCENARIOS = [unlinked_open_files, replaced_by_rename, removed_cwd, symlink_kept]


def tree(m):
    """The merged tree afterwards: what the old fds did stayed on the old files."""
    for root, dirs, files in os.walk(m):
        dirs.sort()
        for name in sorted(dirs + files):
            p = os.path.join(root, name)
            st = os.lstat(p)
            line = "type=%s mode=%o" % (stat.S_IFMT(st.st_mode) >> 12, stat.S_IMODE(st.st_mode))
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    line += " nlink=%d data=%r" % (st.st_nlink, f.read()[:64])
            elif stat.S_ISLNK(st.st_mode):
                line += " -> %s" % os.readlink(p)
            say(os.path.relpath(p, m), line)


def run(m):
    m = os.path.abspath(m)
    for sc in SCENARIOS + [tree]:
        say("== " + sc.__name__, "")
        try:
            sc(m)
        except OSError as e:
            say("unexpected", "%s: %r" % (sc.__name__, e))
    print("\n".join(OUT))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "image":
        image(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "run":
        run(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "links":
        ok = hard_link_split(os.path.abspath(sys.argv[2]))
        print("\n".join(OUT))
        sys.exit(0 if ok else 1)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
