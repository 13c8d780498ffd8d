#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""cowdiff.py - differential test of layerfs' copy-on-write upper layer
against the kernel's overlayfs.

For each seeded sequence this script

 1. makes a random layer stack with difftest.py's generator (gen_stack;
    packaged with package_stack when layerfs is tested) and extracts the
    reference layers as difftest does (build_reference);
 2. mounts the kernel's overlayfs (lowerdir = the extracted layers,
    upperdir=U1, workdir=W1, redirect_dir=off, index=off, metacopy=off,
    xino=off) and the implementation under test with --upper U2 --work W2.
    Everything lives on one tmpfs mounted for the run, so both upper dirs
    behave alike; both upper roots start with the image root's metadata
    (the kernel shows the upper root's mode, owner, times and xattrs);
 3. applies 50-150 random operations (cowdiff_ops.py: create O_EXCL and
    O_TRUNC, write, append, truncate, fallocate, mkdir, rmdir, unlink,
    rename plain / RENAME_NOREPLACE / RENAME_EXCHANGE, link, symlink,
    mkfifo, mknod, chmod, chown, lchown, utimensat, setxattr, removexattr,
    fsync, open for writing without a write, reads, and reads through an
    fd opened read-only before another fd copied the file up) to both
    mounts, from one RNG seeded with the sequence number, choosing among
    the names the kernel's merged view has plus new ones.  Every result
    (return value or errno name) must be the same on both sides;
 4. compares the two merged trees with difftest's comparison (names,
    types, modes, owners, sizes, contents, link targets, devices, xattrs,
    file link counts, hard-link groups; not compared, as in difftest:
    atime, ctime, st_dev, inode numbers, directory sizes and link counts).
    mtimes are compared except for entries the sequence made unpredictable:
    an entry written, truncated, fallocated or created, and the parent
    directory of an entry created, removed or renamed (a rename carries the
    status along, an explicit utimensat clears it; tracked per inode of the
    kernel's side, so all names of a hard-linked file share it).  Anything
    else (chmod, chown, xattrs, copy-up by an open for writing, the parent
    of a copied-up entry) must keep its mtime to the nanosecond;
 5. checks identities on the side under test: st_ino stays the same
    across a copy-up (chmod, chown, utimensat, xattrs, open for writing,
    writes), across a rename, and a new hard link has the st_ino of its
    source;
 6. unmounts the side under test, mounts the kernel's overlayfs over its
    upper dir (upperdir=U2, a fresh workdir) and compares that with the
    tree captured before the unmount; then mounts the side under test again
    on U2/W2 and compares once more.  Nothing runs between the capture and
    these mounts, so here every mtime must be equal (stricter than step 4).
 7. with --commit (layerfs-commit; cowdiff.sh passes it): commits U2 over
    the image and mounts the kernel's overlayfs over the image's layers and
    the committed one, all extracted by Python's tarfile: it must show the
    tree captured in step 4 (xattrs a layer does not keep aside: only
    user.* and security.capability go in).

With layerfs, each sequence also checks that creating ".wh.x" fails with
EINVAL, and each run checks --read-only (EROFS) and the private upper
(writable, no --upper).

Excluded by design:
  * operations through lower files that have several hard links: layerfs
    copies up a whole hard-link group (as overlayfs does with index=on);
    the reference runs index=off.  Such paths are never named by an op;
  * names beginning with ".wh." (layerfs refuses them with EINVAL; the
    kernel accepts them): never generated, except the one check above;
  * user.overlay.* / trusted.overlay.* xattrs: never set or removed;
  * device nodes are never opened (a stack may hold /dev/sda's numbers),
    and no symlink is ever followed (an absolute one points at the host).

Environment:
  LFS_COW_SEED=S     replay only sequence S
  LFS_COW_SEQS=N     number of sequences (default 1000; the budget stops first)
  LFS_COW_BASE=B     first seed (default 1)
  LFS_COW_BUDGET=S   start no new sequence after S seconds (default 150; 0: none)
  LFS_COW_KEEP=1     keep the directories of failing sequences (path printed)
  LFS_COW_OPS_OFF=K,...  never generate these kinds of operations (triage: look
                     past a known bug; e.g. link,stale_read)
  LAYERFS=PATH       the layerfs binary (or --layerfs PATH)

Modes:
  --impl layerfs          (default) layerfs -f --upper U2 --work W2 IMAGE MNT
  --impl fuse-overlayfs   fuse-overlayfs over the extracted layers (a development
                          aid: it differs from the kernel, see below)
  --impl kernel           a second kernel overlay: must report no difference
                          (proves the harness is deterministic)
  --selftest              prove that a wrong errno, content, mode, mtime,
                          identity or persisted upper dir is reported, and that
                          the mtime rule hides what it should
  --ops FILE              with LFS_COW_SEED: run this op list (one repr per
                          line, as written on failure) instead of generating
  --minimize              on failure, shrink the op list (greedy) and print it

fuse-overlayfs 1.10 differs from the kernel in ways this harness reports (not
hidden by any exception here): it renames directories that have lower parts
(the kernel: EXDEV); mknod of a 0:0 device gives ENOENT (the kernel: EPERM);
a copy-up changes the parent directory's mtime (the kernel restores it);
every new directory is opaque, marked with a ".wh..wh..opq" file that the
kernel shows as a plain file over the upper dir; copied-up entries carry a
"user.fuseoverlayfs.origin" xattr; device nodes and fifos are copied up as
regular files (or the operation fails with EIO/ENXIO); truncate and setxattr
by root clear setuid/setgid bits (the kernel keeps them: CAP_FSETID); no
set-group-ID inheritance from directories; a symlink renamed (copied up)
loses its owner; an fd opened before a copy-up keeps reading the old data;
a 255-byte name aborts the connection.  Without any write: lower hard links
show st_nlink 1 (varying across remounts), owner 3000000 shows as 0, a
directory holding only whiteouts is missing.

Failing sequences print their op log (op, kernel's result, the other's) and
write the op list to a file for --ops.  Exit status 1 on any difference.
Needs root, /dev/fuse and overlayfs; python3 stdlib only.
"""

import argparse
import ast
import dataclasses
import gzip
import json
import os
import random
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.dont_write_bytecode = True     # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import difftest as dt  # noqa: E402
import mkimage  # noqa: E402
import cowdiff_ops as cops  # noqa: E402

DEFAULT_SEQS = 1000
DEFAULT_BUDGET = 150
SEQ_TIMEOUT = 120            # seconds before a hung FUSE daemon is killed
OPS_MIN, OPS_MAX = 50, 150
MAX_DIFFS_SHOWN = 40
OVERLAY_OPTS = "redirect_dir=off,index=off,metacopy=off,xino=off"
HERE = os.path.dirname(os.path.abspath(__file__))

# ------------------------------------------------------- the two sides ---


def overlay_mount(lowers, upper, work, mnt):
    """The kernel's overlayfs, writable.  lowers: bottom first."""
    opts = "lowerdir=%s,upperdir=%s,workdir=%s,%s" % (
        ":".join(reversed(lowers)), upper, work, OVERLAY_OPTS)
    dt.sys_mount("overlay", mnt, "overlay", 0, opts)
    dt.MOUNTS.active.append([mnt, None])


class KernelImpl:
    """--impl kernel: a second kernel overlay (the harness' self-check)."""
    name = "kernel2"

    def mount(self, seq, upper, work, mnt):
        overlay_mount(seq.lowers, upper, work, mnt)

    def umount(self, mnt):
        dt.MOUNTS.umount(mnt)
        return []


class FuseImpl:
    """A FUSE daemon run in the foreground (layerfs or fuse-overlayfs)."""

    def __init__(self, name, binary, env):
        self.name = name
        self.side = dt.LayerfsSide(binary, env)
        self.proc = self.timer = self.log = None

    def argv(self, seq, upper, work):
        if self.name == "fuse-overlayfs":
            return [], ["-o", "lowerdir=%s,upperdir=%s,workdir=%s" % (
                ":".join(reversed(seq.lowers)), upper, work)]
        return seq.sources, ["--upper", upper, "--work", work] + seq.extra

    def mount(self, seq, upper, work, mnt):
        sources, extra = self.argv(seq, upper, work)
        self.log = os.path.join(seq.sd, "%s.log" % self.name)
        self.proc = self.side.mount(sources, extra, mnt, self.log)
        self.timer = threading.Timer(SEQ_TIMEOUT, self.proc.kill)
        self.timer.daemon = True        # never keeps the interpreter alive
        self.timer.start()

    def umount(self, mnt):
        """fusermount3 -u, wait for the daemon; problems as difference lines."""
        subprocess.run(["fusermount3", "-u", mnt], stderr=subprocess.DEVNULL, check=False)
        dt.MOUNTS.umount(mnt)           # waits for the daemon (kills it after 10 s)
        self.timer.cancel()
        rc, text = self.proc.returncode, ""
        if os.path.exists(self.log):
            with open(self.log, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        if rc != 0 or "Sanitizer" in text or "runtime error:" in text:
            return ["%s exited with status %s at the unmount:\n  %s"
                    % (self.name, rc, dt._tail(self.log))]
        return []


def copy_root_meta(src, dst):
    """Give the upper root `dst` the metadata of the image root `src`."""
    st = os.lstat(src)
    os.chown(dst, st.st_uid, st.st_gid)
    os.chmod(dst, stat.S_IMODE(st.st_mode))
    for k, v in dt.read_xattrs(src).items():
        if not k.startswith(dt.OVERLAY_XATTR_PREFIXES):
            os.setxattr(dst, k, v)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def scan_tree(root, drop_phantoms):
    """difftest's scan, without the kernel's listed-but-missing whiteouts."""
    t = dt.scan(root)
    if drop_phantoms:
        for rel in [r for r, n in t.items() if n.kind == "phantom"]:
            del t[rel]
    return t


def layer_view(tree):
    """What a layer written by layerfs-commit can hold of a scan: xattrs
    user.* and security.capability only (issue 16), and no mtime before
    1970 with a fraction of a second: libarchive's pax writer (and reader)
    put -29.4 s as "-30.6" (the sign on the whole time, as POSIX, Go and
    Python read it, would need "-29.4"), a libarchive limit noted in issue
    16's note."""
    def view(n):
        x = tuple((k, v) for k, v in n.xattrs
                  if k.startswith(b"user.") or k == b"security.capability")
        mt = None if n.mtime is not None and n.mtime < 0 and n.mtime % 10**9 else n.mtime
        return dataclasses.replace(n, xattrs=x, mtime=mt)
    return {r: view(n) for r, n in tree.items()}


def compare(a, b, names, dirty=frozenset()):
    """Compare two scans; the mtimes of `dirty` paths are not compared."""
    def masked(t):
        return {r: dataclasses.replace(n, mtime=None) if r in dirty else n
                for r, n in t.items()}
    return dt.compare_scans(masked(a), masked(b), names)

# ----------------------------------------------------------- sequences ---


IDENTITY_SAME = ("chmod", "chown", "utime", "setxattr", "removexattr", "open_write",
                 "write", "append", "truncate", "fallocate", "fsync", "stale_read")
MAKES_ENTRY = ("create", "mkdir", "symlink", "mkfifo", "mknod")
CHANGES_DATA = ("create", "write", "append", "truncate", "fallocate", "stale_read")


class Hook:
    """Selftest mutations plug in here; the default changes nothing."""

    def result(self, i, op, res):
        return res

    def ino(self, i, op, st):
        return st.st_ino if st else None

    def before_compare(self, seq):
        pass

    def after_unmount(self, seq):
        pass


def parent(rel):
    return rel.rpartition(b"/")[0]


class Sequence:
    """One seeded stack + op sequence, run on the kernel and on `impl`."""

    def __init__(self, run, seed, ops=None, hook=None):
        self.run, self.impl, self.seed = run, run.impl, seed
        self.ops_in = ops
        self.hook = hook or Hook()
        self.sd = os.path.join(run.tmpfs, "s-%s" % seed)
        self.log = []            # (op, kernel result, other result)
        self.diffs = []
        self.dirty = set()       # kernel-side st_ino whose mtime is unpredictable
        self.desc = ""

    def p(self, *names):
        return os.path.join(self.sd, *names)

    # -- 1, 2: stack, reference, mounts --
    def setup(self):
        os.mkdir(self.sd)
        layers, fmt, decoy, srng = dt.gen_stack(self.seed)
        self.sources, self.extra = [], []
        if self.impl.name == "layerfs":
            self.sources, self.extra, built, note = dt.package_stack(
                layers, fmt, decoy, srng, self.p("img"))
            tars = [l.tar for l in built]
            self.desc = "layers=%d fmt=%s%s" % (len(tars), fmt, note)
        else:
            tars = [mkimage.layer_tar(e) for e, _, _ in layers]
            self.desc = "layers=%d" % len(tars)
        os.mkdir(self.p("ref"))
        self.tars = tars
        self.lowers = dt.build_reference(tars, self.p("ref"), lambda m: None)
        for d in ("U1", "W1", "U2", "W2", "k", "o"):
            os.mkdir(self.p(d))
        for u in ("U1", "U2"):
            copy_root_meta(self.lowers[-1], self.p(u))
        self.k, self.o = self.p("k"), self.p("o")
        overlay_mount(self.lowers, self.p("U1"), self.p("W1"), self.k)
        self.impl.mount(self, self.p("U2"), self.p("W2"), self.o)

    # -- 3, 5: the operations --
    def kino(self, rel):
        st = cops.lstat_rel(self.k, rel)
        return st.st_ino if st else None

    def track(self, op, res, before):
        """Update the set of entries whose mtime is unpredictable."""
        if not res.startswith("ok"):
            return
        kind, marks = op[0], []
        if kind in MAKES_ENTRY or kind in CHANGES_DATA:
            rel = op[2] if kind == "symlink" else op[1]
            marks.append(rel)
            if kind in MAKES_ENTRY and rel not in before:
                marks.append(parent(rel))
        elif kind in ("unlink", "rmdir"):
            marks.append(parent(op[1]))
        elif kind == "rename":
            marks += [parent(op[1]), parent(op[2])]
        elif kind == "link":
            marks.append(parent(op[2]))
        elif kind == "utime":
            self.dirty.discard(self.kino(op[1]))
        self.dirty.update(i for i in map(self.kino, marks) if i is not None)

    def check_identity(self, i, op, res, pre):
        if not res.startswith("ok"):
            return
        post = {t: self.hook.ino(i, op, cops.lstat_rel(self.o, t)) for t in cops.targets(op)}
        checks = []
        if op[0] in IDENTITY_SAME:
            checks.append((op[1], pre[op[1]], post[op[1]], "across %s" % op[0]))
        elif op[0] == "rename" and op[1] != op[2]:
            checks.append((op[2], pre[op[1]], post[op[2]], "renamed from %s" % dt.show(op[1])))
            if op[3] == cops.RENAME_EXCHANGE:
                checks.append((op[1], pre[op[2]], post[op[1]],
                               "exchanged with %s" % dt.show(op[2])))
        elif op[0] == "link":
            checks.append((op[2], post[op[1]], post[op[2]], "new hard link of %s"
                           % dt.show(op[1])))
        for rel, a, b, why in checks:
            if a != b:
                self.diffs.append("op %d: identity: st_ino of %s is %s, was %s (%s)"
                                  % (i, dt.show(rel), b, a, why))

    def operations(self):
        if self.impl.name == "layerfs":
            res = cops.apply(self.o, ("create", b".wh.x", "excl", 0o644))
            if res != "EINVAL":
                self.diffs.append("creating /.wh.x: %s, expected EINVAL" % res)
                cops.apply(self.o, ("unlink", b".wh.x"))
        start = scan_tree(self.k, True)
        excluded = {r for r, n in start.items() if n.kind not in ("dir",) and n.nlink > 1}
        rng = random.Random("cowdiff-%s" % self.seed)
        gen = cops.Generator(rng, excluded, self.run.ops_off)
        n = len(self.ops_in) if self.ops_in is not None else rng.randint(OPS_MIN, OPS_MAX)
        for i in range(n):
            before = cops.snapshot(self.k)
            op = self.ops_in[i] if self.ops_in is not None else gen.next(before)
            pre = {t: self.hook.ino(i, op, cops.lstat_rel(self.o, t)) for t in cops.targets(op)}
            rk = cops.apply(self.k, op)
            ro = self.hook.result(i, op, cops.apply(self.o, op))
            self.log.append((op, rk, ro))
            if rk != ro:
                self.diffs.append("op %d %s: kernel=%s %s=%s" % (i, fmt_op(op), rk,
                                                                 self.impl.name, ro))
            self.track(op, rk, before)
            self.check_identity(i, op, ro, pre)

    # -- 4, 6: the trees --
    def compare_all(self):
        self.hook.before_compare(self)
        ktree = scan_tree(self.k, True)
        self.dirty_paths = frozenset(r for r, n in ktree.items() if n.ino in self.dirty)
        name = self.impl.name
        captured = scan_tree(self.o, name == "kernel2")
        self.diffs += compare(ktree, captured, ("kernel", name), self.dirty_paths)
        self.diffs += self.impl.umount(self.o)
        self.hook.after_unmount(self)
        # the kernel over the upper dir the other side wrote
        km, kw = self.p("k2"), self.p("W2k")
        os.mkdir(km)
        os.mkdir(kw)
        overlay_mount(self.lowers, self.p("U2"), kw, km)
        try:
            self.diffs += ["[kernel on U2] " + d for d in
                           compare(captured, scan_tree(km, True), (name, "kernel-on-U2"))]
        finally:
            dt.MOUNTS.umount(km)
        if self.run.commit and self.impl.name == "layerfs":
            self.diffs += ["[commit] " + d for d in self.check_commit(captured, name)]
        # the other side again, continuing on U2
        self.impl.mount(self, self.p("U2"), self.p("W2"), self.o)
        try:
            again = scan_tree(self.o, name == "kernel2")
            self.diffs += ["[remount] " + d for d in
                           compare(captured, again, ("before-unmount", "remounted"))]
        finally:
            self.diffs += ["[remount] " + d for d in self.impl.umount(self.o)]
        dt.MOUNTS.umount(self.k)

    def check_commit(self, captured, name):
        """layerfs-commit of the upper U2 over the image: the kernel's
        overlayfs over the image's layers and the committed layer (both
        extracted by Python's tarfile) shows the tree the mount showed."""
        out = self.p("committed")
        r = subprocess.run([self.run.commit, "-q", "--upper", self.p("U2")] + self.extra
                           + self.sources + ["oci:%s:t" % out], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=self.run.env)
        if r.returncode:
            return ["layerfs-commit exited %d: %s" % (r.returncode, r.stdout.decode()[-500:])]
        blob = lambda d: os.path.join(out, "blobs", "sha256", d.split(":")[1])
        with open(os.path.join(out, "index.json")) as f:
            mdig = json.load(f)["manifests"][0]["digest"]
        with open(blob(mdig)) as f:
            top = json.load(f)["layers"][-1]
        with open(blob(top["digest"]), "rb") as f:
            tar = f.read()
        if top["mediaType"].endswith("gzip"):
            tar = gzip.decompress(tar)
        os.mkdir(self.p("cref"))
        lowers = dt.build_reference(self.tars + [tar], self.p("cref"), lambda m: None)
        cm = self.p("kc")
        os.mkdir(cm)
        dt.MOUNTS.overlay(list(reversed(lowers)), cm)
        try:
            return compare(layer_view(captured), layer_view(scan_tree(cm, True)),
                           (name, "committed"), self.dirty_paths)
        finally:
            dt.MOUNTS.umount(cm)

    def execute(self):
        """Run the whole sequence; returns the difference lines."""
        try:
            self.setup()
            self.operations()
            self.compare_all()
        except dt.Failure as e:
            self.diffs.append(str(e))
        except Exception:
            self.diffs.append("test harness error:\n" + traceback.format_exc())
        return self.diffs

    def close(self, keep_to=None):
        """Unmount whatever an error left mounted, keep or remove the files."""
        for target, _ in reversed(list(dt.MOUNTS.active)):
            if target.startswith(self.sd + "/"):
                dt.MOUNTS.umount(target)
        if getattr(self.impl, "timer", None):
            self.impl.timer.cancel()
        if keep_to:
            subprocess.run(["cp", "-a", self.sd + "/.", keep_to], check=False)
        shutil.rmtree(self.sd, ignore_errors=True)


def fmt_op(op):
    """An op as written in the op list, long values shortened."""
    s = re.sub(r"(.)\1{15,}", lambda m: "%s{x%d}" % (m.group(1), len(m.group(0))), repr(op))
    return s if len(s) < 200 else s[:190] + "...)"

# --------------------------------------------------------------- runner ---


class Run:
    def __init__(self, impl_name, layerfs, commit=None):
        self.commit = commit
        self.work = tempfile.mkdtemp(prefix="lfs-cow.")
        self.tmpfs = os.path.join(self.work, "t")
        os.mkdir(self.tmpfs)
        dt.sys_mount("tmpfs", self.tmpfs, "tmpfs", 0, "size=4g,mode=0755")
        dt.MOUNTS.active.append([self.tmpfs, None])
        env = dict(os.environ)
        env["XDG_CACHE_HOME"] = os.path.join(self.tmpfs, "cache")
        os.mkdir(env["XDG_CACHE_HOME"])
        self.env = env
        if impl_name == "kernel":
            self.impl = KernelImpl()
        else:
            self.impl = FuseImpl(impl_name, layerfs if impl_name == "layerfs"
                                 else "fuse-overlayfs", env)
        self.keep = os.environ.get("LFS_COW_KEEP") == "1"
        self.ops_off = [k for k in os.environ.get("LFS_COW_OPS_OFF", "").split(",") if k]

    def close(self):
        # a daemon interrupted before its mount showed up: stop it, or the
        # cleanup waits for it to exit (10 s) and leaves its mount behind
        for target, proc in dt.MOUNTS.active:
            if proc is not None and proc.poll() is None and dt.mounted_fstype(target) is None:
                proc.terminate()
        dt.MOUNTS.cleanup()
        shutil.rmtree(self.work, ignore_errors=True)

    def one(self, seed, replay, ops=None, hook=None, quiet=False):
        """Run one sequence; returns (difference lines, op log)."""
        t0 = time.monotonic()
        seq = Sequence(self, seed, ops, hook)
        diffs = seq.execute()
        keep = None
        if diffs and self.keep and not quiet:
            keep = tempfile.mkdtemp(prefix="lfs-cow-keep-%s." % seed)
        seq.close(keep)
        if quiet:
            return diffs, seq.log
        print("seq %s: %s ops=%d %s (%.2fs)" % (seed, seq.desc, len(seq.log),
                                                "ok" if not diffs else "FAILED",
                                                time.monotonic() - t0), flush=True)
        if diffs:
            report(seq, diffs, replay, keep)
        return diffs, seq.log


def report(seq, diffs, replay, keep):
    for d in diffs[:MAX_DIFFS_SHOWN]:
        print("  DIFF " + d)
    if len(diffs) > MAX_DIFFS_SHOWN:
        print("  ... and %d more differences" % (len(diffs) - MAX_DIFFS_SHOWN))
    print("  op log (op: kernel's result / %s's):" % seq.impl.name)
    for i, (op, rk, ro) in enumerate(seq.log):
        print("  %3d %s %s: %s%s" % (i, "!!" if rk != ro else "  ", fmt_op(op), rk,
                                    "" if rk == ro else " / " + ro))
    path = write_ops(seq.seed, [op for op, _, _ in seq.log])
    print("  replay: %s" % replay)
    print("  op list: %s (replay it with: LFS_COW_SEED=%s ... --ops %s)" % (path, seq.seed, path))
    if keep:
        print("  kept: %s (ref/L* lower layers, U1 kernel's upper, U2 %s's)"
              % (keep, seq.impl.name))
    sys.stdout.flush()


def write_ops(seed, ops, suffix=""):
    fd, path = tempfile.mkstemp(prefix="lfs-cow-ops-%s%s." % (seed, suffix), suffix=".txt")
    with os.fdopen(fd, "w") as f:
        for op in ops:
            f.write(repr(op) + "\n")
    return path


def read_ops(path):
    with open(path) as f:
        return [ast.literal_eval(line) for line in f if line.strip()]


def minimize(run, seed, ops, budget=400):
    """Greedy delta debugging: drop chunks of ops while a difference stays."""
    trials, chunk = 0, max(1, len(ops) // 2)
    while chunk >= 1 and trials < budget:
        i, progress = 0, False
        while i < len(ops) and trials < budget:
            cand = ops[:i] + ops[i + chunk:]
            trials += 1
            if cand and run.one(seed, "", cand, quiet=True)[0]:
                ops, progress = cand, True
            else:
                i += chunk
        if not progress:
            chunk //= 2
    return ops

# ------------------------------------------------------------- modes ---


def layerfs_modes(run):
    """--read-only gives EROFS; without --upper the mount is writable and
    its changes are gone after the unmount (a second mount is pristine)."""
    diffs = []
    sd = os.path.join(run.tmpfs, "modes")
    mnt = os.path.join(sd, "m")
    os.makedirs(mnt)
    built = [mkimage.make_layer([mkimage.Entry("dir", "d", mode=0o755),
                                 mkimage.Entry("file", "d/f", data=b"lower\n", mode=0o644)])]
    sources = mkimage.write_image("layers", os.path.join(sd, "img"), built)
    side = dt.LayerfsSide(run.impl.side.binary, run.env)
    writes = [("write", b"d/f", 0, (1, 5)), ("mkdir", b"d/n", 0o755),
              ("create", b"new", "excl", 0o644)]
    pristine = "ok:" + cops.digest(b"lower\n")
    for opts, want in ((["--read-only"], ["EROFS"] * 3), ([], ["ok:5", "ok", "ok"]),
                       ([], ["ok:5", "ok", "ok"])):
        what = "layerfs %s" % (" ".join(opts) or "without --upper")
        proc = side.mount(sources, opts, mnt, os.path.join(sd, "log"))
        try:
            before = cops.apply(mnt, ("read", b"d/f"))
            got = [cops.apply(mnt, op) for op in writes]
            after = cops.apply(mnt, ("read", b"d/f"))
        finally:
            subprocess.run(["fusermount3", "-u", mnt], check=False)
            dt.MOUNTS.umount(mnt)
        if got != want:
            diffs.append("%s: write, mkdir, create gave %s, expected %s" % (what, got, want))
        if before != pristine:
            diffs.append("%s: a new mount reads %s, not the image's file" % (what, before))
        if (after == before) != (want[0] == "EROFS"):
            diffs.append("%s: reads %s after the write" % (what, after))
        if proc.returncode != 0:
            diffs.append("%s exited with status %s" % (what, proc.returncode))
    shutil.rmtree(sd, ignore_errors=True)
    return diffs

# ------------------------------------------------------------ selftest ---


class _Mutation(Hook):
    def __init__(self, name, expect):
        self.name, self.expect, self.done = name, expect, False


class WrongErrno(_Mutation):
    def result(self, i, op, res):
        if not self.done and res.startswith("E"):
            self.done = True
            return "EIO" if res != "EIO" else "EPERM"
        return res


class WrongIdentity(_Mutation):
    """The lookup right after the first successful chmod sees another st_ino."""
    armed = None

    def result(self, i, op, res):
        if op[0] == "chmod" and res == "ok" and not self.done:
            self.armed = i              # the next lookups are the post-op ones
        return res

    def ino(self, i, op, st):
        if st and i == self.armed and not self.done:
            self.done = True
            return st.st_ino + 1
        return Hook.ino(self, i, op, st)


class TreeMutation(_Mutation):
    """Change one thing on the other side through its mount, unrecorded."""

    def __init__(self, name, expect, what):
        super().__init__(name, expect)
        self.what = what

    def before_compare(self, seq):
        ktree = scan_tree(seq.k, True)
        dirty = {r for r, n in ktree.items() if n.ino in seq.dirty}
        tree = scan_tree(seq.o, seq.impl.name == "kernel2")
        rng = random.Random(7)
        want = {"content": ("file",), "mode": ("file", "dir", "fifo"),
                "mtime": ("file", "dir", "symlink"), "dirty": ("file", "dir")}[self.what]
        pool = sorted(r for r, n in tree.items() if n.kind in want and
                      (self.what not in ("mtime", "dirty") or
                       (r in dirty) == (self.what == "dirty")) and
                      (self.what != "content" or n.size > 0) and
                      not (n.kind == "file" and n.nlink > 1))
        if not pool:
            return
        rel = rng.choice(pool)
        path = os.path.join(os.fsencode(seq.o), rel) if rel else os.fsencode(seq.o)
        st = os.lstat(path)
        if self.what == "content":
            with open(path, "r+b") as f:
                f.seek(st.st_size - 1)
                c = f.read(1)
                f.seek(st.st_size - 1)
                f.write(bytes([c[0] ^ 1]))
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        elif self.what == "mode":
            os.chmod(path, stat.S_IMODE(st.st_mode) ^ 0o010)
        else:                                    # mtime, dirty: +1 ns
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1), follow_symlinks=False)
        self.done = True


class UpperMutation(_Mutation):
    """chmod a file in U2 itself after the unmount: the kernel-on-U2 and
    remount comparisons must see it."""

    def after_unmount(self, seq):
        u = os.fsencode(seq.p("U2"))
        for dirpath, dirs, files in os.walk(u):
            for f in sorted(files):
                p = os.path.join(dirpath, f)
                st = os.lstat(p)
                if stat.S_ISREG(st.st_mode) and st.st_nlink == 1:
                    os.chmod(p, stat.S_IMODE(st.st_mode) ^ 0o001)
                    self.done = True
                    return


def selftest(run):
    def cases():
        return [Hook(), WrongErrno("wrong errno of one op", ": kernel=E"),
                WrongIdentity("wrong st_ino after a chmod", "identity"),
                TreeMutation("wrong content", ": digest:", "content"),
                TreeMutation("wrong mode", ": mode:", "mode"),
                TreeMutation("wrong mtime (+1 ns) of a clean entry", ": mtime:", "mtime"),
                TreeMutation("changed mtime of a dirty entry", None, "dirty"),
                UpperMutation("mode changed in U2 after the unmount", "[kernel on U2]")]
    failures = 0
    for k in range(len(cases())):
        applied = 0
        for seed in (5, 17, 23, 31, 47):
            hook = cases()[k]
            diffs, _ = run.one(seed, "", hook=hook, quiet=True)
            name = getattr(hook, "name", "no mutation")
            expect = getattr(hook, "expect", None)
            if not getattr(hook, "done", True):
                continue                  # nothing to mutate in this sequence
            applied += 1
            if expect is None:
                good, what = not diffs, "no differences" if not diffs else diffs[0]
            else:
                hits = [d for d in diffs if expect in d]
                good, what = bool(hits), (hits or ["NOT REPORTED: %s" % diffs[:2]])[0]
            print("selftest seq %-3s %-40s %s: %s" % (seed, name, "ok" if good else "FAILED",
                                                      what[:140]))
            failures += not good
        if applied < 3:
            print("selftest %s: applied in %d sequences only: FAILED" % (name, applied))
            failures += 1
    return failures

# ---------------------------------------------------------------- main ---


def _on_signal(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def default_layerfs():
    top = os.path.join(HERE, "..", "..")
    for p in (os.path.join(top, "build", "src", "layerfs"), os.path.join(top, "src", "layerfs")):
        if os.access(p, os.X_OK):
            return os.path.abspath(p)
    return os.path.abspath(os.path.join(top, "src", "layerfs"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--impl", choices=("layerfs", "fuse-overlayfs", "kernel"), default="layerfs")
    ap.add_argument("--layerfs", default=os.environ.get("LAYERFS"))
    ap.add_argument("--commit", metavar="PATH", default=os.environ.get("LAYERFS_COMMIT"),
                    help="layerfs-commit: after each sequence, commit the upper and check "
                         "the committed image against the mount")
    ap.add_argument("--selftest", action="store_true")
    ap.add_argument("--ops", metavar="FILE", help="with LFS_COW_SEED: replay this op list")
    ap.add_argument("--minimize", action="store_true", help="shrink the op list of a failure")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("cowdiff: needs root")
        return 77
    if args.selftest:
        args.impl = "kernel"
    if args.impl == "layerfs":
        args.layerfs = os.path.abspath(args.layerfs or default_layerfs())
        if not os.access(args.layerfs, os.X_OK):
            print("cowdiff: no layerfs binary at %s" % args.layerfs)
            return 2
    elif args.impl == "fuse-overlayfs" and not shutil.which("fuse-overlayfs"):
        print("cowdiff: fuse-overlayfs is not installed (apt-get install -y fuse-overlayfs)")
        return 77
    unknown = set(os.environ.get("LFS_COW_OPS_OFF", "").split(",")) - set(cops.WEIGHTS) - {""}
    if unknown:
        print("cowdiff: LFS_COW_OPS_OFF: unknown operations %s (known: %s)"
              % (", ".join(sorted(unknown)), ", ".join(sorted(cops.WEIGHTS))))
        return 2
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    if args.commit and not os.access(args.commit, os.X_OK):
        args.commit = None
    run = Run(args.impl, args.layerfs, args.commit)
    t0 = time.monotonic()
    try:
        if args.selftest:
            bad = selftest(run)
            print("selftest: %s" % ("every mutation detected" if not bad
                                    else "%d mutations NOT detected" % bad))
            return 1 if bad else 0
        me = shlex.quote(os.path.abspath(__file__))
        opt = " --impl %s" % args.impl + (" --layerfs " + shlex.quote(args.layerfs)
                                          if args.impl == "layerfs" else "")
        failed = passed = 0
        if args.impl == "layerfs" and not os.environ.get("LFS_COW_SEED"):
            bad = layerfs_modes(run)
            for d in bad:
                print("  DIFF " + d)
            print("modes (--read-only, private upper): %s" % ("ok" if not bad else "FAILED"))
            failed += bool(bad)
        seed_env = os.environ.get("LFS_COW_SEED")
        if seed_env:
            seeds = [int(seed_env)]
        else:
            base = int(os.environ.get("LFS_COW_BASE", "1"))
            seeds = range(base, base + int(os.environ.get("LFS_COW_SEQS", str(DEFAULT_SEQS))))
        ops = read_ops(args.ops) if args.ops else None
        if ops is not None and not seed_env:
            print("cowdiff: --ops needs LFS_COW_SEED")
            return 2
        print("cowdiff: %d sequences against %s; replay one with: LFS_COW_SEED=S %s%s"
              % (len(seeds), args.impl, me, opt), flush=True)
        budget = float(os.environ.get("LFS_COW_BUDGET", str(DEFAULT_BUDGET)))
        for i, s in enumerate(seeds):
            if budget and time.monotonic() - t0 > budget and not seed_env:
                print("cowdiff: time budget of %gs used up: ran %d of %d sequences "
                      "(LFS_COW_BUDGET=0 runs them all)" % (budget, i, len(seeds)))
                break
            diffs, log = run.one(s, "LFS_COW_SEED=%s %s%s" % (s, me, opt), ops)
            if not diffs:
                passed += 1
                continue
            failed += 1
            if args.minimize:
                small = minimize(run, s, [op for op, _, _ in log])
                path = write_ops(s, small, "-min")
                print("  minimized to %d ops (%s):" % (len(small), path))
                run.one(s, "LFS_COW_SEED=%s %s%s --ops %s" % (s, me, opt, path), small)
        print("cowdiff: %.1fs" % (time.monotonic() - t0))
        print("%d passed, %d failed" % (passed, failed))
        return 1 if failed else 0
    finally:
        run.close()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as e:
        print("cowdiff: interrupted (%s); everything unmounted" % (str(e) or "SIGINT"),
              file=sys.stderr)
        sys.exit(130)
