#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""make-corpus.py - write the seed corpora of the fuzz targets.

    tests/fuzz/make-corpus.py [--cache-seed PROGRAM] [CORPUS_DIR]
                                    (default: tests/fuzz/corpus)

Writes CORPUS_DIR/<target>/seed-* (replacing earlier seed-* files, leaving
regress-* reproducers alone), deterministically, from the Python standard
library and the zstd CLI (for the zstd seeds, as tests/integration/mkimage.py
does).  Every seed is small: tar record padding is trimmed to the
end-of-archive marker and layers hold a handful of entries.

  layer/  one layer each: pax, GNU long names, ustar prefixes, v7, old GNU
          sparse, pax sparse 0.0/0.1/1.0, global headers, base-256 numbers,
          whiteouts (both forms), hard links, duplicates, deep paths, gzip
          (several members, header fields, checkpoints), zstd (several
          frames, skippable frames, one big frame), broken ones.
  json/   first byte picks the parser (see fuzz_json.c), then the document.
  image/  docker save (classic, buildah form, Docker >= 25), oci-archive
          (with platforms and decoys), a plain layer.
  merge/  2-4 layers joined by "LFSLAYER" (see fuzz_merge.c): every merge
          rule, plus random stacks over a small set of names.
  cache/  index cache payloads of some layer seeds, as the cache writes
          them, with the layer and its scratch data (see fuzz_cache.c);
          written by PROGRAM, tests/fuzz/cache_seed of a build tree
          (make tests/fuzz/cache_seed).  Without --cache-seed, cache/ is
          left alone.
"""

import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import mkimage  # noqa: E402
from mkimage import Entry  # noqa: E402

SEP = b"LFSLAYER"
MTIME = 1700000000 * 10**9 + 123456789
BLOCK = 512


# ------------------------------------------------------------ raw tar ---

def octal(n, width):
    """A numeric field: octal and NUL-terminated, or GNU base-256 when it does not fit."""
    if 0 <= n < 8 ** (width - 1):
        return b"%0*o\0" % (width - 1, n)
    b = bytearray((n % (1 << (8 * width))).to_bytes(width, "big"))
    b[0] |= 0x80
    return bytes(b)


def header(name, kind=b"0", size=0, link=b"", mode=0o644, uid=0, gid=0, mtime=1700000000,
           magic=b"ustar\x0000", prefix=b"", major=0, minor=0, tail=b""):
    """One 512-byte header block.  magic: b"ustar\\x0000" (POSIX),
    b"ustar  \\x00" (GNU), or b"" (v7).  TAIL fills bytes 345.. (GNU old
    sparse fields)."""
    h = bytearray(BLOCK)

    def put(off, data, width):
        data = data[:width]
        h[off:off + len(data)] = data

    put(0, name, 100)
    put(100, octal(mode, 8), 8)
    put(108, octal(uid, 8), 8)
    put(116, octal(gid, 8), 8)
    put(124, octal(size, 12), 12)
    put(136, octal(mtime, 12), 12)
    put(148, b" " * 8, 8)
    put(156, kind, 1)
    put(157, link, 100)
    if magic:
        put(257, magic, 8)
        put(265, b"root", 32)
        put(297, b"root", 32)
        put(329, octal(major, 8), 8)
        put(337, octal(minor, 8), 8)
        put(345, prefix, 155)
    if tail:
        put(345, tail, 167)
    put(148, b"%06o\0 " % sum(h), 8)
    return bytes(h)


def pad(data):
    return data + b"\0" * (-len(data) % BLOCK)


def member(name, data=b"", kind=b"0", **kw):
    return header(name, kind, len(data), **kw) + pad(data)


def pax_records(pairs):
    """pax extended header records ("LEN KEY=VALUE\\n"); keys may repeat."""
    out = b""
    for k, v in pairs:
        body = b" " + k + b"=" + v + b"\n"
        n = len(body) + 1
        while len(str(n).encode()) + len(body) != n:
            n += 1
        out += str(n).encode() + body
    return out


def pax(name, pairs, kind=b"x"):
    return member(b"PaxHeaders/" + name[:80], pax_records(pairs), kind)


END = b"\0" * 1024


def trim(tar):
    """Drop the record padding after the end-of-archive marker."""
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        tf.getmembers()
        end = tf.offset
    return tar[:end] + END


def layer(entries, comp="none", **kw):
    tar = trim(mkimage.layer_tar(entries))
    return mkimage.Layer(tar, mkimage.compress(tar, comp, **kw), comp)


def tar_members(members, fmt=tarfile.PAX_FORMAT):
    """members: (name, bytes | None for a dir | ("symlink"|"hardlink", target))."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            if data is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            elif isinstance(data, tuple):
                ti.type = tarfile.SYMTYPE if data[0] == "symlink" else tarfile.LNKTYPE
                ti.linkname = data[1]
                tf.addfile(ti)
            else:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    return trim(buf.getvalue())


