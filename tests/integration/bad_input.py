#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bad_input.py - broken and hostile sources must fail cleanly.

Each case builds a damaged or hostile image with mkimage.py and runs layerfs
on it (in its normal background mode, under a timeout so a hang fails the
test).  Two kinds of case:

* error cases (`case`): what DESIGN.md promises for bad input - exit status
  1, exactly one line on stderr naming the offending file and the reason,
  and nothing mounted;
* mount cases (`mount_case`): input that is odd but must work, or entries
  DESIGN.md says to skip (`..`, meaningless whiteouts, over-long paths): exit
  status 0, a warning when something was skipped (and no stderr at all
  otherwise), and the WHOLE tree compared with what it must be, so that
  silently partial contents fail.  Checks of a mount run under a watchdog
  that kills the daemon (aborting the FUSE connection) if they hang.

Covered: truncated / corrupt tar, gzip and zstd; decompression bombs;
entries claiming absurd sizes; over-long and very deep paths; names with
newlines and invalid UTF-8; hard links to later entries and cycles; symlink
loops; whiteouts of `..` and of the root; a layer listed twice; manifests,
digests and docker Layers pointing outside the image; blobs that are FIFOs;
missing blobs and digest/size/diff_id mismatches; non-JSON index and config;
JSON documents over the 16 MiB limit; an empty image; 500 layers.
"""

import gzip
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mkimage as mk  # noqa: E402

LAYERFS = sys.argv[1]
TIMEOUT = 20        # seconds for one layerfs run, and for the checks of one mount
failures = []
checked = [0]


# ------------------------------------------------------------ mounting ---

def mounted(mnt):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == mnt for line in f)


def daemon_pids(mnt):
    """The layerfs daemons this test started on MNT (by pid, from /proc)."""
    exe = os.path.realpath(LAYERFS)
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            argv = open("/proc/%s/cmdline" % p, "rb").read().split(b"\0")
            if os.path.realpath("/proc/%s/exe" % p) != exe:
                continue
        except OSError:
            continue
        if len(argv) >= 2 and argv[-2] == os.fsencode(mnt):   # cmdline ends in "\0"
            pids.append(int(p))
    return pids


def alive(mnt):
    """Does MNT's daemon still answer?"""
    try:
        os.listdir(mnt)
    except OSError:
        return False
    return bool(daemon_pids(mnt))


def unmount(mnt):
    if not mounted(mnt):
        return
    if subprocess.run(["fusermount3", "-u", mnt], stderr=subprocess.DEVNULL).returncode:
        for pid in daemon_pids(mnt):
            os.kill(pid, signal.SIGKILL)
        subprocess.run(["umount", "-l", mnt], stderr=subprocess.DEVNULL)
    for _ in range(200):            # the daemon exits after the unmount
        if not daemon_pids(mnt):
            break
        time.sleep(0.01)


class Watchdog:
    """Kill MNT's daemon if the checks of the mount take too long: the FUSE
    connection is then aborted and every blocked call returns ENOTCONN."""

    def __init__(self, mnt, seconds=TIMEOUT):
        self.fired = False
        self.mnt = mnt
        self.timer = threading.Timer(seconds, self._fire)
        self.timer.daemon = True
        self.timer.start()

    def _fire(self):
        self.fired = True
        for pid in daemon_pids(self.mnt):
            os.kill(pid, signal.SIGKILL)

    def cancel(self):
        self.timer.cancel()


def run(args, mnt):
    try:
        p = subprocess.run([LAYERFS] + args + [mnt], capture_output=True, text=True,
                           timeout=TIMEOUT, errors="replace")
    except subprocess.TimeoutExpired:
        return -1, "HANG: layerfs did not finish within %d s\n" % TIMEOUT
    return p.returncode, p.stderr


def report(name, problems, err, start):
    shown = err.strip().replace("\n", " | ")
    if problems:
        failures.append("%s: %s; stderr: %s" % (name, ", ".join(problems), shown))
    else:
        print("ok   %-36s %5.2fs %s" % (name, time.time() - start, shown[:300]))


