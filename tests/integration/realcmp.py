#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""realcmp.py - the kernel reference for big, real images.

difftest.py --image builds its reference in Python, whole layers in memory;
this builds the same thing with GNU tar, streaming, so that a ~700 MB
image is cheap to extract, and the two references are independent
implementations checking each other (real_image.sh runs both).  The tree
comparison is difftest.py's.  Standard library only (plus GNU tar, gzip and
zstd on PATH).  Run as root.

  realcmp.py layers [--tag T] [--unpack DIR] SOURCE...
      Print the image's layers, lowest first: "COMPRESSION PATH" per line.
      An image in a tarball (docker-archive, oci-archive) is unpacked into
      DIR first (its layers have no path of their own otherwise).

  realcmp.py extract [--tag T] [--convert-only] DEST SOURCE...
      Build the reference of DESIGN.md: every layer extracted into its own
      directory DEST/0, DEST/1, ... (GNU tar: numeric owners, all xattrs,
      nanosecond times), OCI whiteouts turned into overlayfs ones
      (.wh.NAME -> character device 0:0, .wh..wh..opq ->
      trusted.overlay.opaque=y), and directories a layer implies without
      listing them given the metadata the merged layers below show (or
      0755 root:root mtime 0).  Directory times are kept through the
      conversion.  Prints the lowerdir= string for mount -t overlay (top
      first).  With --convert-only the layers are already extracted
      (`tar -x --numeric-owner --xattrs --xattrs-include='*' -p` into
      DEST/N) and only the conversion is done.

  realcmp.py compare [--max N] EXPECTED ACTUAL
      Compare two mounted trees with difftest.py's comparison (names, types,
      modes, owners, sizes, ns mtimes, link targets, rdev, xattrs, st_nlink,
      hard-link groups, contents, random-offset reads); print at most N
      differences.  Exit 1 when anything differs.