# ---------------------------------------------------------- layer seeds ---

def F(path, data=b"", **kw):
    kw.setdefault("mtime", MTIME)
    return Entry("file", path, data=data, **kw)


def D(path, **kw):
    kw.setdefault("mtime", MTIME)
    return Entry("dir", path, **kw)


def L(path, target, **kw):
    kw.setdefault("mtime", MTIME)
    return Entry("symlink", path, target=target, **kw)


def H(path, target):
    return Entry("hardlink", path, target=target, mtime=MTIME)


def W(path):
    return Entry("whiteout", path)


def O(path):
    return Entry("opaque", path)


def big_plain(n=300):
    """About 1.2 MiB that compresses to a few KiB: a restart point gets made."""
    return b"".join(b"%08d" % i + b"\0" * 4088 for i in range(n))


def layer_seeds():
    s = {}
    cap = mkimage.cap_v2(1 << 13)
    s["pax-mixed.tar"] = [
        D("./"), D("etc", mode=0o750, uid=1000, gid=100), F("etc/hosts", b"127.0.0.1 x\n"),
        F("etc/big-ids", b"ids", uid=4000000000, gid=3000000000),
        F("bin/ping", b"\x7fELF", mode=0o4755, xattrs={"security.capability": cap}),
        F("xattr-libarchive", b"x", xattrs={"user.a": b"1", "user.bin": b"\0\1\2"},
          xattr_form="libarchive"),
        L("etc/link", "hosts"), L("abs-link", "/etc/hosts"), H("etc/hosts2", "etc/hosts"),
        Entry("fifo", "run/fifo"), Entry("char", "dev/null", major=1, minor=3),
        Entry("block", "dev/sda", major=8, minor=0),
        F("old", b"o", mtime=-1500000000 * 10**9 - 5),
        F("n" * 90 + "/" + "m" * 150, b"long"),
        F(b"latin1-\xe9", b"binary name"), F("//dup//slashes/./x", b"s"),
        F("/absolute", b"a"), F("a/../../escape", b"never"),
        F("sticky", b"", mode=0o1777), F("empty", b""),
    ]
    s["whiteouts.tar"] = [
        D("d"), W("d/gone"), O("d"), W("file"), W("dir/sub"),
        Entry("ovl_whiteout", "ovl-gone"), Entry("char", "ovl-gone2", major=0, minor=0),
        D("ovl-opaque", xattrs={"trusted.overlay.opaque": b"y"}),
        D("ovl-opaque-user", xattrs={"user.overlay.opaque": b"y", "user.overlay.x": b"z"}),
        D("ovl-not-opaque", xattrs={"trusted.overlay.opaque": b"n"}),
        F(".wh..wh..opq", b""), W("x/.."), F("d/.wh.", b""), O(""),
    ]
    s["hardlinks.tar"] = [
        F("a", b"shared data"), H("b", "a"), H("c", "./b"), H("d/e", "/a"),
        F("a", b"replaced"), H("f", "a"), H("c", "f"),
    ]
    s["hardlink-bad.tar"] = [F("a", b"x"), H("self", "self"), H("b", "missing"), H("c", "../a")]
    s["dups.tar"] = [
        F("p", b"first"), F("p", b"second wins"), D("q"), F("q/child", b"c"), F("q", b"file"),
        F("r", b"file"), D("r"), F("r/child", b"c"), D("r", mode=0o700), D("s/t/u"),
        F("s/t", b"file over dir"), L("s", "elsewhere"),
    ]
    s["deep.tar"] = [F("/".join(["d%d" % i for i in range(400)]) + "/leaf", b"deep"),
                     W("/".join(["d%d" % i for i in range(200)]))]
    for name, entries in s.items():
        s[name] = layer(entries).tar
    mixed = s["pax-mixed.tar"]

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for i, n in enumerate(["l" * 300 + "/f", "short", "x/" + "y" * 200]):
            ti = tarfile.TarInfo(n)
            ti.size, ti.mtime, ti.uid = 3, 1700000000, 10**10 if i == 0 else 0
            tf.addfile(ti, io.BytesIO(b"abc"))
        ti = tarfile.TarInfo("lnk")
        ti.type, ti.linkname = tarfile.SYMTYPE, "t" * 400
        tf.addfile(ti)
        ti = tarfile.TarInfo("hl-" + "h" * 200)
        ti.type, ti.linkname = tarfile.LNKTYPE, "short"
        tf.addfile(ti)
    s["gnu-longnames.tar"] = trim(buf.getvalue())

    s["ustar-prefix.tar"] = (member(b"name", b"data", prefix=b"p" * 150)
                             + member(b"dir/", kind=b"5", mode=0o755)
                             + member(b"dir/file", b"x" * 700) + END)
    s["v7.tar"] = (member(b"v7file", b"hello", magic=b"")
                   + member(b"v7dir/", kind=b"5", magic=b"", mode=0o755)
                   + member(b"v7dir/a", b"a", magic=b"", kind=b"\0") + END)

    # Old GNU sparse: 6 extents, 4 in the header and 2 in an extension block.
    exts = [(0, 512), (4096, 512), (10000, 1024), (20480, 512), (40960, 512), (65536, 512)]
    stored = b"".join(bytes([65 + i]) * n for i, (_, n) in enumerate(exts))
    sp = b"".join(octal(o, 12) + octal(n, 12) for o, n in exts[:4])
    tail = (b"\0" * 12 * 3 + b"\0" * 4 + b"\0" + sp + b"\x01" + octal(70000, 12))
    ext = b"".join(octal(o, 12) + octal(n, 12) for o, n in exts[4:])
    s["gnu-sparse-old.tar"] = (header(b"sparse-old", b"S", len(stored), magic=b"ustar  \0",
                                      tail=tail)
                               + pad(ext) + pad(stored)
                               + member(b"after", b"after the sparse file",
                                        magic=b"ustar  \0") + END)

    # pax sparse 1.0: the map heads the data.
    exts1 = [(1000, 100), (9000, 300), (30000, 0)]
    smap = pad(("%d\n" % len(exts1) + "".join("%d\n%d\n" % e for e in exts1)).encode())
    data1 = b"".join(bytes([97 + i]) * n for i, (_, n) in enumerate(exts1))
    s["pax-sparse-1.0.tar"] = (
        pax(b"s1", [(b"GNU.sparse.major", b"1"), (b"GNU.sparse.minor", b"0"),
                    (b"GNU.sparse.name", b"sparse-1.0"), (b"GNU.sparse.realsize", b"30000")])
        + member(b"GNUSparseFile.0/sparse-1.0", smap + data1) + member(b"z", b"tail") + END)
    # pax sparse 0.1: the map is a record.
    exts01 = [(0, 10), (5000, 20), (8192, 5)]
    data01 = b"".join(bytes([48 + i]) * n for i, (_, n) in enumerate(exts01))
    s["pax-sparse-0.1.tar"] = (
        pax(b"s01", [(b"GNU.sparse.size", b"8200"), (b"GNU.sparse.numblocks", b"3"),
                     (b"GNU.sparse.map", b",".join(b"%d,%d" % e for e in exts01)),
                     (b"GNU.sparse.name", b"sparse-0.1")])
        + member(b"GNUSparseFile.1/sparse-0.1", data01) + END)
    # pax sparse 0.0: repeated offset/numbytes records.
    recs = [(b"GNU.sparse.size", b"4000"), (b"GNU.sparse.numblocks", b"2")]
    for o, n in [(100, 50), (3000, 60)]:
        recs += [(b"GNU.sparse.offset", b"%d" % o), (b"GNU.sparse.numbytes", b"%d" % n)]
    s["pax-sparse-0.0.tar"] = (pax(b"s00", recs) + member(b"sparse-0.0", b"q" * 110) + END)

    # Global and per-entry pax records overriding the ustar fields.
    s["pax-global.tar"] = (
        pax(b"g", [(b"uid", b"123"), (b"comment", b"global")], kind=b"g")
        + pax(b"f", [(b"path", b"renamed/by/pax"), (b"size", b"5"), (b"mtime", b"-1.5"),
                     (b"uid", b"99999999999"), (b"SCHILY.xattr.user.k", b"v"),
                     (b"LIBARCHIVE.xattr.user%2Eq", b"dmFsdWU="), (b"hdrcharset", b"BINARY")])
        + header(b"short", b"0", 5) + pad(b"hello")
        + pax(b"l", [(b"linkpath", b"target/by/pax")]) + header(b"sl", b"2", 0)
        + END)
    s["base256.tar"] = (header(b"b256", b"0", 3, uid=1 << 40, gid=1 << 33, mtime=1 << 40)
                        + pad(b"xyz") + header(b"neg", b"0", 0, mtime=-5) + END)
    s["contiguous.tar"] = member(b"contig", b"type 7", kind=b"7") + END
    s["empty.tar"] = END
    s["truncated.tar"] = mixed[:len(mixed) - 1024 - 512]
    s["no-end-marker.tar"] = mixed[:len(mixed) - 1024]

    s["gzip.tar.gz"] = mkimage.compress(mixed, "gzip")
    s["gzip-members.tar.gz"] = b"".join(
        mkimage.gzip_member(p, 9, fname=b"layer.tar" if i == 0 else None,
                            comment=b"c" if i == 1 else None, extra=b"EX\2\0ab" if i == 2 else None)
        for i, p in enumerate(mkimage._split(s["whiteouts.tar"], 3)))
    big = layer([F("big", big_plain()), F("after-big", b"tail"),
                 F("big2", big_plain(40))]).tar
    s["gzip-big.tar.gz"] = mkimage.compress(big, "gzip", level=9)
    s["zstd.tar.zst"] = mkimage.compress(s["hardlinks.tar"], "zstd")
    s["zstd-frames.tar.zst"] = mkimage.compress(s["dups.tar"], "zstd", members=4,
                                                checksum=False, skippable_tail=True)
    s["zstd-big.tar.zst"] = mkimage.compress(big, "zstd", level=19)
    skip = (0x184D2A50).to_bytes(4, "little") + (4).to_bytes(4, "little") + b"skip"
    s["zstd-skippable-first.tar.zst"] = skip + mkimage.compress(s["v7.tar"], "zstd")
    s["gzip-bad-crc.tar.gz"] = s["gzip.tar.gz"][:-8] + b"\0\0\0\0" + s["gzip.tar.gz"][-4:]
    s["gzip-trailing.tar.gz"] = s["gzip.tar.gz"] + b"\0" * 16
    return s


