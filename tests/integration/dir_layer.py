#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A plain directory as a layer, against the kernel's overlayfs.

Two directories are built: LOWER and TOP, TOP holding overlayfs-form
whiteouts (0:0 character devices) and an opaque directory
(trusted.overlay.opaque), hard links, symlinks (one to a directory outside
the layer, which must never be descended), xattrs, a FIFO and a 2 MiB file.
The kernel mounts lowerdir=TOP:LOWER; layerfs mounts
  1. LOWER more.tar.gz  (TOP tarred with its xattrs: the tar front end)
  2. LOWER TOP          (both read in place)
  3. LOWER alone, and a tree compared with LOWER itself
and the trees must be the same (difftest.compare_trees: metadata, xattrs,
data, hard-link groups, random reads in big files).  Each layerfs mount is
also checked not to have looked through the escaping symlink.
"""
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import difftest  # noqa: E402


def build(root):
    lower, top, outside = (os.path.join(root, n) for n in ("lower", "top", "outside"))
    rng = random.Random(7)
    for d in ("lower/a", "lower/b/deep", "lower/c", "lower/etc", "top/a", "top/b", "top/etc",
              "outside/inner"):
        os.makedirs(os.path.join(root, d))

    def put(rel, data, mode=0o644, uid=0, gid=0, mtime=1700000000):
        p = os.path.join(root, rel)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, mode)
        os.lchown(p, uid, gid)
        os.utime(p, ns=(mtime * 10**9, mtime * 10**9 + 123456789))
        return p

    put("outside/inner/secret", b"never shown\n")
    put("lower/a/x", b"x from lower\n")
    put("lower/a/y", b"y from lower\n", 0o600, 1234, 99)
    put("lower/b/z", b"z\n")
    put("lower/b/deep/q", b"q\n")
    put("lower/.wh.keep", b"only a file in a lowerdir\n")
    put("lower/c/file-then-dir", b"a file below\n")
    put("lower/etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
    big = put("lower/big", rng.randbytes(2 << 20) if hasattr(rng, "randbytes")
              else bytes(rng.getrandbits(8) for _ in range(2 << 20)), 0o755)
    os.link(big, os.path.join(lower, "a/big-link"))
    os.setxattr(os.path.join(lower, "etc/passwd"), "user.note", b"lower")
    os.setxattr(os.path.join(lower, "a"), "user.dir", b"a-dir")
    os.symlink(outside, os.path.join(lower, "escape"))
    os.symlink("../../outside/inner", os.path.join(lower, "c/rel-escape"))
    os.mkfifo(os.path.join(lower, "c/fifo"), 0o640)
    os.mknod(os.path.join(lower, "c/null"), 0o666 | 0o020000, os.makedev(1, 3))
    os.utime(os.path.join(lower, "a"), ns=(1600000000 * 10**9, 1600000000 * 10**9))

    # TOP: deletes a/x, makes b opaque, replaces a file with a directory
    # and a directory with a file, adds links.  (".wh." names are files in
    # a lowerdir but whiteouts in a tar: LOWER, never tarred, has one.)
    os.mknod(os.path.join(top, "a/x"), 0o600 | 0o020000, os.makedev(0, 0))
    os.setxattr(os.path.join(top, "b"), "trusted.overlay.opaque", b"y")
    put("top/b/new", b"new in the opaque dir\n")
    put("top/etc/passwd", b"root:x:0:0::/root:/bin/bash\n", 0o644, 0, 0, 1710000000)
    os.setxattr(os.path.join(top, "etc/passwd"), "user.note", b"top")
    os.link(os.path.join(top, "etc/passwd"), os.path.join(top, "etc/passwd-"))
    os.makedirs(os.path.join(top, "big"))
    put("top/big/inside", b"big is a directory now\n")
    put("top/c", b"c is a file now\n")
    os.symlink("etc/passwd", os.path.join(top, "passwd-link"))
    return lower, top, outside


def main():
    layerfs = sys.argv[1]
    failures = []
    with tempfile.TemporaryDirectory(prefix="lfs-dirlayer-") as root:
        lower, top, outside = build(root)
        tgz = os.path.join(root, "more.tar.gz")
        subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "-czf", tgz, "-C", top, "."],
                       check=True)
        kern, mnt = os.path.join(root, "kernel"), os.path.join(root, "mnt")
        os.makedirs(kern)
        os.makedirs(mnt)
        side = difftest.LayerfsSide(layerfs, dict(os.environ))
        cases = [("lower/ more.tar.gz", [lower, tgz], [top, lower]),
                 ("lower/ top/", [lower, top], [top, lower]),
                 ("lower/ alone", [lower], [lower])]
        try:
            for name, srcs, kernel_lowers in cases:
                difftest.MOUNTS.overlay(kernel_lowers, kern)
                side.mount(srcs, ["--no-cache", "--read-only"], mnt,
                           os.path.join(root, "layerfs.log"))
                diffs = difftest.compare_trees(kern, mnt)
                # the symlinks are links in the mount, nothing below them
                for rel in ("escape", "c/rel-escape"):
                    p = os.path.join(mnt, rel)
                    if os.path.lexists(p) and not os.path.islink(p):
                        diffs.append("%s: not a symlink" % rel)
                below = [r for r in difftest.scan(mnt) if r.startswith((b"escape/", b"c/rel-escape/"))]
                if below:
                    diffs.append("descended through a symlink: %r" % below)
                if len(srcs) == 1 and difftest.scan(mnt).keys() != difftest.scan(lower).keys():
                    diffs.append("the names differ from the directory's own")
                difftest.MOUNTS.umount(mnt)
                difftest.MOUNTS.umount(kern)
                print("%-20s %s" % (name, "ok" if not diffs else "%d differences" % len(diffs)))
                failures += ["%s: %s" % (name, d) for d in diffs]
        finally:
            difftest.MOUNTS.cleanup()
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
