#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench-toc-image.py - the ~1 GB images of the TOC registry rows of
scripts/bench (issue 15), made from the real test image
(scripts/build-test-image) by the REFERENCE writers (tests/refwriters).

  bench-toc-image.py build OUTDIR --real DIR --tools DIR
                     [--formats estargz,gzip,zstdchunked] [--extra-mb N]

Each format is an OCI layout OUTDIR/FORMAT holding the real image's seven
layers plus one layer of N MB (default 700) of random, incompressible
files under /srv/bulk (the same bytes every time: a seeded generator):

  estargz      every layer converted by refwriter-estargz (estargz.Build of
               the stargz-snapshotter: 4 MiB chunks, gzip level 9, no
               prioritized files, -procs 2), the layer descriptors carrying
               the writer's annotations (containerd.io/snapshot/stargz/
               toc.digest, io.containers.estargz.uncompressed-size)
  gzip         the real image's gzip layers byte for byte, the extra layer
               by pigz -6 -n: a plain gzip image (for a published index)
  zstdchunked  every layer converted by refwriter-zstdchunked
               (containers/storage's compressor; its manifest-position and
               manifest-checksum annotations on the descriptors)

The config is the real image's with the new diff_ids and one more history
entry.  A layout is rebuilt only when its stamp (VERSION below, the real
image's manifests, the writers' binaries, N) changed.  TOOLS holds
refwriter-estargz and refwriter-zstdchunked (tests/refwriters/build.sh
TOOLS builds them).  Prints one line per format: FORMAT LAYOUT.
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile

GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
ZS = "application/vnd.oci.image.layer.v1.tar+zstd"
FORMATS = ("estargz", "gzip", "zstdchunked")
# Bump when the images this script makes change (part of their stamp).
VERSION = 1


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return "sha256:" + h.hexdigest()


class Layout:
    """An OCI layout on disk: its top manifest, config and blob paths."""

    def __init__(self, path):
        self.path = path
        with open(os.path.join(path, "index.json")) as f:
            self.mdigest = json.load(f)["manifests"][0]["digest"]
        self.manifest = json.loads(self.read(self.mdigest))
        self.config = json.loads(self.read(self.manifest["config"]["digest"]))

    def blob(self, digest):
        return os.path.join(self.path, "blobs", *digest.split(":", 1))

    def read(self, digest):
        with open(self.blob(digest), "rb") as f:
            return f.read()


def read_text(path):
    """PATH's text, or None when it cannot be read."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def put_blob(out, src, move):
    """SRC into OUT's blobs (renamed if MOVE, else hard-linked or copied):
    (digest, size)."""
    d = sha256_file(src)
    dst = os.path.join(out, "blobs", *d.split(":", 1))
    if not os.path.exists(dst):
        if move:
            os.rename(src, dst)
        else:
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)
    elif move:
        os.unlink(src)
    return d, os.path.getsize(dst)


def put_json(out, obj):
    data = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    with open(os.path.join(out, "blobs", *d.split(":", 1)), "wb") as f:
        f.write(data)
    return d, len(data)


def write_layout(out, base, layers, extra_mb):
    """OUT: an OCI layout of LAYERS ((media type, blob path, move?, diff_id,
    annotations) each) with BASE's config, diff_ids replaced."""
    os.makedirs(os.path.join(out, "blobs", "sha256"))
    descs, diff_ids = [], []
    for mt, path, move, diff_id, ann in layers:
        d, n = put_blob(out, path, move)
        desc = {"mediaType": mt, "digest": d, "size": n}
        if ann:
            desc["annotations"] = ann
        descs.append(desc)
        diff_ids.append(diff_id)
    cfg = dict(base.config)
    cfg["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    cfg["history"] = list(cfg.get("history", [])) + [{
        "created": "2026-01-01T00:00:00Z",
        "created_by": "bench-toc-image.py: %d MB of random files in /srv/bulk" % extra_mb}]
    cd, cn = put_json(out, cfg)
    man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                      "digest": cd, "size": cn},
           "layers": descs}
    md, mn = put_json(out, man)
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
            "size": mn, "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}, f)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


def extra_tar(path, mb):
    """PATH: a tar of MB megabytes of random files (1 to 16 MiB each) in
    srv/bulk, the same bytes every time.  Returns its sha256 (the diff_id)."""
    rng = random.Random(15)
    left = mb * 1000 * 1000
    with tarfile.open(path + ".tmp", "w", format=tarfile.PAX_FORMAT) as t:
        for name in ("srv", "srv/bulk"):
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1767225600
            t.addfile(ti)
        i = 0
        while left > 0:
            n = min(left, rng.randint(1 << 20, 16 << 20))
            ti = tarfile.TarInfo("srv/bulk/f%03d.bin" % i)
            ti.size, ti.mode, ti.mtime = n, 0o644, 1767225600
            r = RandomReader(rng, n)
            t.addfile(ti, r)
            left -= n
            i += 1
    os.rename(path + ".tmp", path)
    return sha256_file(path)