# ----------------------------------------------------------- json seeds ---

def jdump(obj):
    return json.dumps(obj, sort_keys=True).encode()


def json_seeds():
    hx = hashlib.sha256(b"x").hexdigest()
    dg = "sha256:" + hx
    desc = {"mediaType": mkimage.MEDIA_MANIFEST, "digest": dg, "size": 123}
    s = {}
    s["0-layout"] = b"\0" + jdump({"imageLayoutVersion": "1.0.0"})
    s["0-layout-bad"] = b"\0" + b'{"imageLayoutVersion": 2, "x": [1, {"a": null}]}'
    s["1-index"] = b"\1" + jdump({
        "schemaVersion": 2, "mediaType": mkimage.MEDIA_INDEX,
        "manifests": [
            dict(desc, annotations={"org.opencontainers.image.ref.name": "latest",
                                    "io.containerd.image.name": "docker.io/library/a:latest"}),
            dict(desc, platform={"architecture": "arm64", "os": "linux", "variant": "v8",
                                 "os.features": ["x"], "os.version": "1"}),
            dict(desc, mediaType=mkimage.MEDIA_INDEX, urls=["http://x"])],
        "annotations": {"k": "v"}})
    s["1-docker-list"] = b"\1" + jdump({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [dict(desc, mediaType="application/vnd.docker.distribution.manifest.v2+json",
                           platform={"architecture": "amd64", "os": "linux"})]})
    s["1-index-bad"] = b"\1" + b'{"schemaVersion":2,"manifests":[{"digest":"sha256:AB","size":-1}]}'
    s["1-index-dup-keys"] = b"\1" + b'{"schemaVersion":2,"schemaVersion":2,"manifests":[]}'
    layers = [{"mediaType": mkimage.MEDIA_LAYER[c], "digest": dg, "size": 5}
              for c in ("none", "gzip", "zstd")]
    s["2-manifest"] = b"\2" + jdump({
        "schemaVersion": 2, "mediaType": mkimage.MEDIA_MANIFEST,
        "config": {"mediaType": mkimage.MEDIA_CONFIG, "digest": dg, "size": 7},
        "layers": layers, "annotations": {"a": "b"}})
    s["2-docker-manifest"] = b"\2" + jdump({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": dg, "size": 7},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": "sha512:" + "a" * 128, "size": 9}]})
    s["2-manifest-v1"] = b"\2" + b'{"schemaVersion":1,"fsLayers":[]}'
    s["3-docker"] = b"\3" + jdump([
        {"Config": hx + ".json", "RepoTags": ["a:latest", "b:1"],
         "Layers": [hx + "/layer.tar", "./" + hx + "//layer.tar"]},
        {"Config": "blobs/sha256/" + hx, "RepoTags": None, "Layers": [],
         "LayerSources": {dg: {"size": 1}}, "Parent": ""}])
    s["3-docker-bad-path"] = b"\3" + jdump([{"Config": "../x.json", "Layers": ["/abs"]}])
    s["4-config"] = b"\4" + mkimage.image_config([mkimage.Layer(b"a", b"a"),
                                                   mkimage.Layer(b"b", b"b")])
    s["4-config-null"] = b"\4" + jdump({"architecture": "arm", "os": "linux", "variant": "v7",
                                        "config": None, "history": [],
                                        "rootfs": {"type": "layers", "diff_ids": []}})
    s["4-config-bad"] = b"\4" + jdump({"rootfs": {"type": "zfs", "diff_ids": ["sha256:1"]}})
    for i, t in enumerate(["linux/arm64/v8", "linux/x86_64", "linux/armv7l", "windows/amd64/",
                           "linux/arm/v5", mkimage.MEDIA_INDEX, mkimage.MEDIA_LAYER["zstd"],
                           "./a//b/./c/", "a/../..", dg, "sha512:" + "f" * 128, "aarch64",
                           "linux//amd64", "s" * 300]):
        s["5-string-%02d" % i] = b"\5" + t.encode()
    # a published layerfs index of fuzz_json's fixed image (layers 11..., 22...)
    part = {"mediaType": "application/vnd.layerfs.index.part.v1", "size": 100}
    lay = ["sha256:" + c * 64 for c in "12"]
    art = {"schemaVersion": 2, "mediaType": mkimage.MEDIA_MANIFEST,
           "artifactType": "application/vnd.layerfs.index.v1",
           "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2,
                      "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest()},
           "subject": dict(desc, digest="sha256:" + "3" * 64),
           "annotations": {"dev.layerfs.index.version": "3"},
           "layers": [dict(part, digest=dg, annotations={"dev.layerfs.layer.digest": lay[0],
                                                         "dev.layerfs.part": "index"}),
                      dict(part, digest=dg, annotations={"dev.layerfs.layer.digest": lay[0],
                                                         "dev.layerfs.part": "scratch"}),
                      dict(part, digest=dg, annotations={"dev.layerfs.layer.digest": lay[1],
                                                         "dev.layerfs.part": "index"})]}
    s["6-artifact"] = b"\6" + jdump(art)
    s["6-artifact-short"] = b"\6" + jdump(dict(art, layers=art["layers"][:2]))
    s["6-artifact-size"] = b"\6" + jdump(dict(art, layers=[dict(art["layers"][0], size=-1)]
                                               + art["layers"][1:]))
    return s


