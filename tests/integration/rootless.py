#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""rootless.py - the plain mount by an ordinary user, for rootless.sh.

  rootless.py image OUT.tar LAYER.tar
      write the test image (an OCI archive, one gzip layer) and its layer
      uncompressed (the reference): files and directories of root with
      modes 0600, 0700, 0400, 0000, 0711, 0555, of uids 100 and 1000, symlinks,
      a hard link, setuid, 300 kB of random bytes
  rootless.py check MNT LAYER.tar UID GID
      run as the user UID:GID on a mount with --owners=user (the default
      when not root): every entry of the layer, read by Python's tarfile,
      is there with its bytes, owned by UID:GID, its mode the tar's with
      chmod u+rX applied; then writes, as that user, into root's 0700
      directory, root's 0600 file, a file in a 0555 directory, a 0000
      directory once chmodded, a chown to oneself (and not to root), a
      removal
  rootless.py check-image MNT LAYER.tar
      run as the user on a mount with --owners=image: the tar's owners and
      modes unchanged, and root's 0600 file unreadable (EACCES)
"""

import errno
import os
import stat
import sys
import tarfile

sys.dont_write_bytecode = True     # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mkimage  # noqa: E402
from mkimage import Entry  # noqa: E402


def entries():
    big = os.urandom(300000)
    return [
        Entry("dir", "etc", mode=0o755),
        Entry("file", "etc/secret", mode=0o600, data=b"root's secret\n"),
        Entry("file", "etc/readonly", mode=0o400, data=b"read only\n"),
        Entry("file", "etc/nothing", mode=0o000, data=b"no bits at all\n"),
        Entry("file", "etc/passwd", mode=0o644, data=b"root:x:0:0::/root:/bin/sh\n"),
        Entry("dir", "root", mode=0o700),
        Entry("file", "root/.profile", mode=0o644, data=b"PS1='# '\n"),
        Entry("dir", "root/private", mode=0o700),
        Entry("file", "root/private/key", mode=0o600, data=big),
        Entry("hardlink", "root/private/key.link", target="root/private/key"),
        Entry("dir", "locked", mode=0o000),
        Entry("file", "locked/inside", mode=0o644, data=b"behind a 0000 directory\n"),
        Entry("dir", "usr", mode=0o555),
        Entry("dir", "usr/bin", mode=0o755),
        Entry("file", "usr/bin/tool", mode=0o711, data=b"#!/bin/sh\necho tool\n"),
        Entry("file", "usr/bin/su", mode=0o4750, data=b"setuid\n"),
        Entry("file", "usr/config", mode=0o644, data=b"in a 0555 directory\n"),
        Entry("symlink", "usr/bin/link", target="tool"),
        Entry("dir", "home", mode=0o755),
        Entry("dir", "home/app", mode=0o750, uid=1000, gid=1000),
        Entry("file", "home/app/notes", mode=0o600, uid=1000, gid=1000, data=b"app's\n"),
        Entry("dir", "var", mode=0o755),
        Entry("dir", "var/partial", mode=0o700, uid=100, gid=0),
        Entry("file", "var/partial/data", mode=0o640, uid=100, gid=65534, data=b"_apt\n"),
    ]


def make_image(out, layer_out):
    layer = mkimage.make_layer(entries(), "gzip")
    mkimage.write_oci_archive(out, [layer])
    with open(layer_out, "wb") as f:
        f.write(layer.tar)


def presented_mode(m):
    """The rule of --owners=user: chmod u+rX of the image's mode."""
    mode = m.mode
    if m.issym():
        return None
    mode |= 0o400
    if m.isdir() or mode & 0o111:
        mode |= 0o100
    return mode


def members(layer):
    with tarfile.open(layer) as tf:
        out = []
        for m in tf.getmembers():
            data = None
            if m.isfile() or m.islnk():
                data = tf.extractfile(m).read()
            out.append((m.name.rstrip("/"), m, data))
        return out


def fail(msg):
    sys.exit("rootless.py: " + msg)


