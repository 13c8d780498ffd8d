#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""registry_client.py - the registry client (lib/registry.h) against the
registry test bed (registry.py: docker-registry, FaultProxy, TokenServer),
driven through tests/integration/regclient (run by registry_client.sh).

Every byte the client returns is compared with the bytes pushed (held here,
independent of the client): manifests (digest, media type), the config,
ranges at random offsets, whole blobs read through the HTTP blob source.
Through the fault proxy: 5xx and 429 retried (Retry-After honoured),
truncated/reset/dropped answers retried, a registry ignoring Range used, a
wrong Content-Range never believed (retried; -EIO when it persists), a
persistent 500 an -EIO with one line naming registry, repository and blob,
after which the same read succeeds; a stall ends by the timeout and is
retried; redirects to another host are followed without our Authorization.
With silly auth and the token server: one token per scope, reused, fetched
again after expires_in; credentials from an auth file sent as Basic.  A
sequential read of a 20 MiB blob through the blob source takes few requests.
Each failed check prints FAIL and the script exits 1.
"""
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mkimage  # noqa: E402
import registry  # noqa: E402
from checks import check, failures  # noqa: E402

top_builddir = os.environ.get("top_builddir") or os.getcwd()
REGCLIENT = os.environ.get("REGCLIENT") or os.path.join(top_builddir, "tests", "integration",
                                                         "regclient")


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Client:
    """One regclient process: one registry, commands one line at a time."""

    def __init__(self, ref, *opts, env=None):
        e = dict(os.environ)
        e.update(env or {})
        self.p = subprocess.Popen([REGCLIENT, "-k"] + list(opts) + ["docker://" + ref],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, env=e)

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = self.p.stdout.readline().rstrip("\n")
        if not out:
            raise RuntimeError("regclient died on: %s" % line)
        return out

    def stats(self):
        r = self.cmd("stats").split()
        return {k: int(v) for k, v in (x.split("=") for x in r[1:])}

    def close(self):
        self.p.stdin.close()
        rc = self.p.wait(timeout=30)
        check(rc == 0, "regclient exits 0", "(%d)" % rc)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def build_image():
    """A config, a 20 MiB incompressible layer, a small gzip layer, and the
    manifest naming them: (manifest bytes, {digest: bytes})."""
    rnd = random.Random(14)
    big = rnd.randbytes(20 * 1024 * 1024 + 12345)
    small = mkimage.make_layer([mkimage.Entry("file", "etc/hello", data=b"hello\n" * 1000)],
                               "gzip")
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    blobs = {sha(config): config, sha(big): big, sha(small.blob): small.blob}
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": mkimage.MEDIA_MANIFEST,
        "config": {"mediaType": mkimage.MEDIA_CONFIG, "digest": sha(config),
                   "size": len(config)},
        "layers": [{"mediaType": mkimage.MEDIA_LAYER["none"], "digest": sha(big),
                    "size": len(big)},
                   {"mediaType": mkimage.MEDIA_LAYER["gzip"], "digest": sha(small.blob),
                    "size": len(small.blob)}]}).encode()
    return manifest, blobs, sha(config), sha(big)


def push(url, repo, manifest, blobs):
    c = registry.RegistryClient(url)
    for data in blobs.values():
        c.push_blob(repo, data)
    return c.push_manifest(repo, "v1", manifest, mkimage.MEDIA_MANIFEST)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def blob_log(px, since, kind="blobs", n=0):
    """The proxy's log entries of KIND for requests that arrived after SINCE
    (time.time()); waits (2 s at most) for N of them: a request is logged
    when the proxy has finished it, which may be after the client has its
    bytes (or has stopped reading)."""
    for _ in range(20):
        log = [e for e in px.stats()["log"] if e["kind"] == kind and e["t"] >= since]
        if len(log) >= n:
            break
        time.sleep(0.1)
    return log


def open_registry(work, manifest, blobs, cfg, big):
    out = os.path.join(work, "out")
    with registry.Registry() as reg, registry.FaultProxy(reg.host) as px:
        mdigest = push(reg.url, "lfs/img", manifest, blobs)
        check(mdigest == sha(manifest), "pushed: the registry names the manifest by its sha256")
        index = json.dumps({"schemaVersion": 2, "mediaType": mkimage.MEDIA_INDEX, "manifests": [
            {"mediaType": mkimage.MEDIA_MANIFEST, "digest": mdigest, "size": len(manifest),
             "platform": {"architecture": "amd64", "os": "linux"}}]}).encode()
        registry.RegistryClient(reg.url).push_manifest("lfs/img", "index", index,
                                                       mkimage.MEDIA_INDEX)

        # --- straight to the registry
        with Client(reg.host + "/lfs/img:v1", env={"REGCLIENT_OUT": out}) as c:
            r = c.cmd("manifest v1").split()
            check(r[:3] == ["ok", sha(manifest), mkimage.MEDIA_MANIFEST] and
                  read(out) == manifest,
                  "manifest by tag: its bytes, digest and media type", r)
            r = c.cmd("manifest " + sha(manifest)).split()
            check(r[0] == "ok" and read(out) == manifest, "manifest by digest", r)
            r = c.cmd("manifest index")
            check(r.split()[:3] == ["ok", sha(index), mkimage.MEDIA_INDEX] and
                  read(out) == index, "an image index: its bytes, digest and media type", r)
            r = c.cmd("manifest sha256:" + "0" * 64)
            check(r.startswith("err -2 ") and "lfs/img" in r and reg.host in r,
                  "a missing manifest: -ENOENT naming registry and repository", r)
            r = c.cmd("blob %s %d 65536 %s" % (cfg, len(blobs[cfg]), out))
            check(r == "ok %d" % len(blobs[cfg]) and read(out) == blobs[cfg],
                  "the config blob whole, checked", r)
            r = c.cmd("blob %s %d 65536 %s" % (cfg, len(blobs[cfg]) + 1, out))
            check(r.startswith("err "), "a blob of another size than its descriptor's fails", r)
            r = c.cmd("blob %s -1 10 %s" % (cfg, out))
            check(r.startswith("err -27 "), "a blob larger than MAX fails with -EFBIG", r)
            rnd = random.Random(5)
            bad = []
            for _ in range(20):
                off = rnd.randrange(len(big))
                n = rnd.randrange(1, 300000)
                r = c.cmd("range %s %d %d %s" % (sha(big), off, n, out))
                want = big[off:off + n]
                if r != "ok %d" % len(want) or read(out) != want:
                    bad.append((off, n, r))
            check(not bad, "20 ranges at random offsets: the blob's bytes", bad[:3])
            r = c.cmd("range %s %d 1000 %s" % (sha(big), len(big) - 10, out))
            check(r == "ok 10" and read(out) == big[-10:], "a range over the end: the last bytes",
                  r)
            r = c.cmd("range %s %d 1000 %s" % (sha(big), len(big), out))
            check(r == "ok 0", "a range at the end: 0 bytes", r)
            r = c.cmd("size " + sha(big))
            check(r == "ok %d" % len(big), "a blob's size by HEAD", r)
            r = c.cmd("size sha256:" + "1" * 64)
            check(r.startswith("err -2 "), "the size of a missing blob: -ENOENT", r)
            c.close()

        # --- through the fault proxy
        px.reset()
        d = sha(big)
        with Client(px.host + "/lfs/img:v1", "-t", "2", "-r", "4") as c:
            def rng(off, n, what, expect_ok=True):
                r = c.cmd("range %s %d %d %s" % (d, off, n, out))
                good = r == "ok %d" % n and read(out) == big[off:off + n]
                check(good if expect_ok else not good, what, r)
                return r

            rng(1000, 5000, "through the proxy: a range")
            t0 = time.time()
            px.add_fault("status", path="/blobs/", method="HEAD", count=-1, status=405)
            r = c.cmd("size " + d)
            log = blob_log(px, t0, n=2)
            check(r == "ok %d" % len(big) and [e["status"] for e in log] == [405, 206],
                  "a registry refusing HEAD: the size from a one-byte GET", (r, log))
            px.clear_faults()
            s0 = c.stats()
            t0 = time.time()
            px.add_fault("status", path="/blobs/", count=2, status=503)
            rng(77777, 4096, "503 twice, then the bytes (retried)")
            st = [e["status"] for e in blob_log(px, t0, n=3)]
            s1 = c.stats()
            check(st == [503, 503, 206] and s1["retries"] - s0["retries"] == 2,
                  "503 twice: three requests, two counted as retries", (st, s0, s1))

            px.add_fault("status", path="/blobs/", count=1, status=429, retry_after=1)
            tm = time.monotonic()
            rng(123, 10, "429 with Retry-After: 1, then the bytes")
            check(time.monotonic() - tm >= 0.95, "429: Retry-After honoured (waited >= 1 s)",
                  time.monotonic() - tm)

            for kind, params in (("truncate", {"after": 1000}), ("reset", {}), ("drop", {}),
                                 ("truncate", {"after": 5, "reset": True})):
                px.add_fault(kind, path="/blobs/", count=1, **params)
                rng(500000, 200000, "%s %s, then the bytes" % (kind, params))

            t0 = time.time()
            px.add_fault("ignore_range", path="/blobs/", count=1)
            rng(3 * 1024 * 1024 + 17, 100000, "a registry ignoring Range: the right bytes")
            log = blob_log(px, t0, n=1)
            check([e["status"] for e in log] == [200],
                  "ignored Range: one 200, used (not retried)", log)

            for mode in ("header", "shifted"):
                px.add_fault("wrong_range", path="/blobs/", count=1, mode=mode, shift=100)
                rng(2000000, 50000, "wrong Content-Range (%s) once: retried, right bytes" % mode)
                px.add_fault("wrong_range", path="/blobs/", count=-1, mode=mode, shift=100)
                r = rng(2000000, 50000, "wrong Content-Range (%s) always: never the bytes" % mode,
                        expect_ok=False)
                check(r.startswith("err -5 ") and "Content-Range" in r,
                      "wrong Content-Range (%s) always: -EIO naming Content-Range" % mode, r)
                px.clear_faults()

            px.add_fault("status", path="/blobs/", count=-1, status=500)
            r = c.cmd("range %s 100 100 %s" % (d, out))
            check(r.startswith("err -5 ") and "\n" not in r and reg.host not in r and
                  px.host in r and "lfs/img" in r and d in r and "500" in r,
                  "persistent 500: -EIO, one line naming registry, repository, blob, status", r)
            px.clear_faults()
            rng(100, 100, "after the fault is cleared the same read succeeds")

            px.add_fault("stall", path="/blobs/", count=1, seconds=6)
            tm = time.monotonic()
            rng(9999, 1000, "a stalled answer: timed out (-t 2) and retried")
            check(time.monotonic() - tm < 5.5, "the stall ended by the timeout, not by its end",
                  time.monotonic() - tm)

            px.add_fault("corrupt", path="/blobs/", count=1)
            r = c.cmd("blob %s %d 65536 %s" % (cfg, len(blobs[cfg]), out))
            check(r.startswith("ok") and read(out) == blobs[cfg],
                  "a corrupted config blob: digest mismatch retried, then right",
                  (r, blob_log(px, t0)[-5:]))
            px.add_fault("corrupt", path="/manifests/", count=1)
            r = c.cmd("manifest v1")
            check(r.startswith("ok " + sha(manifest)),
                  "a manifest corrupted once (by tag: Docker-Content-Digest): retried", r)
            px.add_fault("corrupt", path="/manifests/", count=-1)
            r = c.cmd("manifest v1")
            check(r.startswith("err -5 ") and "digest" in r,
                  "a manifest always corrupted: -EIO naming the digest", r)
            px.clear_faults()

            # --- the blob source
            t0 = time.time()
            r = c.cmd("seq %s %d 131072 %s" % (d, len(big), out))
            n = len(blob_log(px, t0, n=5))
            check(r == "ok %d" % len(big) and read(out) == big,
                  "a sequential read of the 20 MiB blob through the blob source", r)
            check(n <= 8, "the sequential read took <= 8 requests (read-ahead)", n)
            t0 = time.time()
            r = c.cmd("rand %s %d 7 50 4096 %s" % (d, len(big), out))
            bad = []
            with open(out, "rb") as f:
                for _ in range(50 if r == "ok 50" else 0):
                    off, k = map(int, f.readline().split())
                    got = f.read(k)
                    if got != big[off:off + k]:
                        bad.append((off, k, big.find(got[:64])))
                    f.read(1)
            check(r == "ok 50" and not bad, "50 random 4 KiB reads through the blob source",
                  (r, bad[:5], blob_log(px, t0)[:3]))
            check(len(blob_log(px, t0)) <= 50, "random reads: one request each at most",
                  len(blob_log(px, t0)))
            r = c.cmd("threads %s %d 4 %s" % (d, len(big), out))
            check(r == "ok 4" and read(out) == big, "4 threads read the blob together", r)
            px.add_fault("status", path="/blobs/", count=3, status=503)
            px.add_fault("truncate", path="/blobs/", count=2, after=3000)
            r = c.cmd("threads %s %d 4 %s" % (d, len(big), out))
            check(r == "ok 4" and read(out) == big,
                  "4 threads through 503s and truncated answers: retried, the blob's bytes", r)
            px.clear_faults()
            px.add_fault("status", path="/blobs/", count=-1, status=502)
            r = c.cmd("seq %s %d 131072 %s" % (d, len(big), out))
            check(r.startswith("err -5 "), "the blob source: a failing registry is -EIO", r)
            px.clear_faults()
            r = c.cmd("seq %s %d 131072 %s" % (d, len(big), out))
            check(r == "ok %d" % len(big) and read(out) == big,
                  "the blob source: the next read tries again", r)
            c.close()

        # a new process needs a new connection: refused while the proxy is down
        with Client(px.host + "/lfs/img:v1", "-r", "6") as c:
            px.down(1.0)
            tm = time.monotonic()
            r = c.cmd("range %s 4242 4242 %s" % (d, out))
            check(r == "ok 4242" and read(out) == big[4242:8484] and
                  time.monotonic() - tm >= 0.9 and c.stats()["retries"] >= 3,
                  "connection refused for 1 s: retried with backoff, then the bytes",
                  (r, time.monotonic() - tm, c.stats()))
            c.close()


def auth_registry(work, manifest, blobs, cfg, big):
    out = os.path.join(work, "out")
    d = sha(big)
    home = os.path.join(work, "home")
    os.makedirs(home, exist_ok=True)
    # no credentials unless a test names a file
    env = {"HOME": home, "XDG_RUNTIME_DIR": home, "REGISTRY_AUTH_FILE": ""}
    with registry.TokenServer(expires_in=300) as ts, \
            registry.Registry(auth="silly", realm=ts.realm) as reg, \
            registry.FaultProxy(reg.host, check_tokens=ts) as px:
        push(reg.url, "lfs/auth", manifest, blobs)
        ts.configure(expires_in=3)
        del ts.requests[:]
        with Client(px.host + "/lfs/auth:v1", env=env) as c:
            r = c.cmd("manifest v1")
            check(r.startswith("ok " + sha(manifest)), "silly auth: the manifest", r)
            r = c.cmd("blob %s %d 65536 %s" % (cfg, len(blobs[cfg]), out))
            check(r.startswith("ok") and read(out) == blobs[cfg], "silly auth: the config", r)
            for off in (0, 1 << 20, 5 << 20):
                r = c.cmd("range %s %d 1000 %s" % (d, off, out))
                check(r == "ok 1000" and read(out) == big[off:off + 1000],
                      "silly auth: a range at %d" % off, r)
            scopes = [q["scopes"] for q in ts.requests]
            check(len(scopes) == 1 and scopes[0] == ["repository:lfs/auth:pull"] and
                  c.stats()["tokens"] == 1,
                  "one token fetched for the scope, reused by 5 requests", scopes)
            check(all(q["basic"] is None for q in ts.requests),
                  "without credentials the token is asked for anonymously", ts.requests)
            time.sleep(3.2)
            t0 = time.time()
            r = c.cmd("range %s 10 10 %s" % (d, out))
            check(r == "ok 10" and read(out) == big[10:20], "after expires_in: a range", r)
            check(len(ts.requests) == 2 and c.stats()["tokens"] == 2,
                  "after expires_in the token was fetched again", len(ts.requests))
            st = [e["status"] for e in blob_log(px, t0, n=1)]
            check(st == [206], "the expired token was renewed before use (no 401)", st)

            # a token the registry no longer takes: one 401, one new token, the bytes
            with ts.lock:
                ts.tokens.clear()
            ts.configure(expires_in=300, fail=1)
            n0 = len(ts.requests)
            r = c.cmd("range %s 20 10 %s" % (d, out))
            check(r == "ok 10" and read(out) == big[20:30],
                  "a revoked token: refreshed on the 401 (token server's 500 retried)", r)
            check([q["status"] for q in ts.requests[n0:]] == [500, 200],
                  "a revoked token: one failed and one good token request",
                  ts.requests[n0:])

            # the token server down when a token must be renewed: that read
            # fails with one line (nothing cleared that was never set), the next works
            with ts.lock:
                ts.tokens.clear()
            ts.configure(expires_in=1, fail=0)
            r = c.cmd("range %s 30 10 %s" % (d, out))
            check(r == "ok 10", "a new token, for one second", r)
            time.sleep(1.2)
            ts.configure(expires_in=300, fail=1000)
            r = c.cmd("range %s 40 10 %s" % (d, out))
            check(r.startswith("err ") and "\n" not in r and "token" in r,
                  "the token server failing at renewal: the read fails with one line", r)
            ts.configure(expires_in=300, fail=0)
            r = c.cmd("range %s 40 10 %s" % (d, out))
            check(r == "ok 10" and read(out) == big[40:50],
                  "the token server back: the same read works", r)

            # a redirect to blob storage on another host: followed, no Authorization there
            t0 = time.time()
            px.add_fault("redirect", path="/blobs/", count=-1, reject_auth=True)
            r = c.cmd("range %s 4096 8192 %s" % (d, out))
            check(r == "ok 8192" and read(out) == big[4096:4096 + 8192],
                  "a redirect to another host: the blob's bytes", r)
            log = [e for e in px.stats()["log"] if e["t"] >= t0]
            main = [e for e in log if e["kind"] == "blobs"]
            redir = [e for e in log if e["kind"] == "redirect"]
            check(main and main[-1]["auth"] == "Bearer" and main[-1]["status"] == 307 and
                  redir and all(e["auth"] is None for e in redir) and
                  redir[-1]["status"] == 206,
                  "the registry saw our Bearer token, the redirect target no Authorization",
                  log)
            px.clear_faults()
            c.close()

        # credentials from an auth file, sent as Basic to the token server
        ts.configure(require=("alice", "s3cret"))
        del ts.requests[:]
        authfile = os.path.join(work, "auth.json")
        with open(authfile, "w") as f:
            json.dump({"auths": {px.host: {"auth": "YWxpY2U6czNjcmV0"}}}, f)  # alice:s3cret
        with Client(px.host + "/lfs/auth:v1", "-a", authfile, env=env) as c:
            r = c.cmd("manifest v1")
            check(r.startswith("ok " + sha(manifest)), "credentials from -a FILE: the manifest",
                  r)
            basic = [q["basic"] for q in ts.requests]
            check(basic and all(b == {"user": "alice", "password": "s3cret"} for b in basic),
                  "the token server got alice's credentials as Basic", basic)
            c.close()
        env2 = dict(env, REGISTRY_AUTH_FILE=authfile)
        with Client(px.host + "/lfs/auth:v1", env=env2) as c:
            r = c.cmd("manifest v1")
            check(r.startswith("ok "), "credentials from $REGISTRY_AUTH_FILE", r)
            c.close()
        with Client(px.host + "/lfs/auth:v1", env=env) as c:
            r = c.cmd("manifest v1")
            check(r.startswith("err -13 ") and "token" in r,
                  "no credentials where the token server wants some: -EACCES", r)
            c.close()


def main():
    registry.install_signal_handlers()
    work = tempfile.mkdtemp(prefix="lfs-regclient.")
    manifest, blobs, cfg, big = build_image()
    tm = time.monotonic()
    try:
        open_registry(work, manifest, blobs, cfg, blobs[big])
        auth_registry(work, manifest, blobs, cfg, blobs[big])
    finally:
        subprocess.run(["rm", "-rf", work])
    print("%d failures, %.1f s" % (len(failures), time.monotonic() - tm))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