# ---------------------------------------------------------- image seeds ---

def tiny_layers(comps=("none", "gzip")):
    return [layer([D("etc"), F("etc/os-release", b"ID=fuzz\n"), L("bin", "usr/bin")], comps[0]),
            layer([W("bin"), F("etc/motd", b"hi\n"), O("etc")], comps[1 % len(comps)])]


def image_seeds(tmp):
    s = {}

    def via_file(name, fn, *args, **kw):
        path = os.path.join(tmp, name)
        fn(path, *args, **kw)
        with open(path, "rb") as f:
            s[name] = trim(f.read())

    one = tiny_layers()
    none = tiny_layers(("none",))
    # The docker classic form: one layer repeated becomes a symlink.
    via_file("docker.tar", mkimage.write_docker, none + [none[0]], tag="fuzz:latest")
    via_file("docker-oci.tar", mkimage.write_docker_oci, one, tag="fuzz:1")
    via_file("oci-archive.tar", mkimage.write_oci_archive, one, tag="latest")
    via_file("oci-platforms.tar", mkimage.write_oci_archive, one[:1], tag="latest",
             decoys=[("decoy", one[1:])], platforms=[("arm64", one[1:]), ("ppc64le", one[:1])])
    # buildah/podman docker-archive: first member "<digest>.tar".
    cfg = mkimage.image_config(none)
    names = [mkimage.sha256(l.tar) + ".tar" for l in none]
    members = [(n, l.tar) for n, l in zip(names, none)]
    members += [(mkimage.sha256(cfg) + ".json", cfg),
                ("manifest.json", jdump([{"Config": mkimage.sha256(cfg) + ".json",
                                          "RepoTags": ["localhost/fuzz:latest"],
                                          "Layers": names}])),
                ("repositories", jdump({"localhost/fuzz": {"latest": mkimage.sha256(cfg)}}))]
    s["buildah.tar"] = tar_members(members)
    # Members reached through hard and symbolic links, two images, one with no tag.
    members = [("manifest.json", jdump([
        {"Config": "c.json", "RepoTags": ["a:1"], "Layers": ["l/layer.tar"]},
        {"Config": "cfg/link.json", "RepoTags": [], "Layers": ["hard.tar"]}])),
        ("c.json", mkimage.image_config(none[:1])), ("l/", None),
        ("l/layer.tar", none[0].tar), ("hard.tar", ("hardlink", "l/layer.tar")),
        ("cfg/", None), ("cfg/link.json", ("symlink", "../c.json"))]
    s["docker-links.tar"] = tar_members(members)
    s["layer.tar"] = none[0].tar
    s["not-an-image.tar.gz"] = one[1].blob
    return s


