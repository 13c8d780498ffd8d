#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""registry_faults.py - registry reads under faults never give wrong bytes
and the mount recovers (issue 14), run by registry_faults.sh.

A three-layer image is generated here (an uncompressed layer, a gzip layer
and a zstd layer cut into frames small enough to be read in place), each
holding files of random bytes (1.5-3 MiB, several 256 KiB chunks each) and
small files; the bytes generated here are the reference.  It is pushed byte
for byte to a docker-registry behind the test bed's FaultProxy
(tests/integration/registry.py).

1. A first mount through the proxy with --cache DIR reads every file.
2. DIR/chunks is emptied and the image mounted again (its index cached)
   with --registry-timeout 2 --retry-times 2.  For each fault, armed on the
   layer's blob until cleared (so that it outlasts the retries): a read of
   a region no earlier read touched (a fresh file per fault, so neither the
   chunk cache nor the page cache has it) must fail with EIO, never return
   other bytes than the reference, be retried, end in bounded time, leave
   a line on layerfs's stderr naming the blob and the reason; then, the
   fault cleared (and a second gone by), the mount is up (stat of the root, the daemon alive) and
   the same read gives the right bytes.  The faults: connection reset,
   dropped connection, 500, 503, 429 with Retry-After, truncated body
   (closed, and reset), a Content-Range that is not the range asked for
   (the bytes shifted, and the header alone), corrupted bytes (one byte in
   every 64 KiB of the blob's offsets flipped, so every chunk fetched
   fails its sha256), a stall longer than the timeout (before the answer
   and mid-body), the registry down.  The corrupt fault is also checked on
   the gzip and the zstd layer.  A registry that ignores Range (200 with
   the whole blob) and a single transient fault (reset, 503, corrupt) must
   give the right bytes.  At the end every file of the image is read whole.
3. A corrupted blob during a FIRST mount (an empty cache dir): the mount
   fails with one line on stderr and leaves no index of that layer in the
   cache dir (its index file name is learnt from a mount of an image made
   of that layer alone: the index cache's key of a registry blob depends
   on the blob alone); the same mount without the fault then succeeds.

