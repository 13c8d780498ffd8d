#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""registry_mount.py - images straight from a registry (issue 14), run by
registry_mount.sh.

A docker-registry on loopback behind the test bed's proxy
(tests/integration/registry.py) holds a three-layer image with whiteouts
(both forms), opaque directories (both forms), hard links, symlinks, xattrs,
nanosecond mtimes and a 3 MiB file, in three forms: its gzip, zstd and
uncompressed layers pushed byte for byte, the same layers re-compressed by
skopeo to gzip and to zstd, and a multi-platform index.  Each is mounted as
docker://HOST/REPO:TAG --tls-verify=false and compared (difftest's
compare_trees: types, modes, owners, sizes, mtimes, xattrs, link targets,
hard-link groups, every file's bytes, random reads in the big file) with the
kernel's overlayfs over the extracted layers and with layerfs on the local
OCI layout; then by digest (REPO@sha256:...), with --platform on the index,
and through the explicit transports oci:DIR:REF, oci-archive:FILE and
docker-archive:FILE.  layerfs-report --json of the registry's image gives
the figures of the local layout's report; layerfs-chroot runs the host's
/bin/sh in an image from the registry.  A second mount with the same
index cache reads no blob bytes before it is up.  Bad references (unknown
repository, unknown tag, malformed, registry down) are one line and exit
status 1 from layerfs and layerfs-report, nothing mounted.
Prints "ok ..." / "FAIL ..." per check; exits 1 on any failure.
"""
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import difftest  # noqa: E402
import mkimage  # noqa: E402
import registry  # noqa: E402
from checks import check, summary  # noqa: E402
from mkimage import Entry  # noqa: E402

LAYERFS = sys.argv[1]
REPORT = sys.argv[2]
CHROOT = sys.argv[3]


def ns(s, frac=0):
    return s * 10**9 + frac


def stack(variant):
    """Three layers' entries; VARIANT changes a file in each, so that
    skopeo's blob cache never hands one push another push's blobs."""
    rng = random.Random(variant)
    big = bytes(rng.getrandbits(8) for _ in range(3 << 20))
    tag = variant.encode()
    l0 = [
        Entry("dir", "etc", 0o755, mtime=ns(1600000000, 1)),
        Entry("file", "etc/passwd", 0o644, mtime=ns(1600000000, 123456789),
              data=b"root:x:0:0::/root:/bin/sh\n", xattrs={"user.note": b"lower"}),
        Entry("file", "etc/shadow", 0o640, 0, 42, mtime=ns(1600000001), data=b"root:*:1::::::\n"),
        Entry("dir", "usr/bin", 0o755, mtime=ns(1600000002)),
        Entry("file", "usr/bin/tool", 0o4755, 1000, 1000, mtime=ns(1600000003, 5),
              data=b"#!/bin/sh\necho tool\n",
              xattrs={"security.capability": mkimage.cap_v2(1 << 13)}),
        Entry("hardlink", "usr/bin/tool-link", target="usr/bin/tool"),
        Entry("symlink", "usr/bin/sh", target="/bin/busybox", mtime=ns(1600000004)),
        Entry("file", "big.bin", 0o600, 7, 8, mtime=ns(1600000005, 999999999), data=big),
        Entry("dir", "opq", 0o750, mtime=ns(1600000006)),
        Entry("file", "opq/old1", data=b"old 1\n"),
        Entry("file", "opq/old2", data=b"old 2\n"),
        Entry("dir", "ovlopq", 0o755),
        Entry("file", "ovlopq/old", data=b"old\n"),
        Entry("dir", "gone/deep", 0o755),
        Entry("file", "gone/deep/f", data=b"gone\n"),
        Entry("file", "gone-file", data=b"gone too\n"),
        Entry("file", "ovl-gone", data=b"whited out by a 0:0 device\n"),
        Entry("file", "variant", data=tag + b" 0\n"),
        Entry("fifo", "run/fifo", 0o600),
    ]
    l1 = [
        Entry("whiteout", "gone"),
        Entry("whiteout", "gone-file"),
        Entry("ovl_whiteout", "ovl-gone"),
        Entry("opaque", "opq"),
        Entry("file", "opq/new", 0o644, mtime=ns(1700000000, 42), data=b"new in opaque\n"),
        Entry("dir", "ovlopq", 0o700, mtime=ns(1700000001),
              xattrs={"trusted.overlay.opaque": b"y"}),
        Entry("file", "ovlopq/new", data=b"new\n"),
        Entry("file", "etc/passwd", 0o644, mtime=ns(1700000002, 7),
              data=b"root:x:0:0::/root:/bin/bash\n", xattrs={"user.note": b"upper"}),
        Entry("hardlink", "etc/passwd-", target="etc/passwd"),
        Entry("symlink", "passwd-link", target="etc/passwd"),
        Entry("file", "variant", data=tag + b" 1\n"),
    ]
    l2 = [
        Entry("file", "usr", 0o644, mtime=ns(1700000100), data=b"usr is a file now\n"),
        Entry("dir", "gone", 0o711, mtime=ns(1700000101)),
        Entry("file", "gone/back", data=b"back\n" * 1000),
        Entry("file", "variant", data=tag + b" 2\n"),
        Entry("file", "empty", data=b""),
    ]
    return [l0, l1, l2]


class Side:
    """One mount and what it needs to be compared and unmounted."""

    def __init__(self, root):
        self.root = root
        self.n = 0
        self.side = difftest.LayerfsSide(LAYERFS, dict(os.environ))

    def mount(self, sources, extra):
        self.n += 1
        mnt = os.path.join(self.root, "m%d" % self.n)
        os.makedirs(mnt)
        self.side.mount(sources, ["--read-only"] + extra, mnt,
                        os.path.join(self.root, "m%d.log" % self.n))
        return mnt


def run(cmd, timeout=60):
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def shell_layer():
    """A layer holding the host's /bin/sh and the libraries it needs."""
    sh = os.path.realpath("/bin/sh")
    ldd = subprocess.run(["ldd", sh], capture_output=True, text=True).stdout
    paths = [sh] + re.findall(r"(/\S+) \(0x", ldd)
    ents, dirs = [], set()
    for p in paths:
        parts = p.strip("/").split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            if d not in dirs:
                dirs.add(d)
                ents.append(Entry("dir", d, 0o755))
        with open(p, "rb") as f:
            ents.append(Entry("file", p.strip("/"), 0o755, data=f.read()))
    if "bin" not in dirs:
        ents.append(Entry("dir", "bin", 0o755))
    ents.append(Entry("symlink", "bin/sh", target=sh))
    ents.append(Entry("dir", "tmp", 0o1777))
    ents.append(Entry("file", "hello", data=b"hello from the registry\n"))
    return mkimage.make_layer(ents, "gzip")