# ---------------------------------------------------------- merge seeds ---

def merge_seeds():
    stacks = {
        "whiteouts": [[D("a"), F("a/f", b"1"), F("a/g", b"2"), F("top", b"t"), D("gone/sub")],
                      [W("a/f"), W("gone"), F("new", b"n")],
                      [F("a/f", b"back"), F("gone/again", b"again")]],
        "opaque": [[D("o"), F("o/lower", b"l"), D("o/sub"), F("o/sub/x", b"x")],
                   [O("o"), F("o/mine", b"m")],
                   [F("o/above", b"a")]],
        "overlay-form": [[D("p"), F("p/a", b"a"), F("q", b"q"), D("r"), F("r/in", b"i")],
                         [Entry("ovl_whiteout", "q"),
                          D("r", xattrs={"trusted.overlay.opaque": b"y"}), F("r/new", b"n"),
                          D("p", xattrs={"user.overlay.opaque": b"y"})]],
        "replace": [[D("d"), F("d/child", b"c"), F("f", b"file"), F("imp", b"file")],
                    [F("d", b"now a file"), D("f"), F("f/x", b"x"), F("imp/below", b"b")],
                    [D("d"), F("d/again", b"again")]],
        "hardlinks": [[F("h1", b"shared"), H("h2", "h1"), H("dir/h3", "h1")],
                      [W("h2"), F("h1", b"replaced above")],
                      [W("dir")]],
        "opaque-root": [[F("a", b"a"), D("b")], [O(""), F("c", b"c")], [F("d", b"d")]],
        "deep": [[F("/".join("x%d" % i for i in range(60)) + "/f", b"f")],
                 [W("/".join("x%d" % i for i in range(30)))],
                 [F("/".join("x%d" % i for i in range(45)) + "/g", b"g")]],
        "dir-meta": [[D("m", mode=0o700, uid=5), F("m/a", b"a")],
                     [F("m/b", b"implied parent keeps the lower metadata")],
                     [D("m", mode=0o555, uid=7)]],
    }
    comps = {"whiteouts": ("gzip", "none", "zstd"), "hardlinks": ("none", "zstd", "gzip")}
    s = {}
    for name, layers in stacks.items():
        c = comps.get(name, ("none",) * len(layers))
        s[name] = SEP.join(layer(l, c[i % len(c)]).blob for i, l in enumerate(layers))
    # Random stacks over a few names: every rule meets every other.
    rng = random.Random(20261122)
    names = ["a", "b", "a/b", "a/c", "b/a", "a/b/c", "c"]
    plain = {"mtime": 1700000000 * 10**9, "mtime_style": "none"}  # no pax headers: small
    for k in range(16):
        layers = []
        for _ in range(rng.randint(2, 4)):
            entries = []
            for _ in range(rng.randint(1, 6)):
                p = rng.choice(names)
                kind = rng.choice(["file", "file", "dir", "dir", "whiteout", "opaque",
                                   "symlink", "hardlink", "ovl_whiteout"])
                if kind == "file":
                    entries.append(F(p, p.encode() * rng.randint(0, 3), **plain))
                elif kind == "dir":
                    entries.append(D(p, mode=rng.choice([0o755, 0o700]), **plain))
                elif kind == "symlink":
                    entries.append(L(p, rng.choice(names), **plain))
                elif kind == "hardlink":
                    entries.append(F(p + "x", b"t", **plain))
                    entries.append(H(p, p + "x"))
                else:
                    entries.append(Entry(kind, p, **plain))
            layers.append(layer(entries).blob)
        s["random-%02d" % k] = SEP.join(layers)
    return s