def case(name, args, mnt, needles):
    """Bad input: exit 1, one line naming the file and the reason, no mount."""
    checked[0] += 1
    start = time.time()
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
        unmount(mnt)
    report(name, problems, err, start)


def mount_case(name, args, mnt, check, warn=None):
    """Input that must mount: exit 0, then check(mnt) -> list of problems.

    warn: None when stderr must stay empty, else strings the warning(s) must
    contain."""
    checked[0] += 1
    start = time.time()
    rc, err = run(args, mnt)
    problems = []
    if rc != 0:
        problems.append("exit status %d, want 0" % rc)
    elif not mounted(mnt):
        problems.append("exit status 0 but nothing mounted")
    else:
        wd = Watchdog(mnt)
        try:
            problems += check(mnt)
        except OSError as e:
            problems.append("checking the mount: %s" % e)
        finally:
            wd.cancel()
        if wd.fired:
            problems.append("HANG: checking the mount took over %d s" % TIMEOUT)
        elif not alive(mnt):
            problems.append("the daemon died during the checks")
    if warn is None and err.strip():
        problems.append("unexpected output on stderr")
    if warn is not None and rc == 0:
        if "warning" not in err:
            problems.append("no warning")
        if any(not line.startswith("layerfs: warning: ") for line in err.strip().splitlines()):
            problems.append("stderr has more than warnings")
        for n in warn:
            if n not in err:
                problems.append("warning lacks %r" % n)
    unmount(mnt)
    report(name, problems, err, start)


# ------------------------------------------------------ tree checking ---

def tree(root):
    """{relpath bytes: None (dir) | file content | ("link", target) | ("other", mode)}"""
    out = {}

    def walk(d, rel):
        for e in os.scandir(d):
            r = rel + e.name
            st = e.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                out[r] = None
                walk(e.path, r + b"/")
            elif stat.S_ISREG(st.st_mode):
                with open(e.path, "rb") as f:
                    out[r] = f.read()
            elif stat.S_ISLNK(st.st_mode):
                out[r] = ("link", os.readlink(e.path))
            else:
                out[r] = ("other", st.st_mode)
    walk(os.fsencode(root), b"")
    return out


def with_dirs(files):
    """Add the parent directories of every path of FILES (a want-tree)."""
    out = {mk.fsbytes(k): v for k, v in files.items()}
    for p in list(out):
        while b"/" in p:
            p = p.rpartition(b"/")[0]
            out.setdefault(p, None)
    return out


def short(v):
    return repr(v if not isinstance(v, bytes) or len(v) < 40 else v[:40] + b"...")


def want_tree(files, extra=None):
    """A check: the mount holds exactly FILES (plus their parent dirs), and
    extra(mnt) finds no problem."""
    want = with_dirs(files)

    def check(mnt):
        got = tree(mnt)
        problems = []
        for p in sorted(set(want) | set(got)):
            if p not in got:
                problems.append("%r missing" % p)
            elif p not in want:
                problems.append("%r should not be there" % p)
            elif got[p] != want[p]:
                problems.append("%r is %s, want %s" % (p, short(got[p]), short(want[p])))
        if extra:
            problems += extra(mnt)
        return problems[:10]
    return check


# ------------------------------------------------------ image editing ---

def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def write_layers(t, name, layers):
    return mk.write_layer_files(os.path.join(t, name), layers)


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


def put_blob(d, data):
    h = mk.sha256(data)
    write(os.path.join(d, "blobs/sha256", h), data)
    return "sha256:" + h


def oci_manifest(d):
    """(hex, parsed JSON) of the image manifest of OCI layout D."""
    for h in os.listdir(os.path.join(d, "blobs/sha256")):
        with open(os.path.join(d, "blobs/sha256", h), "rb") as f:
            b = f.read()
        try:
            j = json.loads(b)
        except ValueError:
            continue
        if isinstance(j, dict) and "layers" in j:
            return h, j
    raise RuntimeError("no manifest in " + d)


