# SPDX-License-Identifier: Apache-2.0
"""difftest_registry.py - difftest's stacks served by a registry (issue 14).

difftest.py starts one docker-registry on loopback per run (the test bed of
registry.py; nothing when docker-registry is not installed: every stack is
then mounted from local files, as before).  A deterministic share of the
stacks, chosen from the seed alone (about 1 in 6; LFS_DIFF_REGISTRY=N: 1 in
N, 1: all, 0: none), is packaged as an OCI image layout (the generator's
layer bytes: uncompressed, gzip and zstd, several members or frames,
sometimes a multi-platform index or a --tag pick), pushed byte for byte
(RegistryClient.push_oci_dir, to storage on difftest's tmpfs) as
difftest/seed-S:v1, and mounted as

    layerfs --tls-verify=false --cache STACKDIR/cache docker://127.0.0.1:PORT/difftest/seed-S:v1

instead of the local files.  The kernel reference and the comparison are
difftest's, unchanged; layerfs-report is checked on the same reference.
About half of these stacks are mounted a second time with the index cache
the first mount wrote (the layers are then read lazily, by ranges), half
of those with the chunk cache (CACHE/chunks) emptied first; a third of the
others are mounted with --no-cache instead of --cache.

That the registry really served a mount is checked on every mount: the
registry's access log must show, for that stack's repository, a manifest
request (and, on a first mount, blob GETs); else the stack fails.  The
stack's line names the reference and the requests served.  With a layerfs
that has --stats, registry mounts print its "fetched N bytes in R
requests" line, shown in the stack's line too.

selftest() (difftest.py --selftest) proves this path: an image pushed to a
registry compares equal to its kernel reference, a different image pushed
under another tag is reported different, and the access-log check fails a
mount of the local layout (a silent fallback to local files).
"""

import os
import random
import re
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import registry  # noqa: E402

DEFAULT_SHARE = 6           # 1 in 6 stacks come from the registry
SECOND_MOUNT = 0.5          # of those: mounted again with the cached index
EMPTY_CHUNKS = 0.5          # of those: the chunk cache emptied in between
NO_CACHE = 1 / 3            # of the others: mounted with --no-cache
TAG = "v1"

STATS_RE = re.compile(r"fetched (\d+) bytes in (\d+) requests")
ACCESS_RE = re.compile(r'"(GET|HEAD) /v2/(\S+?)/(manifests|blobs)/(\S+) HTTP/[0-9.]+" '
                       r'(\d{3}) (\d+|-)')


def share():
    """1 in N stacks from the registry (0: none)."""
    v = os.environ.get("LFS_DIFF_REGISTRY", str(DEFAULT_SHARE))
    try:
        return max(0, int(v))
    except ValueError:
        raise SystemExit("LFS_DIFF_REGISTRY=%r: want a number (1 in N stacks, 0: none)" % v)


def chosen(name, n):
    """Is stack NAME one of the registry's?  From the seed alone, so that a
    replay (LFS_DIFF_SEED=S) mounts it the same way."""
    if n <= 0:
        return False
    return n == 1 or random.Random("difftest-registry:%s" % name).randrange(n) == 0