# -------------------------------------------------------------- cache ---

# Layer seeds whose index becomes a cache seed, and cache_seed's flags for
# each: "" payload for lfs_cache_decode, "-f" whole cache file through
# lfs_cache_load, "-h" content hashes, "-n" no scratch file.
CACHE_SEEDS = {
    "gzip.tar.gz": ["", "-f"],
    "gzip-big.tar.gz": ["", "-f", "-n"],
    "gzip-members.tar.gz": [""],
    "zstd.tar.zst": ["", "-f -h"],
    "zstd-big.tar.zst": ["", "-f"],
    "zstd-frames.tar.zst": [""],
    "hardlinks.tar": ["", "-h"],
    "whiteouts.tar": ["", "-f"],
    "pax-sparse-1.0.tar": ["-h"],
    "gnu-sparse-old.tar": [""],
    "pax-mixed.tar": [""],
    "deep.tar": [""],
    "v7.tar": ["-f -h"],
    "empty.tar": [""],
    "gzip-windows.tar.gz": ["", "-f", "-n"],
    "zstd-reframed.tar.zst": ["", "-f"],
}


def gzip_flushed(data, every=1 << 16):
    """One gzip member whose deflate blocks end every EVERY bytes: restart
    points with a window (scratch data) past the first MiB."""
    import zlib
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [z.compress(data[i:i + every]) + z.flush(zlib.Z_SYNC_FLUSH)
           for i in range(0, len(data), every)]
    return b"".join(out) + z.flush()


