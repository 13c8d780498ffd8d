#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""commit.py - layerfs-commit checked by independent readers (commit.sh runs it).

A two-layer image is mounted twice: by layerfs with --upper, and by the
kernel's overlayfs (upperdir) over its layers extracted by difftest's
reference extractor.  The same changes are made in both (new, modified and
deleted files, a deleted directory, an opaque directory made by rm -rf +
mkdir, hard links, a symlink, xattrs, a fifo, a socket) and each mount's
tree is scanned.  Each upper is then committed, and the result must show
exactly that tree (the socket aside: a layer holds none) when read by:
umoci unpack; the kernel's overlayfs over the committed layers extracted;
layerfs mounting the committed image.  GNU tar must list the new layer's
whiteouts as .wh. files and no character device; skopeo must accept the
image and copy it to docker-archive: and oci-archive:; the oci-archive:
and docker-archive: DESTs must unpack (through skopeo and umoci) to the
same tree; the same upper committed twice with one --timestamp must give
the same manifest digest; a full disk fails in one line and leaves nothing.
"""
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import difftest as dt  # noqa: E402
import mkimage  # noqa: E402
from checks import check, summary  # noqa: E402

OVERLAY_OPTS = "redirect_dir=off,index=off,metacopy=off,xino=off"
TS = "4000000000"   # later than every mtime: nothing clamped, mtimes compared as they are


def E(kind, path, **kw):
    return mkimage.Entry(kind, path, **kw)


def base_layers():
    l0 = [E("dir", "etc"), E("file", "etc/config", data=b"a=1\n"),
          E("file", "etc/old", data=b"old\n"), E("file", "etc/linked", data=b"shared\n"),
          E("dir", "var"), E("dir", "var/cache"), E("file", "var/cache/x", data=b"x" * 5000),
          E("dir", "var/cache/sub"), E("file", "var/cache/sub/y", data=b"y"),
          E("dir", "opt"), E("dir", "opt/app"), E("file", "opt/app/one", data=b"1"),
          E("file", "opt/app/two", data=b"2", xattrs={b"user.k": b"v"})]
    l1 = [E("file", "etc/config2", data=b"b=2\n", mode=0o600, uid=1000, gid=1000),
          E("dir", "opt/app/deep"), E("file", "opt/app/deep/three", data=b"3")]
    return [mkimage.make_layer(l0, "gzip"), mkimage.make_layer(l1, "gzip")]


def make_changes(root):
    """The same operations on any mount root."""
    j = lambda p: os.path.join(root, p)   # noqa: E731
    os.mkdir(j("newdir"))
    with open(j("newdir/new.txt"), "wb") as f:
        f.write(b"new file\n" * 1000)
    os.setxattr(j("newdir/new.txt"), "user.test", b"value")
    with open(j("etc/config"), "ab") as f:
        f.write(b"b=2\n")
    os.unlink(j("etc/old"))
    subprocess.run(["rm", "-rf", j("var/cache")], check=True)
    subprocess.run(["rm", "-rf", j("opt/app")], check=True)
    os.mkdir(j("opt/app"), 0o750)
    with open(j("opt/app/fresh"), "wb") as f:
        f.write(b"fresh")
    os.mkdir(j("hl"))
    with open(j("hl/a"), "wb") as f:
        f.write(b"linked twice")
    os.link(j("hl/a"), j("hl/b"))
    os.link(j("etc/linked"), j("hl/lower"))
    os.symlink("../etc/config", j("hl/sym"))
    os.chmod(j("etc/config2"), 0o640)
    os.chown(j("etc/config2"), 1234, 5678)
    os.setxattr(j("etc/config2"), "user.added", b"x")
    os.mkfifo(j("fifo"))
    s = socket.socket(socket.AF_UNIX)
    s.bind(j("sock"))
    s.close()


def visible(root):
    """The tree at ROOT, less its root entry and sockets (a layer holds none)."""
    t = dt.scan(root)
    return {r: n for r, n in t.items() if r and n.kind not in ("socket", "phantom")}


def compare(want, root, what):
    diffs = dt.compare_scans(want, visible(root), ("mount", what))
    check(not diffs, "%s shows the tree of the mount" % what, "\n  " + "\n  ".join(diffs[:20]))


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def commit(upper, src, dest, extra=()):
    r = run([os.environ["LAYERFS_COMMIT"], "-q", "--upper", upper, "--timestamp", TS,
             *extra, src, dest])
    check(r.returncode == 0, "layerfs-commit %s" % dest, r.stderr.decode())
    return r.returncode == 0


def manifest_digest(oci_dir):
    with open(os.path.join(oci_dir, "index.json")) as f:
        return json.load(f)["manifests"][0]["digest"]


def new_layer(oci_dir):
    with open(os.path.join(oci_dir, "blobs/sha256", manifest_digest(oci_dir)[7:])) as f:
        man = json.load(f)
    return os.path.join(oci_dir, "blobs/sha256", man["layers"][-1]["digest"][7:])


def check_tar_listing(layer):
    out = run(["tar", "-tvf", layer], check=True).stdout.decode()
    lines = out.splitlines()
    names = [l.split()[-1] if " -> " not in l and " link to " not in l else
             l.split()[5] for l in lines]
    check(not any(l.startswith("c") for l in lines), "GNU tar: no character device",
          out)
    for want in ("etc/.wh.old", "var/.wh.cache", "opt/app/.wh..wh..opq"):
        check(want in names, "GNU tar: %s is there" % want, out)
    check(names.index("opt/app/.wh..wh..opq") == names.index("opt/app/") + 1,
          "GNU tar: the opaque marker right after its directory", out)
    check(any(l.startswith("h") and "hl/b link to hl/a" in l for l in lines),
          "GNU tar: hl/b stored as a hard link to hl/a", out)
    check(not any("sock" in n for n in names), "GNU tar: no socket", out)


def umoci_tree(oci_dir, tag, work):
    bundle = os.path.join(work, "bundle-%s" % os.path.basename(oci_dir))
    r = run(["umoci", "unpack", "--image", "%s:%s" % (oci_dir, tag), bundle])
    check(r.returncode == 0, "umoci unpack %s" % oci_dir, r.stderr.decode())
    return os.path.join(bundle, "rootfs")


def check_output(name, upper, src, want, work):
    out = os.path.join(work, "out-" + name)
    if not commit(upper, src, "oci:%s:t" % out):
        return
    compare(want, umoci_tree(out, "t", work), "%s: umoci unpack" % name)
    check_tar_listing(new_layer(out))
    # the kernel over the committed layers, extracted by the reference extractor
    ref = os.path.join(work, "ref-" + name)
    os.mkdir(ref)
    lowers = dt.build_reference(dt.read_image_layers([out], "t"), ref, lambda m: None)
    mnt = os.path.join(work, "kmnt-" + name)
    os.mkdir(mnt)
    dt.MOUNTS.overlay(list(reversed(lowers)), mnt)
    compare(want, mnt, "%s: kernel overlay of the committed layers" % name)
    dt.MOUNTS.umount(mnt)
    # layerfs mounting the committed image
    mnt = os.path.join(work, "lmnt-" + name)
    os.mkdir(mnt)
    dt.LayerfsSide(os.environ["LAYERFS"], None).mount(
        ["oci:%s:t" % out], [], mnt, os.path.join(work, "lmnt.log"))
    compare(want, mnt, "%s: layerfs mounting the committed image" % name)
    dt.MOUNTS.umount(mnt)
    # the same upper again: the same digests
    again = out + "-again"
    if commit(upper, src, "oci:%s:t" % again):
        check(manifest_digest(out) == manifest_digest(again),
              "%s: committed twice, the same manifest digest" % name)
    return out


def check_transports(upper, src, want, work):
    """oci-archive: and docker-archive: DESTs, and skopeo's copies of them."""
    r = run(["skopeo", "inspect", "oci:%s:t" % os.path.join(work, "out-layerfs")])
    check(r.returncode == 0, "skopeo inspect oci:", r.stderr.decode())
    for t, dest in (("oci-archive", "%s/o.tar:t" % work),
                    ("docker-archive", "%s/d.tar:lfs/test:t" % work)):
        if not commit(upper, src, "%s:%s" % (t, dest)):
            continue
        copy = os.path.join(work, "copy-" + t)
        r = run(["skopeo", "copy", "-q", "%s:%s" % (t, dest.split(":")[0]),
                 "oci:%s:t" % copy])
        check(r.returncode == 0, "skopeo copy %s: to oci:" % t, r.stderr.decode())
        if r.returncode == 0:
            compare(want, umoci_tree(copy, "t", work), "%s via skopeo + umoci" % t)
    out = os.path.join(work, "out-layerfs")
    for t in ("docker-archive:%s/s-d.tar:lfs/x:t" % work, "oci-archive:%s/s-o.tar:t" % work):
        r = run(["skopeo", "copy", "-q", "oci:%s:t" % out, t])
        check(r.returncode == 0, "skopeo copy oci: to %s" % t.split(":")[0], r.stderr.decode())