def figures(j, skip=("name", "digest", "diff_id", "media_type", "source", "image", "path",
                     "ref", "manifest_digest", "kind", "config_digest", "id")):
    """The report without what names the source (names, digests, kinds)."""
    if isinstance(j, dict):
        return {k: figures(v) for k, v in j.items() if k not in skip}
    if isinstance(j, list):
        return [figures(v) for v in j]
    return j


def compare(a, b, what, names=("local", "registry")):
    diffs = difftest.compare_trees(a, b, names=names, rng=random.Random(1))
    check(not diffs, what, "\n  " + "\n  ".join(diffs[:20]))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    registry.install_signal_handlers()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lfs-regmount-") as root, \
            registry.Registry() as reg, registry.FaultProxy(reg.host) as px:
        side = Side(root)
        cache = os.path.join(root, "cache")
        tls = ["--tls-verify=false"]
        host = px.host
        try:
            # --- the images: byte-exact gzip/zstd/none layers, skopeo's gzip and zstd
            mixed = [mkimage.make_layer(e, c) for e, c in zip(stack("mixed"),
                                                              ("gzip", "zstd", "none"))]
            raw = {v: [mkimage.make_layer(e, "none") for e in stack(v)] for v in ("gz", "zst")}
            arm = [mkimage.make_layer(e, "gzip") for e in stack("arm")]
            lay = {}
            for name, layers, plat in (("mixed", mixed, ()), ("gz", raw["gz"], ()),
                                       ("zst", raw["zst"], ()),
                                       ("multi", mixed, (("arm64", arm),))):
                lay[name] = os.path.join(root, "oci-" + name)
                mkimage.write_oci_dir(lay[name], layers, tag="v1", platforms=plat)
            digest = registry.push("oci:%s:v1" % lay["mixed"], reg.host + "/lfs/mixed:v1",
                                   compress="none")
            registry.push("oci:%s:v1" % lay["gz"], reg.host + "/lfs/gz:v1", compress="gzip")
            registry.push("oci:%s:v1" % lay["zst"], reg.host + "/lfs/zst:v1", compress="zstd")
            registry.push("oci:%s:v1" % lay["multi"], reg.host + "/lfs/multi:v1", compress="none")
            print("(images pushed in %.1fs)" % (time.monotonic() - t0), flush=True)

            # --- the kernel's overlayfs over the extracted layers of "mixed"
            os.makedirs(os.path.join(root, "ref"))
            kdirs = difftest.build_reference([l.tar for l in mixed], os.path.join(root, "ref"),
                                             lambda m: None)
            kern = os.path.join(root, "kernel")
            os.makedirs(kern)
            difftest.MOUNTS.overlay(list(reversed(kdirs)), kern)

            # --- cold mount from the registry, against the kernel and the local layout
            px.reset_stats()
            reg_m = side.mount(["docker://%s/lfs/mixed:v1" % host], tls + ["--cache", cache])
            st = px.stats()
            blob_bytes = st["kinds"].get("blobs", {}).get("bytes", 0)
            stored = sum(len(l.blob) for l in mixed)
            check(blob_bytes >= stored,
                  "first mount streams every layer blob once (%d bytes of %d)" % (blob_bytes,
                                                                                   stored))
            loc_m = side.mount([lay["mixed"]], ["--no-cache", "--tag", "v1"])
            compare(kern, reg_m, "docker://.../lfs/mixed:v1 (gzip, zstd, none) = kernel "
                    "overlayfs over the extracted layers", names=("kernel", "registry"))
            compare(loc_m, reg_m, "docker://.../lfs/mixed:v1 = the local OCI layout")
            difftest.MOUNTS.umount(reg_m)

            # --- a second mount: the index cache, no blob read before it is up
            # (the cache key is the verified digest: blob_state.c reads
            # nothing of a remote blob to check it, and the config is kept
            # by digest): one request, the tag's manifest.
            px.reset_stats()
            reg_m = side.mount(["docker://%s/lfs/mixed:v1" % host], tls + ["--cache", cache])
            st = px.stats()
            blob_bytes = st["kinds"].get("blobs", {}).get("bytes", 0)
            reqs = [e for e in st["log"] if e["kind"] != "base"]
            check(blob_bytes == 0 and len(reqs) == 1 and reqs[0]["kind"] == "manifests",
                  "second mount (index cached) makes one request, the manifest, before it is "
                  "up (%d blob bytes, %d requests)" % (blob_bytes, len(reqs)),
                  json.dumps([(e["path"][-20:], e["range"], e["bytes"]) for e in st["log"]]))
            compare(loc_m, reg_m, "second mount, files read by ranges = the local OCI layout")
            difftest.MOUNTS.umount(reg_m)

            # --- by digest
            reg_m = side.mount(["docker://%s/lfs/mixed@%s" % (host, digest)], tls + ["--no-cache"])
            compare(loc_m, reg_m, "docker://.../lfs/mixed@%s... = the local OCI layout"
                    % digest[:19])
            difftest.MOUNTS.umount(reg_m)

            # --- explicit transports of the local image
            arch = os.path.join(root, "img.tar")
            mkimage.write_oci_archive(arch, mixed, tag="v1")
            dsave = os.path.join(root, "save.tar")
            mkimage.write_docker(dsave, mixed, tag="lfs/mixed:v1")
            for src in ("oci:%s:v1" % lay["mixed"], "oci:%s" % lay["mixed"],
                        "oci-archive:%s" % arch, "oci-archive:%s:v1" % arch,
                        "docker-archive:%s" % dsave, "docker-archive:%s:lfs/mixed:v1" % dsave):
                m = side.mount([src], ["--no-cache"])
                compare(loc_m, m, "%s = the plain path" % src.replace(root, "DIR"),
                        names=("plain", "transport"))
                difftest.MOUNTS.umount(m)
            difftest.MOUNTS.umount(loc_m)
            difftest.MOUNTS.umount(kern)

            # --- skopeo's gzip and zstd
            for v in ("gz", "zst"):
                reg_m = side.mount(["docker://%s/lfs/%s:v1" % (host, v)], tls + ["--no-cache"])
                loc_m = side.mount(["oci:%s:v1" % lay[v]], ["--no-cache"])
                compare(loc_m, reg_m, "docker://.../lfs/%s:v1 (skopeo %s) = the local layout"
                        % (v, {"gz": "gzip", "zst": "zstd"}[v]))
                difftest.MOUNTS.umount(reg_m)
                difftest.MOUNTS.umount(loc_m)

            # --- the multi-platform index, each platform
            for plat in ("linux/arm64", "linux/amd64"):
                reg_m = side.mount(["docker://%s/lfs/multi:v1" % host],
                                   tls + ["--no-cache", "--platform", plat])
                loc_m = side.mount([lay["multi"]], ["--no-cache", "--platform", plat])
                diffs = difftest.compare_trees(loc_m, reg_m, names=("local", "registry"))
                with open(os.path.join(reg_m, "variant"), "rb") as f:
                    got = f.read()
                want = b"arm 2\n" if plat == "linux/arm64" else b"mixed 2\n"
                check(not diffs and got == want,
                      "docker://.../lfs/multi:v1 --platform %s = the local layout's (%r)"
                      % (plat, got), "\n  ".join(diffs[:10]))
                difftest.MOUNTS.umount(reg_m)
                difftest.MOUNTS.umount(loc_m)

            # --- layerfs-report: the same figures
            rc1, out1, err1 = run([REPORT, "--json", "--no-cache"] + tls +
                                  ["docker://%s/lfs/mixed:v1" % host])
            rc2, out2, err2 = run([REPORT, "--json", "--no-cache", lay["mixed"]])
            same = False
            if rc1 == rc2 == 0:
                same = figures(json.loads(out1)) == figures(json.loads(out2))
            check(same, "layerfs-report --json docker://... gives the local layout's figures",
                  "(status %d/%d) %s %s" % (rc1, rc2, err1[-300:], err2[-300:]))

            # --- layerfs-chroot runs a command in the registry's image
            shd = os.path.join(root, "oci-sh")
            mkimage.write_oci_dir(shd, [shell_layer()], tag="v1")
            registry.push("oci:%s:v1" % shd, reg.host + "/lfs/sh:v1", compress="none")
            env = dict(os.environ, LAYERFS=LAYERFS)
            # as chroot.sh: in a sanitizer build LeakSanitizer cannot fork its
            # helper once layerfs-chroot's pid namespace has lost its init
            env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"),
                                                          "detect_leaks=0"]))
            r = subprocess.run([CHROOT] + tls + ["--no-cache", "docker://%s/lfs/sh:v1" % host,
                                                 "--", "/bin/sh", "-c",
                                                 "read l </hello; echo \"$l\""],
                               stdin=subprocess.DEVNULL, capture_output=True, env=env,
                               timeout=120)
            check(r.returncode == 0 and r.stdout == b"hello from the registry\n",
                  "layerfs-chroot docker://.../lfs/sh:v1 -- /bin/sh runs in the image",
                  "(status %d) %r %s" % (r.returncode, r.stdout,
                                          r.stderr.decode(errors="replace")[-500:]))

            # --- a manifest that says a layer is a byte longer than the registry's
            # blob: told up front (HEAD), before anything is streamed
            cl = registry.RegistryClient("http://" + host)
            _, _, body = cl.get_manifest("lfs/mixed", "v1")
            m = json.loads(body)
            m["layers"][0]["size"] += 1
            cl.push_manifest("lfs/mixed", "liar", json.dumps(m).encode(), mkimage.MEDIA_MANIFEST)
            mnt = os.path.join(root, "liar")
            os.makedirs(mnt)
            rc, _, err = run([LAYERFS, "-f", "--no-cache"] + tls +
                             ["docker://%s/lfs/mixed:liar" % host, mnt])
            want = "the registry has %d bytes, the manifest says %d" % (
                m["layers"][0]["size"] - 1, m["layers"][0]["size"])
            check(rc == 1 and want in err and len(err.strip().splitlines()) == 1 and
                  difftest.mounted_fstype(mnt) is None,
                  "a layer size the registry does not have: one line with both sizes",
                  "(status %d) %s" % (rc, err))

            # --- bad references: one line, status 1, nothing mounted
            dead = "127.0.0.1:%d" % free_port()
            bad = [("unknown repository", "docker://%s/lfs/nothere:v1" % host),
                   ("unknown tag", "docker://%s/lfs/mixed:nothere" % host),
                   ("malformed reference", "docker://%s/LFS/Upper:v1" % host),
                   ("malformed digest", "docker://%s/lfs/mixed@sha256:abc" % host),
                   ("registry down", "docker://%s/lfs/mixed:v1" % dead)]
            mnt = os.path.join(root, "bad")
            os.makedirs(mnt)
            for what, ref in bad:
                for prog, cmd in (("layerfs", [LAYERFS, "-f", "--no-cache"] + tls + [ref, mnt]),
                                  ("layerfs-report", [REPORT, "--no-cache"] + tls + [ref])):
                    rc, _, err = run(cmd)
                    lines = err.strip().splitlines()
                    ok = rc == 1 and len(lines) == 1 and difftest.mounted_fstype(mnt) is None
                    check(ok, "%s: %s: status 1, one line: %s" % (what, prog,
                                                                   lines[0] if lines else ""),
                          "(status %d) %s" % (rc, err))
                    if difftest.mounted_fstype(mnt) is not None:
                        difftest.sys_umount(mnt)
        except difftest.Failure as e:
            check(False, "mount", str(e))
        finally:
            difftest.MOUNTS.cleanup()
    return summary(t0)


if __name__ == "__main__":
    sys.exit(main())