class RandomReader:
    """A file object of N bytes from RNG."""

    def __init__(self, rng, n):
        self.rng, self.left = rng, n

    def read(self, size=-1):
        if size < 0 or size > self.left:
            size = self.left
        self.left -= size
        return self.rng.randbytes(size)


def refwrite(tool, args, src, dst):
    """Run a reference writer on SRC into DST: its JSON."""
    r = subprocess.run(["nice", tool] + args + [src, dst], stdout=subprocess.PIPE, check=True)
    return json.loads(r.stdout)


def converted(tools, fmt, inputs, work):
    """The layers of FMT (estargz, zstdchunked) from INPUTS (uncompressed
    tars): (media type, path, move, diff_id, annotations) each."""
    out = []
    for i, src in enumerate(inputs):
        dst = os.path.join(work, "%s-%d.blob" % (fmt, i))
        if fmt == "estargz":
            info = refwrite(os.path.join(tools, "refwriter-estargz"), ["-procs", "2"], src, dst)
            mt = GZ
        else:
            info = refwrite(os.path.join(tools, "refwriter-zstdchunked"), [], src, dst)
            mt = ZS
        print("  %s layer %d: %d -> %d bytes" % (fmt, i, os.path.getsize(src), info["blob_size"]),
              file=sys.stderr)
        out.append((mt, dst, True, info["diff_id"], info["annotations"]))
    return out


def plain_gzip(base, extra, extra_id, work):
    dst = os.path.join(work, "extra.tar.gz")
    with open(extra, "rb") as i, open(dst, "wb") as o:
        subprocess.run(["nice", "pigz", "-6", "-n", "-c"], stdin=i, stdout=o, check=True)
    layers = [(d["mediaType"], base.blob(d["digest"]), False, diff, None)
              for d, diff in zip(base.manifest["layers"], base.config["rootfs"]["diff_ids"])]
    return layers + [(GZ, dst, True, extra_id, None)]


def stamp_of(a, base, raw, fmt):
    """What FMT's layout is made from: VERSION, the real image, the writer."""
    h = hashlib.sha256(("%d %s %s %d" % (VERSION, base.mdigest, raw.mdigest,
                                         a.extra_mb)).encode())
    if fmt != "gzip":
        h.update(sha256_file(os.path.join(a.tools, "refwriter-" + fmt)).encode())
    return h.hexdigest()


def build(a):
    base = Layout(os.path.join(a.real, "oci"))
    raw = Layout(os.path.join(a.real, "oci-raw"))
    os.makedirs(a.outdir, exist_ok=True)
    extra = os.path.join(a.outdir, "extra-%d.tar" % a.extra_mb)
    extra_id = None
    for fmt in a.formats.split(","):
        if fmt not in FORMATS:
            sys.exit("bench-toc-image.py: unknown format %r (%s)" % (fmt, ", ".join(FORMATS)))
        stamp = stamp_of(a, base, raw, fmt)
        out = os.path.join(a.outdir, fmt)
        sfile = out + ".stamp"
        if os.path.isdir(out) and read_text(sfile) == stamp:
            print(fmt, out)
            continue
        print("bench-toc-image.py: building %s ..." % out, file=sys.stderr)
        shutil.rmtree(out, ignore_errors=True)
        if os.path.exists(sfile):
            os.unlink(sfile)
        if not os.path.exists(extra):
            print("  the extra layer: %d MB of random files" % a.extra_mb, file=sys.stderr)
            extra_tar(extra, a.extra_mb)
        if extra_id is None:
            extra_id = sha256_file(extra)
        work = out + ".work"
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        if fmt == "gzip":
            layers = plain_gzip(base, extra, extra_id, work)
        else:
            inputs = [raw.blob(d["digest"]) for d in raw.manifest["layers"]] + [extra]
            layers = converted(a.tools, fmt, inputs, work)
        write_layout(out, base, layers, a.extra_mb)
        shutil.rmtree(work)
        with open(sfile, "w") as f:
            f.write(stamp)
        print(fmt, out)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("build")
    p.add_argument("outdir")
    p.add_argument("--real", required=True)
    p.add_argument("--tools", required=True)
    p.add_argument("--formats", default="estargz,gzip,zstdchunked")
    p.add_argument("--extra-mb", type=int, default=700)
    p.set_defaults(fn=build)
    a = ap.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