def check_changes(upper, src, work):
    """--change, --author and --message as skopeo reads the config."""
    out = os.path.join(work, "changed")
    if not commit(upper, src, "oci:%s:t" % out, (
            "--author", "me", "-m", "apt-get install x", "--change", 'CMD ["run", "it"]',
            "--change", "ENTRYPOINT echo hi", "--change", 'ENV A=1 B="x y"',
            "--change", "ENV PATH /bin", "--change", "EXPOSE 80 53/udp",
            "--change", "LABEL k=v", "--change", "WORKDIR /w", "--change", "USER u")):
        return
    r = run(["skopeo", "inspect", "--config", "oci:%s:t" % out])
    cfg = json.loads(r.stdout) if r.returncode == 0 else {}
    c = cfg.get("config", {})
    check(c.get("Cmd") == ["run", "it"] and
          c.get("Entrypoint") == ["/bin/sh", "-c", "echo hi"], "--change CMD, ENTRYPOINT", c)
    check("A=1" in c.get("Env", []) and "B=x y" in c.get("Env", []) and
          "PATH=/bin" in c.get("Env", []) and
          not any(e.startswith("PATH=/usr") for e in c.get("Env", [])), "--change ENV", c)
    check(set(c.get("ExposedPorts", {})) == {"80/tcp", "53/udp"} and
          c.get("Labels") == {"k": "v"} and c.get("WorkingDir") == "/w" and
          c.get("User") == "u", "--change EXPOSE, LABEL, WORKDIR, USER", c)
    h = cfg.get("history", [{}])[-1]
    check(cfg.get("author") == "me" and h.get("created_by") == "apt-get install x" and
          h.get("created") == "2096-10-02T07:06:40Z", "author, history, --timestamp", cfg)
    r = run([os.environ["LAYERFS_COMMIT"], "--change", "FROM x", "--upper", upper, src,
             "oci:%s/bad" % work])
    check(r.returncode == 2 and len(r.stderr.splitlines()) == 1 and
          not os.path.exists(work + "/bad"), "a bad --change: one line, exit 2", r.stderr)


