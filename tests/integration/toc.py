#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""toc.py - layers that carry their own table of contents (issue 15), run by
toc.sh.

A three-layer stack (whiteouts and opaque directories in both forms, hard
links, symlinks, xattrs, a device, a fifo, a 4 MiB file of many chunks,
empty files) is written as tar layers, then converted by the REFERENCE
writers (tests/refwriters via refwriters.py): eStargz (gzip, 64 KiB chunks,
prioritized files, so .prefetch.landmark), the stargz-snapshotter's
zstd:chunked flavour, and containers/storage's zstd:chunked.  Each is
packaged as an OCI layout whose manifest carries the writers' layer
annotations, mounted with layerfs, and compared (difftest's compare_trees:
metadata and every byte) with the kernel's overlayfs over the layers as
Python's tarfile extracts the decompressed blobs (less the TOC's own
entries: stargz.index.json and the landmarks, which are not part of the
filesystem).  Then:

  * the mount is lazy: the daemon has read (its /proc/PID/io rchar) far
    fewer bytes than the blobs hold when the mount is ready;
  * a zstd:chunked layout whose footer is spoilt is read through its
    position annotation; a wrong toc.digest annotation makes the pass read
    the layer, with one line saying why (LOCAL_ANNOTATIONS);
  * a chunk of the big file damaged in the blob (one byte flipped): reading
    that file fails with EIO and one warning names it; every other file
    reads as before;
  * difftest's random stacks (difftest_toc.py), each converted by one of
    the writers, compare equal with the kernel's overlayfs;
  * from a registry (docker-registry on loopback, when installed): the
    eStargz image pushed byte for byte and mounted as docker://, lazily
    (--stats: bytes fetched far below the image's size once mounted), and
    compared; the same image with a wrong toc.digest annotation is read by
    the plain pass instead, with one line saying why, and still compares
    equal.

Prints "ok ..." / "FAIL ..." per check; exits 1 on any failure, 77 when the
reference writers cannot be built.
"""
import errno
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import difftest  # noqa: E402
import difftest_registry  # noqa: E402
import difftest_toc  # noqa: E402
import mkimage  # noqa: E402
import refwriters  # noqa: E402
import registry  # noqa: E402
from checks import check, summary  # noqa: E402
from mkimage import Entry  # noqa: E402

LAYERFS = BUILDDIR = None      # main() sets them from the command line
TOC_NAMES = {refwriters.ESTARGZ_TOC_NAME, ".prefetch.landmark", ".no.prefetch.landmark"}
FALLBACK = "reading the layer as a plain tarball instead"
S = 10**9


def stack():
    """Three layers' entries (whole-second mtimes: eStargz keeps seconds)."""
    rng = random.Random(15)
    big = bytes(rng.getrandbits(8) for _ in range(4 << 20))
    l0 = [
        Entry("dir", "etc", 0o755, mtime=1600000000 * S),
        Entry("file", "etc/passwd", 0o644, mtime=1600000001 * S,
              data=b"root:x:0:0::/root:/bin/sh\n", xattrs={"user.note": b"lower"}),
        Entry("file", "etc/shadow", 0o640, 0, 42, mtime=1600000002 * S, data=b"root:*:1::::::\n"),
        Entry("dir", "usr/bin", 0o755, mtime=1600000003 * S),
        Entry("file", "usr/bin/tool", 0o4755, 1000, 1000, mtime=1600000004 * S,
              data=b"#!/bin/sh\necho tool\n" * 5000),
        Entry("hardlink", "usr/bin/tool-link", target="usr/bin/tool"),
        Entry("symlink", "usr/bin/sh", target="/bin/busybox", mtime=1600000005 * S),
        Entry("file", "big.bin", 0o600, 7, 8, mtime=1600000006 * S, data=big),
        Entry("dir", "opq", 0o750, mtime=1600000007 * S),
        Entry("file", "opq/old1", data=b"old 1\n"),
        Entry("dir", "ovlopq", 0o755),
        Entry("file", "ovlopq/old", data=b"old\n"),
        Entry("dir", "gone/deep", 0o755),
        Entry("file", "gone/deep/f", data=b"gone\n"),
        Entry("file", "gone-file", data=b"gone too\n"),
        Entry("file", "ovl-gone", data=b"whited out by a 0:0 device\n"),
        Entry("fifo", "run/fifo", 0o600),
        Entry("char", "dev/null", 0o666, major=1, minor=3),
        Entry("file", "zeros", data=bytes(200000) + b"end\n"),
    ]
    l1 = [
        Entry("whiteout", "gone"),
        Entry("whiteout", "gone-file"),
        Entry("ovl_whiteout", "ovl-gone"),
        Entry("opaque", "opq"),
        Entry("file", "opq/new", 0o644, mtime=1700000000 * S, data=b"new in opaque\n"),
        Entry("dir", "ovlopq", 0o700, mtime=1700000001 * S,
              xattrs={"trusted.overlay.opaque": b"y"}),
        Entry("file", "ovlopq/new", data=b"new\n"),
        Entry("file", "etc/passwd", 0o644, mtime=1700000002 * S,
              data=b"root:x:0:0::/root:/bin/bash\n", xattrs={"user.note": b"upper"}),
        Entry("hardlink", "etc/passwd-", target="etc/passwd"),
        Entry("symlink", "passwd-link", target="etc/passwd"),
    ]
    l2 = [
        Entry("file", "usr", 0o644, mtime=1700000100 * S, data=b"usr is a file now\n"),
        Entry("dir", "gone", 0o711, mtime=1700000101 * S),
        Entry("file", "gone/back", data=b"back\n" * 30000),
        Entry("file", "empty", data=b""),
    ]
    return [l0, l1, l2]


FORMATS = {
    # name: (convert(tar) -> (blob, info), compression for the media type)
    "estargz": (lambda t: refwriters.estargz(t, chunk_size=65536, procs=2,
                                             prioritized=["etc/passwd", "usr/bin/tool"], allow_missing=True,
                                             builddir=BUILDDIR), "gzip"),
    "estargz-zstd": (lambda t: refwriters.estargz(t, chunk_size=65536, procs=2, zstd=True,
                                                  builddir=BUILDDIR), "zstd"),
    "zstd-chunked": (lambda t: refwriters.zstd_chunked(t, builddir=BUILDDIR), "zstd"),
}


def plain_stream(blob):
    """The blob decompressed as a whole (gzip members / zstd frames)."""
    if blob[:2] == b"\x1f\x8b":
        return gzip.decompress(blob)
    return subprocess.run(["zstd", "-q", "-d", "-c"], input=blob, stdout=subprocess.PIPE,
                          check=True).stdout


def without_toc(tar):
    """The tar less the TOC's own entries (at the root)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(tar), mode="r:", encoding="utf-8",
                      errors="surrogateescape") as src, \
            tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8",
                         errors="surrogateescape") as dst:
        for ti in src:
            name = ti.name
            while name.startswith(("./", "/")):
                name = name[1:].lstrip("/")
            if name in TOC_NAMES:
                continue
            dst.addfile(ti, src.extractfile(ti) if ti.isreg() else None)
    return out.getvalue()


def write_layout(outdir, blobs, comp, annotations):
    """An OCI layout of these layer blobs whose manifest gives each layer
    its annotations (mkimage writes it; the manifest is then rewritten)."""
    layers = [mkimage.Layer(plain_stream(b), b, comp) for b in blobs]
    mkimage.write_oci_dir(outdir, layers, tag="v1")
    with open(os.path.join(outdir, "index.json")) as f:
        index = json.load(f)
    old = index["manifests"][0]["digest"].split(":")[1]
    with open(os.path.join(outdir, "blobs", "sha256", old)) as f:
        man = json.load(f)
    for desc, ann in zip(man["layers"], annotations):
        if ann:
            desc["annotations"] = ann
    data = json.dumps(man, sort_keys=True).encode()
    new = hashlib.sha256(data).hexdigest()
    os.unlink(os.path.join(outdir, "blobs", "sha256", old))
    with open(os.path.join(outdir, "blobs", "sha256", new), "wb") as f:
        f.write(data)
    index["manifests"][0].update(digest="sha256:" + new, size=len(data))
    with open(os.path.join(outdir, "index.json"), "w") as f:
        json.dump(index, f)
    return layers


def rchar(pid):
    with open("/proc/%d/io" % pid) as f:
        return int(dict(line.split(": ") for line in f.read().splitlines())["rchar"])


def log_lines(path, needle):
    with open(path, "rb") as f:
        return [ln for ln in f.read().decode(errors="replace").splitlines() if needle in ln]


class Bed:
    """Mounts of one run: the kernel reference of each format, layerfs."""

    def __init__(self, root):
        self.root = root
        self.n = 0
        self.side = difftest.LayerfsSide(LAYERFS, dict(os.environ))

    def path(self, name):
        return os.path.join(self.root, name)

    def reference(self, tars, name, fix=None):
        """The kernel's overlayfs over TARS extracted (FIX(dirs) first, if given)."""
        d = self.path("ref-" + name)
        os.mkdir(d)
        dirs = difftest.build_reference(tars, d, lambda m: print("  reference: " + m))
        if fix:
            fix(dirs)
        kmnt = self.path("kernel-" + name)
        os.mkdir(kmnt)
        difftest.MOUNTS.overlay(list(reversed(dirs)), kmnt)
        return kmnt

    def mount(self, sources, extra=()):
        """layerfs -f on SOURCES: (mountpoint, process, log path)."""
        self.n += 1
        mnt = self.path("m%d" % self.n)
        log = self.path("m%d.log" % self.n)
        os.mkdir(mnt)
        proc = self.side.mount(sources, ["--read-only", "--no-cache"] + list(extra), mnt, log)
        return mnt, proc, log


def compare(kmnt, mnt, what):
    diffs = difftest.compare_trees(kmnt, mnt, rng=random.Random(1))
    check(not diffs, what, "\n  " + "\n  ".join(diffs[:20]))


def damaged_chunk(bed, name, layout, kmnt):
    """Flip a byte in the compressed data of the big file's third chunk."""
    man = json.load(open(os.path.join(layout, "index.json")))["manifests"][0]
    man = json.load(open(os.path.join(layout, "blobs", *man["digest"].split(":"))))
    path = os.path.join(layout, "blobs", *man["layers"][0]["digest"].split(":"))
    with open(path, "rb") as f:
        blob = bytearray(f.read())
    ann = man["layers"][0].get("annotations", {})
    if name == "zstd-chunked":
        toc = refwriters.parse_zstd_chunked(bytes(blob), ann)["manifest"]
    else:
        toc = refwriters.parse_estargz(bytes(blob), zstd=name != "estargz")["toc"]
    offs = sorted({e["offset"] for e in toc["entries"] if e.get("offset")})
    chunk = [e for e in toc["entries"] if e["name"] == "big.bin" and e.get("offset")][2]
    nxt = offs[offs.index(chunk["offset"]) + 1]
    blob[(chunk["offset"] + nxt) // 2] ^= 0x5a
    with open(path, "wb") as f:
        f.write(blob)
    mnt, proc, log = bed.mount([layout])
    try:
        with open(os.path.join(mnt, "big.bin"), "rb") as f:
            f.read()
        err = 0
    except OSError as e:
        err = e.errno
    check(err == errno.EIO, "%s: damaged chunk: reading big.bin fails with EIO" % name,
          "errno %s" % err)
    ok = all(open(os.path.join(mnt, p), "rb").read() == open(os.path.join(kmnt, p), "rb").read()
             for p in ("etc/passwd", "opq/new", "gone/back", "zeros"))
    check(ok, "%s: damaged chunk: the other files read as the kernel's" % name)
    difftest.MOUNTS.umount(mnt)
    warned = log_lines(log, "big.bin")
    check(len(warned) == 1 and "chunk" in warned[0],
          "%s: damaged chunk: one warning naming the file" % name, repr(warned))


def local_checks(bed, stacks):
    layouts = {}
    for name, (convert, comp) in FORMATS.items():
        out = [convert(mkimage.layer_tar(ents)) for ents in stacks]
        blobs = [b for b, _ in out]
        layout = bed.path("oci-" + name)
        write_layout(layout, blobs, comp, [info["annotations"] for _, info in out])
        layouts[name] = (layout, blobs, out)
        kmnt = bed.reference([without_toc(plain_stream(b)) for b in blobs], name)
        mnt, proc, log = bed.mount([layout])
        read = rchar(proc.pid)
        total = sum(map(len, blobs))
        check(read < total // 4, "%s: mounted lazily: %d bytes read of %d" % (name, read, total))
        compare(kmnt, mnt, "%s: the mount equals the kernel's overlayfs" % name)
        difftest.MOUNTS.umount(mnt)
        check(not log_lines(log, "warning"), "%s: no warning" % name,
              open(log, errors="replace").read()[-2000:])
        damaged_chunk(bed, name, layout, kmnt)
    return layouts


# Whether local layouts pass their layers' annotations on (image.c):
# "auto" checks what the layerfs under test does, and skips the checks that
# need them when it does not; True makes them mandatory.
LOCAL_ANNOTATIONS = True


def local_annotation_checks(bed, layouts):
    """zstd:chunked found by its position annotation alone (the footer
    spoilt), and a wrong toc.digest annotation on a local layout."""
    layout, blobs, out = layouts["zstd-chunked"]
    spoilt = [b[:-8] + b"XXXXXXXX" for b in blobs]
    path = bed.path("oci-zc-nofooter")
    write_layout(path, spoilt, "zstd", [info["annotations"] for _, info in out])
    mnt, proc, log = bed.mount([path])
    read = rchar(proc.pid)
    lazy = read < sum(map(len, blobs)) // 4
    compare(bed.path("kernel-zstd-chunked"), mnt, "local: zstd:chunked without its footer equals")
    difftest.MOUNTS.umount(mnt)
    if LOCAL_ANNOTATIONS == "auto" and not lazy:
        print("skip: this layerfs does not read the annotations of local layouts")
        return
    check(lazy, "local: zstd:chunked found by its annotation alone (%d bytes read)" % read)
    layout, blobs, out = layouts["estargz"]
    anns = [dict(info["annotations"]) for _, info in out]
    anns[0]["containerd.io/snapshot/stargz/toc.digest"] = "sha256:" + "1" * 64
    path = bed.path("oci-esgz-badtoc")
    write_layout(path, blobs, "gzip", anns)
    mnt, proc, log = bed.mount([path])
    compare(bed.path("kernel-estargz"), mnt, "local: a wrong toc.digest annotation: read by the "
            "pass, equal")
    difftest.MOUNTS.umount(mnt)
    said = log_lines(log, "toc.digest")
    check(len(said) == 1 and FALLBACK in said[0],
          "local: a wrong toc.digest annotation: one line says so", repr(said))


def registry_checks(bed, layouts):
    if not shutil.which("docker-registry"):
        print("skip registry checks: docker-registry is not installed")
        return
    layout, blobs, out = layouts["estargz"]
    kmnt = bed.path("kernel-estargz")
    total = sum(map(len, blobs))
    with registry.Registry() as reg:
        client = registry.RegistryClient(reg.url)
        # The damaged chunk above changed the layout's first blob: push the writers' own.
        good = bed.path("oci-estargz-good")
        write_layout(good, blobs, "gzip", [info["annotations"] for _, info in out])
        client.push_oci_dir("toc/estargz", good, tag="v1")
        ref = "docker://%s/toc/estargz:v1" % reg.host
        mnt, proc, log = bed.mount([ref], ["--tls-verify=false", "--stats"])
        difftest.MOUNTS.umount(mnt)
        st = difftest_registry.stats_line(log)
        check(st is not None and st[0] < total // 10,
              "registry: a mount with nothing read fetches far less than the image (%s of %d)"
              % (st and st[0], total))
        mnt, proc, log = bed.mount([ref], ["--tls-verify=false"])
        compare(kmnt, mnt, "registry: the lazy mount equals the kernel's overlayfs")
        difftest.MOUNTS.umount(mnt)
        # A wrong toc.digest annotation: the pass reads the layer instead.
        anns = [dict(info["annotations"]) for _, info in out]
        anns[1]["containerd.io/snapshot/stargz/toc.digest"] = "sha256:" + "0" * 64
        bad = bed.path("oci-estargz-badtoc")
        write_layout(bad, blobs, "gzip", anns)
        client.push_oci_dir("toc/badtoc", bad, tag="v1")
        mnt, proc, log = bed.mount(["docker://%s/toc/badtoc:v1" % reg.host],
                                   ["--tls-verify=false"])
        compare(kmnt, mnt, "registry: a wrong toc.digest annotation: read by the pass, equal")
        difftest.MOUNTS.umount(mnt)
        said = log_lines(log, "toc.digest")
        check(len(said) == 1 and FALLBACK in said[0],
              "registry: a wrong toc.digest annotation: one line says so", repr(said))


def main():
    global LAYERFS, BUILDDIR
    LAYERFS = sys.argv[1]
    BUILDDIR = sys.argv[2] if len(sys.argv) > 2 else None
    ok, why = refwriters.available(BUILDDIR)
    if not ok:
        print("skip: " + why)
        return 77
    registry.install_signal_handlers()
    t0 = time.monotonic()
    root = tempfile.mkdtemp(prefix="lfs-toc-")
    bed = Bed(root)
    try:
        layouts = local_checks(bed, stack())
        local_annotation_checks(bed, layouts)
        registry_checks(bed, layouts)
        difftest_toc.run(bed)
        difftest.MOUNTS.cleanup()
        bad = [n for n in sorted(os.listdir(root)) if n.endswith(".log")
               and (log_lines(bed.path(n), "Sanitizer") or log_lines(bed.path(n), "runtime error:"))]
        check(not bad, "no sanitizer report in layerfs's logs", " ".join(bad))
    finally:
        difftest.MOUNTS.cleanup()
        shutil.rmtree(root, ignore_errors=True)
    return summary(t0)


if __name__ == "__main__":
    sys.exit(main())