def edit_oci(d, manifest=None, index=None):
    """Rewrite OCI layout D: manifest(j) edits the manifest JSON in place
    (stored as a new blob, index.json updated), then index(j) edits
    index.json in place."""
    idx = json.load(open(os.path.join(d, "index.json")))
    if manifest:
        h, j = oci_manifest(d)
        manifest(j)
        mb = mk._json(j)
        os.unlink(os.path.join(d, "blobs/sha256", h))
        idx["manifests"][0]["digest"] = put_blob(d, mb)
        idx["manifests"][0]["size"] = len(mb)
    if index:
        index(idx)
    write(os.path.join(d, "index.json"), mk._json(idx))


def edit_tar(path, fn):
    """Rewrite the tarball PATH: fn(TarInfo, data or None) -> new data
    (None keeps the member as it is, for non-files too)."""
    with tarfile.open(path) as src:
        members = [(m, src.extractfile(m).read() if m.isfile() else None)
                   for m in src.getmembers()]
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for m, data in members:
            new = fn(m, data)
            if new is not None:
                data = new
                m.type = tarfile.REGTYPE
                m.size = len(data)
            tf.addfile(m, io.BytesIO(data) if m.isfile() else None)


def edit_docker_manifest(path, fn):
    def edit(m, data):
        if m.name != "manifest.json":
            return None
        j = json.loads(data)
        fn(j[0])
        return mk._json(j)
    edit_tar(path, edit)


