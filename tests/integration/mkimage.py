#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""mkimage.py - write container image fixtures for the layerfs tests.

A library (imported by difftest.py and scripts/make-sample-image) and a
small CLI.  It only WRITES images; it knows nothing about how layers merge.

Layers are ordered lists of tar entries (`Entry`).  Entry kinds:

  file, dir, symlink, hardlink, char, block, fifo   plain tar entries
  whiteout      OCI whiteout: writes `DIR/.wh.NAME` for path DIR/NAME
  opaque        OCI opaque marker: writes `DIR/.wh..wh..opq` for path DIR
  ovl_whiteout  overlayfs-form whiteout: a character device 0:0 at path
  (an overlayfs-form opaque directory is a `dir` entry carrying the xattr
  trusted.overlay.opaque=y or user.overlay.opaque=y)

Each entry has mode, uid, gid (any 32-bit value: pax records are written
when the ustar fields are too small), an mtime in nanoseconds (written as a
pax "mtime" record keeping all the digits, e.g. "1700000000.123456789"),
xattrs (pax SCHILY.xattr.NAME, binary values allowed, or the
LIBARCHIVE.xattr.NAME base64 form), names of any length and any bytes
(pax "path"/"linkpath", hdrcharset=BINARY for non-UTF-8).

`layer_tar()` turns entries into an uncompressed tar, `compress()` into
gzip (optionally several members) or zstd (via the zstd CLI, optionally
several frames), and the `write_*` functions package layers as every source
kind layerfs reads:

  layers         explicit layer files (lowest first)
  docker         `docker save` classic: manifest.json + <id>/layer.tar
  docker-oci     `docker save` from Docker >= 25: manifest.json + OCI layout
  oci-dir        OCI image layout directory
  oci-archive    the OCI layout packed in an (uncompressed) tarball

CLI:  mkimage.py SPEC.json --format FMT --out PATH [--tag NAME]
SPEC.json: {"layers": [{"compression": "gzip", "entries": [ENTRY...]}]}
ENTRY: {"kind": "file", "path": "etc/hosts", "mode": "0644", "uid": 0,
        "gid": 0, "mtime": "1700000000.5", "text": "...", "data_hex": "..",
        "target": "...", "major": 1, "minor": 3,
        "xattrs": {"user.a": "text", "security.capability": "hex:0100..."}}
