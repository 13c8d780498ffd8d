#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""registry_index.py - the published layerfs index (issue 15), run by
registry_index.sh.

An image with gzip, zstd and uncompressed layers (whiteouts, an opaque
directory, hard links, a 3 MiB file in each) is pushed byte for byte to a
docker-registry on loopback behind the test bed's proxy.  Checked:

* `layerfs --publish-index docker://...` with cache A prints the artifact's
  digest; the registry then holds, read back with our own small HTTP client
  (registry.RegistryClient), an OCI manifest with artifactType
  application/vnd.layerfs.index.v1, the image manifest as its subject, one
  part per cache file annotated with the image layer's digest, and the
  referrers tag sha256-<hex> lists it (distribution 2.8 has no referrers API);
* a mount with an empty cache B reads none of the layer blobs before it is
  up (the proxy's log), and its tree equals a mount of the local OCI layout
  (difftest.compare_trees: metadata, every byte, random reads);
* publishing twice keeps one entry of ours in the referrers tag;
* a damaged artifact (a part whose bytes are not an index, with a correct
  digest) and one naming other layers are each ignored with one warning
  line, and the mount falls back to the pass and is right;
* bad usage: --publish-index with a mountpoint or a local image.
Prints "ok ..." / "FAIL ..." per check; exits 1 on any failure.
"""
import hashlib
import json
import os
import random
import shutil
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
AT = "application/vnd.layerfs.index.v1"


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def image_layers():
    rng = random.Random(15)
    blob = {k: bytes(rng.getrandbits(8) for _ in range(3 << 20)) for k in ("a", "b", "c")}
    l0 = [Entry("dir", "etc", 0o755), Entry("file", "etc/passwd", data=b"root:x:0:0\n"),
          Entry("file", "big-a", data=blob["a"]), Entry("dir", "opq", 0o755),
          Entry("file", "opq/old", data=b"old\n"), Entry("file", "gone", data=b"gone\n")]
    l1 = [Entry("whiteout", "gone"), Entry("opaque", "opq"), Entry("file", "opq/new", data=b"n\n"),
          Entry("file", "big-b", data=blob["b"]), Entry("hardlink", "etc/pw2", target="big-b")]
    l2 = [Entry("file", "big-c", data=blob["c"]), Entry("symlink", "link", target="big-c"),
          Entry("file", "etc/passwd", 0o600, data=b"root:x:0:0:changed\n")]
    return [mkimage.make_layer(l0, "gzip"), mkimage.make_layer(l1, "zstd"),
            mkimage.make_layer(l2, "none")]


class Ctx:
    def __init__(self, root, px, reg):
        self.root, self.px, self.reg = root, px, reg
        self.n = 0
        self.side = difftest.LayerfsSide(LAYERFS, dict(os.environ))
        self.ref = "docker://%s/lfs/pub:v1" % px.host
        self.client = registry.RegistryClient(reg.url)

    def mount(self, source, extra):
        self.n += 1
        mnt = os.path.join(self.root, "m%d" % self.n)
        os.makedirs(mnt)
        self.side.mount([source], ["--read-only"] + extra, mnt, mnt + ".log")
        return mnt

    def log(self, mnt):
        with open(mnt + ".log") as f:
            return f.read()

    def publish(self, cache, *extra):
        return subprocess.run([LAYERFS, "--publish-index", "--tls-verify=false", "--cache", cache]
                              + list(extra) + [self.ref], capture_output=True, text=True,
                              timeout=120)

    def manifest(self, ref):
        st, _, body = self.client.get_manifest("lfs/pub", ref)
        return json.loads(body) if st == 200 else None


def layer_bytes(px, since, layers):
    digests = {sha(l.blob) for l in layers}
    return sum(e["bytes"] for e in px.stats()["log"]
               if e["kind"] == "blobs" and e["t"] >= since
               and any(d in e["path"] for d in digests))


def main():
    registry.install_signal_handlers()
    layers = image_layers()
    root = tempfile.mkdtemp(prefix="lfs-regindex.")
    t0 = time.monotonic()
    try:
        with registry.Registry() as reg, registry.FaultProxy(reg.host) as px:
            oci = os.path.join(root, "oci")
            mkimage.write_oci_dir(oci, layers, tag="v1")
            mdigest = registry.RegistryClient(reg.url).push_oci_dir("lfs/pub", oci, "v1")
            c = Ctx(root, px, reg)
            local = c.mount(oci, ["--no-cache"])
            published(c, layers, mdigest, local)
            damaged(c, layers, mdigest, local)
            usage(c, oci)
    except difftest.Failure as e:
        check(False, "mount", str(e))
    finally:
        difftest.MOUNTS.cleanup()
        shutil.rmtree(root, ignore_errors=True)
    return summary(t0)


def published(c, layers, mdigest, local):
    r = c.publish(os.path.join(c.root, "A"))
    adigest = r.stdout.strip()
    check(r.returncode == 0 and adigest.startswith("sha256:"),
          "--publish-index: status 0, the artifact's digest on stdout", (r.returncode, r.stderr))
    a = c.manifest(adigest) or {}
    parts = a.get("layers", [])
    named = [p.get("annotations", {}).get("dev.layerfs.layer.digest") for p in parts]
    check(a.get("artifactType") == AT and a.get("subject", {}).get("digest") == mdigest and
          [d for i, d in enumerate(named) if i == 0 or d != named[i - 1]] ==
          [sha(l.blob) for l in layers],
          "the artifact: artifactType, the image manifest as subject, parts per layer in order",
          json.dumps(a)[:600])
    idx = c.manifest("sha256-" + mdigest[7:]) or {}
    ours = [m for m in idx.get("manifests", []) if m.get("artifactType") == AT]
    check(len(ours) == 1 and ours[0]["digest"] == adigest,
          "the referrers tag sha256-<hex> lists the artifact", idx)

    since = time.time()
    mnt = c.mount(c.ref, ["--tls-verify=false", "--cache", os.path.join(c.root, "B")])
    before = layer_bytes(c.px, since, layers)
    check(before == 0, "empty cache + published index: no layer blob read before the mount is "
          "up (%d bytes)" % before)
    diffs = difftest.compare_trees(local, mnt, names=("local", "published"),
                                   rng=random.Random(2))
    check(not diffs, "mounted from the published index = the local OCI layout",
          "\n  " + "\n  ".join(diffs[:20]))
    difftest.MOUNTS.umount(mnt)

    r = c.publish(os.path.join(c.root, "A"))
    idx = c.manifest("sha256-" + mdigest[7:]) or {}
    ours = [m for m in idx.get("manifests", []) if m.get("artifactType") == AT]
    check(r.returncode == 0 and len(ours) == 1,
          "published twice: one entry of ours in the referrers tag", idx)


def push_artifact(c, a):
    body = json.dumps(a).encode()
    c.client.push_manifest("lfs/pub", sha(body), body, "application/vnd.oci.image.manifest.v1+json")
    tag = "sha256-" + a["subject"]["digest"][7:]
    idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
           "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "digest": sha(body), "size": len(body), "artifactType": AT}]}
    c.client.push_manifest("lfs/pub", tag, json.dumps(idx).encode(),
                           "application/vnd.oci.image.index.v1+json")


def damaged(c, layers, mdigest, local):
    idx = c.manifest("sha256-" + mdigest[7:])
    good = c.manifest(idx["manifests"][0]["digest"])
    # a part whose bytes are not an index (its digest is right)
    junk = b"not an index, but its digest is right\n"
    c.client.push_blob("lfs/pub", junk)
    bad = json.loads(json.dumps(good))
    bad["layers"][0].update(digest=sha(junk), size=len(junk))
    # an artifact naming other layers
    other = json.loads(json.dumps(good))
    for p in other["layers"]:
        p["annotations"]["dev.layerfs.layer.digest"] = "sha256:" + "ab" * 32
    for name, art in (("a damaged part", bad), ("parts naming other layers", other)):
        push_artifact(c, art)
        cache = os.path.join(c.root, "C-" + name.replace(" ", "-"))
        since = time.time()
        mnt = c.mount(c.ref, ["--tls-verify=false", "--cache", cache])
        log = c.log(mnt)
        warn = [ln for ln in log.splitlines() if "published index" in ln]
        passed = layer_bytes(c.px, since, layers)
        diffs = difftest.compare_trees(local, mnt, names=("local", "fallback"),
                                       rng=random.Random(3))
        check(len(warn) == 1 and "ignored" in warn[0] and passed > 0 and not diffs,
              "%s: one warning, the pass instead, the right tree" % name,
              (log[-400:], passed, diffs[:5]))
        difftest.MOUNTS.umount(mnt)


def usage(c, oci):
    for what, args in (("with a mountpoint", [c.ref, c.root]),
                       ("of a local image", ["oci:" + oci])):
        r = subprocess.run([LAYERFS, "--publish-index", "--tls-verify=false"] + args,
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 2 and "--publish-index" in r.stderr,
              "--publish-index %s: bad usage (status 2)" % what, (r.returncode, r.stderr))


if __name__ == "__main__":
    sys.exit(main())
