#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench-images.py - the synthetic images of scripts/bench, and its
random-read probe.  Standard library only (plus pigz or gzip, and zstd, on
PATH).

  bench-images.py build [--only NAME] DIR
      Build into DIR (idempotent: an image whose DIR/NAME/stamp matches is
      kept) the images, each as three OCI layout directories holding the
      same layers, ref name "latest":
        DIR/NAME/oci        gzip layers
        DIR/NAME/oci-zstd   zstd layers (one frame per layer, as skopeo writes)
        DIR/NAME/oci-raw    uncompressed layers
      NAME is one of
        nm     node_modules-like: >= 200,000 small files (JS-like text,
               0.1-40 KB) in 4 layers; layer 3 deletes whole packages and
               single files (OCI whiteouts) and replaces package dirs
               (opaque markers); layer 4 adds a few more.
        big    one layer holding a 2 GiB file /srv/big/blob.bin (repeated
               64 MiB pool of ~2x-compressible data; gzip -1 via pigz,
               zstd -1 -T2) and a few small files.
        tiny   one layer, one small file (the daemon's baseline memory).
      Writes DIR/NAME/INFO: layers, sizes, entries.

  bench-images.py randread [--count N] [--seed S] [--size B] FILE...
      N (default 500) preads of B (default 4096) bytes at random offsets
      (aligned to B) of FILE; prints "p50_ms p99_ms max_ms mean_ms".
      With several FILEs each read picks one, with a probability
      proportional to its size (one FILE: the offsets are as before).

  bench-images.py names MNT
      Walk MNT (no symlinks followed): prints "ENTRIES NAME_BYTES" (entries
      below MNT, the root not counted; the bytes of their base names).
"""

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
try:
    from mkimage import MEDIA_CONFIG, MEDIA_INDEX, MEDIA_LAYER, MEDIA_MANIFEST
except ImportError:  # keep working when run from a copy of the script alone
    MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
    MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
    MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
    MEDIA_LAYER = {"none": "application/vnd.oci.image.layer.v1.tar",
                   "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
                   "zstd": "application/vnd.oci.image.layer.v1.tar+zstd"}

# Bump when an image's content or packaging changes: stale images are rebuilt.
VERSION = {"nm": 1, "big": 2, "tiny": 1}
BASE_NS = 1700000000 * 10**9
BIG_SIZE = 2 << 30
BIG_PATH = "srv/big/blob.bin"


def log(msg):
    print("bench-images: " + msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------ tar writing

class LayerWriter:
    """Streams one uncompressed PAX tar layer to a file."""

    def __init__(self, path):
        self.path = path
        self.f = open(path, "wb")
        self.tf = tarfile.open(fileobj=self.f, mode="w", format=tarfile.PAX_FORMAT)
        self.entries = 0
        self.whiteouts = 0
        self.opaques = 0

    def _ti(self, name, kind, mode, uid, gid, mtime_ns):
        ti = tarfile.TarInfo(name)
        ti.type = kind
        ti.mode = mode
        ti.uid, ti.gid = uid, gid
        ti.mtime = mtime_ns // 10**9
        # Nanosecond times, as buildah writes them (a pax record per entry).
        ti.pax_headers = {"mtime": "%d.%09d" % divmod(mtime_ns, 10**9)}
        self.entries += 1
        return ti

    def dir(self, name, mode=0o755, uid=0, gid=0, mtime=BASE_NS):
        self.tf.addfile(self._ti(name, tarfile.DIRTYPE, mode, uid, gid, mtime))

    def file(self, name, data, mode=0o644, uid=0, gid=0, mtime=BASE_NS):
        ti = self._ti(name, tarfile.REGTYPE, mode, uid, gid, mtime)
        ti.size = len(data)
        self.tf.addfile(ti, io.BytesIO(data))

    def stream_file(self, name, size, chunks, mode=0o644, mtime=BASE_NS):
        """A file of `size` bytes whose data comes from the iterator `chunks`."""
        ti = self._ti(name, tarfile.REGTYPE, mode, 0, 0, mtime)
        ti.size = size
        # The header by hand, the data streamed after it (tarfile.addfile
        # wants a file object holding all of it).
        buf = ti.tobuf(tarfile.PAX_FORMAT, self.tf.encoding, self.tf.errors)
        self.f.write(buf)
        self.tf.offset += len(buf)
        left = size
        for c in chunks:
            c = c[:left]
            self.f.write(c)
            left -= len(c)
            if not left:
                break
        assert left == 0
        pad = (-size) % tarfile.BLOCKSIZE
        self.f.write(b"\0" * pad)
        self.tf.offset += size + pad

    def symlink(self, name, target):
        ti = self._ti(name, tarfile.SYMTYPE, 0o777, 0, 0, BASE_NS)
        ti.linkname = target
        self.tf.addfile(ti)

    def hardlink(self, name, target):
        ti = self._ti(name, tarfile.LNKTYPE, 0o644, 0, 0, BASE_NS)
        ti.linkname = target
        self.tf.addfile(ti)

    def whiteout(self, path):
        head, _, last = path.rpartition("/")
        self.whiteouts += 1
        self.file((head + "/" if head else "") + ".wh." + last, b"", mode=0o600)

    def opaque(self, d):
        self.opaques += 1
        self.file(d.rstrip("/") + "/.wh..wh..opq", b"", mode=0o600)

    def close(self):
        self.tf.close()
        self.f.close()


# ------------------------------------------------------------ packaging

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def compress_file(raw, kind, level):
    """Compress RAW into RAW.gz / RAW.zst with the CLI tools (2 threads)."""
    if kind == "gzip":
        out = raw + ".gz"
        tool = ["pigz", "-p", "2"] if shutil.which("pigz") else ["gzip"]
        cmd = tool + ["-%d" % level, "-n", "-c", raw]
    else:
        out = raw + ".zst"
        cmd = ["zstd", "-q", "-T2", "-%d" % level, "-c", raw]
    with open(out, "wb") as f:
        subprocess.run(cmd, stdout=f, check=True)
    return out


def write_oci(outdir, blobs, diff_ids, comp):
    """An OCI layout dir from layer blob files (moved in) lowest first."""
    if os.path.exists(outdir):
        shutil.rmtree(outdir)
    bdir = os.path.join(outdir, "blobs", "sha256")
    os.makedirs(bdir)

    def put(data):
        h = hashlib.sha256(data).hexdigest()
        with open(os.path.join(bdir, h), "wb") as f:
            f.write(data)
        return h, len(data)

    descs = []
    for b in blobs:
        h = sha256_file(b)
        size = os.path.getsize(b)
        os.replace(b, os.path.join(bdir, h))
        descs.append({"mediaType": MEDIA_LAYER[comp], "digest": "sha256:" + h, "size": size})
    created = "2023-11-14T22:13:20Z"
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": created,
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + d for d in diff_ids]},
        "history": [{"created": created, "created_by": "bench-images layer %d" % i}
                    for i in range(len(diff_ids))]}, sort_keys=True).encode()
    ch, cs = put(config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
                           "config": {"mediaType": MEDIA_CONFIG, "digest": "sha256:" + ch,
                                      "size": cs},
                           "layers": descs}, sort_keys=True).encode()
    mh, ms = put(manifest)
    index = {"schemaVersion": 2, "mediaType": MEDIA_INDEX,
             "manifests": [{"mediaType": MEDIA_MANIFEST, "digest": "sha256:" + mh, "size": ms,
                            "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}
    with open(os.path.join(outdir, "index.json"), "w") as f:
        json.dump(index, f, sort_keys=True)
    with open(os.path.join(outdir, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


def package(imgdir, writers, gzip_level, zstd_level):
    """Raw layer tars -> the three OCI layouts, and INFO."""
    raws = [w.path for w in writers]
    diff_ids, gz, zs, rows = [], [], [], []
    for w, raw in zip(writers, raws):
        t0 = time.time()
        diff_ids.append(sha256_file(raw))
        gz.append(compress_file(raw, "gzip", gzip_level))
        zs.append(compress_file(raw, "zstd", zstd_level))
        rows.append((os.path.getsize(raw), os.path.getsize(gz[-1]), os.path.getsize(zs[-1]),
                     w.entries, w.whiteouts, w.opaques))
        log("%s: layer %s packed in %.1fs" % (os.path.basename(imgdir),
                                              os.path.basename(raw), time.time() - t0))
    write_oci(os.path.join(imgdir, "oci"), gz, diff_ids, "gzip")
    write_oci(os.path.join(imgdir, "oci-zstd"), zs, diff_ids, "zstd")
    write_oci(os.path.join(imgdir, "oci-raw"), raws, diff_ids, "none")
    with open(os.path.join(imgdir, "INFO"), "w") as f:
        f.write("layer      raw MB   gzip MB   zstd MB   entries  wh  opq\n")
        for i, r in enumerate(rows):
            f.write("%-6d %10.1f %9.1f %9.1f %9d %4d %4d\n"
                    % (i, r[0] / 1e6, r[1] / 1e6, r[2] / 1e6, r[3], r[4], r[5]))
        tot = [sum(r[k] for r in rows) for k in range(6)]
        f.write("total  %10.1f %9.1f %9.1f %9d %4d %4d\n"
                % (tot[0] / 1e6, tot[1] / 1e6, tot[2] / 1e6, tot[3], tot[4], tot[5]))


# ------------------------------------------------------------ content

WORDS = ("function return const let var this module exports require if else for "
         "while new null undefined true false typeof instanceof prototype object "
         "string number length push call apply bind value key options callback "
         "error result data buffer index node parent child props state default "
         "async await promise resolve reject then catch throw class extends super "
         "import from export get set has map filter reduce forEach Object Array "
         "JSON parse stringify console log warn assert equal path join resolve fs "
         "readFile writeFile stream emit listener event handler config utils lib").split()
PUNCT = ["(", ")", "{", "}", ";", ",", ".", " = ", " === ", " && ", " || ", "=>", "[", "]", ": "]


def text_pool(rng, size):
    """JS-looking text: compresses about 4-5x with gzip -6, as real JS does."""
    out = []
    n = 0
    indent = 0
    while n < size:
        k = rng.randint(3, 14)
        parts = []
        for _ in range(k):
            parts.append(rng.choice(WORDS))
            if rng.random() < 0.5:
                parts.append(rng.choice(PUNCT))
            if rng.random() < 0.1:
                parts.append(str(rng.randint(0, 99999)))
        indent = max(0, min(6, indent + rng.choice((-1, 0, 0, 1))))
        line = "  " * indent + " ".join(parts) + "\n"
        out.append(line)
        n += len(line)
    return "".join(out).encode()


def nm_sizes(rng):
    """A node_modules-like file size: median ~700 B, a tail to 40 KB."""
    s = int(rng.lognormvariate(6.6, 1.1))
    return max(20, min(s, 40000))


def build_nm(imgdir):
    rng = random.Random(200000)
    pool = text_pool(rng, 8 << 20)
    tmp = os.path.join(imgdir, "tmp")
    os.makedirs(tmp, exist_ok=True)

    def blob(n):
        o = rng.randrange(0, len(pool) - n)
        return pool[o:o + n]

    subdirs = ["lib", "dist", "src", "lib/internal", "dist/esm", "dist/cjs", "test", "types"]
    files = ["index.js", "util.js", "parse.js", "core.js", "helpers.js", "constants.js",
             "index.d.ts", "index.mjs", "browser.js", "stream.js", "errors.js", "compat.js"]

    def package_files(name):
        """(path, data) of one package: 3..40 files in up to 3 levels."""
        n = min(40, max(3, int(rng.lognormvariate(2.0, 0.6))))
        out = [("package.json", b'{"name": "%s", "version": "1.%d.%d", "main": "index.js"}\n'
                % (name.encode(), rng.randint(0, 20), rng.randint(0, 9))),
               ("README.md", blob(nm_sizes(rng))), ("LICENSE", pool[:1070])]
        used = set()
        while len(out) < n:
            d = rng.choice(subdirs) if rng.random() < 0.75 else ""
            f = rng.choice(files) if rng.random() < 0.6 else "m%d.js" % rng.randint(0, 999)
            p = d + "/" + f if d else f
            if p in used:
                continue
            used.add(p)
            out.append((p, blob(nm_sizes(rng))))
        return out

    def write_package(w, root, name, mtime):
        w.dir(root, mtime=mtime)
        made = set()
        nfiles = 0
        for p, data in package_files(name):
            parts = p.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in made:
                    made.add(d)
                    w.dir(root + "/" + d, mtime=mtime)
            w.file(root + "/" + p, data, mode=0o755 if p.endswith("cli.js") else 0o644,
                   uid=1000, gid=1000, mtime=mtime + rng.randrange(10**9))
            nfiles += 1
        return nfiles

    def pkg_name(i):
        return ("@scope%d/pkg-%05d" % (i % 50, i)) if i % 7 == 0 else "pkg-%05d" % i

    writers = []
    top = "app/node_modules"
    # layers 0 and 1: the packages, split in two installs
    counts = [0, 0]
    pkgs = [[], []]
    i = 0
    for k, target in enumerate((112000, 100000)):
        w = LayerWriter(os.path.join(tmp, "layer%d" % k))
        if k == 0:
            for d in ("app", top, "usr", "usr/bin", "etc"):
                w.dir(d)
            w.file("etc/hostname", b"bench\n")
            w.file("app/package.json", b'{"name": "app", "private": true}\n')
            for s in range(50):
                w.dir("%s/@scope%d" % (top, s))
        mtime = BASE_NS + k * 86400 * 10**9
        while counts[k] < target:
            name = pkg_name(i)
            counts[k] += write_package(w, top + "/" + name, name, mtime)
            pkgs[k].append(name)
            if i % 97 == 0:
                w.symlink("usr/bin/%s-cli" % name.replace("/", "-"),
                          "../../%s/%s/index.js" % (top, name))
            i += 1
        w.close()
        writers.append(w)
        log("nm: layer %d: %d files, %d packages" % (k, counts[k], len(pkgs[k])))
    # layer 2: npm dedupe / prune: whiteouts of whole packages and of single
    # files, replaced packages (opaque), rewritten files (copy-up)
    w = LayerWriter(os.path.join(tmp, "layer2"))
    mtime = BASE_NS + 2 * 86400 * 10**9
    allp = pkgs[0] + pkgs[1]
    rng.shuffle(allp)
    gone, opq, touched = allp[:300], allp[300:400], allp[400:1400]
    dirs_done = set()

    def parents(path):
        parts = path.split("/")[:-1]
        for j in range(1, len(parts) + 1):
            d = "/".join(parts[:j])
            if d not in dirs_done:
                dirs_done.add(d)
                w.dir(d, mtime=mtime)

    for name in gone:
        parents(top + "/" + name)
        w.whiteout(top + "/" + name)
    for name in opq:
        parents(top + "/" + name + "/x")
        w.opaque(top + "/" + name)
        w.file(top + "/" + name + "/package.json", b'{"name": "%s", "version": "2.0.0"}\n'
               % name.encode(), mtime=mtime)
        w.file(top + "/" + name + "/index.js", blob(900), mtime=mtime)
    for name in touched:
        parents(top + "/" + name + "/x")
        w.file(top + "/" + name + "/package.json", b'{"name": "%s", "version": "1.0.1"}\n'
               % name.encode(), mtime=mtime)
        w.whiteout(top + "/" + name + "/README.md")
    w.close()
    writers.append(w)
    # layer 3: the app's own code and a few new packages
    w = LayerWriter(os.path.join(tmp, "layer3"))
    mtime = BASE_NS + 3 * 86400 * 10**9
    w.dir("app", mtime=mtime)
    w.dir("app/src", mtime=mtime)
    for j in range(3000):
        w.file("app/src/mod%04d.js" % j, blob(nm_sizes(rng)), mtime=mtime)
    w.dir(top, mtime=mtime)
    n3 = 0
    while n3 < 6000:
        name = pkg_name(i)
        n3 += write_package(w, top + "/" + name, name, mtime)
        i += 1
    w.hardlink("app/src/alias.js", "app/src/mod0000.js")
    w.close()
    writers.append(w)
    package(imgdir, writers, 6, 3)
    shutil.rmtree(tmp)


def build_big(imgdir):
    rng = random.Random(2 << 30)
    tmp = os.path.join(imgdir, "tmp")
    os.makedirs(tmp, exist_ok=True)
    # 64 MiB pool: random bytes mapped onto a skewed 16-symbol alphabet
    # (about 3.6 bits per byte: gzip -1 and zstd -1 get ~2x).  The file is
    # 1 MiB slices of it at random offsets: nothing repeats within a
    # compressor's window, so the ratio stays the pool's.
    weights = {b"e": 40, b" ": 36, b"t": 26, b"a": 20, b"o": 19, b"i": 17, b"n": 17,
               b"s": 15, b"r": 14, b"h": 12, b"l": 10, b"d": 9, b"c": 8, b"u": 6,
               b"\n": 4, b"m": 3}
    table = b"".join(c * n for c, n in weights.items())
    assert len(table) == 256
    pool = rng.randbytes(64 << 20).translate(table)
    chunk = 1 << 20

    def chunks():
        while True:
            o = rng.randrange(0, len(pool) - chunk)
            yield pool[o:o + chunk]

    w = LayerWriter(os.path.join(tmp, "layer0"))
    for d in ("etc", "srv", "srv/big"):
        w.dir(d)
    w.file("etc/hostname", b"big\n")
    w.file("srv/big/README", b"one 2 GiB file for the random-read benchmark\n")
    w.stream_file(BIG_PATH, BIG_SIZE, chunks())
    w.close()
    package(imgdir, [w], 1, 1)
    shutil.rmtree(tmp)


def build_tiny(imgdir):
    tmp = os.path.join(imgdir, "tmp")
    os.makedirs(tmp, exist_ok=True)
    w = LayerWriter(os.path.join(tmp, "layer0"))
    w.dir("etc")
    w.file("etc/hostname", b"tiny\n")
    w.close()
    package(imgdir, [w], 6, 3)
    shutil.rmtree(tmp)


BUILDERS = {"nm": build_nm, "big": build_big, "tiny": build_tiny}


def build(outdir, only):
    names = [only] if only else list(BUILDERS)
    for name in names:
        imgdir = os.path.join(outdir, name)
        stamp = os.path.join(imgdir, "stamp")
        want = "bench-images %s v%d\n" % (name, VERSION[name])
        if os.path.exists(stamp) and open(stamp).read() == want and all(
                os.path.isdir(os.path.join(imgdir, v)) for v in ("oci", "oci-zstd", "oci-raw")):
            log("%s: up to date (%s)" % (name, imgdir))
            continue
        log("%s: building in %s ..." % (name, imgdir))
        t0 = time.time()
        if os.path.exists(imgdir):
            shutil.rmtree(imgdir)
        os.makedirs(imgdir)
        BUILDERS[name](imgdir)
        with open(stamp, "w") as f:
            f.write(want)
        log("%s: built in %.0fs" % (name, time.time() - t0))


# ------------------------------------------------------------ probes

def randread(paths, count, seed, size):
    rng = random.Random(seed)
    files = []
    lat = []
    try:
        for p in paths:
            fd = os.open(p, os.O_RDONLY)
            files.append((fd, os.fstat(fd).st_size, p))
        total = sum(max(1, fsize // size) for _, fsize, _ in files)
        for _ in range(count):
            blk = rng.randrange(total)
            for fd, fsize, path in files:
                if blk < max(1, fsize // size):
                    break
                blk -= max(1, fsize // size)
            off = blk * size
            t0 = time.perf_counter()
            data = os.pread(fd, size, off)
            lat.append(time.perf_counter() - t0)
            if len(data) != min(size, fsize - off):
                raise SystemExit("randread: short read at %d of %s" % (off, path))
    finally:
        for fd, _, _ in files:
            os.close(fd)
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(round(p / 100.0 * (len(lat) - 1))))] * 1000

    print("%.3f %.3f %.3f %.3f" % (pct(50), pct(99), lat[-1] * 1000,
                                   sum(lat) / len(lat) * 1000))


def names(mnt):
    n = b = 0
    for root, dirs, files in os.walk(mnt):
        for x in dirs + files:
            n += 1
            b += len(os.fsencode(x))
    print(n, b)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("build")
    p.add_argument("--only", choices=sorted(BUILDERS))
    p.add_argument("dir")
    p = sub.add_parser("randread")
    p.add_argument("--count", type=int, default=500)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("file", nargs="+")
    p = sub.add_parser("names")
    p.add_argument("mnt")
    a = ap.parse_args()
    if a.cmd == "build":
        build(a.dir, a.only)
    elif a.cmd == "randread":
        randread(a.file, a.count, a.seed, a.size)
    else:
        names(a.mnt)


if __name__ == "__main__":
    main()