def check_tree(mnt, layer, want_owner):
    """Every entry of LAYER under MNT: bytes, listing, owner and mode.

    WANT_OWNER(member) gives (uid, gid, mode) as the mount must show them."""
    entries_ = members(layer)
    by_name = {n: m for n, m, _ in entries_}
    names = set(by_name)
    for name, m, data in entries_:
        path = os.path.join(mnt, name)
        st = os.lstat(path)
        # a hard link shows its target's inode
        uid, gid, mode = want_owner(by_name[m.linkname] if m.islnk() else m)
        if (st.st_uid, st.st_gid) != (uid, gid):
            fail("%s: owner %d:%d, expected %d:%d" % (name, st.st_uid, st.st_gid, uid, gid))
        if m.issym():
            if not stat.S_ISLNK(st.st_mode) or os.readlink(path) != m.linkname:
                fail("%s: not the symlink to %s" % (name, m.linkname))
            continue
        if stat.S_IMODE(st.st_mode) != mode:
            fail("%s: mode %o, expected %o" % (name, stat.S_IMODE(st.st_mode), mode))
        if m.isdir():
            kids = sorted(n.rsplit("/", 1)[-1] for n in names
                          if n.rpartition("/")[0] == name)
            if sorted(os.listdir(path)) != kids:
                fail("%s: lists %s, expected %s" % (name, sorted(os.listdir(path)), kids))
        elif data is not None:
            with open(path, "rb") as f:
                got = f.read()
            if got != data:
                fail("%s: %d bytes differ from the tar's %d" % (name, len(got), len(data)))


def check_user(mnt, layer, uid, gid):
    check_tree(mnt, layer, lambda m: (uid, gid, presented_mode(m)))
    # writes, as the user, where only root could write in the image
    p = os.path.join(mnt, "root/private/new")
    with open(p, "w") as f:
        f.write("made by the user\n")
    with open(os.path.join(mnt, "etc/secret"), "a") as f:
        f.write("appended\n")
    with open(os.path.join(mnt, "etc/secret")) as f:
        if f.read() != "root's secret\nappended\n":
            fail("etc/secret after the append")
    os.chmod(os.path.join(mnt, "etc/readonly"), 0o644)
    with open(os.path.join(mnt, "etc/readonly"), "a") as f:
        f.write("now writable\n")
    os.unlink(os.path.join(mnt, "usr/bin/tool"))
    # a 0000 directory shows 0500: readable, not writable until chmod
    try:
        os.mkdir(os.path.join(mnt, "locked/newdir"))
    except PermissionError:
        pass
    else:
        fail("mkdir in a directory shown 0500 worked")
    os.chmod(os.path.join(mnt, "locked"), 0o700)
    os.mkdir(os.path.join(mnt, "locked/newdir"))
    os.mkdir(os.path.join(mnt, "root/private/newdir"))
    # a file in a 0555 directory: the directory is copied up as it is
    with open(os.path.join(mnt, "usr/config"), "a") as f:
        f.write("changed\n")
    if stat.S_IMODE(os.stat(os.path.join(mnt, "usr")).st_mode) != 0o555:
        fail("usr is no longer 0555 after the copy-up")
    # chown to oneself works, to anyone else not
    os.chown(os.path.join(mnt, "etc/passwd"), uid, gid)
    try:
        os.chown(os.path.join(mnt, "etc/passwd"), 0, 0)
    except PermissionError:
        pass
    else:
        fail("chown to root worked")
    st = os.stat(p)
    if (st.st_uid, st.st_gid) != (uid, gid):
        fail("the new file is owned by %d:%d" % (st.st_uid, st.st_gid))
    if os.path.exists(os.path.join(mnt, "usr/bin/tool")):
        fail("usr/bin/tool still there after unlink")


def check_image(mnt, layer):
    # what an ordinary user may reach: entries in directories others may search
    for name, m, _ in members(layer):
        if name in ("etc/secret", "etc/nothing", "usr/bin/su", "home/app", "var/partial"):
            st = os.lstat(os.path.join(mnt, name))
            got = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
            if got != (m.uid, m.gid, m.mode):
                fail("--owners=image: %s: %d:%d %o, expected %d:%d %o"
                     % ((name,) + got + (m.uid, m.gid, m.mode)))
    try:
        open(os.path.join(mnt, "etc/secret")).close()
    except PermissionError:
        pass
    else:
        fail("--owners=image: root's 0600 file was readable by an ordinary user")
    try:
        os.listdir(os.path.join(mnt, "root"))
    except OSError as e:
        if e.errno != errno.EACCES:
            raise
    else:
        fail("--owners=image: root's 0700 directory was listed by an ordinary user")


def main(argv):
    if len(argv) == 4 and argv[1] == "image":
        make_image(argv[2], argv[3])
    elif len(argv) == 6 and argv[1] == "check":
        check_user(argv[2], argv[3], int(argv[4]), int(argv[5]))
    elif len(argv) == 4 and argv[1] == "check-image":
        check_image(argv[2], argv[3])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