def scratch_layers():
    """Layers whose blob keeps scratch data: gzip windows, re-framed zstd."""
    tar = layer([F("big", big_plain(320)), F("after-big", b"tail")]).tar
    big = layer([F("big", big_plain(600)), F("after-big", b"tail")]).tar
    return {"gzip-windows.tar.gz": gzip_flushed(tar),
            "zstd-reframed.tar.zst": mkimage.compress(big, "zstd", level=19)}


def cache_seeds(prog, layers, tmp):
    s = {}
    layers = dict(layers, **scratch_layers())
    for name, flags in CACHE_SEEDS.items():
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(layers[name])
        for fl in flags:
            tag = fl.replace("-", "").replace(" ", "")
            out = subprocess.run([prog] + fl.split() + [path], check=True,
                                 stdout=subprocess.PIPE).stdout
            s[name.split(".")[0] + ("-" + tag if tag else "")] = out
    return s


# ----------------------------------------------------------------- main ---

def write(dirpath, seeds):
    os.makedirs(dirpath, exist_ok=True)
    for f in os.listdir(dirpath):
        if f.startswith("seed-"):
            os.unlink(os.path.join(dirpath, f))
    for name, data in sorted(seeds.items()):
        with open(os.path.join(dirpath, "seed-" + name), "wb") as f:
            f.write(data)


def main(argv):
    import tempfile
    args = argv[1:]
    prog = None
    if args[:1] == ["--cache-seed"] and len(args) > 1:
        prog = os.path.abspath(args[1])
        args = args[2:]
    out = args[0] if args else os.path.join(HERE, "corpus")
    layers = layer_seeds()
    write(os.path.join(out, "layer"), layers)
    write(os.path.join(out, "json"), json_seeds())
    with tempfile.TemporaryDirectory() as tmp:
        write(os.path.join(out, "image"), image_seeds(tmp))
    write(os.path.join(out, "merge"), merge_seeds())
    if prog:
        with tempfile.TemporaryDirectory() as tmp:
            write(os.path.join(out, "cache"), cache_seeds(prog, layers, tmp))
    else:
        print("make-corpus: cache/ left alone (no --cache-seed PROGRAM)")
    total = sum(os.path.getsize(os.path.join(d, f))
                for d, _, fs in os.walk(out) for f in fs)
    print("make-corpus: %s: %d bytes" % (out, total))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