def with_size(size, pax=False, compression="none"):
    """A layer whose first entry's header claims SIZE bytes of data (its
    real data: 5 bytes), followed by an ordinary file."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w",
                      format=tarfile.PAX_FORMAT if pax else tarfile.USTAR_FORMAT) as tf:
        for name, data in (("huge", b"hello"), ("ok", b"fine\n")):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            if pax and name == "huge":
                ti.pax_headers = {"size": str(size)}
            tf.addfile(ti, io.BytesIO(data))
    tar = bytearray(buf.getvalue())
    if not pax:
        if size < 8 ** 11:
            tar[124:136] = b"%011o\0" % size
        else:                       # GNU base-256
            tar[124:136] = b"\x80" + size.to_bytes(11, "big")
        tar[148:156] = b"        "
        tar[148:156] = b"%06o\0 " % sum(tar[:512])
    return mk.compress(bytes(tar), compression)


# --------------------------------------------------------------- cases ---

def cases_damaged(t, mnt):
    """Truncated, corrupt and missing data: the original suite."""
    good = simple_layers(1)[0]
    gz = mk.make_layer([mk.Entry("file", "a", data=os.urandom(1 << 20))], "gzip")
    zs = mk.make_layer([mk.Entry("file", "a", data=os.urandom(1 << 20))], "zstd")

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
    edit_oci(d, manifest=lambda j: j["layers"][0].update(
        mediaType="application/vnd.example.layer.v1.tar+lz4"))
    case("unknown media type", [d], mnt, ["lz4"])

    # docker save classic: a layer whose content no longer matches diff_ids.
    out = t + "/docker-diffid.tar"
    mk.write_docker(out, simple_layers(2))
    done = []

    def evil_layer(m, data):
        if m.name.endswith("layer.tar") and data is not None and not done:
            done.append(m.name)
            return mk.layer_tar([mk.Entry("file", "evil", data=b"x")])
        return None
    edit_tar(out, evil_layer)
    case("diff_id mismatch", [out], mnt, ["docker-diffid.tar", "mismatch"])

    # A compressed image archive cannot be read in place.
    out = t + "/docker.tar"
    mk.write_docker(out, simple_layers(1))
    write(t + "/docker.tar.gz", gzip.compress(open(out, "rb").read()))
    case("compressed image archive", [t + "/docker.tar.gz"], mnt, ["docker.tar.gz"])


def cases_sizes(t, mnt):
    """Decompression bombs and entries claiming more data than there is."""
    zeros = mk.layer_tar([mk.Entry("file", "zeros", data=bytes(50 << 20)),
                          mk.Entry("file", "after", data=b"x")])
    bombs = [("gzip", write(t + "/bomb.tar.gz", mk.compress(zeros, "gzip", level=1))),
             ("zstd", write(t + "/bomb.tar.zst", mk.compress(zeros, "zstd", level=1)))]
    del zeros
    for kind, path in bombs:
        for extra in ([], ["--no-cache"]):
            case("%s bomb%s" % (kind, " " + extra[0] if extra else ""),
                 ["--max-layer-size", "10M"] + extra + [path], mnt,
                 [os.path.basename(path), "limit"])
    # The same layers under a limit they fit in: the guard is not the only thing failing.
    mount_case("gzip bomb under a larger limit", ["--max-layer-size", "60M", bombs[0][1]], mnt,
               want_tree({"zeros": bytes(50 << 20), "after": b"x"}))

    for name, size, pax, comp in (
            ("absurd size (ustar 8 GiB)", 8 ** 11 - 1, False, "none"),
            ("absurd size (base-256 2^62)", 1 << 62, False, "none"),
            ("absurd size (pax 10^15)", 10 ** 15, True, "none"),
            ("absurd size (pax, gzip)", 10 ** 15, True, "gzip"),
            ("absurd size (pax, zstd)", 10 ** 15, True, "zstd")):
        fn = "absurd-%d.tar%s" % (checked[0], {"none": "", "gzip": ".gz", "zstd": ".zst"}[comp])
        case(name, [write(os.path.join(t, fn), with_size(size, pax, comp))], mnt, [fn])


def cases_entries(t, mnt):
    """Hostile entries inside a layer."""
    L = lambda name, *entries: write(os.path.join(t, name), mk.layer_tar(list(entries)))  # noqa
    F = lambda path, data=b"": mk.Entry("file", path, data=data)  # noqa

    # Entries escaping the root: a warning, and everything else mounts.
    def nothing_outside(mnt):
        return ["something was written outside"] if os.path.lexists(t + "/escape") or \
            os.path.lexists(t + "/escape2") else []
    mount_case("escaping entries",
               [L("escape.tar", F("../escape", b"x"), F("a/../../escape2", b"x"),
                  F("/abs", b"abs\n"), F("ok", b"fine\n"))], mnt,
               want_tree({"abs": b"abs\n", "ok": b"fine\n"}, nothing_outside),
               warn=["escape.tar", "escape"])

    # A path of 10,000 components is longer than PATH_MAX: skipped with a
    # warning (nothing of it, not even its parents, shows); the rest mounts.
    mount_case("path of 10,000 components",
               [L("deep10k.tar", F("a/" * 9999 + "f", b"deep"), F("ok", b"fine\n"))], mnt,
               want_tree({"ok": b"fine\n"}), warn=["deep10k.tar", "skipping"])
    # 2,000 components still fit in PATH_MAX: it must mount and be reachable.
    depth = 2000

    def deep_check(mnt):
        fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for _ in range(depth):
                nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                os.close(fd)
                fd = nfd
            if os.listdir(fd) != ["f"]:
                return ["the deepest directory holds %r" % os.listdir(fd)]
            ffd = os.open("f", os.O_RDONLY, dir_fd=fd)
            data = os.read(ffd, 100)
            os.close(ffd)
            return [] if data == b"deep\n" else ["deep file reads %r" % data]
        finally:
            os.close(fd)
    mount_case("path of 2,000 components",
               [L("deep2k.tar", F("d/" * depth + "f", b"deep\n"), F("ok"))], mnt, deep_check)

    names = {b"new\nline": b"1", b"\xff\xfe": b"2", b"lat\xe9n": b"3",
             b"tab\tand space ": b"4", b"\x1b[31mred": b"5", b"back\\slash": b"6",
             b"dir\nx/inner\xff\n": b"7", b"n" * 255: b"8", b"caf\xc3\xa9": b"9"}
    links = {b"ln\n": b"new\nline\xff", b"ln\xfe": b"../\x01\x7f"}
    entries = [F(p, d) for p, d in names.items()]
    entries += [mk.Entry("symlink", p, target=v) for p, v in links.items()]
    want = dict(names)
    want.update({p: ("link", v) for p, v in links.items()})

    def exact_bytes(mnt):
        got = sorted(os.listdir(os.fsencode(mnt)))
        top = sorted(set(p.split(b"/")[0] for p in want))
        return [] if got == top else ["listdir gives %r, want %r" % (got, top)]
    mount_case("names: newlines, invalid UTF-8", [L("names.tar", *entries)], mnt,
               want_tree(want, exact_bytes))
    # Such names inside an error message must not break it into several lines.
    case("newline in an entry name of an error",
         [L("nlerr.tar", mk.Entry("hardlink", b"evil\nname", target=b"gone\nfile"))], mnt,
         ["nlerr.tar"])

    # Hard links must point at an EARLIER entry of the same layer (rule 7).
    case("hard link to a later entry",
         [L("later.tar", mk.Entry("hardlink", "b", target="a"), F("a", b"A"))], mnt,
         ["later.tar", "hard link"])
    case("hard-link cycle",
         [L("cycle.tar", mk.Entry("hardlink", "a", target="b"),
            mk.Entry("hardlink", "b", target="a"))], mnt, ["cycle.tar", "hard link"])

    def same_inode(mnt):
        a, b = os.lstat(mnt + "/a"), os.lstat(mnt + "/b")
        if (a.st_ino, a.st_nlink, b.st_nlink) != (b.st_ino, 2, 2):
            return ["a and b: inodes %d, %d, nlink %d, %d; want one inode, nlink 2"
                    % (a.st_ino, b.st_ino, a.st_nlink, b.st_nlink)]
        return []
    # a -> b, then b -> a over two real files: a becomes b's inode, then b
    # is linked to itself (what tar or containerd leave on disk).
    mount_case("hard-link cycle over files",
               [L("cycle2.tar", F("a", b"A"), F("b", b"B"),
                  mk.Entry("hardlink", "a", target="b"),
                  mk.Entry("hardlink", "b", target="a"))], mnt,
               want_tree({"a": b"B", "b": b"B"}, same_inode))

    # Symlinks are data: a loop mounts, readlink works, opening gives ELOOP.
    loops = {"a": "b", "b": "a", "self": "self", "d/up": "../d/up"}

    def eloop(mnt):
        problems = []
        for p in loops:
            try:
                os.open(os.path.join(mnt, p), os.O_RDONLY)
                problems.append("opening %s succeeded" % p)
            except OSError as e:
                if e.errno != 40:                       # ELOOP
                    problems.append("opening %s: %s, want ELOOP" % (p, e))
        return problems
    mount_case("symlink loop",
               [L("loop.tar", *[mk.Entry("symlink", p, target=v) for p, v in loops.items()],
                  F("ok", b"fine\n"))], mnt,
               want_tree(dict({p: ("link", v.encode()) for p, v in loops.items()},
                              ok=b"fine\n"), eloop))

    # Whiteouts that name `..` or the directory itself (the root, or a
    # subdirectory) mean nothing: skipped with a warning, nothing hidden.
    base = L("wh-base.tar", F("keep", b"k"), F("sub/keep2", b"k2"), F("sub/x", b"x"))
    kept = {"keep": b"k", "sub/keep2": b"k2", "sub/x": b"x", "new": b"n"}
    mount_case("whiteout of '..'",
               [base, L("wh-dotdot.tar", F(".wh..."), F("sub/.wh..."), F("./sub/.wh..."),
                        F("new", b"n"))], mnt, want_tree(kept), warn=["wh-dotdot.tar"])
    mount_case("whiteout of the root",
               [base, L("wh-root.tar", F(".wh."), F("./.wh.."), F("/.wh.."), F("sub/.wh.."),
                        F("sub/.wh."), F("new", b"n"))], mnt,
               want_tree(kept), warn=["wh-root.tar"])


def cases_manifests(t, mnt):
    """Image metadata: manifests, configs, indexes."""
    A = [mk.Entry("file", "f", data=b"A"), mk.Entry("file", "onlyA", data=b"a"),
         mk.Entry("file", "d/a", data=b"da")]
    B = [mk.Entry("file", "f", data=b"B"), mk.Entry("whiteout", "onlyA"),
         mk.Entry("file", "onlyB", data=b"b")]
    a, b = mk.make_layer(A, "gzip"), mk.make_layer(B, "zstd")
    a_raw, b_raw = mk.make_layer(A), mk.make_layer(B)
    # The same blob applied twice, bottom and top: A re-adds what B hid.
    twice = want_tree({"f": b"A", "onlyA": b"a", "onlyB": b"b", "d/a": b"da"})
    for fmt in ("oci-dir", "oci-archive", "docker", "docker-oci"):
        ls = [a_raw, b_raw, a_raw] if fmt == "docker" else [a, b, a]
        src = mk.write_image(fmt, os.path.join(t, "twice-" + fmt), ls)
        mount_case("layer listed twice (%s)" % fmt, src, mnt, twice)

    # Digests and member names that would lead out of the image.  A valid
    # layer waits outside, so following the path would "work".
    outside = write(t + "/outside.tar", a_raw.blob)
    esc = "sha256:../../../outside.tar"
    d = t + "/oci-escape-layer"
    mk.write_oci_dir(d, [a_raw, b_raw])
    edit_oci(d, manifest=lambda j: j["layers"][1].update(digest=esc, size=len(a_raw.blob)))
    case("layer digest out of blobs/", [d], mnt, ["oci-escape-layer"])

    d = t + "/oci-escape-config"
    mk.write_oci_dir(d, [a_raw])
    edit_oci(d, manifest=lambda j: j["config"].update(digest="sha256:../../../../etc/passwd",
                                                      size=os.path.getsize("/etc/passwd")))
    case("config digest out of blobs/", [d], mnt, ["oci-escape-config"])

    d = t + "/oci-escape-manifest"
    mk.write_oci_dir(d, [a_raw])
    h, _ = oci_manifest(d)
    shutil.copy(os.path.join(d, "blobs/sha256", h), t + "/outside.json")
    edit_oci(d, index=lambda j: j["manifests"][0].update(digest="sha256:../../../outside.json"))
    case("manifest digest out of blobs/", [d], mnt, ["oci-escape-manifest"])

    for name, layer in (("../x", "../x"), ("absolute", "/etc/passwd"),
                        ("../ to a real file", "../" + os.path.basename(outside))):
        out = t + "/docker-escape%d.tar" % checked[0]
        mk.write_docker(out, [a_raw, b_raw])
        edit_docker_manifest(out, lambda j: j["Layers"].__setitem__(1, layer))
        case("docker Layers entry %s" % name, [out], mnt, [os.path.basename(out)])

    out = t + "/docker-oci-escape.tar"
    mk.write_docker_oci(out, [a, b])
    edit_docker_manifest(out, lambda j: j["Layers"].__setitem__(
        1, "blobs/sha256/../../../outside.tar"))
    case("docker-oci Layers entry ../", [out], mnt, ["docker-oci-escape.tar"])

    # layer.tar a symlink out of the archive (docker writes in-archive ones).
    out = t + "/docker-symlink.tar"
    mk.write_docker(out, [a_raw, b_raw])
    with tarfile.open(out) as tf:
        members = [(m, tf.extractfile(m).read() if m.isfile() else None)
                   for m in tf.getmembers()]
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        done = False
        for m, data in members:
            if m.name.endswith("/layer.tar") and not done:
                done = True
                m.type, m.linkname, m.size, data = tarfile.SYMTYPE, "../../outside.tar", 0, None
            tf.addfile(m, io.BytesIO(data) if data is not None else None)
    case("docker layer.tar symlink out", [out], mnt, ["docker-symlink.tar"])

    # A blob that is a FIFO must be refused, not opened (which would block).
    d = t + "/oci-fifo"
    mk.write_oci_dir(d, [a, b])
    p = os.path.join(d, "blobs/sha256", mk.sha256(b.blob))
    os.unlink(p)
    os.mkfifo(p)
    case("blob is a FIFO", [d], mnt, ["oci-fifo"])

    # Configs that are not JSON.
    d = t + "/oci-config"
    mk.write_oci_dir(d, [a])

    def bad_config(j):
        data = b"this is not { json"
        j["config"].update(digest=put_blob(d, data), size=len(data))
    edit_oci(d, manifest=bad_config)
    case("config not JSON (OCI)", [d], mnt, ["oci-config", "JSON"])
    out = t + "/docker-config.tar"
    mk.write_docker(out, [a_raw])
    data = b"[not json"
    cname = mk.sha256(data) + ".json"     # docker names the config by its digest

    def rename_config(m, old):
        if len(m.name) == 69 and m.name.endswith(".json"):
            m.name = cname
            return data
        return None
    edit_tar(out, rename_config)
    edit_docker_manifest(out, lambda j: j.update(Config=cname))
    case("config not JSON (docker)", [out], mnt, ["docker-config.tar", cname, "JSON"])

    # JSON documents past the 16 MiB limit (valid JSON, padded).
    d = t + "/oci-huge"
    mk.write_oci_dir(d, [a])
    idx = open(os.path.join(d, "index.json"), "rb").read()
    write(os.path.join(d, "index.json"), idx[:-1] + b" " * (17 << 20) + b"}")
    case("index.json over 16 MiB", [d], mnt, ["oci-huge", "index.json", "too large"])
    out = t + "/docker-huge.tar"
    mk.write_docker(out, [a_raw])
    edit_tar(out, lambda m, data: data + b" " * (17 << 20) if m.name == "manifest.json"
             else None)
    case("manifest.json over 16 MiB", [out], mnt, ["docker-huge.tar", "manifest.json",
                                                   "too large"])

    # An image without layers: an empty root, 0755.
    def empty_root(mnt):
        st = os.stat(mnt)
        return [] if stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o755 \
            else ["root is %o, want a 0755 directory" % st.st_mode]
    for fmt in ("oci-dir", "docker"):
        src = mk.write_image(fmt, os.path.join(t, "empty-" + fmt), [])
        mount_case("empty image (%s)" % fmt, src, mnt, want_tree({}, empty_root))


def cases_many(t, mnt):
    """500 layers (the kernel's overlayfs stops at 500 lowers)."""
    n = 500
    layers, want = [], {}
    for i in range(n):
        e = [mk.Entry("file", "common", data=b"%d\n" % i),
             mk.Entry("file", "l/%03d" % i, data=b"layer %d\n" % i),
             mk.Entry("file", "d%d/f%03d" % (i % 7, i), data=b"%d" % i)]
        want["common"] = b"%d\n" % i
        want["l/%03d" % i] = b"layer %d\n" % i
        want["d%d/f%03d" % (i % 7, i)] = b"%d" % i
        if i % 3 == 2:                  # hide the previous layer's file
            e.append(mk.Entry("whiteout", "l/%03d" % (i - 1)))
            del want["l/%03d" % (i - 1)]
        if i % 100 == 99:               # and now and then a whole directory
            e.append(mk.Entry("whiteout", "d%d" % (i % 7)))
            for p in [p for p in want if p.startswith("d%d/" % (i % 7))]:
                del want[p]
        layers.append(mk.make_layer(e, ("none", "gzip", "zstd")[i % 3] if i % 50 == 0
                                    else "none"))
    paths = write_layers(t, "many", layers)
    mount_case("500 layers", paths, mnt, want_tree(want))


def main():
    t = tempfile.mkdtemp(prefix="lfs-bad-")
    os.environ["XDG_CACHE_HOME"] = os.path.join(t, "cache")
    mnt = os.path.join(t, "mnt")
    os.mkdir(mnt)
    start = time.time()
    try:
        for group in (cases_damaged, cases_sizes, cases_entries, cases_manifests, cases_many):
            group(t, mnt)
    finally:
        unmount(mnt)
        shutil.rmtree(t, ignore_errors=True)
    for f in failures:
        print("FAIL " + f)
    print("%d passed, %d failed (%.1f s)" % (checked[0] - len(failures), len(failures),
                                             time.time() - start))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
