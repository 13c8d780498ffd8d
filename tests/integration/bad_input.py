#!/usr/bin/env python3
"""bad_input.py - broken and hostile sources must fail cleanly.

Each case builds a damaged image with mkimage.py, runs layerfs on it (in its
normal background mode, under a timeout so a hang fails the test) and checks
what DESIGN.md promises: exit status 1, exactly one line on stderr naming the
offending file and the reason, and nothing mounted.  Entries that would land
outside the root are the exception: a warning, and a correct mount of the
rest.
"""

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mkimage as mk  # noqa: E402

LAYERFS = sys.argv[1]
failures = []


def mounted(mnt):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == mnt for line in f)


def run(args, mnt):
    try:
        p = subprocess.run([LAYERFS] + args + [mnt], capture_output=True, text=True,
                           timeout=60, errors="replace")
    except subprocess.TimeoutExpired:
        return -1, "HANG: layerfs did not finish within 60 s\n"
    return p.returncode, p.stderr


def expect_error(name, args, mnt, needles):
    rc, err = run(args, mnt)
    lines = err.strip().splitlines()
    problems = []
    if rc != 1:
        problems.append("exit status %d, want 1" % rc)
    if len(lines) != 1:
        problems.append("%d lines on stderr, want 1" % len(lines))
    for n in needles:
        if n not in err:
            problems.append("message lacks %r" % n)
    if mounted(mnt):
        problems.append("left a mount behind")
        subprocess.run(["fusermount3", "-u", mnt])
    if problems:
        failures.append("%s: %s; stderr: %s" % (name, ", ".join(problems), err.strip()))
    else:
        print("ok   %-28s %s" % (name, err.strip()))


def simple_layers(n=2, compression="none"):
    big = os.urandom(300 * 1024) * 4
    out = []
    for i in range(n):
        out.append(mk.make_layer([
            mk.Entry("dir", "etc"),
            mk.Entry("file", "etc/file%d" % i, data=b"layer %d\n" % i),
            mk.Entry("file", "data/big%d" % i, data=big),
        ], compression))
    return out


def main():
    t = tempfile.mkdtemp(prefix="lfs-bad-")
    os.environ["XDG_CACHE_HOME"] = os.path.join(t, "cache")
    mnt = os.path.join(t, "mnt")
    os.mkdir(mnt)
    try:
        cases(t, mnt)
    finally:
        if mounted(mnt):
            subprocess.run(["fusermount3", "-u", mnt])
        shutil.rmtree(t, ignore_errors=True)
    for f in failures:
        print("FAIL " + f)
    print("%d passed, %d failed" % (checked[0] - len(failures), len(failures)))
    return 1 if failures else 0


checked = [0]