It prints the SOURCE arguments to give layerfs, one per line.
"""

import base64
import dataclasses
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import urllib.parse
import zlib

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}
FORMATS = ("layers", "docker", "docker-oci", "oci-dir", "oci-archive")
COMPRESSIONS = ("none", "gzip", "zstd")

# A fixed timestamp for the packaging files themselves (deterministic output).
PACKAGING_MTIME = 1700000000


def fsbytes(s):
    """str or bytes -> bytes (str may carry surrogate escapes)."""
    return s if isinstance(s, bytes) else os.fsencode(s)


def cap_v2(permitted, inheritable=0, effective=True):
    """A security.capability value, VFS_CAP_REVISION_2 (20 bytes)."""
    magic = 0x02000000 | (1 if effective else 0)
    return (magic.to_bytes(4, "little")
            + (permitted & 0xFFFFFFFF).to_bytes(4, "little")
            + (inheritable & 0xFFFFFFFF).to_bytes(4, "little")
            + (permitted >> 32).to_bytes(4, "little")
            + (inheritable >> 32).to_bytes(4, "little"))


def format_mtime(ns, style="full"):
    """Nanoseconds since the epoch -> pax decimal string.

    style "full" keeps all 9 fraction digits, "short" drops trailing zeros
    (and the dot when the fraction is 0)."""
    sign = "-" if ns < 0 else ""
    sec, frac = divmod(abs(ns), 10**9)
    s = "%s%d.%09d" % (sign, sec, frac)
    if style == "short":
        s = s.rstrip("0").rstrip(".")
    return s


def parse_mtime(s):
    """pax decimal seconds string -> int nanoseconds (exact)."""
    s = s.strip()
    neg = s.startswith("-")
    if neg or s.startswith("+"):
        s = s[1:]
    sec, _, frac = s.partition(".")
    ns = int(sec or "0") * 10**9 + int((frac + "0" * 9)[:9] or "0")
    return -ns if neg else ns


@dataclasses.dataclass
class Entry:
    """One tar entry of a layer.  `path` is written exactly as given (so it
    may carry "./", "//" or a leading "/"); for `whiteout` and `opaque` it
    names the whited-out path / the opaque directory."""
    kind: str
    path: object                    # str or bytes
    mode: int = None                # permission bits; default per kind
    uid: int = 0
    gid: int = 0
    mtime: int = 0                  # nanoseconds
    mtime_style: str = "full"       # full | short | none (ustar only, ns dropped)
    xattrs: dict = dataclasses.field(default_factory=dict)   # name -> bytes
    xattr_form: str = "schily"      # schily | libarchive
    data: bytes = b""
    target: object = None           # symlink target / hardlink target path
    major: int = 0
    minor: int = 0
    uname: str = ""
    gname: str = ""

    def tar_name(self):
        """The name written into the tar header (bytes)."""
        p = fsbytes(self.path)
        if self.kind in ("whiteout", "opaque"):
            head, sep, last = p.rstrip(b"/").rpartition(b"/")
            if self.kind == "whiteout":
                return head + sep + b".wh." + last
            base = p.rstrip(b"/")
            return (base + b"/" if base else b"") + b".wh..wh..opq"
        return p


_TYPES = {
    "file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE, "whiteout": tarfile.REGTYPE, "opaque": tarfile.REGTYPE,
    "ovl_whiteout": tarfile.CHRTYPE,
}
_DEFAULT_MODE = {"dir": 0o755, "symlink": 0o777, "file": 0o644}


def _tarinfo(e):
    name = os.fsdecode(e.tar_name())
    ti = tarfile.TarInfo(name)
    ti.type = _TYPES[e.kind]
    mode = e.mode if e.mode is not None else _DEFAULT_MODE.get(e.kind, 0o644)
    if e.kind == "ovl_whiteout":
        mode = e.mode if e.mode is not None else 0
    ti.mode = mode
    ti.uid, ti.gid = e.uid, e.gid
    ti.uname, ti.gname = e.uname, e.gname
    sec = e.mtime // 10**9
    ti.mtime = sec
    pax = {}
    if e.mtime_style != "none" and (e.mtime % 10**9 or e.mtime_style == "full"
                                     or not 0 <= sec < 8**11):
        pax["mtime"] = format_mtime(e.mtime, e.mtime_style)
    if e.kind in ("symlink", "hardlink"):
        ti.linkname = os.fsdecode(fsbytes(e.target))
    if e.kind in ("char", "block"):
        ti.devmajor, ti.devminor = e.major, e.minor
    for k, v in e.xattrs.items():
        k = k.decode("utf-8", "surrogateescape") if isinstance(k, bytes) else k
        v = fsbytes(v) if isinstance(v, str) else v
        if e.xattr_form == "libarchive":
            pax["LIBARCHIVE.xattr." + urllib.parse.quote(k, safe="")] = \
                base64.b64encode(v).decode("ascii")
        else:
            pax["SCHILY.xattr." + k] = v.decode("utf-8", "surrogateescape")
    if e.kind == "file":
        ti.size = len(e.data)
    ti.pax_headers = pax
    return ti


def layer_tar(entries):
    """Entries -> bytes of an uncompressed PAX tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT,
                      encoding="utf-8", errors="surrogateescape") as tf:
        for e in entries:
            ti = _tarinfo(e)
            tf.addfile(ti, io.BytesIO(e.data) if e.kind == "file" else None)
    return buf.getvalue()


def _split(data, parts):
    """Split bytes into `parts` pieces at evenly spread boundaries."""
    if parts <= 1 or len(data) < parts:
        return [data]
    step = len(data) // parts
    cuts = [i * step for i in range(parts)] + [len(data)]
    return [data[cuts[i]:cuts[i + 1]] for i in range(parts)]


