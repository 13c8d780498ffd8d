#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""report_kernel.py - layerfs-report --tree and --path against the kernel's
overlayfs.

The stacks are difftest.py's random ones (whiteouts, opaque directories,
type changes, hard links, odd names) and report_cases.py's main image.  Each
is extracted the way difftest.py does (its reference extraction: OCI
whiteouts turned into overlayfs ones) and mounted with mount -t overlay; what
the kernel shows is the reference:

  --tree    every path with its type, each file's size, and each
            directory's sum of the file bytes below it (a hard-linked file
            once) are the mount's;
  --path    for paths of the mount and paths every layer wrote but the mount
            no longer has: a visible version exactly when the mount has the
            path, of the mount's type, size, mode and owner.

Needs root and overlayfs: exit 77 (skip) without them.

CLI: report_kernel.py --report BIN --tmp DIR [--seeds N]
"""

import argparse
import json
import os
import random
import shutil
import stat
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import difftest  # noqa: E402
from report_cases import Fail, build, check, eq, main_entries  # noqa: E402


def clean(rel):
    """A path as layerfs-report writes it: bytes that are not printable UTF-8 as \\xNN."""
    out, i = [], 0
    while i < len(rel):
        for n in (1, 2, 3, 4):
            try:
                ch = rel[i:i + n].decode("utf-8")
            except UnicodeDecodeError:
                continue
            break
        else:
            ch = None
        if ch is None or ord(ch) < 0x20 or ord(ch) == 0x7f:
            out.append("\\x%02x" % rel[i])
            i += 1
        else:
            out.append(ch)
            i += len(ch.encode("utf-8"))
    return "/" + "".join(out)


def kernel_view(tars, work, mnt):
    """The overlay of TARS (lowest first) mounted at MNT: difftest's scan of it."""
    dirs = difftest.build_reference(tars, work, lambda msg: None)
    difftest.MOUNTS.overlay(list(reversed(dirs)), mnt)
    try:
        # readdir of a directory with no lower part lists a whiteout the
        # kernel then says is not there (lstat: ENOENT): not an entry
        return {rel: n for rel, n in difftest.scan(mnt).items() if n.kind != "phantom"}
    finally:
        difftest.MOUNTS.umount(mnt)


def dir_sums(ref):
    """{dir rel: (bytes, files)} below each directory of REF.  A hard-linked
    file's bytes count once, under its first name in a walk of the tree
    (siblings by name), as du(1) counts them; its names all count as files."""
    sums = {rel: [0, 0] for rel, n in ref.items() if n.kind == "dir"}
    seen = set()
    for rel in sorted(ref, key=lambda r: r.split(b"/")):
        n = ref[rel]
        if n.kind != "file":
            continue
        first = n.nlink < 2 or n.ino not in seen
        seen.add(n.ino)
        parts = rel.split(b"/")
        for k in range(len(parts)):
            d = sums[b"/".join(parts[:k])]
            d[1] += 1
            d[0] += n.size if first else 0
    return {rel: tuple(v) for rel, v in sums.items()}


