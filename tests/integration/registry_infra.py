#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""registry_infra.py - self-test of tests/integration/registry.py, the
registry test bed (run by registry_infra.sh).

With the real tools (curl, skopeo) against a real docker-registry it checks
that: images are pushed (skopeo from oci:, oci-archive:, docker-archive:,
gzip and zstd; byte-exact layouts through RegistryClient) and `skopeo
inspect` through the proxy lists their layers; Range GETs through the
proxy return exactly the blob's bytes and the stats count exactly those;
every fault kind does what it claims (curl's exit code, status, headers,
body); latency and the bandwidth cap slow transfers; the redirect listener
serves the blob on another host:port, drops nothing it should keep and
honours ttl / reject_auth; down() refuses connections; the silly-auth
registry challenges with the token server's realm and takes its tokens; the
token server requires credentials and records scopes; the token-checking
proxy refuses expired, unknown and wrong-scope tokens.
Each failed check prints FAIL and the script exits 1.
"""
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mkimage  # noqa: E402
import registry  # noqa: E402

failures = []
nchecks = 0


def check(cond, what, detail=""):
    global nchecks
    nchecks += 1
    if cond:
        print("ok   %s" % what)
    else:
        failures.append(what)
        print("FAIL %s %s" % (what, detail), flush=True)


def curl(url, *args, body=None):
    """Run curl; returns dict(rc, status, headers (last response, lower-case
    names), body, time)."""
    with tempfile.TemporaryDirectory(prefix="lfs-curl.") as t:
        out, hdr = os.path.join(t, "body"), os.path.join(t, "headers")
        cmd = ["curl", "-s", "-o", out, "-D", hdr, "-w", "%{http_code} %{time_total}",
               "--max-time", "20"] + list(args) + [url]
        t0 = time.monotonic()
        r = subprocess.run(cmd, input=body, capture_output=True)
        elapsed = time.monotonic() - t0
        data = open(out, "rb").read() if os.path.exists(out) else b""
        headers = {}
        if os.path.exists(hdr):
            for line in open(hdr, "rb").read().decode("latin-1").splitlines():
                if line.startswith("HTTP/"):
                    headers = {}
                elif ":" in line:
                    k, _, v = line.partition(":")
                    headers[k.strip().lower()] = v.strip()
        status = int(r.stdout.split()[0]) if r.stdout.split() else 0
        return {"rc": r.returncode, "status": status, "headers": headers, "body": data,
                "time": elapsed}


def control(proxy, path, obj=None, method=None):
    """Drive the proxy through its HTTP control endpoint, with curl."""
    args = []
    if obj is not None:
        args = ["-X", method or "POST", "-H", "Content-Type: application/json",
                "--data-binary", "@-"]
    elif method:
        args = ["-X", method]
    r = curl(proxy.url + path, *args, body=json.dumps(obj).encode() if obj is not None else None)
    assert r["rc"] == 0 and r["status"] == 200, "control %s: %r" % (path, r)
    return json.loads(r["body"] or b"null")


def skopeo(*args):
    return subprocess.run(["skopeo", "--insecure-policy"] + list(args), capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)


def build_image(tmp):
    """Two layers: a gzip one with 1.5 MiB of random data (incompressible,
    so its blob is ~1.5 MiB) and an uncompressed small one."""
    rnd = os.urandom(1536 * 1024)
    l0 = mkimage.make_layer([mkimage.Entry("dir", "data"),
                             mkimage.Entry("file", "data/random.bin", data=rnd)], "gzip")
    l1 = mkimage.make_layer([mkimage.Entry("file", "etc/hello", data=b"hello registry\n" * 50)],
                            "none")
    layers = [l0, l1]
    mkimage.write_oci_dir(os.path.join(tmp, "oci"), layers, tag="v1")
    mkimage.write_oci_archive(os.path.join(tmp, "image.oci.tar"), layers, tag="v1")
    mkimage.write_docker(os.path.join(tmp, "image.docker.tar"), layers, tag="lfs/docker:v1")
    return layers


def main():
    registry.install_signal_handlers()
    tmp = tempfile.mkdtemp(prefix="lfs-registry-infra.")
    t_start = time.monotonic()
    layers = build_image(tmp)
    big, small = layers[0].blob, layers[1].blob
    big_d = "sha256:" + hashlib.sha256(big).hexdigest()
    small_d = "sha256:" + hashlib.sha256(small).hexdigest()
    oci = os.path.join(tmp, "oci")

    with registry.TokenServer() as ts, \
            registry.Registry() as reg, \
            registry.Registry(auth="silly", realm=ts.realm) as areg, \
            registry.FaultProxy(reg.host) as px, \
            registry.FaultProxy(areg.host, check_tokens=ts) as apx:
        # ---------------------------------------------------------- push
        r = curl(reg.url + "/v2/")
        check(r["rc"] == 0 and r["status"] == 200, "registry answers GET /v2/", r)
        dg = registry.push("oci:%s:v1" % oci, reg.host + "/lfs/test:v1")
        ins = skopeo("inspect", "--tls-verify=false", "docker://%s/lfs/test:v1" % px.host)
        j = json.loads(ins.stdout or "{}")
        check(ins.returncode == 0 and j.get("Digest") == dg and len(j.get("Layers", [])) == 2,
              "skopeo push (oci:) + skopeo inspect through the proxy: digest and 2 layers",
              (dg, ins.stderr[-300:], j.get("Layers")))
        raw = skopeo("inspect", "--raw", "--tls-verify=false", "docker://%s/lfs/test:v1" % px.host)
        check("sha256:" + hashlib.sha256(raw.stdout.encode()).hexdigest() == dg,
              "push() returns the sha256 of the raw manifest")

        exact = registry.RegistryClient(reg.url).push_oci_dir("lfs/exact", oci, "v1")
        ins = skopeo("inspect", "--tls-verify=false", "docker://%s/lfs/exact:v1" % px.host)
        j = json.loads(ins.stdout or "{}")
        check(j.get("Digest") == exact and j.get("Layers") == [big_d, small_d],
              "byte-exact push: skopeo inspect through the proxy lists the layout's layers",
              (j.get("Layers"), [big_d, small_d]))

        for comp, mt in (("zstd", "tar+zstd"), ("gzip", "tar+gzip"), ("none", ".tar")):
            # uncompressed layers of their own (skopeo would reuse blobs it
            # pushed before, and keeps gzip layers gzip)
            plain = os.path.join(tmp, "plain-" + comp)
            mkimage.write_oci_dir(plain, [mkimage.make_layer([mkimage.Entry(
                "file", "%s/%d" % (comp, i), data=os.urandom(5000))]) for i in range(2)], tag="v1")
            d = registry.push("oci:%s:v1" % plain, "%s/lfs/%s:v1" % (reg.host, comp),
                              compress=comp)
            r = curl("%s/v2/lfs/%s/manifests/v1" % (px.url, comp),
                     "-H", "Accept: application/vnd.oci.image.manifest.v1+json")
            m = json.loads(r["body"] or b"{}")
            types = [x["mediaType"] for x in m.get("layers", [])]
            check(r["status"] == 200 and "sha256:" + hashlib.sha256(r["body"]).hexdigest() == d
                  and len(types) == 2 and all(t.endswith(mt) for t in types),
                  "push compress=%s: both layers %s" % (comp, mt), types)
        for src, repo in (("oci-archive:%s/image.oci.tar" % tmp, "lfs/ociarchive"),
                          ("docker-archive:%s/image.docker.tar" % tmp, "lfs/dockerarchive")):
            d = registry.push(src, "%s/%s:v1" % (reg.host, repo))
            ins = skopeo("inspect", "--tls-verify=false", "docker://%s/%s:v1" % (px.host, repo))
            j = json.loads(ins.stdout or "{}")
            check(j.get("Digest") == d and len(j.get("Layers", [])) == 2,
                  "skopeo push from %s" % src.split(":")[0])

        blob_url = "%s/v2/lfs/exact/blobs/%s" % (px.url, big_d)
        small_url = "%s/v2/lfs/exact/blobs/%s" % (px.url, small_d)

        # ------------------------------------------------- ranges, stats
        control(px, "/__stats", method="DELETE")
        r = curl(blob_url, "-r", "1000-66535")
        check(r["rc"] == 0 and r["status"] == 206 and r["body"] == big[1000:66536]
              and r["headers"].get("content-range") == "bytes 1000-66535/%d" % len(big),
              "curl -r through the proxy: 206, Content-Range, exactly the blob's bytes",
              (r["rc"], r["status"], r["headers"].get("content-range"), len(r["body"])))
        r = curl(small_url)
        check(r["status"] == 200 and r["body"] == small, "full GET of a blob through the proxy")
        r = curl("%s/v2/lfs/exact/manifests/v1" % px.url,
                 "-H", "Accept: application/vnd.oci.image.manifest.v1+json")
        st = control(px, "/__stats")
        k = st["kinds"]
        check(st["requests"] == 3 and k.get("blobs") == {"requests": 2, "bytes": 65536 + len(small)}
              and k.get("manifests", {}).get("requests") == 1
              and k["manifests"]["bytes"] == len(r["body"])
              and st["log"][0]["range"] == "bytes=1000-66535"
              and st["log"][0]["status"] == 206 and st["log"][0]["bytes"] == 65536,
              "/__stats counts requests and body bytes per kind, logs Range and status",
              json.dumps(st)[:600])

        control(px, "/__stats", method="DELETE")
        subprocess.run(["curl", "-sf", "-o", "/dev/null", "-o", "/dev/null", small_url,
                        small_url], check=False)
        curl(small_url)
        st = control(px, "/__stats")
        check(st["connections"]["main"] == 2 and [e["conn"] for e in st["log"]] == [1, 1, 2],
              "/__stats counts connections: curl's keep-alive reuse is visible",
              (st["connections"], [e["conn"] for e in st["log"]]))

        # --------------------------------------------------------- faults
        control(px, "/__fault", {"kind": "truncate", "path": "/blobs/", "after": 1000})
        r = curl(blob_url)
        check(r["rc"] == 18 and len(r["body"]) == 1000 and r["body"] == big[:1000]
              and r["headers"].get("content-length") == str(len(big)),
              "truncate: full Content-Length, 1000 bytes, curl exit 18 (partial file)",
              (r["rc"], len(r["body"])))
        r = curl(blob_url)
        check(r["rc"] == 0 and r["body"] == big, "a count=1 fault hits only one request")

        control(px, "/__fault", {"kind": "reset", "path": "/blobs/"})
        r = curl(blob_url)
        check(r["rc"] == 56 and r["status"] == 0, "reset: curl exit 56 (connection reset)",
              (r["rc"], r["status"]))
        control(px, "/__fault", {"kind": "drop", "path": "/blobs/"})
        r = curl(blob_url)
        check(r["rc"] == 52 and r["status"] == 0, "drop: curl exit 52 (empty reply)",
              (r["rc"], r["status"]))

        for status in (500, 503):
            control(px, "/__fault", {"kind": "status", "status": status, "path": "/blobs/"})
            r = curl(blob_url)
            check(r["status"] == status and b"errors" in r["body"], "status %d" % status,
                  r["status"])
        control(px, "/__fault", {"kind": "status", "status": 429, "retry_after": 7,
                                 "path": "/blobs/", "count": 2})
        r1, r2, r3 = curl(blob_url), curl(blob_url), curl(blob_url)
        check(r1["status"] == 429 and r1["headers"].get("retry-after") == "7"
              and r2["status"] == 429 and r3["status"] == 200,
              "429 with Retry-After: 7 for count=2 requests, then 200",
              (r1["status"], r1["headers"].get("retry-after"), r2["status"], r3["status"]))

        px.add_fault("status", status=500, path="/blobs/", skip=2)
        got = [curl(small_url)["status"] for _ in range(4)]
        check(got == [200, 200, 500, 200], "skip=2: the third matching request fails", got)
        control(px, "/__fault", {"kind": "status", "status": 503, "path": "/manifests/"})
        r = curl(blob_url, "-r", "0-9")
        check(r["status"] == 206, "a fault's path regex spares other paths", r["status"])
        control(px, "/__fault", method="DELETE")
        check(control(px, "/__fault") == [], "DELETE /__fault disarms the rules")

        control(px, "/__fault", {"kind": "ignore_range", "path": "/blobs/"})
        r = curl(blob_url, "-r", "0-99")
        check(r["status"] == 200 and r["body"] == big and "content-range" not in r["headers"],
              "ignore_range: 200 with the whole blob", (r["status"], len(r["body"])))

        control(px, "/__fault", {"kind": "wrong_range", "path": "/blobs/", "shift": 1})
        r = curl(blob_url, "-r", "100-199")
        check(r["status"] == 206 and r["headers"].get("content-range") == "bytes 101-200/%d"
              % len(big) and r["body"] == big[101:201],
              "wrong_range shifted: asked 100-199, got bytes 101-200 (and says so)",
              (r["status"], r["headers"].get("content-range")))
        control(px, "/__fault", {"kind": "wrong_range", "path": "/blobs/", "shift": 5,
                                 "mode": "header"})
        r = curl(blob_url, "-r", "100-199")
        check(r["status"] == 206 and r["headers"].get("content-range") == "bytes 105-204/%d"
              % len(big) and r["body"] == big[100:200],
              "wrong_range header: right bytes, Content-Range says 105-204",
              (r["status"], r["headers"].get("content-range")))

        control(px, "/__fault", {"kind": "corrupt", "path": "/blobs/", "at": 10})
        r = curl(blob_url)
        diff = [i for i in range(min(len(big), len(r["body"]))) if r["body"][i] != big[i]]
        check(r["rc"] == 0 and len(r["body"]) == len(big) and diff == [10]
              and r["body"][10] == big[10] ^ 0xFF,
              "corrupt: exactly byte 10 flipped", (r["rc"], len(r["body"]), diff[:5]))

        control(px, "/__fault", {"kind": "stall", "path": "/blobs/", "seconds": 1.5})
        r = curl(blob_url, "--max-time", "0.5")
        check(r["rc"] == 28 and r["time"] < 1.4, "stall before the headers: curl times out (28)",
              (r["rc"], r["time"]))
        # the stalled request is logged once the proxy is done with it
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(
                e["fault"] == "stall" for e in px.stats()["log"]):
            time.sleep(0.1)
        check(any(e["fault"] == "stall" for e in px.stats()["log"]),
              "the stalled request is in the stats log, marked as such")
        control(px, "/__fault", {"kind": "stall", "path": "/blobs/", "seconds": 0.8,
                                 "after": 100})
        r = curl(blob_url, "-r", "0-999")
        check(r["rc"] == 0 and r["body"] == big[:1000] and r["time"] >= 0.7,
              "stall after 100 body bytes: whole range, >= 0.7 s", (r["rc"], r["time"]))
        control(px, "/__fault", {"kind": "stall", "path": "/blobs/", "seconds": 0.2,
                                 "after": 100, "close": True})
        r = curl(blob_url, "-r", "0-999")
        check(r["rc"] == 18 and r["body"] == big[:100], "stall then close: 100 bytes, exit 18",
              (r["rc"], len(r["body"])))

        # ---------------------------------------------- latency, bandwidth
        r0 = curl(small_url)
        control(px, "/__config", {"latency": 0.5})
        r = curl(small_url)
        control(px, "/__config", {"latency": 0})
        check(r["status"] == 200 and r["time"] >= 0.45, "latency 0.5 s: a request takes >= 0.45 s",
              (r0["time"], r["time"]))
        control(px, "/__fault", {"kind": "delay", "path": "/blobs/", "seconds": 0.4})
        r = curl(small_url)
        check(r["status"] == 200 and r["time"] >= 0.35, "delay fault 0.4 s", r["time"])

        control(px, "/__config", {"bandwidth": 2 * 1024 * 1024, "path": "/blobs/"})
        r = curl(blob_url, "-r", "0-1048575")
        control(px, "/__config", {"bandwidth": None, "path": None})
        r2 = curl(blob_url, "-r", "0-1048575")
        check(r["body"] == big[:1 << 20] and r["time"] > 0.3 and r2["body"] == big[:1 << 20],
              "bandwidth 2 MiB/s: 1 MiB takes > 0.3 s (%.2f s; uncapped %.2f s)"
              % (r["time"], r2["time"]))

        # ------------------------------------------------------- redirect
        control(px, "/__stats", method="DELETE")
        control(px, "/__fault", {"kind": "redirect", "path": "/blobs/", "count": 2})
        r = curl(blob_url)
        loc = r["headers"].get("location", "")
        check(r["status"] == 307 and loc.startswith("http://localhost:%d/redir/v2/lfs/exact/blobs/%s?"
                                                    % (px.redirect_port, big_d))
              and px.redirect_port != px.port,
              "redirect: 307, Location on localhost:REDIRECT_PORT", (r["status"], loc))
        r = curl(loc, "-r", "5-14")
        check(r["status"] == 206 and r["body"] == big[5:15], "the redirect URL serves the blob (Range too)",
              (r["status"], r["body"][:20]))
        r = curl(blob_url, "-L", "-H", "Authorization: Bearer sekrit")
        st = control(px, "/__stats")
        rl = [e for e in st["log"] if e["listener"] == "redirect"]
        rm = [e for e in st["log"] if e["fault"] == "redirect"]
        check(r["status"] == 200 and r["body"] == big and len(rm) == 2
              and rm[-1]["auth"] == "Bearer" and rm[-1]["status"] == 307
              and len(rl) == 2 and rl[-1]["auth"] is None and rl[-1]["status"] == 200
              and st["kinds"]["redirect"]["bytes"] == 10 + len(big),
              "curl -L follows to the redirect port, which records no Authorization",
              json.dumps(st["log"][-3:])[:500])
        r = curl(blob_url, "-r", "0-9")
        check(r["status"] == 206, "redirect count=2 used up (requests to the redirect port not counted)",
              r["status"])
        px.add_fault("redirect", path="/blobs/", ttl=3, reject_auth=True)
        r = curl(blob_url)
        loc = r["headers"].get("location", "")
        ra = curl(loc, "-H", "Authorization: Bearer sekrit")
        rb = curl(loc)
        time.sleep(3.5)  # past the ttl, with room for a loaded machine before it
        rc = curl(loc)
        check(ra["status"] == 400 and rb["status"] == 200 and rb["body"] == big
              and rc["status"] == 403,
              "redirect reject_auth: 400 with Authorization; ttl: 403 once expired",
              (ra["status"], rb["status"], rc["status"]))
        control(px, "/__fault", method="DELETE")

        # ----------------------------------------------------------- down
        kept = http.client.HTTPConnection("127.0.0.1", px.port, timeout=5)
        kept.request("GET", small_url[len(px.url):])
        first = kept.getresponse().read()
        control(px, "/__down", {"seconds": 1.0})
        time.sleep(0.2)
        r = curl(small_url, "--connect-timeout", "2")
        try:
            kept.request("GET", small_url[len(px.url):])
            second = kept.getresponse().status
        except (OSError, http.client.HTTPException) as e:
            second = type(e).__name__
        kept.close()
        time.sleep(1.2)
        r2 = curl(small_url)
        check(first == small and r["rc"] == 7 and r2["status"] == 200
              and isinstance(second, str),
              "down 1 s: open connection dropped, new ones refused (curl exit 7), "
              "then serving again", (r["rc"], second, r2["status"]))

        # ----------------------------------------------------------- auth
        d = registry.push("oci:%s:v1" % oci, areg.host + "/lfs/auth:v1")
        check(any("repository:lfs/auth:pull,push" in s for q in ts.requests for s in q["scopes"]),
              "skopeo push to the silly-auth registry went through the token server",
              [q["scopes"] for q in ts.requests])
        r = curl("%s/v2/lfs/auth/manifests/v1" % areg.url)
        ch = r["headers"].get("www-authenticate", "")
        check(r["status"] == 401 and ch == 'Bearer realm="%s",service="layerfs-test-registry",'
              'scope="repository:lfs/auth:pull"' % ts.realm,
              "silly-auth registry: 401 with WWW-Authenticate Bearer realm=token server", ch)
        ts.configure(require=("tester", "pw1"))
        tok_url = ts.realm + "?service=layerfs-test-registry&scope=repository:lfs/auth:pull"
        r = curl(tok_url)
        r2 = curl(tok_url, "-u", "tester:wrong")
        r3 = curl(tok_url, "-u", "tester:pw1")
        tok = json.loads(r3["body"] or b"{}")
        check(r["status"] == 401 and r["headers"].get("www-authenticate", "").startswith("Basic")
              and r2["status"] == 401 and r3["status"] == 200 and tok.get("token")
              and tok.get("expires_in") == 300 and tok.get("issued_at"),
              "token server requires the credentials when told to",
              (r["status"], r2["status"], r3["status"], tok))
        last = ts.requests[-1]
        check(last["basic"] == {"user": "tester", "password": "pw1"}
              and last["scopes"] == ["repository:lfs/auth:pull"]
              and ts.requests[-2]["basic"]["password"] == "wrong",
              "token server records scopes and Basic credentials", last)
        r = curl("%s/v2/lfs/auth/manifests/v1" % areg.url, "-H",
                 "Authorization: Bearer " + tok["token"], "-H",
                 "Accept: application/vnd.oci.image.manifest.v1+json")
        check(r["status"] == 200 and "sha256:" + hashlib.sha256(r["body"]).hexdigest() == d,
              "with the token the silly-auth registry serves the manifest", r["status"])
        raw_auth = r["body"] or b"{}"
        ins = skopeo("inspect", "--tls-verify=false", "--creds", "tester:pw1",
                     "docker://%s/lfs/auth:v1" % apx.host)
        check(ins.returncode == 0 and json.loads(ins.stdout or "{}").get("Digest") == d,
              "skopeo inspect --creds through the token-checking proxy", ins.stderr[-300:])
        ins = skopeo("inspect", "--tls-verify=false", "--creds", "tester:bad",
                     "docker://%s/lfs/auth:v1" % apx.host)
        check(ins.returncode != 0, "skopeo inspect with wrong credentials fails")
        r = curl("%s/v2/lfs/auth/manifests/v1" % apx.url, "-H", "Authorization: Bearer nope")
        check(r["status"] == 401 and 'error="invalid_token"' in r["headers"].get("www-authenticate", ""),
              "token-checking proxy: unknown token -> 401 invalid_token",
              r["headers"].get("www-authenticate"))
        other = ts.issue(["repository:lfs/other:pull"])["token"]
        r = curl("%s/v2/lfs/auth/manifests/v1" % apx.url, "-H", "Authorization: Bearer " + other)
        check(r["status"] == 401 and 'error="insufficient_scope"' in r["headers"].get(
            "www-authenticate", ""), "token-checking proxy: other repository's token -> 401")
        apx.add_fault("redirect", path="/blobs/")
        burl = "%s/v2/lfs/auth/blobs/%s" % (apx.url, json.loads(raw_auth)["config"]["digest"])
        r = curl(burl)
        r2 = curl(burl, "-H", "Authorization: Bearer " + tok["token"])
        check(r["status"] == 401 and r2["status"] == 307 and apx.faults() == [],
              "token-checking proxy: auth before the redirect; a 401 consumes no fault",
              (r["status"], r2["status"]))
        ts.configure(expires_in=1)
        short = ts.issue(["repository:lfs/auth:pull"])
        murl = "%s/v2/lfs/auth/manifests/%s" % (apx.url, d)
        oci_accept = "Accept: application/vnd.oci.image.manifest.v1+json"
        r = curl(murl, "-H", "Authorization: Bearer " + short["token"], "-H", oci_accept)
        time.sleep(1.1)
        r2 = curl(murl, "-H", "Authorization: Bearer " + short["token"], "-H", oci_accept)
        check(short["expires_in"] == 1 and r["status"] == 200
              and "sha256:" + hashlib.sha256(r["body"]).hexdigest() == d
              and r2["status"] == 401
              and 'error="invalid_token"' in r2["headers"].get("www-authenticate", ""),
              "expires_in=1: the token works, then is refused once expired",
              (r["status"], r2["status"]))

    regs_down = all(_refused(h) for h in (reg.host, areg.host, px.host))
    check(regs_down, "leaving the with-block stops the registries and the proxy")
    shutil.rmtree(tmp, ignore_errors=True)
    print("%d checks, %d failed, %.1f s" % (nchecks, len(failures), time.monotonic() - t_start))
    return 1 if failures else 0


def _refused(hostport):
    try:
        registry.http_get("http://%s/v2/" % hostport, timeout=1)
        return False
    except OSError:
        return True


if __name__ == "__main__":
    sys.exit(main())