def case(name, args, mnt, needles):
    checked[0] += 1
    expect_error(name, args, mnt, needles)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def cases(t, mnt):
    good = simple_layers(1)[0]
    gz = mk.make_layer([mk.Entry("file", "a", data=os.urandom(1 << 20))], "gzip")
    zs = mk.make_layer([mk.Entry("file", "a", data=os.urandom(1 << 20))], "zstd")

    # Truncated and corrupt layers of every compression.
    case("truncated tar", [write(t + "/trunc.tar", good.tar[:len(good.tar) // 2])], mnt,
         ["trunc.tar", "runcat"])
    case("tar cut at entry boundary", [write(t + "/cut.tar", good.tar[:1536])], mnt,
         ["cut.tar"])
    bad = bytearray(good.tar)
    bad[148] ^= 0x11  # header checksum of the first entry
    case("corrupt tar header", [write(t + "/cksum.tar", bytes(bad))], mnt, ["cksum.tar"])
    case("truncated gzip", [write(t + "/trunc.tar.gz", gz.blob[:len(gz.blob) - 100])], mnt,
         ["trunc.tar.gz"])
    bad = bytearray(gz.blob)
    bad[len(bad) // 2] ^= 0xff
    case("corrupt gzip", [write(t + "/corrupt.tar.gz", bytes(bad))], mnt, ["corrupt.tar.gz"])
    bad = bytearray(gz.blob)
    bad[-6] ^= 0xff  # the CRC32 / ISIZE trailer
    case("gzip trailer mismatch", [write(t + "/crc.tar.gz", bytes(bad))], mnt, ["crc.tar.gz"])
    case("truncated zstd", [write(t + "/trunc.tar.zst", zs.blob[:len(zs.blob) - 100])], mnt,
         ["trunc.tar.zst"])
    bad = bytearray(zs.blob)
    bad[len(bad) // 2] ^= 0xff
    case("corrupt zstd", [write(t + "/corrupt.tar.zst", bytes(bad))], mnt, ["corrupt.tar.zst"])
    case("not a tar", [write(t + "/notatar", b"hello, world\n" * 100)], mnt, ["notatar"])
    case("missing source", [t + "/does-not-exist.tar"], mnt, ["does-not-exist.tar"])
    case("hard link to missing entry",
         [write(t + "/hl.tar", mk.layer_tar([mk.Entry("hardlink", "b", target="missing")]))],
         mnt, ["hl.tar", "missing"])

    layers = simple_layers(2, "gzip")
    # OCI layout: missing blob, bad JSON, digest mismatch, unknown media type.
    d = t + "/oci-missing"
    mk.write_oci_dir(d, layers)
    victim = "sha256:" + mk.sha256(layers[1].blob)
    os.unlink(os.path.join(d, "blobs/sha256", victim[7:]))
    case("missing blob", [d], mnt, ["oci-missing", victim[7:19]])

    d = t + "/oci-badjson"
    mk.write_oci_dir(d, layers)
    write(os.path.join(d, "index.json"), b"{ this is not json")
    case("index.json not JSON", [d], mnt, ["index.json"])

    d = t + "/oci-size"
    mk.write_oci_dir(d, layers)
    other = mk.make_layer([mk.Entry("file", "x", data=b"other")], "gzip")
    write(os.path.join(d, "blobs/sha256", mk.sha256(layers[0].blob)), other.blob)
    case("blob size mismatch", [d], mnt, ["oci-size", mk.sha256(layers[0].blob)[:12]])

    # Same size, still a valid tar: only the digest can tell.
    raw = simple_layers(2, "none")
    d = t + "/oci-digest"
    mk.write_oci_dir(d, raw)
    p = os.path.join(d, "blobs/sha256", mk.sha256(raw[1].blob))
    data = bytearray(open(p, "rb").read())
    data[len(data) // 2] ^= 0x01  # inside data/big1's bytes
    write(p, bytes(data))
    case("digest mismatch", [d], mnt, ["oci-digest", "mismatch"])

    d = t + "/oci-media"
    mk.write_oci_dir(d, layers)
    man = None
    for h in os.listdir(os.path.join(d, "blobs/sha256")):
        b = open(os.path.join(d, "blobs/sha256", h), "rb").read()
        try:
            j = json.loads(b)
        except ValueError:
            continue
        if isinstance(j, dict) and "layers" in j:
            man = (h, j)
    h, j = man
    j["layers"][0]["mediaType"] = "application/vnd.example.layer.v1.tar+lz4"
    mb = mk._json(j)
    os.unlink(os.path.join(d, "blobs/sha256", h))
    write(os.path.join(d, "blobs/sha256", mk.sha256(mb)), mb)
    idx = json.load(open(os.path.join(d, "index.json")))
    idx["manifests"][0]["digest"] = "sha256:" + mk.sha256(mb)
    idx["manifests"][0]["size"] = len(mb)
    write(os.path.join(d, "index.json"), mk._json(idx))
    case("unknown media type", [d], mnt, ["lz4"])

    # docker save classic: a layer whose content no longer matches diff_ids.
    out = t + "/docker-diffid.tar"
    mk.write_docker(out, simple_layers(2))
    # rewrite the tarball with one layer.tar's content replaced by another valid tar
    import tarfile
    import io
    src = tarfile.open(out)
    members = [(m, src.extractfile(m).read() if m.isfile() else None) for m in src.getmembers()]
    src.close()
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        done = False
        for m, data in members:
            if m.name.endswith("layer.tar") and data is not None and not done:
                data = mk.layer_tar([mk.Entry("file", "evil", data=b"x")])
                m.size = len(data)
                done = True
            tf.addfile(m, io.BytesIO(data) if data is not None else None)
    case("diff_id mismatch", [out], mnt, ["docker-diffid.tar", "mismatch"])

    # A compressed image archive cannot be read in place.
    out = t + "/docker.tar"
    mk.write_docker(out, simple_layers(1))
    write(t + "/docker.tar.gz", gzip.compress(open(out, "rb").read()))
    case("compressed image archive", [t + "/docker.tar.gz"], mnt, ["docker.tar.gz"])

    # Entries escaping the root: a warning, and everything else mounts.
    checked[0] += 1
    esc = mk.layer_tar([
        mk.Entry("file", "../escape", data=b"x"),
        mk.Entry("file", "a/../../escape2", data=b"x"),
        mk.Entry("file", "/abs", data=b"abs\n"),
        mk.Entry("file", "ok", data=b"fine\n"),
    ])
    rc, err = run([write(t + "/escape.tar", esc)], mnt)
    try:
        problems = []
        if rc != 0:
            problems.append("exit status %d, want 0" % rc)
        if "escape" not in err or "warning" not in err:
            problems.append("no warning naming the entry")
        if rc == 0:
            names = sorted(os.listdir(mnt))
            if names != ["abs", "ok"]:
                problems.append("tree is %r, want ['abs', 'ok']" % names)
            if open(os.path.join(mnt, "ok"), "rb").read() != b"fine\n":
                problems.append("content of ok")
            if os.path.exists(os.path.join(t, "escape")) or os.path.exists(t + "/escape2"):
                problems.append("something was written outside")
    finally:
        if mounted(mnt):
            subprocess.run(["fusermount3", "-u", mnt], check=True)
    if problems:
        failures.append("escaping entries: " + ", ".join(problems) + "; stderr: " + err)
    else:
        print("ok   %-28s %s" % ("escaping entries", err.strip().replace("\n", " | ")))


if __name__ == "__main__":
    sys.exit(main())