def gzip_member(data, level=6, fname=None, comment=None, extra=None):
    """One gzip member; optional FNAME / FCOMMENT / FEXTRA header fields."""
    flags = 0
    hdr_tail = b""
    if extra is not None:
        flags |= 4
        hdr_tail += len(extra).to_bytes(2, "little") + extra
    if fname is not None:
        flags |= 8
        hdr_tail += fname + b"\0"
    if comment is not None:
        flags |= 16
        hdr_tail += comment + b"\0"
    co = zlib.compressobj(level, zlib.DEFLATED, -15)
    body = co.compress(data) + co.flush()
    return (b"\x1f\x8b\x08" + bytes([flags]) + b"\0\0\0\0\0\xff" + hdr_tail + body
            + (zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "little")
            + (len(data) & 0xFFFFFFFF).to_bytes(4, "little"))


def zstd_frames(data, level=3, frames=1, checksum=True, skippable_tail=False):
    """zstd-compress with the zstd CLI, as `frames` concatenated frames."""
    out = b""
    for piece in _split(data, frames):
        cmd = ["zstd", "-q", "-c", "-%d" % level]
        if not checksum:
            cmd.append("--no-check")
        out += subprocess.run(cmd, input=piece, stdout=subprocess.PIPE,
                              check=True).stdout
    if skippable_tail:
        payload = b"layerfs-test skippable frame"
        out += (0x184D2A5E).to_bytes(4, "little") + len(payload).to_bytes(4, "little") + payload
    return out


def compress(data, kind, members=1, level=None, fname=None, checksum=True,
             skippable_tail=False):
    """Compress a layer: kind none | gzip | zstd."""
    if kind == "none":
        return data
    if kind == "gzip":
        return b"".join(gzip_member(p, level if level is not None else 6,
                                    fname=fname if i == 0 else None)
                        for i, p in enumerate(_split(data, members)))
    if kind == "zstd":
        return zstd_frames(data, level if level is not None else 3, members,
                           checksum, skippable_tail)
    raise ValueError("unknown compression %r" % kind)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


@dataclasses.dataclass
class Layer:
    """A layer ready for packaging: the uncompressed tar and its blob."""
    tar: bytes
    blob: bytes
    compression: str = "none"


def make_layer(entries, compression="none", **kw):
    tar = layer_tar(entries)
    return Layer(tar, compress(tar, compression, **kw), compression)


def image_config(layers, created="2023-11-14T22:13:20Z"):
    """An OCI/Docker image config JSON (bytes) for these layers."""
    cfg = {
        "architecture": "amd64", "os": "linux", "created": created,
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + sha256(l.tar) for l in layers]},
        "history": [{"created": created, "created_by": "layerfs-test layer %d" % i}
                    for i in range(len(layers))],
    }
    return json.dumps(cfg, sort_keys=True).encode()


def _tar_add(tf, name, data=None, mode=0o644, kind="file", target=None):
    ti = tarfile.TarInfo(name)
    ti.mtime = PACKAGING_MTIME
    ti.mode = mode
    if kind == "dir":
        ti.type = tarfile.DIRTYPE
        ti.mode = 0o755
        tf.addfile(ti)
    elif kind == "symlink":
        ti.type = tarfile.SYMTYPE
        ti.linkname = target
        ti.mode = 0o777
        tf.addfile(ti)
    else:
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))


