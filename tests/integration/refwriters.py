#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""refwriters.py - test data from the REFERENCE writers (issue 15).

eStargz blobs come from estargz.Build of the stargz-snapshotter, zstd:chunked
blobs from compressor.ZstdCompressor of containers/storage, both through the
small Go programs of tests/refwriters/ (built on first use by
tests/refwriters/build.sh with Debian's golang-go against Debian's -dev
packages; see tests/refwriters/README.md).  Stdlib only; zstd frames are
decompressed with the zstd CLI.

    import refwriters
    ok, why = refwriters.available()          # builds the tools if needed
    blob, info = refwriters.estargz(tar_bytes, chunk_size=65536,
                                    prioritized=["usr/bin/sh"])
    blob, info = refwriters.zstd_chunked(tar_bytes)

info is the JSON the program printed (digests, sizes, the layer
descriptor's "annotations").  The module also carries INDEPENDENT readers of
both formats (parse_estargz, parse_zstd_chunked, verify_*) that the
self-test uses and that later tests can use as an oracle:

    python3 refwriters.py --selftest [--builddir DIR]

exits 77 when the toolchain or the -dev packages are missing.

Where the tools go: $LFS_REFWRITERS_DIR if set, else
BUILDDIR/tests/refwriters/out with BUILDDIR the builddir argument, else
$top_builddir (set by make check and lib.sh), else the source tree.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
TOP_SRCDIR = os.path.dirname(os.path.dirname(HERE))
BUILD_SH = os.path.join(TOP_SRCDIR, "tests", "refwriters", "build.sh")
PACKAGES = ("golang-go golang-github-containerd-stargz-snapshotter-dev "
            "golang-github-containers-storage-dev")

# ---- format constants (see tests/refwriters/README.md) -------------------
TOC_DIGEST_ANNOTATION = "containerd.io/snapshot/stargz/toc.digest"
UNCOMPRESSED_SIZE_ANNOTATION = "io.containers.estargz.uncompressed-size"
ESTARGZ_TOC_NAME = "stargz.index.json"
PREFETCH_LANDMARK = ".prefetch.landmark"
NO_PREFETCH_LANDMARK = ".no.prefetch.landmark"
ESTARGZ_FOOTER_SIZE = 51
LEGACY_STARGZ_FOOTER_SIZE = 47
# containers/storage 1.43 (Debian 12) writes the io.containers.* names;
# later versions write io.github.containers.*: accept both when reading.
ZSTD_CHUNKED_KEYS = (
    ("io.github.containers.zstd-chunked.manifest-position",
     "io.github.containers.zstd-chunked.manifest-checksum"),
    ("io.containers.zstd-chunked.manifest-position",
     "io.containers.zstd-chunked.manifest-checksum"),
)
SKIPPABLE_MAGIC = b"\x50\x2a\x4d\x18"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZSTD_CHUNKED_MAGIC = b"GnUlInUx"   # 47 6e 55 6c 49 6e 55 78
ZSTD_CHUNKED_FOOTER_SIZE = 40      # the payload of the last skippable frame


class Unavailable(Exception):
    """The Go toolchain or the -dev packages are missing (a test skips)."""


class FormatError(Exception):
    """A blob does not follow its format."""


def sha256(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


# ---- building and running the tools ----------------------------------------

def tools_dir(builddir=None):
    d = os.environ.get("LFS_REFWRITERS_DIR")
    if d:
        return d
    top = builddir or os.environ.get("top_builddir") or TOP_SRCDIR
    return os.path.join(os.path.abspath(top), "tests", "refwriters", "out")


_built = {}


def build(builddir=None):
    """Build (or reuse) the tools; returns their directory.  Raises
    Unavailable when build.sh exits 77, RuntimeError on a failed build."""
    d = tools_dir(builddir)
    if d in _built:
        return _built[d]
    p = subprocess.run(["sh", BUILD_SH, d], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode == 77:
        raise Unavailable(p.stderr.strip() or "refwriters unavailable")
    if p.returncode != 0:
        raise RuntimeError("tests/refwriters/build.sh failed (%d):\n%s%s"
                           % (p.returncode, p.stdout, p.stderr))
    _built[d] = d
    return d


def available(builddir=None):
    """(True, "") when the reference writers can be built and run here,
    else (False, reason).  Builds them as a side effect."""
    try:
        build(builddir)
    except Unavailable as e:
        return False, str(e)
    if not shutil.which("zstd"):
        return False, "the zstd CLI is missing (apt-get install zstd)"
    return True, ""


def _run(prog, args, tar_bytes, builddir):
    d = build(builddir)
    with tempfile.TemporaryDirectory(prefix="lfs-refw.") as t:
        src = os.path.join(t, "layer.tar")
        dst = os.path.join(t, "layer.blob")
        with open(src, "wb") as f:
            f.write(tar_bytes)
        p = subprocess.run([os.path.join(d, prog)] + args + [src, dst],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=dict(os.environ, TMPDIR=t))
        if p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (prog, p.returncode,
                                                       p.stderr))
        with open(dst, "rb") as f:
            blob = f.read()
    return blob, json.loads(p.stdout)


def estargz(tar_bytes, chunk_size=None, prioritized=None, *, zstd=False,
            level=None, procs=None, allow_missing=False, builddir=None):
    """An eStargz blob of the layer tar_bytes by estargz.Build.

    chunk_size: estargz.WithChunkSize (default 4 MiB).  prioritized: a list
    of paths (estargz.WithPrioritizedFiles): they come first, then
    .prefetch.landmark; without it the blob starts with
    .no.prefetch.landmark.  zstd=True: the stargz-snapshotter's own
    zstd:chunked flavour (estargz/zstdchunked.Compressor: eStargz TOC,
    zstd frames, 40-byte zstd:chunked footer).  procs: GOMAXPROCS of the
    writer = how many sub-blobs Build makes (default: the machine's cores;
    pass it for a blob that is the same on every machine).
    Returns (blob, info) with info["toc_digest"], ["diff_id"],
    ["blob_digest"], ["blob_size"], ["uncompressed_size"],
    ["annotations"] (the layer descriptor's)."""
    args = []
    if chunk_size:
        args += ["-chunk-size", str(int(chunk_size))]
    if level is not None:
        args += ["-level", str(int(level))]
    if zstd:
        args += ["-zstdchunked"]
    if procs:
        args += ["-procs", str(int(procs))]
    if allow_missing:
        args += ["-allow-missing"]
    t = None
    try:
        if prioritized:
            fd, t = tempfile.mkstemp(prefix="lfs-refw-prio.")
            with os.fdopen(fd, "w") as f:
                f.write("".join(p + "\n" for p in prioritized))
            args += ["-prioritized-file", t]
        return _run("refwriter-estargz", args, tar_bytes, builddir)
    finally:
        if t:
            os.unlink(t)


def zstd_chunked(tar_bytes, level=None, *, builddir=None):
    """A zstd:chunked blob of the layer tar_bytes by containers/storage's
    compressor.ZstdCompressor.  Returns (blob, info) with
    info["annotations"] (manifest position and checksum), ["diff_id"],
    ["blob_digest"], ["blob_size"], ["uncompressed_size"]."""
    args = []
    if level is not None:
        args += ["-level", str(int(level))]
    return _run("refwriter-zstdchunked", args, tar_bytes, builddir)


# ---- independent readers ---------------------------------------------------

def zstd_decompress(data):
    """Decompress zstd frames (skippable frames are skipped) with the CLI."""
    p = subprocess.run(["zstd", "-q", "-d", "-c"], input=data,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise FormatError("zstd -d: " + p.stderr.decode(errors="replace"))
    return p.stdout


def gunzip_member(blob, off):
    """Decompress the one gzip member starting at blob[off]; returns
    (data, end offset)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = d.decompress(blob[off:])
    if not d.eof:
        raise FormatError("gzip member at %d is truncated" % off)
    return data, len(blob) - len(d.unused_data)


def parse_estargz_footer(blob):
    """The 51-byte eStargz footer: an empty gzip member whose FEXTRA field
    is subfield 'S','G' of 22 bytes "%016xSTARGZ" % toc_offset.  Returns
    toc_offset."""
    if len(blob) < ESTARGZ_FOOTER_SIZE:
        raise FormatError("blob shorter than the footer")
    ft = blob[-ESTARGZ_FOOTER_SIZE:]
    if ft[:4] != b"\x1f\x8b\x08\x04":
        raise FormatError("footer: not a gzip header with FEXTRA: %r" % ft[:4])
    xlen, = struct.unpack_from("<H", ft, 10)
    if xlen != 26 or ft[12:14] != b"SG":
        raise FormatError("footer: XLEN %d / subfield %r" % (xlen, ft[12:14]))
    slen, = struct.unpack_from("<H", ft, 14)
    sub = ft[16:16 + slen]
    if slen != 22 or sub[16:] != b"STARGZ":
        raise FormatError("footer: subfield %r" % sub)
    toc_off = int(sub[:16], 16)
    data, end = gunzip_member(blob, len(blob) - ESTARGZ_FOOTER_SIZE)
    if data or end != len(blob):
        raise FormatError("footer: gzip member not empty / not at the end")
    return toc_off


def parse_zstd_footer(blob):
    """The last 48 bytes of a zstd:chunked blob (both writers): a skippable
    frame (magic 50 2a 4d 18, LE32 size 40) holding LE64 manifest offset,
    LE64 compressed length, LE64 uncompressed length, LE64 type (1 = CRFS)
    and the magic "GnUlInUx".  Returns (offset, clen, ulen, type)."""
    n = 8 + ZSTD_CHUNKED_FOOTER_SIZE
    if len(blob) < n:
        raise FormatError("blob shorter than the zstd:chunked footer")
    ft = blob[-n:]
    if ft[:4] != SKIPPABLE_MAGIC or struct.unpack_from("<I", ft, 4)[0] != 40:
        raise FormatError("footer: not a 40-byte skippable frame: %r" % ft[:8])
    off, clen, ulen, typ = struct.unpack_from("<QQQQ", ft, 8)
    if ft[40:48] != ZSTD_CHUNKED_MAGIC:
        raise FormatError("footer: magic %r" % ft[40:48])
    return off, clen, ulen, typ


def _zstd_manifest_at(blob, off, clen):
    """The skippable frame ending at off+clen whose payload is the
    compressed manifest; returns the compressed bytes."""
    if blob[off - 8:off - 4] != SKIPPABLE_MAGIC:
        raise FormatError("no skippable frame before the manifest at %d" % off)
    if struct.unpack_from("<I", blob, off - 4)[0] != clen:
        raise FormatError("skippable frame size != manifest length")
    return blob[off:off + clen]


def parse_estargz(blob, zstd=False):
    """Read an eStargz blob independently.  Returns a dict: toc (the parsed
    JSON), toc_json (its bytes), toc_digest, toc_offset, tar (the whole
    decompressed stream, TOC entry included, as the DiffID covers)."""
    if zstd:
        off, clen, ulen, typ = parse_zstd_footer(blob)
        comp = _zstd_manifest_at(blob, off, clen)
        toc_json = zstd_decompress(comp)
        if len(toc_json) != ulen or typ != 1:
            raise FormatError("TOC length %d != %d or type %d"
                              % (len(toc_json), ulen, typ))
        toc_off = off - 8
        stream = zstd_decompress(blob)
    else:
        toc_off = parse_estargz_footer(blob)
        toc_tar, end = gunzip_member(blob, toc_off)
        if end != len(blob) - ESTARGZ_FOOTER_SIZE:
            raise FormatError("TOC member does not end at the footer")
        with tarfile.open(fileobj=io.BytesIO(toc_tar)) as tf:
            members = tf.getmembers()
            if [m.name for m in members] != [ESTARGZ_TOC_NAME]:
                raise FormatError("TOC tar holds %r" % [m.name for m in members])
            toc_json = tf.extractfile(members[0]).read()
        stream = gzip.decompress(blob)
    return {"toc": json.loads(toc_json), "toc_json": toc_json,
            "toc_digest": sha256(toc_json), "toc_offset": toc_off,
            "tar": stream}


def parse_zstd_chunked(blob, annotations):
    """Read a zstd:chunked blob independently, starting from the layer
    descriptor's annotations (manifest-position "off:clen:ulen:type",
    manifest-checksum = sha256 of the COMPRESSED manifest).  Returns a dict:
    manifest (parsed JSON), manifest_json, offset, tar (the decompressed
    stream)."""
    for pk, ck in ZSTD_CHUNKED_KEYS:
        if pk in annotations:
            break
    else:
        raise FormatError("no manifest-position annotation in %r" % annotations)
    off, clen, ulen, typ = (int(x) for x in annotations[pk].split(":"))
    comp = _zstd_manifest_at(blob, off, clen)
    if sha256(comp) != annotations[ck]:
        raise FormatError("manifest checksum mismatch")
    if parse_zstd_footer(blob) != (off, clen, ulen, typ):
        raise FormatError("footer %r != annotation %r"
                          % (parse_zstd_footer(blob), annotations[pk]))
    mj = zstd_decompress(comp)
    if len(mj) != ulen or typ != 1:
        raise FormatError("manifest length %d != %d or type %d"
                          % (len(mj), ulen, typ))
    return {"manifest": json.loads(mj), "manifest_json": mj, "offset": off,
            "tar": zstd_decompress(blob)}


def _decompress_range(blob, start, end, zstd):
    if zstd:
        return zstd_decompress(blob[start:end])
    return gzip.decompress(blob[start:end])


def _tar_contents(tar_bytes):
    """name -> (TarInfo, data or None), in order, from a tar stream."""
    out = {}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tf:
        for m in tf:
            data = tf.extractfile(m).read() if m.isreg() else None
            out[m.name] = (m, data)
    return out


def _check(cond, msg):
    if not cond:
        raise FormatError(msg)


def verify_estargz(blob, info, src_tar, prioritized=None, chunk_size=None,
                   zstd=False):
    """Check an eStargz blob against its source tar; raises FormatError.
    Returns the parse_estargz() dict."""
    _check(sha256(blob) == info["blob_digest"], "blob digest")
    _check(len(blob) == info["blob_size"], "blob size")
    p = parse_estargz(blob, zstd)
    _check(p["toc_digest"] == info["toc_digest"], "TOC digest %s != %s"
           % (p["toc_digest"], info["toc_digest"]))
    _check(info["annotations"][TOC_DIGEST_ANNOTATION] == info["toc_digest"],
           "toc.digest annotation")
    _check(sha256(p["tar"]) == info["diff_id"], "diff_id")
    _check(len(p["tar"]) == info["uncompressed_size"] ==
           int(info["annotations"][UNCOMPRESSED_SIZE_ANNOTATION]),
           "uncompressed size")
    src = _tar_contents(src_tar)
    got = _tar_contents(p["tar"])
    landmark = PREFETCH_LANDMARK if prioritized else NO_PREFETCH_LANDMARK
    extra = {landmark} | (set() if zstd else {ESTARGZ_TOC_NAME})
    _check(set(got) == set(src) | extra, "entries differ: %r"
           % (set(got) ^ (set(src) | extra)))
    _check(got[landmark][1] == b"\x0f", "landmark content")
    names = list(got)
    if prioritized:
        li = names.index(landmark)
        for f in prioritized:
            _check(names.index(f) < li, "%s not before the landmark" % f)
    else:
        _check(names[0] == landmark, "%s is not first" % landmark)
    for name, (m, data) in src.items():
        g, gdata = got[name]
        _check(g.type == m.type or (m.type == tarfile.AREGTYPE
                                     and g.type == tarfile.REGTYPE),
               "%s: type %r != %r" % (name, g.type, m.type))
        _check(gdata == data, "%s: content differs" % name)
        _check(g.linkname == m.linkname, "%s: link" % name)
        _check(g.mode & 0o7777 == m.mode & 0o7777, "%s: mode" % name)
        _check((g.uid, g.gid) == (m.uid, m.gid), "%s: owner" % name)
        _check(g.pax_headers.get("SCHILY.xattr.user.test") ==
               m.pax_headers.get("SCHILY.xattr.user.test"), "%s: xattr" % name)

    toc = p["toc"]
    _check(toc["version"] == 1, "TOC version")
    ents = toc["entries"]
    ttype = {"0": "reg", "5": "dir", "2": "symlink", "1": "hardlink",
             "3": "char", "4": "block", "6": "fifo"}
    # Offsets of the gzip/zstd streams: a chunk's bytes are the first bytes
    # of the stream at its "offset"; it ends before the next larger offset
    # (or the TOC).
    offs = sorted({e["offset"] for e in ents if e.get("offset")})
    offs.append(p["toc_offset"])
    nxt = {o: offs[i + 1] for i, o in enumerate(offs[:-1])}
    seen = {}
    cs = chunk_size or 4 << 20
    cur = None
    for e in ents:
        # TOC names are the tar headers' names: a directory keeps its "/".
        name = e["name"].rstrip("/")
        if e["type"] == "chunk":
            _check(cur is not None and cur["name"] == e["name"], "stray chunk")
        else:
            _check(name in got and name not in seen, "TOC entry %s" % name)
            seen[name] = e
            m = got[name][0]
            _check(e["type"] == ttype[m.type.decode() if m.type != b"\0"
                                      else "0"], "%s: TOC type" % name)
            _check(e.get("linkName", "") == m.linkname, "%s: linkName" % name)
            _check(e.get("mode", 0) & 0o7777 == m.mode & 0o7777, "%s: mode"
                   % name)
            cur = e if e["type"] == "reg" else None
            if e["type"] != "reg":
                continue
            data = got[name][1]
            _check(e.get("size", 0) == len(data), "%s: size" % name)
            _check(e["digest"] == sha256(data), "%s: digest" % name)
            if not data:
                _check("offset" not in e, "%s: empty file has an offset" % name)
                continue
        data = got[name][1]
        coff = e.get("chunkOffset", 0)
        csize = e.get("chunkSize", 0) or len(data) - coff
        _check(csize <= cs and (e.get("chunkSize", 0) == 0 or csize == cs),
               "%s: chunk size %d" % (name, csize))
        _check(e.get("chunkSize", 0) == 0 or coff + csize < len(data)
               or coff + csize == len(data), "%s: chunk past the end" % name)
        _check(coff == cur.setdefault("_next", 0), "%s: chunks not contiguous"
               % name)
        cur["_next"] = coff + csize
        o = e["offset"]
        out = _decompress_range(blob, o, nxt[o], zstd)
        chunk = out[:csize]
        _check(chunk == data[coff:coff + csize], "%s: chunk at %d differs"
               % (name, coff))
        _check(e["chunkDigest"] == sha256(chunk), "%s: chunkDigest at %d"
               % (name, coff))
    for name, (m, data) in got.items():
        if name == ESTARGZ_TOC_NAME:
            continue
        _check(name in seen, "%s missing from the TOC" % name)
        if data:
            _check(seen[name]["_next"] == len(data), "%s: chunks do not cover "
                   "the file" % name)
    return p


def verify_zstd_chunked(blob, info, src_tar):
    """Check a containers/storage zstd:chunked blob against its source
    tar; raises FormatError.  Returns the parse_zstd_chunked() dict."""
    _check(sha256(blob) == info["blob_digest"], "blob digest")
    _check(blob[:4] == ZSTD_MAGIC, "blob does not start with a zstd frame")
    p = parse_zstd_chunked(blob, info["annotations"])
    _check(sha256(p["tar"]) == info["diff_id"], "diff_id")
    _check(len(p["tar"]) == info["uncompressed_size"], "uncompressed size")
    # The decompressed stream is the input up to its end-of-archive blocks.
    _check(src_tar.startswith(p["tar"]) and not src_tar[len(p["tar"]):]
           .strip(b"\0"), "decompressed stream is not the input tar")
    src = _tar_contents(src_tar)
    got = _tar_contents(p["tar"])
    _check(list(got) == list(src), "entries differ")
    man = p["manifest"]
    _check(man["version"] == 1, "manifest version")
    ents = man["entries"]
    # Manifest names are the tar headers' names: a directory keeps its "/".
    names = [e["name"].rstrip("/") for e in ents if e["type"] != "chunk"]
    _check(names == list(src), "manifest entries != tar entries")
    ttype = {b"0": "reg", b"5": "dir", b"2": "symlink", b"1": "hardlink",
             b"3": "char", b"4": "block", b"6": "fifo"}
    i = 0
    while i < len(ents):
        e = ents[i]
        name = e["name"].rstrip("/")
        m, data = src[name]
        _check(e["type"] == ttype[m.type], "%s: type" % name)
        _check(e.get("linkName", "") == m.linkname, "%s: linkName" % name)
        _check(e.get("mode", 0) & 0o7777 == m.mode & 0o7777, "%s: mode" % name)
        _check(e.get("size", 0) == m.size, "%s: size" % name)
        chunks = [e]
        i += 1
        while i < len(ents) and ents[i]["type"] == "chunk":
            _check(ents[i]["name"] == e["name"], "stray chunk")
            chunks.append(ents[i])
            i += 1
        if e["type"] != "reg":
            _check(len(chunks) == 1, "%s: chunks of a non-file" % name)
            continue
        if not data:
            _check(not e.get("offset") and not e.get("digest"),
                   "%s: empty file has data" % name)
            continue
        _check(e["digest"] == sha256(data), "%s: digest" % name)
        end = e["endOffset"]
        if len(chunks) == 1:
            _check(_decompress_range(blob, e["offset"], end, True) == data,
                   "%s: frames [offset, endOffset) != content" % name)
            continue
        pos = 0
        for k, c in enumerate(chunks):
            cend = chunks[k + 1]["offset"] if k + 1 < len(chunks) else end
            _check(c.get("chunkOffset", 0) == pos, "%s: chunkOffset" % name)
            out = _decompress_range(blob, c["offset"], cend, True)
            _check(len(out) == c["chunkSize"], "%s: chunk %d size" % (name, k))
            _check(out == data[pos:pos + len(out)], "%s: chunk %d" % (name, k))
            _check(c["chunkDigest"] == sha256(out), "%s: chunkDigest %d"
                   % (name, k))
            if c.get("chunkType") == "zeros":
                _check(not out.strip(b"\0"), "%s: zeros chunk" % name)
            pos += len(out)
        _check(pos == len(data), "%s: chunks do not cover the file" % name)
    return p


# ---- self-test -------------------------------------------------------------

def make_layer():
    """A layer tar exercising what the writers must carry.  Returns
    (tar_bytes, names of regular files with data)."""
    import random
    rnd = random.Random(15)
    buf = io.BytesIO()
    mt = 1700000000
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        def add(name, typ=tarfile.REGTYPE, data=b"", mode=0o644, **kw):
            ti = tarfile.TarInfo(name)
            ti.type = typ
            ti.mode = mode
            ti.mtime = mt
            ti.uid, ti.gid = kw.pop("owner", (0, 0))
            for k, v in kw.items():
                setattr(ti, k, v)
            if typ in (tarfile.REGTYPE,):
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            else:
                tf.addfile(ti)

        add("etc", tarfile.DIRTYPE, mode=0o755)
        add("etc/empty")
        add("etc/small", data=b"hello, layerfs\n", owner=(1000, 1000),
            uname="user", gname="user")
        add("etc/xattr", data=b"x" * 100, pax_headers={
            "SCHILY.xattr.user.test": "value"})
        add("usr", tarfile.DIRTYPE, mode=0o755)
        add("usr/bin", tarfile.DIRTYPE, mode=0o755)
        text = b"".join(b"line %d of a text file\n" % i for i in range(20000))
        add("usr/bin/text", data=text, mode=0o755)
        rand = rnd.randbytes(300000)
        add("usr/bin/rand", data=rand, mode=0o755)
        # > 4 MiB: several chunks at the default 4 MiB chunk size; a run of
        # zeros in the middle gives zstd:chunked a "zeros" chunk.
        big = rand * 10 + b"\0" * 200000 + text * 2 + bytes(range(256)) * 4096
        while len(big) < (5 << 20) + 12345:
            big += rnd.randbytes(100000)
        big = big[:(5 << 20) + 12345]
        add("usr/bin/big", data=big, mode=0o755)
        add("usr/bin/sh", tarfile.SYMTYPE, linkname="big")
        add("usr/bin/big-link", tarfile.LNKTYPE, linkname="usr/bin/big")
        add("usr/bin/abs", tarfile.SYMTYPE, linkname="/etc/small")
        add("var", tarfile.DIRTYPE, mode=0o755)
        add("var/.wh.x")                         # whiteout
        add("var/opaque", tarfile.DIRTYPE, mode=0o755)
        add("var/opaque/.wh..wh..opq")            # opaque directory
        add("var/fifo", tarfile.FIFOTYPE)
        add("var/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3)
        long = "var/" + "d" * 120 + "/" + "é" * 30
        add(long.rsplit("/", 1)[0], tarfile.DIRTYPE, mode=0o755)
        add(long, data=b"long name\n")
        add("var/exact", data=bytes(range(256)) * 256)   # exactly 64 KiB
    return buf.getvalue()


def _gnu_tar_names(args, data):
    p = subprocess.run(["tar"] + args, input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise FormatError("tar %s: %s" % (" ".join(args), p.stderr.decode()))
    return {n.rstrip("/") for n in p.stdout.decode().splitlines()}


def selftest(builddir=None):
    ok, why = available(builddir)
    if not ok:
        print("SKIP: " + why, file=sys.stderr)
        return 77
    src = make_layer()
    src_names = {m.name for m in tarfile.open(fileobj=io.BytesIO(src))}
    has_gnu_tar = shutil.which("tar") is not None
    passed = failed = 0

    def case(label, fn):
        nonlocal passed, failed
        try:
            fn()
        except Exception as e:   # noqa: BLE001 - reported, counted
            failed += 1
            print("FAIL: %s: %s: %s" % (label, type(e).__name__, e))
        else:
            passed += 1
            print("ok: " + label)

    def flip(b, i):
        return b[:i] + bytes([b[i] ^ 0x55]) + b[i + 1:]

    def must_fail(fn, what):
        try:
            fn()
        except Exception:   # noqa: BLE001 - any error is the expected one
            return
        raise FormatError("the verifier accepted " + what)

    def esgz(label, zstd=False, nbig=None, **kw):
        def run():
            blob, info = estargz(src, zstd=zstd, builddir=builddir, **kw)
            p = verify_estargz(blob, info, src,
                               prioritized=kw.get("prioritized"),
                               chunk_size=kw.get("chunk_size"), zstd=zstd)
            n = sum(e["name"] == "usr/bin/big" for e in p["toc"]["entries"])
            _check(n == nbig, "usr/bin/big has %d TOC entries, not %d"
                   % (n, nbig))
            bad = flip(blob, len(blob) // 3)
            must_fail(lambda: verify_estargz(
                bad, dict(info, blob_digest=sha256(bad)), src,
                kw.get("prioritized"), kw.get("chunk_size"), zstd),
                "a flipped byte in the payload")
            must_fail(lambda: verify_estargz(
                blob, dict(info, toc_digest="sha256:" + "0" * 64), src,
                kw.get("prioritized"), kw.get("chunk_size"), zstd),
                "a wrong TOC digest")
            if has_gnu_tar:   # GNU tar reads the blob as a plain tar.gz/zst
                names = _gnu_tar_names(["--zstd" if zstd else "-z", "-tf",
                                        "-"], blob)
                lm = PREFETCH_LANDMARK if kw.get("prioritized") \
                    else NO_PREFETCH_LANDMARK
                want = {n.rstrip("/") for n in src_names} | {lm}
                if not zstd:
                    want.add(ESTARGZ_TOC_NAME)
                _check(names == want, "GNU tar lists %r" % (names ^ want))
        case(label, run)

    big = 5 << 20 | 12345    # usr/bin/big's size
    esgz("estargz default (4 MiB chunks, .no.prefetch.landmark)", nbig=2)
    esgz("estargz 64 KiB chunks, one writer", chunk_size=65536, procs=1,
         nbig=-(-big // 65536))
    esgz("estargz 100000-byte chunks, 2 sub-blobs, prioritized",
         chunk_size=100000, procs=2, nbig=-(-big // 100000),
         prioritized=["usr/bin/sh", "etc/small", "usr/bin/big-link"])
    esgz("estargz-zstdchunked (stargz-snapshotter's zstd:chunked)",
         zstd=True, chunk_size=65536, nbig=-(-big // 65536))

    def zc():
        blob, info = zstd_chunked(src, builddir=builddir)
        p = verify_zstd_chunked(blob, info, src)
        ents = p["manifest"]["entries"]
        kinds = {e.get("chunkType", "") for e in ents}
        _check("zeros" in kinds, "no zeros chunk for usr/bin/big's hole")
        n = sum(e["name"] == "usr/bin/big" for e in ents)
        _check(n > 10, "usr/bin/big has only %d chunks" % n)
        off = p["offset"]
        for at, what in ((off + 10, "the manifest"),
                         (len(blob) // 3, "the payload"),
                         (len(blob) - 3, "the footer magic"),
                         (len(blob) - 40, "the footer's offset")):
            bad = flip(blob, at)
            must_fail(lambda: verify_zstd_chunked(
                bad, dict(info, blob_digest=sha256(bad)), src),
                "a flipped byte in " + what)
        if has_gnu_tar:
            names = _gnu_tar_names(["--zstd", "-tf", "-"], blob)
            want = {n.rstrip("/") for n in src_names}
            _check(names == want, "GNU tar lists %r" % (names ^ want))
    case("zstd:chunked (containers/storage compressor)", zc)

    def det():
        a = estargz(src, chunk_size=65536, procs=2, builddir=builddir)
        b = estargz(src, chunk_size=65536, procs=2, builddir=builddir)
        _check(a[1]["blob_digest"] == b[1]["blob_digest"],
               "estargz output is not reproducible")
    case("estargz output reproducible at fixed -procs", det)

    print("refwriters: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--selftest", action="store_true")
    ap.add_argument("--builddir")
    ap.add_argument("--dump-layer", metavar="FILE",
                    help="write the self-test's layer tar to FILE")
    a = ap.parse_args(argv)
    if a.dump_layer:
        with open(a.dump_layer, "wb") as f:
            f.write(make_layer())
        return 0
    if a.selftest:
        return selftest(a.builddir)
    ok, why = available(a.builddir)
    print(tools_dir(a.builddir) if ok else "unavailable: " + why)
    return 0 if ok else 77


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
