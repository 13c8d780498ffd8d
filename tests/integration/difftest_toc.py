# SPDX-License-Identifier: Apache-2.0
"""difftest_toc.py - difftest's random stacks as TOC layers (issue 15), run
by toc.py.

Each of LFS_TOC_STACKS (default 12) seeded stacks of difftest.gen_stack
(whiteouts and opaque dirs in both forms, hard links, devices, xattrs, odd
modes, owners and mtimes, big files) is written as tar layers, converted by
ONE reference writer (chosen from the seed: eStargz with a small chunk
size, the stargz-snapshotter's zstd:chunked, containers/storage's
zstd:chunked), packaged as an OCI layout with the writers' annotations
(toc.write_layout), mounted with layerfs and compared with difftest's
compare_trees against the kernel's overlayfs over the blobs as Python's
tarfile extracts them (less the TOC's own entries).

What the formats cannot carry is left out of the stacks or of the
reference, and said here so that nobody mistakes it for a layerfs rule:
  * eStargz's TOC keeps mtimes to the second (the writer rounds them): the
    reference's mtimes are rounded the same way for the eStargz formats;
  * the TOCs are JSON: a name or link target that is not UTF-8 is written
    as U+FFFD, so such entries are left out;
  * only SCHILY.xattr.* pax records become TOC xattrs: the generator's
    LIBARCHIVE.xattr.* form is written as SCHILY here;
  * the writers clean names: an entry that escapes the root ("../x") is
    made "x" in the TOC, where a tar reader drops it: such entries are
    left out;
  * eStargz's Build keeps one entry per name (the last) and moves it
    (a hard link may then come before its target): for the eStargz formats
    only each name's last entry is written (containers/storage keeps every
    entry, in order);
  * hard links left without their target by the above go too;
  * a stack the Go tar reader refuses (the writer fails) is skipped.
At least half the stacks must run, or the run fails.
"""
import os
import random

import difftest
import mkimage
import toc
from checks import check


def _utf8(b):
    try:
        (b if isinstance(b, bytes) else os.fsencode(b)).decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _escapes(path):
    parts = [p for p in mkimage.fsbytes(path).split(b"/") if p not in (b"", b".")]
    depth = 0
    for p in parts:
        depth += -1 if p == b".." else 1
        if depth < 0:
            return True
    return False


def _norm(name):
    return b"/".join(p for p in mkimage.fsbytes(name).split(b"/") if p not in (b"", b"."))


def sanitize(entries, unique):
    """The layer's entries less those a TOC cannot carry (see the module's
    note): with UNIQUE, only the last entry of each name, where it was;
    then hard links whose target is no earlier entry left go too."""
    keep = [e for e in entries
            if all(_utf8(mkimage.fsbytes(n)) for n in [e.path] + [e.target] * (e.target is not None))
            and not _escapes(e.path)]
    if unique:
        last = {_norm(e.tar_name()): i for i, e in enumerate(keep)}
        keep = [e for i, e in enumerate(keep) if last[_norm(e.tar_name())] == i]
    out, seen = [], set()
    for e in keep:
        if e.kind == "hardlink" and _norm(e.target) not in seen:
            continue
        e.xattr_form = "schily"
        out.append(e)
        if e.kind in ("file", "hardlink"):
            seen.add(_norm(e.path))
    return out


def round_mtimes(dirs):
    """Round every mtime in DIRS to the second, as Go's Time.Round does
    (halfway values up), the way eStargz's TOC keeps them."""
    for d in dirs:
        for top, subdirs, files in os.walk(d):
            for name in subdirs + files + ([] if top != d else ["."]):
                p = os.path.join(top, name)
                st = os.lstat(p)
                ns = (st.st_mtime_ns + 500000000) // 10**9 * 10**9
                os.utime(p, ns=(st.st_atime_ns, ns), follow_symlinks=False)


def run_stack(bed, seed, fmt):
    """One stack in format FMT: True when it ran (compared), False when skipped."""
    layers, _fmt, _decoy, _rng = difftest.gen_stack(seed)
    layers = [sanitize(entries, fmt.startswith("estargz")) for entries, _c, _kw in layers]
    convert, comp = toc.FORMATS[fmt]
    try:
        out = [convert(mkimage.layer_tar(entries)) for entries in layers]
    except RuntimeError as e:
        print("  seed %d (%s): the writer refused it: %s" % (seed, fmt, str(e)[:200]))
        return False
    blobs = [b for b, _ in out]
    name = "seed%d" % seed
    layout = bed.path("oci-" + name)
    toc.write_layout(layout, blobs, comp, [info["annotations"] for _, info in out])
    tars = [toc.without_toc(toc.plain_stream(b)) for b in blobs]
    kmnt = bed.reference(tars, name, fix=round_mtimes if fmt.startswith("estargz") else None)
    mnt, _proc, log = bed.mount([layout])
    diffs = difftest.compare_trees(kmnt, mnt, rng=random.Random(seed))
    difftest.MOUNTS.umount(mnt)
    difftest.MOUNTS.umount(kmnt)
    warned = toc.log_lines(log, "warning")
    check(not diffs, "difftest stack %d (%d layers, %s) equals the kernel's overlayfs"
          % (seed, len(layers), fmt), "\n  " + "\n  ".join(diffs[:20] + warned[:5]))
    return True


def run(bed):
    n = int(os.environ.get("LFS_TOC_STACKS", "12"))
    fmts = sorted(toc.FORMATS)
    ran = sum(run_stack(bed, seed, fmts[seed % len(fmts)]) for seed in range(1, n + 1))
    check(ran * 2 >= n, "difftest stacks: %d of %d representable and run" % (ran, n))