SOURCE is what layerfs takes: a docker-save tarball, an OCI layout
directory, an oci-archive, or explicit layer files lowest first.  The kind
is detected by content.
"""

import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile

# ----------------------------------------------------------------- sources


def magic_compression(path):
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return "none"


def is_tar(path):
    try:
        with open(path, "rb") as f:
            f.seek(257)
            return f.read(5) == b"ustar"
    except OSError:
        return False


def tar_member_names(path):
    with tarfile.open(path, "r:") as tf:
        return {os.path.normpath(m.name) for m in tf.getmembers()}


def pick_oci_manifest(root, tag):
    idx = json.load(open(os.path.join(root, "index.json")))
    mans = idx.get("manifests", [])
    if tag:
        pick = [m for m in mans
                if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag
                or m["digest"].split(":", 1)[1].startswith(tag.split(":", 1)[-1])]
    else:
        pick = mans
    if not pick:
        raise SystemExit("realcmp: no manifest %r in %s" % (tag, root))
    m = pick[0]
    man = json.load(open(blob_path(root, m["digest"])))
    if "manifests" in man:  # nested index
        man = json.load(open(blob_path(root, man["manifests"][0]["digest"])))
    return [blob_path(root, l["digest"]) for l in man["layers"]]


def blob_path(root, digest):
    algo, hexd = digest.split(":", 1)
    return os.path.join(root, "blobs", algo, hexd)


def pick_docker_layers(root, tag):
    mans = json.load(open(os.path.join(root, "manifest.json")))
    if tag:
        mans = [m for m in mans if tag in (m.get("RepoTags") or [])] or mans
    return [os.path.join(root, p) for p in mans[0]["Layers"]]


def layer_files(sources, tag, unpack_dir):
    """Return [(compression, path)] lowest first."""
    if len(sources) == 1:
        src = sources[0]
        if os.path.isdir(src):
            return [(magic_compression(p), p) for p in pick_oci_manifest(src, tag)]
        if is_tar(src):
            names = tar_member_names(src)
            if "manifest.json" in names or "index.json" in names:
                if unpack_dir is None:
                    raise SystemExit("realcmp: %s is an image archive: need --unpack DIR" % src)
                os.makedirs(unpack_dir, exist_ok=True)
                subprocess.run(["tar", "-xf", src, "-C", unpack_dir], check=True)
                if "manifest.json" in names:
                    paths = pick_docker_layers(unpack_dir, tag)
                else:
                    paths = pick_oci_manifest(unpack_dir, tag)
                return [(magic_compression(p), p) for p in paths]
    return [(magic_compression(p), p) for p in sources]


def open_stream(comp, path):
    """A subprocess whose stdout is the uncompressed layer."""
    cmd = {"none": ["cat", path], "gzip": ["gzip", "-dc", path],
           "zstd": ["zstd", "-dcq", path]}[comp]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE)


# ----------------------------------------------------------------- extract


def norm(name):
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return "/".join(parts)


def listed_paths(comp, path):
    """Normalised paths of every entry of a layer, and those that are dirs."""
    allp, dirs = set(), set()
    p = open_stream(comp, path)
    with tarfile.open(fileobj=p.stdout, mode="r|") as tf:
        for m in tf:
            n = norm(m.name)
            allp.add(n)
            if m.isdir():
                dirs.add(n)
    p.wait()
    return allp, dirs


def is_whiteout(st):
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def merged_lookup(lowers, rel):
    """(path, lstat) of REL as the overlay of LOWERS (bottom first) shows
    it, or None.  Walks top-down like overlayfs: a whiteout or a non-directory
    stops the lookup in lower layers; so does an opaque directory."""
    comps = rel.split("/") if rel else []
    cands = list(reversed(lowers))  # layers still visible here, top first
    found = None
    for i in range(len(comps) + 1):
        sub = "/".join(comps[:i])
        found, nxt = None, []
        for d in cands:
            p = os.path.join(d, sub) if sub else d
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if is_whiteout(st):
                break
            if not stat.S_ISDIR(st.st_mode):
                if found is None:
                    found = (p, st)
                break
            if found is None:
                found = (p, st)
            nxt.append(d)
            try:
                if os.getxattr(p, "trusted.overlay.opaque", follow_symlinks=False) == b"y":
                    break
            except OSError:
                pass
        if found is None:
            return None
        if i < len(comps) and not stat.S_ISDIR(found[1].st_mode):
            return None
        cands = nxt
    return found


def copy_meta(src, dst):
    st = os.lstat(src)
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    os.chmod(dst, stat.S_IMODE(st.st_mode))
    for name in os.listxattr(dst, follow_symlinks=False):
        if not name.startswith("trusted.overlay."):
            os.removexattr(dst, name, follow_symlinks=False)
    for name in os.listxattr(src, follow_symlinks=False):
        if not name.startswith(("trusted.overlay.", "user.overlay.")):
            os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False),
                        follow_symlinks=False)
    return st


TAR_X = ["tar", "-x", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-p"]


def extract(dest, layers, untar=True):
    os.makedirs(dest, exist_ok=True)
    dirs = []
    implied_total = 0
    for k, (comp, path) in enumerate(layers):
        d = os.path.join(dest, str(k))
        if untar:
            if os.path.exists(d):
                shutil.rmtree(d)
            os.mkdir(d)
            p = open_stream(comp, path)
            subprocess.run(TAR_X + ["-C", d, "-f", "-"], stdin=p.stdout, check=True)
            p.stdout.close()
            if p.wait() != 0:
                raise SystemExit("realcmp: decompressing %s failed" % path)
        listed, listed_dirs = listed_paths(comp, path)
        # Times of every directory before we touch anything in it.
        times = {}
        for root, dnames, fnames in os.walk(d):
            st = os.lstat(root)
            times[root] = (st.st_atime_ns, st.st_mtime_ns)
        # OCI whiteouts -> overlayfs whiteouts.
        for root, dnames, fnames in os.walk(d):
            for n in list(fnames):
                if not n.startswith(".wh."):
                    continue
                os.unlink(os.path.join(root, n))
                if n == ".wh..wh..opq":
                    os.setxattr(root, "trusted.overlay.opaque", b"y")
                    continue
                target = os.path.join(root, n[4:])
                if os.path.lexists(target):
                    if os.path.isdir(target) and not os.path.islink(target):
                        os.setxattr(target, "trusted.overlay.opaque", b"y")
                    continue
                os.mknod(target, stat.S_IFCHR | 0o600, 0)
        # user.overlay.opaque (the unprivileged form) means the same.
        for root, dnames, fnames in os.walk(d):
            try:
                if os.getxattr(root, "user.overlay.opaque", follow_symlinks=False) == b"y":
                    os.setxattr(root, "trusted.overlay.opaque", b"y")
            except OSError:
                pass
        # Directories the layer implies without listing them.
        for root in list(times):
            rel = os.path.relpath(root, d)
            rel = "" if rel == "." else rel
            if rel in listed_dirs:
                continue
            implied_total += 1
            low = merged_lookup(dirs, rel) if dirs else None
            if low is not None and stat.S_ISDIR(low[1].st_mode):
                st = copy_meta(low[0], root)
                times[root] = (st.st_atime_ns, st.st_mtime_ns)
            else:
                os.chown(root, 0, 0)
                os.chmod(root, 0o755)
                times[root] = (0, 0)
        for root, (a, m) in sorted(times.items(), key=lambda kv: -len(kv[0])):
            os.utime(root, ns=(a, m), follow_symlinks=False)
        dirs.append(d)
        print("realcmp: layer %d: %s (%s), %d entries" % (k, path, comp, len(listed)),
              file=sys.stderr)
    print("realcmp: %d implied directories" % implied_total, file=sys.stderr)
    return ":".join(reversed(dirs))


# ----------------------------------------------------------------- compare


def compare(expected, actual, maxn):
    """The comparison is difftest.py's (one tree comparison in the project)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import difftest
    diffs = difftest.compare_trees(expected, actual, ("kernel", "layerfs"))
    for d in diffs[:maxn]:
        print("DIFF " + d)
    if len(diffs) > maxn:
        print("DIFF ... and %d more" % (len(diffs) - maxn))
    print("realcmp: %s vs %s: %d difference(s)" % (expected, actual, len(diffs)))
    return len(diffs)


# ----------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("layers")
    p.add_argument("--tag")
    p.add_argument("--unpack")
    p.add_argument("sources", nargs="+")
    p = sub.add_parser("extract")
    p.add_argument("--tag")
    p.add_argument("--convert-only", action="store_true")
    p.add_argument("dest")
    p.add_argument("sources", nargs="+")
    p = sub.add_parser("compare")
    p.add_argument("--max", type=int, default=200)
    p.add_argument("expected")
    p.add_argument("actual")
    a = ap.parse_args()
    if a.cmd == "layers":
        for comp, path in layer_files(a.sources, a.tag, a.unpack):
            print(comp, path)
    elif a.cmd == "extract":
        with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(a.dest))) as tmp:
            layers = layer_files(a.sources, a.tag, tmp)
            print(extract(a.dest, layers, not a.convert_only))
    else:
        sys.exit(1 if compare(a.expected, a.actual, a.max) else 0)


if __name__ == "__main__":
    main()