def check_full_disk(src, work):
    """A full disk while writing: one line, exit 1, nothing left on it."""
    up, full = os.path.join(work, "u-big"), os.path.join(work, "full")
    os.makedirs(up)
    os.mkdir(full)
    with open(os.path.join(up, "random"), "wb") as f:
        f.write(os.urandom(2 << 20))
    dt.sys_mount("tmpfs", full, "tmpfs", 0, "size=512k")
    dt.MOUNTS.active.append([full, None])
    for dest in ("oci:%s/out:t" % full, "oci-archive:%s/out.tar" % full):
        r = run([os.environ["LAYERFS_COMMIT"], "-q", "--upper", up, src, dest])
        check(r.returncode == 1 and len(r.stderr.splitlines()) == 1 and not os.listdir(full),
              "a full disk (%s): one line, exit 1, nothing left" % dest.split(":")[0],
              "%d %r %s" % (r.returncode, r.stderr, os.listdir(full)))
    dt.MOUNTS.umount(full)


def main():
    t0 = time.monotonic()
    work = sys.argv[1]
    img = os.path.join(work, "img")
    mkimage.write_image("oci-dir", img, base_layers(), tag="base")
    src = "oci:%s:base" % img
    # layerfs with an upper
    u1, w1, m1 = (os.path.join(work, d) for d in ("u1", "w1", "m1"))
    os.mkdir(m1)
    dt.LayerfsSide(os.environ["LAYERFS"], None).mount(
        [src], ["--upper", u1, "--work", w1], m1, os.path.join(work, "m1.log"))
    make_changes(m1)
    want_lfs = visible(m1)
    dt.MOUNTS.umount(m1)
    # the kernel's overlayfs with an upper, over the layers extracted
    ref = os.path.join(work, "ref")
    os.mkdir(ref)
    lowers = dt.build_reference(dt.read_image_layers([img], "base"), ref, lambda m: None)
    u2, w2, m2 = (os.path.join(work, d) for d in ("u2", "w2", "m2"))
    for d in (u2, w2, m2):
        os.mkdir(d)
    dt.sys_mount("overlay", m2, "overlay", 0, "lowerdir=%s,upperdir=%s,workdir=%s,%s" % (
        ":".join(reversed(lowers)), u2, w2, OVERLAY_OPTS))
    dt.MOUNTS.active.append([m2, None])
    make_changes(m2)
    want_k = visible(m2)
    dt.MOUNTS.umount(m2)
    check_output("layerfs", u1, src, want_lfs, work)
    check_output("kernel", u2, src, want_k, work)
    check_transports(u1, src, want_lfs, work)
    # bad input: DEST exists; an upper that is not a directory
    r = run([os.environ["LAYERFS_COMMIT"], "--upper", u1, src, "oci:%s" % img])
    check(r.returncode == 1 and len(r.stderr.splitlines()) == 1,
          "an existing DEST: one line, exit 1", r.stderr.decode())
    r = run([os.environ["LAYERFS_COMMIT"], "--upper", u1 + "/nope", src, "oci:%s/n" % work])
    check(r.returncode == 1 and not os.path.exists(work + "/n"),
          "a missing upper: exit 1, nothing written", r.stderr.decode())
    r = run([os.environ["LAYERFS_COMMIT"], src])
    check(r.returncode == 2, "usage: exit 2")
    check_full_disk(src, work)
    check_changes(u1, src, work)
    return summary(t0)


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        dt.MOUNTS.cleanup()