def _write_tar(out, members):
    """members: list of (name, bytes|None for dir|('symlink', target))."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members:
            if data is None:
                _tar_add(tf, name, kind="dir")
            elif isinstance(data, tuple):
                _tar_add(tf, name, kind="symlink", target=data[1])
            else:
                _tar_add(tf, name, data)


def write_layer_files(outdir, layers, names=None):
    """Explicit layer files; returns their paths (the SOURCE arguments)."""
    os.makedirs(outdir, exist_ok=True)
    paths = []
    for i, l in enumerate(layers):
        p = os.path.join(outdir, names[i] if names else "layer%d" % i)
        with open(p, "wb") as f:
            f.write(l.blob)
        paths.append(p)
    return paths


def _json(obj):
    return json.dumps(obj, sort_keys=True).encode()


def write_docker(out, layers, tag="layerfs-test:latest"):
    """`docker save` classic form (uncompressed layer.tar per layer dir).

    Layers whose diff_id repeats become symlinks to the first copy, as
    docker does."""
    config = image_config(layers)
    config_name = sha256(config) + ".json"
    members = [(config_name, config)]
    layer_paths = []
    parent = ""
    first_by_diff = {}
    for i, l in enumerate(layers):
        diff = sha256(l.tar)
        v1id = sha256((parent + "\n" + diff).encode())
        members.append((v1id + "/", None))
        members.append((v1id + "/VERSION", b"1.0"))
        members.append((v1id + "/json", _json({"id": v1id, "parent": parent or None})))
        if diff in first_by_diff:
            members.append((v1id + "/layer.tar",
                            ("symlink", "../" + first_by_diff[diff] + "/layer.tar")))
        else:
            first_by_diff[diff] = v1id
            members.append((v1id + "/layer.tar", l.tar))
        layer_paths.append(v1id + "/layer.tar")
        parent = v1id
    repo, _, t = tag.rpartition(":")
    members.append(("repositories", _json({repo: {t: parent}})))
    members.append(("manifest.json", _json([{"Config": config_name, "RepoTags": [tag],
                                             "Layers": layer_paths}])))
    _write_tar(out, members)
    return [out]


def _oci_blobs(layers, annotations_tag=None):
    """Build the OCI blobs: returns (blobs dict hex->bytes, manifest hex,
    manifest size, config hex)."""
    blobs = {}
    config = image_config(layers)
    chex = sha256(config)
    blobs[chex] = config
    descs = []
    for l in layers:
        h = sha256(l.blob)
        blobs[h] = l.blob
        descs.append({"mediaType": MEDIA_LAYER[l.compression],
                      "digest": "sha256:" + h, "size": len(l.blob)})
    manifest = _json({"schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
                      "config": {"mediaType": MEDIA_CONFIG, "digest": "sha256:" + chex,
                                 "size": len(config)},
                      "layers": descs})
    mhex = sha256(manifest)
    blobs[mhex] = manifest
    return blobs, mhex, len(manifest), chex


def oci_layout_members(layers, tag="latest", decoys=(), platforms=()):
    """The files of an OCI image layout: list of (relpath, bytes|None).

    decoys: list of (tag, layers) for extra manifests listed BEFORE the
    real one in index.json (layerfs must pick the real one by --tag).
    platforms: list of (architecture, layers) of other platforms: the tag
    then names a nested image index listing them first and the real image
    last as linux/amd64 (layerfs must pick the host's platform)."""
    all_blobs = {}
    index_manifests = []
    for dtag, dlayers in list(decoys) + [(tag, layers)]:
        blobs, mhex, msize, _ = _oci_blobs(dlayers)
        all_blobs.update(blobs)
        desc = {"mediaType": MEDIA_MANIFEST, "digest": "sha256:" + mhex, "size": msize}
        if platforms and dtag == tag:
            entries = []
            for arch, players in platforms:
                pblobs, phex, psize, _ = _oci_blobs(players)
                all_blobs.update(pblobs)
                entries.append({"mediaType": MEDIA_MANIFEST, "digest": "sha256:" + phex,
                                "size": psize, "platform": {"architecture": arch, "os": "linux"}})
            entries.append(dict(desc, platform={"architecture": "amd64", "os": "linux"}))
            nested = _json({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": entries})
            nhex = sha256(nested)
            all_blobs[nhex] = nested
            desc = {"mediaType": MEDIA_INDEX, "digest": "sha256:" + nhex, "size": len(nested)}
        desc["annotations"] = {"org.opencontainers.image.ref.name": dtag}
        index_manifests.append(desc)
    index = _json({"schemaVersion": 2, "mediaType": MEDIA_INDEX,
                   "manifests": index_manifests})
    members = [("oci-layout", _json({"imageLayoutVersion": "1.0.0"})),
               ("index.json", index), ("blobs/", None), ("blobs/sha256/", None)]
    for h in sorted(all_blobs):
        members.append(("blobs/sha256/" + h, all_blobs[h]))
    return members


def write_oci_dir(outdir, layers, tag="latest", decoys=(), platforms=()):
    os.makedirs(outdir, exist_ok=True)
    for name, data in oci_layout_members(layers, tag, decoys, platforms):
        p = os.path.join(outdir, name)
        if data is None:
            os.makedirs(p, exist_ok=True)
        else:
            with open(p, "wb") as f:
                f.write(data)
    return [outdir]


def write_oci_archive(out, layers, tag="latest", decoys=(), platforms=()):
    _write_tar(out, oci_layout_members(layers, tag, decoys, platforms))
    return [out]


def write_docker_oci(out, layers, tag="layerfs-test:latest"):
    """`docker save` as written by Docker >= 25: an OCI layout plus the
    classic manifest.json pointing at blobs/sha256/<hex>."""
    blobs, mhex, msize, chex = _oci_blobs(layers)
    index = _json({"schemaVersion": 2, "mediaType": MEDIA_INDEX,
                   "manifests": [{"mediaType": MEDIA_MANIFEST, "digest": "sha256:" + mhex,
                                  "size": msize,
                                  "annotations": {"io.containerd.image.name": "docker.io/library/" + tag,
                                                  "org.opencontainers.image.ref.name": tag.rpartition(":")[2]}}]})
    members = [("blobs/", None), ("blobs/sha256/", None)]
    for h in sorted(blobs):
        members.append(("blobs/sha256/" + h, blobs[h]))
    members += [("index.json", index),
                ("manifest.json", _json([{"Config": "blobs/sha256/" + chex, "RepoTags": [tag],
                                          "Layers": ["blobs/sha256/" + sha256(l.blob) for l in layers]}])),
                ("oci-layout", _json({"imageLayoutVersion": "1.0.0"})),
                ("repositories", _json({tag.rpartition(":")[0]: {tag.rpartition(":")[2]: chex}}))]
    _write_tar(out, members)
    return [out]


def write_image(fmt, out, layers, tag=None, decoys=(), platforms=()):
    """Package `layers` (list of Layer) as `fmt` at `out`; returns the
    SOURCE arguments for layerfs (a list of paths).  decoys and platforms:
    see oci_layout_members (OCI formats only)."""
    if fmt == "layers":
        return write_layer_files(out, layers)
    if fmt == "docker":
        return write_docker(out, layers, tag or "layerfs-test:latest")
    if fmt == "docker-oci":
        return write_docker_oci(out, layers, tag or "layerfs-test:latest")
    if fmt == "oci-dir":
        return write_oci_dir(out, layers, tag or "latest", decoys, platforms)
    if fmt == "oci-archive":
        return write_oci_archive(out, layers, tag or "latest", decoys, platforms)
    raise ValueError("unknown format %r" % fmt)


# ---------------------------------------------------------------- CLI ---

def _xattr_value(v):
    if v.startswith("hex:"):
        return bytes.fromhex(v[4:])
    return v.encode()


def entry_from_json(d):
    """Build an Entry from the CLI's JSON form."""
    kw = {}
    if "path_hex" in d:
        kw["path"] = bytes.fromhex(d["path_hex"])
    else:
        kw["path"] = d["path"]
    if "mode" in d:
        m = d["mode"]
        kw["mode"] = int(m, 8) if isinstance(m, str) else m
    for k in ("uid", "gid", "major", "minor", "uname", "gname", "mtime_style", "xattr_form"):
        if k in d:
            kw[k] = d[k]
    if "mtime" in d:
        m = d["mtime"]
        kw["mtime"] = parse_mtime(m) if isinstance(m, str) else int(m) * 10**9
    if "text" in d:
        kw["data"] = d["text"].encode()
    if "data_hex" in d:
        kw["data"] = bytes.fromhex(d["data_hex"])
    if "target" in d:
        kw["target"] = d["target"]
    if "xattrs" in d:
        kw["xattrs"] = {k: _xattr_value(v) for k, v in d["xattrs"].items()}
    return Entry(d["kind"], **kw)


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description="write a test container image")
    ap.add_argument("spec", help="JSON spec: {\"layers\": [{\"compression\", \"entries\"}]}")
    ap.add_argument("--format", choices=FORMATS, required=True)
    ap.add_argument("--out", required=True, help="output file (or directory for layers/oci-dir)")
    ap.add_argument("--tag")
    args = ap.parse_args(argv)
    with open(args.spec) as f:
        spec = json.load(f)
    layers = [make_layer([entry_from_json(e) for e in l.get("entries", [])],
                         l.get("compression", "none"), members=l.get("members", 1))
              for l in spec["layers"]]
    for p in write_image(args.format, args.out, layers, args.tag):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