If the second mount rejects --registry-timeout/--retry-times (layerfs
before the chunk cache), that is a FAIL and the cases run on a mount
without them, stalls left out, to show how the old code behaves.
Prints "ok ..." / "FAIL ..." per check; exits 1 on any failure.
"""
import errno
import math
import os
import random
import re
import shutil
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
TIMEOUT, RETRIES = 2, 2             # --registry-timeout, --retry-times
REGION = 64 << 10                   # bytes read per case
CORRUPT_EVERY = 64 << 10            # the corrupt fault flips a byte per 64 KiB of blob
READ_BOUND = 40.0                   # seconds a failing read may take at most
DOWN = 4                            # seconds the registry is down (refusing connections)


# ------------------------------------------------------------- the proxy

class _Flipping:
    """An upstream response whose body has the byte at every blob offset
    = EVERY/2 (mod EVERY) XORed with 0xff; START is the blob offset of the
    body's first byte (from Content-Range)."""

    def __init__(self, r, start, every, counter):
        self.r, self.pos, self.every, self.counter = r, start, every, counter

    def read(self, n):
        data = self.r.read(n)
        if not data:
            return data
        b = bytearray(data)
        first = self.pos + (self.every // 2 - self.pos) % self.every
        for at in range(first, self.pos + len(b), self.every):
            b[at - self.pos] ^= 0xFF
            self.counter[0] += 1
        self.pos += len(b)
        return bytes(b)

    def __getattr__(self, name):
        return getattr(self.r, name)


class Proxy(registry.FaultProxy):
    """The test bed's proxy; its corrupt fault with every=N flips one byte
    in every N bytes of the blob (by blob offset, whatever range was asked
    for), so that every chunk of a faulted answer fails its digest."""

    flips = [0]

    def _relay(self, h, r, entry, kind, prm, rate, shift):
        if kind == "corrupt" and prm.get("every"):
            start = 0
            m = re.match(r"\s*bytes (\d+)-", r.getheader("Content-Range") or "")
            if r.status == 206 and m:
                start = int(m.group(1))
            r = _Flipping(r, start, int(prm["every"]), self.flips)
            kind, prm = None, {}
        return super()._relay(h, r, entry, kind, prm, rate, shift)


# ------------------------------------------------------------- the image

# (name, fault parameters, expectation, reason regex for the log line[, note
# printed when the read does not fail with EIO])
NET = r"reset|clos|connect|recv|receiv|send|empty|reply|network|peer|eof|socket|transfer"
U_CASES = [
    ("reset", dict(kind="reset"), "eio", NET),
    ("drop", dict(kind="drop"), "eio", NET),
    ("500", dict(kind="status", status=500), "eio", r"\b500\b"),
    ("503", dict(kind="status", status=503), "eio", r"\b503\b"),
    ("429 + Retry-After 1", dict(kind="status", status=429, retry_after=1), "eio", r"\b429\b"),
    ("truncated body", dict(kind="truncate", after=4096), "eio",
     r"trunc|short|partial|incomplete|end|premature|clos|transfer|bytes"),
    ("truncated body + RST", dict(kind="truncate", after=4096, reset=True), "eio",
     r"trunc|short|partial|incomplete|end|premature|clos|transfer|reset|bytes"),
    ("Content-Range of shifted bytes", dict(kind="wrong_range", mode="shifted", shift=1), "eio",
     r"range|sha256|digest|verif|match"),
    ("Content-Range header moved", dict(kind="wrong_range", mode="header", shift=4096), "eio",
     r"range|sha256|digest|verif|match"),
    ("corrupt", dict(kind="corrupt", every=CORRUPT_EVERY), "eio",
     r"sha256|digest|verif|match|checksum|corrupt"),
    ("stall before the answer", dict(kind="stall", seconds=TIMEOUT + 3), "eio",
     r"time|stall|slow|progress"),
    ("stall mid-body", dict(kind="stall", after=4096, seconds=TIMEOUT + 3), "eio",
     r"time|stall|slow|progress|moved"),
    ("registry down", dict(kind="down"), "eio", NET + r"|refused"),
    ("registry ignores Range", dict(kind="ignore_range"), "ok", None),
    ("one reset", dict(kind="reset", count=1), "ok", None),
    ("one 503", dict(kind="status", status=503, count=1), "ok", None),
    ("one corrupt answer", dict(kind="corrupt", every=CORRUPT_EVERY, count=1), "ok", None),
]
G_CASES = [
    ("corrupt", dict(kind="corrupt", every=CORRUPT_EVERY), "eio",
     r"sha256|digest|verif|match|checksum|corrupt"),
    ("truncated body", dict(kind="truncate", after=4096), "eio",
     r"trunc|short|partial|incomplete|end|premature|clos|transfer|bytes"),
    ("registry ignores Range", dict(kind="ignore_range"), "ok", None),
    ("one corrupt answer", dict(kind="corrupt", every=CORRUPT_EVERY, count=1), "ok", None),
]
Z_CASES = [
    ("corrupt", dict(kind="corrupt", every=CORRUPT_EVERY), "eio",
     r"sha256|digest|verif|match|checksum|corrupt"),
    ("503", dict(kind="status", status=503), "eio", r"\b503\b"),
    ("one corrupt answer", dict(kind="corrupt", every=CORRUPT_EVERY, count=1), "ok", None),
]
STALLS = ("stall",)


class Lay:
    """A layer of the test image: its files (path -> bytes), the files
    set aside for the cases, its Layer and its blob's digest."""

    def __init__(self, label, prefix, compression, cases, size, rng, frame=None):
        self.label, self.cases = label, cases
        self.files = {}
        ents = [Entry("dir", prefix, 0o755)]
        self.case_files = []
        for i, _case in enumerate(cases):
            p = "%s/f%02d.bin" % (prefix, i)
            self.files[p] = rng.randbytes(size + rng.randrange(1, 200000))
            self.case_files.append(p)
        self.files["%s/small.txt" % prefix] = ("small file of layer %s\n" % label).encode()
        self.files["%s/small.bin" % prefix] = rng.randbytes(3000)
        self.files["%s/extra.bin" % prefix] = rng.randbytes(size)     # read whole at the end
        for p, d in self.files.items():
            ents.append(Entry("file", p, 0o644, data=d))
        tar = mkimage.layer_tar(ents)
        if compression == "zstd":
            # frames of <= FRAME plain bytes are read in place (bigger ones
            # are re-framed into the local scratch file: no network reads)
            blob = mkimage.compress(tar, "zstd", members=math.ceil(len(tar) / frame))
        else:
            blob = mkimage.compress(tar, compression)
        self.layer = mkimage.Layer(tar, blob, compression)
        self.hex = mkimage.sha256(blob)


def make_image(rng):
    u = Lay("uncompressed", "u", "none", U_CASES, 3 << 19, rng)        # 1.5 MiB+
    g = Lay("gzip", "g", "gzip", G_CASES, 2 << 20, rng)               # 2 MiB+
    z = Lay("zstd", "z", "zstd", Z_CASES, 5 << 19, rng, frame=512 << 10)   # 2.5 MiB+
    return [u, g, z]


# ------------------------------------------------------------- helpers

def read_region(path, off, n):
    """(bytes read, errno or None, seconds): reads until N bytes, EOF or
    an error (a short read followed by an error keeps both)."""
    t0 = time.monotonic()
    got, err = b"", None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        return got, e.errno, time.monotonic() - t0
    try:
        while len(got) < n:
            d = os.pread(fd, n - len(got), off + len(got))
            if not d:
                break
            got += d
    except OSError as e:
        err = e.errno
    finally:
        os.close(fd)
    return got, err, time.monotonic() - t0


def read_all(mnt, files):
    bad = []
    for p, want in sorted(files.items()):
        try:
            with open(os.path.join(mnt, p), "rb") as f:
                got = f.read()
        except OSError as e:
            bad.append("%s: %s" % (p, e))
            continue
        if got != want:
            bad.append("%s: %d bytes, %s" % (p, len(got), "WRONG BYTES" if len(got) == len(want)
                                             else "want %d" % len(want)))
    return bad


def alive(mnt, proc):
    """'' when the mount is up and its daemon alive, else why not."""
    if proc.poll() is not None:
        return "the daemon exited (status %s)" % proc.returncode
    fst = difftest.mounted_fstype(mnt)
    if fst is None or not fst.startswith("fuse"):
        return "not mounted (%s)" % fst
    try:
        os.stat(mnt)
        os.listdir(mnt)
    except OSError as e:
        return "stat/readdir of the root: %s" % e
    return ""


class Log:
    """The layerfs log; new() gives the lines written since the last call."""

    def __init__(self, path):
        self.path, self.pos = path, 0

    def new(self):
        with open(self.path, "rb") as f:
            f.seek(self.pos)
            data = f.read()
        self.pos += len(data)
        return data.decode(errors="replace").splitlines()


def idx_files(d):
    try:
        return sorted(f for f in os.listdir(d) if f.endswith(".idx"))
    except FileNotFoundError:
        return []


def wait_exit_or_mount(proc, mnt, limit):
    """'exited' or 'mounted' or 'timeout'."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return "exited"
        fst = difftest.mounted_fstype(mnt)
        if fst is not None and fst.startswith("fuse"):
            return "mounted"
        time.sleep(0.01)
    return "timeout"


# ------------------------------------------------------------- the cases

def run_case(px, mnt, proc, log, lay, i, case, legacy):
    name, fault, expect, reason = case[:4]
    note = case[4] if len(case) > 4 else ""
    fault = dict(fault)
    kind = fault.pop("kind")
    count = fault.pop("count", -1)
    what = "%s layer, %s" % (lay.label, name)
    if legacy and kind in STALLS:
        print("skip %s (no --registry-timeout: a stall would last the default 30 s)" % what)
        return
    path = lay.case_files[i]
    want_all = lay.files[path]
    off = (len(want_all) // 2) & ~4095
    want = want_all[off:off + REGION]
    full = os.path.join(mnt, path)

    px.clear_faults()
    px.reset_stats()
    Proxy.flips[0] = 0
    log.new()
    rid = None
    if kind == "down":
        px.down(DOWN)
        t_down = time.monotonic()
        # the proxy's accept loop closes its port within 50 ms: wait for that
        while time.monotonic() < t_down + 2:
            try:
                socket.create_connection(("127.0.0.1", px.port), timeout=0.5).close()
            except OSError:
                break
            time.sleep(0.01)
    else:
        rid = px.add_fault(kind, path="/blobs/sha256:" + lay.hex, count=count, **fault)
    got, err, dt = read_region(full, off, REGION)
    if kind == "down":
        # the proxy comes back by itself; wait for it
        while time.monotonic() < t_down + DOWN + 0.3:
            time.sleep(0.05)
    # requests the rule was applied to, counted when they arrive (the log has
    # a request once it is over: a stalled one may not be there yet, and
    # one stalled by the previous case may be); a spent rule is gone
    rules = [r for r in px.faults() if r["id"] == rid]
    px.clear_faults()
    faulted = rules[0]["hits"] if rules else (count if rid is not None else 0)
    st = px.stats()
    blob_reqs = [e for e in st["log"] if lay.hex in e["path"]]
    lines = log.new()
    info = "(%.1fs, %d blob requests, %d faulted%s)" % (
        dt, len(blob_reqs), faulted,
        ", %d bytes flipped" % Proxy.flips[0] if kind == "corrupt" else "")
    wrong = got != want[:len(got)]

    if expect == "eio":
        check(not wrong, "%s: no wrong bytes" % what,
              "WRONG BYTES: %d bytes read, first difference at +%d %s" % (
                  len(got), next(k for k in range(len(got)) if got[k] != want[k]), info)
              if wrong else "")
        tested = kind == "down" or faulted
        ok = err == errno.EIO
        detail = "read gave %s after %d bytes %s" % (
            errno.errorcode.get(err, err) if err else "no error", len(got), info)
        if not tested and not err:
            detail += " - INCONCLUSIVE: the read made no faulted blob request (region " \
                      "cached already?)"
        if note:
            detail += " " + note
        check(ok, "%s: the read fails with EIO %s" % (what, info if ok else ""),
              "" if ok else detail)
        if err != errno.EIO:
            print("skip %s: retries, time, stderr (the read did not fail)" % what)
        elif kind != "down":
            need = 1 + (3 if legacy else RETRIES)
            check(faulted >= need,
                  "%s: retried (%d faulted requests, want >= %d)" % (what, faulted, need))
        if err == errno.EIO:
            check(dt < READ_BOUND, "%s: the failing read ends in bounded time (%.1fs < %ds)"
                  % (what, dt, READ_BOUND))
        hexre = lay.hex[:12]
        named = [ln for ln in lines if hexre in ln]
        # the reason: in what the line says besides the URL and the digest
        good = [ln for ln in named if re.search(reason, re.sub(
            r"https?://\S+|sha256:[0-9a-f]{64}", "", ln), re.I)]
        shown = (good or named or ["-"])[0].strip()
        if err == errno.EIO:
            check(bool(good), "%s: stderr names the blob and the reason: ...%s"
                  % (what, shown[shown.find(hexre):][-110:]),
                  "(want a line with %s... matching /%s/; new lines: %r)"
                  % (hexre, reason, lines[:6]))
    else:
        ok = err is None and got == want
        check(ok, "%s: the read gives the right bytes %s" % (what, info),
              "" if ok else "read gave %s after %d bytes, %s %s"
              % (errno.errorcode.get(err, err) if err else "no error", len(got),
                 "WRONG BYTES" if wrong else "", info))
        if not faulted:
            check(False, "%s: the fault was used" % what, "INCONCLUSIVE: no blob request "
                  "was faulted %s" % info)

    why = alive(mnt, proc)
    check(not why, "%s: then the mount is up (stat of the root, daemon alive)" % what, why)
    if why:
        raise difftest.Failure("the mount went away")
    if expect == "eio":
        # a chunk that just failed fails again at once for a second (FAIL_HOLD_MS
        # in lib/chunkcache.c: the kernel asks for a page twice): a read after
        # that tries again
        time.sleep(1.1)
        got2, err2, dt2 = read_region(full, off, REGION)
        check(err2 is None and got2 == want,
              "%s: fault cleared, the same read gives the right bytes (%.1fs)" % (what, dt2),
              "read gave %s after %d bytes%s" % (errno.errorcode.get(err2, err2) if err2
                                                 else "no error", len(got2),
                                                 ", WRONG BYTES" if got2 != want[:len(got2)]
                                                 else ""))


def first_mount_corrupt(px, root, side_env):
    """Step 3 of the docstring: a corrupt blob while indexing."""
    rng = random.Random(1414)
    a_ents = [Entry("dir", "a", 0o755)]
    a_files = {"a/data%d.bin" % k: rng.randbytes((5 << 18) + rng.randrange(100000))
               for k in range(2)}
    a_files["a/note"] = b"layer A\n"
    b_files = {"b/data.bin": rng.randbytes(1 << 20), "b/note": b"layer B\n"}
    for p, d in a_files.items():
        a_ents.append(Entry("file", p, data=d))
    b_ents = [Entry("dir", "b", 0o755)] + [Entry("file", p, data=d) for p, d in b_files.items()]
    la = mkimage.make_layer(a_ents, "none")
    lb = mkimage.make_layer(b_ents, "gzip")
    ahex = mkimage.sha256(la.blob)
    for name, layers in (("first", [la, lb]), ("solo", [la])):
        d = os.path.join(root, "oci-" + name)
        mkimage.write_oci_dir(d, layers, tag="v1")
        registry.push("oci:%s:v1" % d, px.upstream + "/lfs/%s:v1" % name, compress="none")

    cache = os.path.join(root, "cache-first")
    os.makedirs(cache)
    mnt = os.path.join(root, "m-first")
    os.makedirs(mnt)
    ref = "docker://%s/lfs/first:v1" % px.host
    base = [LAYERFS, "-f", "--read-only", "--tls-verify=false", "--data-cache-size", "0", "--cache", cache]
    px.clear_faults()
    px.add_fault("corrupt", path="/blobs/sha256:" + ahex, count=-1, every=CORRUPT_EVERY)
    errp = os.path.join(root, "first-fail.log")
    with open(errp, "wb") as ef:
        proc = subprocess.Popen(base + [ref, mnt], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=ef, start_new_session=True)
    state = wait_exit_or_mount(proc, mnt, 90)
    px.clear_faults()
    if state != "exited":
        difftest.MOUNTS.add_fuse(mnt, proc)
        difftest.MOUNTS.umount(mnt)
    with open(errp, "rb") as f:
        lines = [ln for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
    check(state == "exited" and proc.returncode != 0,
          "first mount, uncompressed layer corrupted while indexing: layerfs fails (%s, "
          "status %s)" % (state, proc.returncode))
    check(len(lines) == 1, "... with one line on stderr: %s" % (lines[0] if lines else "-"),
          "(%d lines: %r)" % (len(lines), lines[:8]))
    check(any(ahex[:12] in ln for ln in lines),
          "... the line names the blob (sha256:%s...)" % ahex[:12])
    s1 = sorted(os.listdir(cache))

    # the corrupted layer's index file name: an image of that layer alone
    solo_cache = os.path.join(root, "cache-solo")
    side = difftest.LayerfsSide(LAYERFS, side_env)
    m = os.path.join(root, "m-solo")
    os.makedirs(m)
    side.mount(["docker://%s/lfs/solo:v1" % px.host],
               ["--read-only", "--tls-verify=false", "--data-cache-size", "0", "--cache", solo_cache], m,
               os.path.join(root, "m-solo.log"))
    difftest.MOUNTS.umount(m)
    solo = idx_files(solo_cache)
    check(len(solo) == 1, "the image of the corrupted layer alone has one index file (%s)"
          % solo)
    if len(solo) == 1:
        stem = solo[0][:32]
        check(not [f for f in s1 if stem in f],
              "... the failed first mount left no index (nor temporary) of that layer "
              "in the cache dir (it holds %s)" % s1)
    m2 = os.path.join(root, "m-first2")
    os.makedirs(m2)
    try:
        side.mount([ref], ["--read-only", "--tls-verify=false", "--data-cache-size", "0", "--cache", cache], m2,
                   os.path.join(root, "m-first2.log"))
    except difftest.Failure as e:
        check(False, "the same first mount without the fault succeeds", str(e))
        return
    bad = read_all(m2, dict(a_files, **b_files))
    check(not bad, "the same first mount without the fault succeeds, every file right",
          "; ".join(bad[:5]))
    difftest.MOUNTS.umount(m2)
    s2 = idx_files(cache)
    if len(solo) == 1:
        check(solo[0] in s2, "... and then writes the layer's index (%s in %s)" % (solo[0], s2))


# ------------------------------------------------------------- main

def main():
    registry.install_signal_handlers()
    t0 = time.monotonic()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="lfs-regfaults-") as root, \
            registry.Registry() as reg, Proxy(reg.host) as px:
        try:
            lays = make_image(random.Random(14))
            files = {}
            for lay in lays:
                files.update(lay.files)
            lay_dir = os.path.join(root, "oci")
            mkimage.write_oci_dir(lay_dir, [l.layer for l in lays], tag="v1")
            registry.push("oci:%s:v1" % lay_dir, reg.host + "/lfs/faults:v1", compress="none")
            print("(image of %d MiB in %d layers pushed in %.1fs)"
                  % (sum(len(l.layer.blob) for l in lays) >> 20, len(lays),
                     time.monotonic() - t0), flush=True)
            ref = "docker://%s/lfs/faults:v1" % px.host
            cache = os.path.join(root, "cache")
            side = difftest.LayerfsSide(LAYERFS, env)
            common = ["--read-only", "--tls-verify=false", "--data-cache-size", "0", "--cache", cache]

            # --- 1. first mount: index, every file
            mnt = os.path.join(root, "m1")
            os.makedirs(mnt)
            side.mount([ref], common, mnt, os.path.join(root, "m1.log"))
            bad = read_all(mnt, files)
            check(not bad, "first mount (empty cache): every file's bytes", "; ".join(bad[:5]))
            difftest.MOUNTS.umount(mnt)
            check(len(idx_files(cache)) == len(lays),
                  "first mount: an index per layer in the cache dir (%d)" % len(idx_files(cache)))
            print("(first mount done at %.1fs)" % (time.monotonic() - t0), flush=True)

            # --- 2. index cached, no chunk cached: the faults
            shutil.rmtree(os.path.join(cache, "chunks"), ignore_errors=True)
            mnt = os.path.join(root, "m2")
            os.makedirs(mnt)
            logp = os.path.join(root, "m2.log")
            legacy = False
            try:
                proc = side.mount([ref], common + ["--registry-timeout", str(TIMEOUT),
                                                   "--retry-times", str(RETRIES)], mnt, logp)
                check(True, "second mount with --registry-timeout %d --retry-times %d"
                      % (TIMEOUT, RETRIES))
            except difftest.Failure as e:
                check(False, "second mount with --registry-timeout %d --retry-times %d"
                      % (TIMEOUT, RETRIES), str(e))
                print("  (going on without these options, stalls left out)", flush=True)
                legacy = True
                shutil.rmtree(os.path.join(cache, "chunks"), ignore_errors=True)
                proc = side.mount([ref], common, mnt, logp)
            ra = None
            try:
                dev = os.stat(mnt).st_dev
                with open("/sys/class/bdi/%d:%d/read_ahead_kb"
                          % (os.major(dev), os.minor(dev))) as f:
                    ra = f.read().strip()
            except OSError:
                pass
            print("(kernel read-ahead of the mount: %s KiB)" % ra, flush=True)
            log = Log(logp)
            for lay in lays:
                for i, case in enumerate(lay.cases):
                    run_case(px, mnt, proc, log, lay, i, case, legacy)
            print("(fault cases done at %.1fs)" % (time.monotonic() - t0), flush=True)
            px.clear_faults()
            bad = read_all(mnt, files)
            check(not bad, "after all the faults, every file of the image is right",
                  "; ".join(bad[:5]))
            why = alive(mnt, proc)
            check(not why, "the mount is still up at the end", why)
            difftest.MOUNTS.umount(mnt)

            # --- 3. a corrupt blob during the first mount
            first_mount_corrupt(px, root, env)
        except difftest.Failure as e:
            check(False, "mount", str(e))
        finally:
            difftest.MOUNTS.cleanup()
    return summary(t0)


if __name__ == "__main__":
    sys.exit(main())