def has_stats(layerfs):
    try:
        p = subprocess.run([layerfs, "--help"], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return b"--stats" in p.stdout + p.stderr


def stats_line(log_path):
    """(bytes, requests) of layerfs's --stats line in its log, or None."""
    try:
        with open(log_path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    m = None
    for m in STATS_RE.finditer(text):
        pass
    return (int(m.group(1)), int(m.group(2))) if m else None


class _Client(registry.RegistryClient):
    """Blobs pushed without the HEAD: the run's registry is fresh and every
    stack has its own repository, so no blob is there yet."""
    head_first = False


class Served:
    """What the registry's access log shows for one repository."""

    def __init__(self):
        self.manifests = self.blob_gets = self.blob_bytes = self.errors = 0

    def __str__(self):
        return "%d manifest and %d blob requests, %d blob bytes%s" % (
            self.manifests, self.blob_gets, self.blob_bytes,
            ", %d errors" % self.errors if self.errors else "")


class RegistryStacks:
    """The run's registry and what went through it."""

    def __init__(self, layerfs, n, reg):
        self.n = n
        self.reg = reg
        self.client = _Client(reg.url)
        self.stats = bool(layerfs) and has_stats(layerfs)
        self.pushed = 0
        self.stacks = 0
        self.total = Served()

    @classmethod
    def open(cls, layerfs, workdir, n=None):
        """(RegistryStacks or None, message).  None with a note when the
        share is 0 or docker-registry is missing; RuntimeError when it is
        installed but does not start.  WORKDIR (made here): its storage, on
        a tmpfs best (a blob upload fsyncs), removed by the caller."""
        n = share() if n is None else n
        if n <= 0:
            return None, "difftest: LFS_DIFF_REGISTRY=0: every stack mounts local files"
        if not shutil.which("docker-registry"):
            return None, ("difftest: docker-registry is not installed: every stack mounts "
                          "local files (no registry stacks)")
        t0 = time.monotonic()
        reg = registry.Registry(workdir=workdir)
        try:
            reg.start()
        except Exception:
            reg.stop()
            raise
        me = cls(layerfs, n, reg)
        return me, ("difftest: registry %s up in %.1fs: 1 in %d stacks mounted from it "
                    "(docker://%s/difftest/seed-S:%s)%s"
                    % (reg.url, time.monotonic() - t0, n, reg.host, TAG,
                       ", with --stats" if me.stats else ""))

    def stop(self):
        self.reg.stop()

    def wants(self, name):
        return chosen(name, self.n)

    def stack(self, name, sd):
        return RegistryStack(self, name, sd)

    def log_size(self):
        try:
            return os.path.getsize(self.reg.log_path)
        except OSError:
            return 0

    def served(self, repo, offset):
        """The access log's requests for REPO from byte OFFSET on."""
        s = Served()
        try:
            with open(self.reg.log_path, "rb") as f:
                f.seek(offset)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return s
        for m in ACCESS_RE.finditer(text):
            method, r, kind, _, status, size = m.groups()
            if r != repo:
                continue
            if int(status) >= 400:
                s.errors += 1
            if kind == "manifests":
                s.manifests += 1
            elif method == "GET":
                s.blob_gets += 1
                s.blob_bytes += int(size) if size != "-" else 0
        return s

    def summary(self):
        return ("difftest: %d stacks from the registry %s (%d images pushed; it served them "
                "%s)" % (self.stacks, self.reg.url, self.pushed, self.total))


class RegistryStack:
    """One stack mounted from the registry."""

    def __init__(self, regs, name, sd):
        self.regs = regs
        rng = random.Random("difftest-registry-mounts:%s" % name)
        self.second = rng.random() < SECOND_MOUNT
        self.empty_chunks = self.second and rng.random() < EMPTY_CHUNKS
        self.no_cache = not self.second and rng.random() < NO_CACHE
        self.repo = "difftest/seed-" + re.sub(r"[^a-z0-9]+", "-", str(name).lower())
        self.cache = os.path.join(sd, "cache")
        self.source = None
        self.passes = []            # (label, Served, --stats figures or None)
        self._offset = 0

    def publish(self, layout, extra):
        """Push the OCI layout LAYOUT (package_stack's, with its --tag in
        EXTRA if any); returns (SOURCE args, layerfs options, report args)."""
        ref = extra[1] if extra[:1] == ["--tag"] else None
        self.regs.client.push_oci_dir(self.repo, layout, TAG, ref=ref)
        self.regs.pushed += 1
        self.source = "docker://%s/%s:%s" % (self.regs.reg.host, self.repo, TAG)
        opts = ["--tls-verify=false"] + (["--no-cache"] if self.no_cache
                                         else ["--cache", self.cache])
        mount_opts = opts + (["--stats"] if self.regs.stats else [])
        return [self.source], mount_opts, opts + [self.source]

    def second_label(self):
        return "[second mount from the registry, index cached%s] " % (
            ", chunk cache emptied" if self.empty_chunks else "")

    def before_pass(self, label):
        if label and self.empty_chunks:
            shutil.rmtree(os.path.join(self.cache, "chunks"), ignore_errors=True)
        self._offset = self.regs.log_size()

    def after_pass(self, log_path, label):
        """Differences when the registry did not serve this mount."""
        first = not label
        deadline = time.monotonic() + 2
        while True:     # the registry logs a request once it has answered it
            s = self.regs.served(self.repo, self._offset)
            ok = s.manifests >= 1 and (s.blob_gets >= 1 or not first)
            if ok or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        st = stats_line(log_path) if self.regs.stats else None
        self.passes.append((label, s, st))
        for k in ("manifests", "blob_gets", "blob_bytes", "errors"):
            setattr(self.regs.total, k, getattr(self.regs.total, k) + getattr(s, k))
        if ok:
            return []
        return ["registry: the %s mount of %s was not served by the registry %s "
                "(its access log shows %s for %s): not the registry path"
                % ("first" if first else "second", self.source, self.regs.reg.url, s,
                   self.repo)]

    def describe(self):
        """For the stack's line: the reference and what was served."""
        self.regs.stacks += 1
        out = []
        for label, s, st in self.passes:
            d = "%s%s" % ("2nd: " if label else "", s)
            if st:
                d += ", layerfs fetched %d bytes in %d requests" % st
            out.append(d)
        return " from %s%s%s [%s]" % (
            self.source, " --no-cache" if self.no_cache else "", " + 2nd mount (cached index%s)" % (
                ", chunks emptied" if self.empty_chunks else "") if self.second else "",
            "; ".join(out) or "not mounted")


# ------------------------------------------------------------- selftest ---

def selftest(dt, runner):
    """Prove the registry path (see the module's doc).  DT is the difftest
    module (as run: __main__), RUNNER its Runner.  Returns the failures."""
    layerfs = runner.args.layerfs or os.environ.get("LAYERFS") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "layerfs")
    layerfs = os.path.abspath(layerfs)
    if not os.access(layerfs, os.X_OK):
        print("selftest registry: no layerfs binary at %s: skipped" % layerfs)
        return 0
    try:
        regs, msg = RegistryStacks.open(layerfs, os.path.join(runner.tmpfs, "registry-selftest"),
                                        n=1)
    except Exception as e:  # noqa: BLE001 - reported as a failure
        print("selftest registry: the registry did not start: %s FAILED" % e)
        return 1
    if regs is None:
        print("selftest registry: skipped (%s)" % msg.split(": ", 1)[1].split(":")[0])
        return 0
    saved = runner.layerfs
    runner.layerfs = dt.LayerfsSide(layerfs, dict(os.environ,
                                                  XDG_CACHE_HOME=os.path.join(runner.tmpfs,
                                                                              "cache")))
    failures = 0
    try:
        layers, fmt, decoy, rng = dt.gen_stack(3)
        other = dt.gen_stack(4)[0]
        tars = [dt.mkimage.layer_tar(e) for e, _, _ in layers]
        cases = [("selftest-reg", layers, False, "the same image", False),
                 ("selftest-reg-other", other, False, "another image", True),
                 ("selftest-reg-local", layers, True, "a local mount", True)]
        for name, lay, local, what, expect in cases:
            sd = runner.stack_dir(name)
            rs = regs.stack(name, sd)
            rs.second = False
            src, extra, _, _ = dt.package_stack(lay, "oci-dir", False, random.Random(1),
                                                os.path.join(sd, "img"))
            sources, opts, _ = rs.publish(src[0], extra)
            if local:       # what a silent fallback to local files would do
                sources, opts = src, extra
            try:
                diffs = runner.run_image(name, sources, opts, tars, sd, random.Random(1),
                                         lambda m: None, reg=rs)
            except dt.Failure as e:
                diffs = [str(e)]
            if not expect:
                good = not diffs
            elif local:
                good = any(d.startswith("registry: ") for d in diffs)
            else:
                good = bool(diffs) and not any(d.startswith("registry: ") for d in diffs)
            print("selftest registry: %-54s %s: %s" % (
                "%s of seed 3 vs its kernel reference" % what, "ok" if good else "FAILED",
                "; ".join(d[:150] for d in diffs[:2]) or "no differences"))
            failures += not good
            shutil.rmtree(sd, ignore_errors=True)
    finally:
        runner.layerfs = saved
        regs.stop()
    return failures