def check_stack(r, args, tars, ref, written, what):
    out = subprocess.run([r] + ["-q", "--json", "--tree"] + args, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    check(out.returncode == 0, "%s: --tree exit %d: %s" % (what, out.returncode, out.stderr))
    ents = {e["path"]: e for e in json.loads(out.stdout)["tree"]["entries"]}
    want = {(clean(rel) if rel else "/"): n for rel, n in ref.items()}
    eq(sorted(ents), sorted(want), what + ": --tree paths")
    sums = dir_sums(ref)
    for rel, n in ref.items():
        p = clean(rel) if rel else "/"
        e = ents[p]
        eq(e["type"], n.kind, what + ": type of " + p)
        if n.kind == "file":
            eq(e["bytes"], n.size, what + ": size of " + p)
        elif n.kind == "dir":
            eq((e["bytes"], e["files"]), sums[rel], what + ": bytes and files below " + p)
    # --path: some paths of the mount, and paths some layer wrote that it lacks
    rng = random.Random(what)
    present = [rel for rel in ref if rel]
    gone = sorted(set(written) - set(ref))
    pick = rng.sample(present, min(6, len(present))) + rng.sample(gone, min(6, len(gone)))
    if not pick:
        return
    argv = [r, "-q", "--json"]
    for rel in pick:
        # the name's own bytes, glob characters escaped
        argv += ["--path", b"/" + b"".join(b"\\" + bytes([c]) if c in b"*?[\\" else bytes([c])
                                           for c in rel)]
    out = subprocess.run(argv + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    check(out.returncode in (0, 1), "%s: --path exit %d: %s" % (what, out.returncode, out.stderr))
    paths = {p["path"]: p for p in json.loads(out.stdout)["paths"]}
    for rel in pick:
        p, n = clean(rel), ref.get(rel)
        got = paths.get(p)
        if n is None:
            check(got is None or got["visible_layer"] is None,
                  "%s: --path %s visible, the kernel has no such path" % (what, p))
            continue
        check(got is not None and got["visible_layer"] is not None,
              "%s: --path %s not visible, the kernel has it" % (what, p))
        v = [v for v in got["versions"] if v["visible"]][0]
        eq((v["type"], v["mode"], v["uid"], v["gid"]),
           (n.kind, stat.S_IMODE(n.mode), n.uid, n.gid), what + ": --path " + p)
        if n.kind == "file":
            eq(v["size"], n.size, what + ": --path size of " + p)


def written_paths(tars):
    """Every path a layer's tar names (whiteout markers left out)."""
    import io
    import tarfile
    out = set()
    for t in tars:
        for ti in tarfile.open(fileobj=io.BytesIO(t), mode="r:", encoding="utf-8",
                               errors="surrogateescape"):
            name = os.fsencode(ti.name).strip(b"/")
            name = name[2:] if name.startswith(b"./") else name
            if name and b".wh." not in name:
                out.add(os.path.normpath(name))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--report", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--seeds", type=int, default=25)
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("SKIP: needs root (mount -t overlay)")
        return 77
    probe = os.path.join(a.tmp, "probe")
    os.makedirs(os.path.join(probe, "a"))
    os.makedirs(os.path.join(probe, "mnt"))
    try:
        difftest.MOUNTS.overlay([os.path.join(probe, "a")], os.path.join(probe, "mnt"))
        difftest.MOUNTS.umount(os.path.join(probe, "mnt"))
    except OSError as e:
        print("SKIP: mount -t overlay: %s" % e)
        return 77
    failed = 0
    cases = [("main image", None)] + [("seed %d" % s, s) for s in range(a.seeds)]
    try:
        for what, seed in cases:
            d = os.path.join(a.tmp, "kernel-%s" % (seed if seed is not None else "main"))
            os.makedirs(os.path.join(d, "mnt"))
            os.makedirs(os.path.join(d, "work"))
            try:
                if seed is None:
                    src, extra, tag = build(d, "img.tar", main_entries()), [], None
                else:
                    layers, fmt, decoy, rng = difftest.gen_stack(seed)
                    src, extra, _, _ = difftest.package_stack(layers, fmt, decoy, rng,
                                                              os.path.join(d, "img"))
                    tag = extra[1] if extra else None
                    if fmt == "layers":
                        extra = extra + ["--layers"]
                tars = difftest.read_image_layers(src, tag)
                ref = kernel_view(tars, os.path.join(d, "work"), os.path.join(d, "mnt"))
                check_stack(a.report, extra + src, tars, ref, written_paths(tars), what)
                print("ok: %s: %d paths" % (what, len(ref)))
            except Fail as e:
                failed += 1
                print("FAIL: %s" % e)
            finally:
                shutil.rmtree(d, ignore_errors=True)
    finally:
        difftest.MOUNTS.cleanup()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
