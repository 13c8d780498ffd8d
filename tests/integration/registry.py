#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""registry.py - a local OCI registry test bed for layerfs's registry tests.

Importable module and CLI (stdlib only).  Everything listens on 127.0.0.1
(the redirect target is named "localhost", which /etc/hosts maps to
127.0.0.1), on free ports picked by binding port 0.

  Registry     Debian's docker-registry (distribution 2.8) in a temporary
               directory, optionally with `silly` Bearer auth whose realm is
               a TokenServer.  start() waits until GET /v2/ answers.
  push()       skopeo copy of an oci:/oci-archive:/docker-archive: source
               into the registry; returns the manifest digest.
  RegistryClient
               a tiny distribution-API client (Bearer dance included):
               push an OCI layout byte-exact (any compression, also
               uncompressed layers, which skopeo will not push), GET blobs
               and manifests.
  FaultProxy   a threaded reverse proxy in front of the registry with fault
               injection, latency / bandwidth caps, a redirect listener and
               request / byte counters, controlled through its Python API
               or the HTTP control endpoints (ProxyControl is the same API
               over HTTP, for a proxy running in another process).
  TokenServer  a Bearer token server (GET /token) that records requests,
               can require Basic credentials and make tokens expire soon;
               FaultProxy(check_tokens=token_server) enforces its tokens.

Everything started is stopped by stop() / the context managers, and at
interpreter exit (atexit); install_signal_handlers() turns SIGTERM/SIGHUP
into SystemExit so that this also happens on those signals.  The registry
child gets PR_SET_PDEATHSIG, so it dies even if Python is SIGKILLed.

Fault kinds (add_fault(kind, path=REGEX, count=N, method=REGEX, skip=K,
**params); a rule matches requests whose path (with query) matches REGEX,
re.search; count=-1: forever; skip=K: let K matching requests through
first; the first matching rule with count left applies):

  reset        read the request, close the connection with a TCP RST
  drop         read the request, close the connection, no answer
  status       answer status=500 (503, 429, ...) without forwarding;
               retry_after=S adds Retry-After: S
  truncate     forward; send the headers (true Content-Length) and only
               after=K body bytes, then close (reset=True: with a RST)
  ignore_range forward without Range/If-Range: 200 with the whole blob
  wrong_range  mode="shifted" (default): ask upstream for the requested
               range moved by shift=N (default 1) bytes and pass the 206
               on (consistent header, wrong bytes); mode="header": right
               bytes, Content-Range moved by shift
  corrupt      forward, XOR the body byte at offset at=K (default: the
               middle) with xor=0xff
  stall        sleep seconds=T before answering (after=K: after sending
               the headers and K body bytes); close=True: then close
  delay        sleep seconds=T, then forward normally
  redirect     (GET by default) answer status=307 with Location on the
               redirect listener, http://HOST:RPORT/redir<path>?expires=..
               (host="localhost"); that listener serves the blob from the
               registry with its own credentials; ttl=S: the URL expires
               after S seconds (403 after); reject_auth=True: 400 when the
               client sends Authorization there (like S3)

Plus settings (configure(latency=S, bandwidth=BYTES_PER_S, path=REGEX)):
latency before every matching request, bandwidth cap of every matching
response body; and down(seconds): the proxy's main port refuses
connections (listener closed, open connections shut down) for that long.

HTTP control (main proxy port; never counted in the stats):
  POST /__fault   {"kind": "truncate", "path": "/blobs/", "count": 1,
                   "after": 100}                    -> {"id": N}
  GET  /__fault   the rules still armed
  POST /__config  {"latency": 0.2, "bandwidth": 2097152, "path": "/blobs/"}
  POST /__down    {"seconds": 2}
  POST /__reset   clear rules, settings and stats
  GET  /__stats   {"requests": N, "bytes": B, "kinds": {KIND: {"requests",
                   "bytes"}}, "connections": {"main": N, "redirect": N},
                   "log": [{"n", "listener", "conn", "method", "path",
                   "kind", "range", "status", "bytes", "auth", "fault",
                   "t"}]}
                  KIND: base (/v2/), manifests, blobs, uploads, redirect
                  (served on the redirect listener), other; bytes: response
                  body bytes sent; connections: TCP connections that
                  served a request since the reset ("conn" numbers them);
                  the log is in order of completion ("t": arrival time)
  DELETE /__stats reset the counters
Token server control: POST /__config {"expires_in": N, "require":
{"user": U, "password": P} | null, "fail": N}; GET/DELETE /__requests.

CLI:
  registry.py serve [--auth] [--check-tokens] [--info FILE]
      start token server (--auth), registry and proxy; write their
      addresses as JSON to FILE (or stdout) once ready; run until
      SIGTERM/SIGINT, then stop everything.
  registry.py push SOURCE HOST/REPO:TAG [--compress gzip|zstd|none]
      [--creds USER:PASS]   (prints the manifest digest)
"""

import argparse
import atexit
import base64
import ctypes
import hashlib
import http.client
import http.server
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG_DIR = os.path.normpath(os.path.join(HERE, "..", "registry"))
LOOPBACK = "127.0.0.1"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
              "proxy-connection", "te", "trailer", "trailers", "transfer-encoding", "upgrade",
              "expect"}

_live = []                      # objects to stop at exit
_live_lock = threading.Lock()


def _track(obj):
    with _live_lock:
        _live.append(obj)


def _untrack(obj):
    with _live_lock:
        if obj in _live:
            _live.remove(obj)


@atexit.register
def stop_all():
    """Stop everything this module started (newest first)."""
    with _live_lock:
        objs = list(reversed(_live))
    for o in objs:
        try:
            o.stop()
        except Exception:           # noqa: BLE001 - best effort at exit
            pass


def install_signal_handlers():
    """SIGTERM/SIGHUP -> SystemExit, so context managers and atexit run."""
    def _exit(signum, _frame):
        raise SystemExit(128 + signum)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _exit)


def free_port():
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _pdeathsig():
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except Exception:               # noqa: BLE001 - not fatal
        pass


def http_get(url, headers=None, timeout=10):
    """(status, headers dict lower-case, body) of a plain GET."""
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        c.request("GET", u.path + ("?" + u.query if u.query else ""), headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def _json_request(url, method="GET", obj=None, timeout=10):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        body = None if obj is None else json.dumps(obj).encode()
        c.request(method, u.path, body=body,
                  headers={"Content-Type": "application/json"} if body else {})
        r = c.getresponse()
        data = r.read()
        if r.status >= 400:
            raise RuntimeError("%s %s: %d %s" % (method, url, r.status, data[:200]))
        return json.loads(data) if data else None
    finally:
        c.close()


# ---------------------------------------------------------------- registry

class Registry:
    """docker-registry on a free 127.0.0.1 port.  auth=None | "silly"
    (then realm= the token URL, e.g. TokenServer.realm)."""

    def __init__(self, auth=None, realm=None, service="layerfs-test-registry",
                 workdir=None, binary="docker-registry", config=None):
        self.auth, self.realm, self.service = auth, realm, service
        self.binary = binary
        self.config = config or os.path.join(
            CONFIG_DIR, "config-silly.yml" if auth == "silly" else "config.yml")
        self._own_workdir = workdir is None
        self.workdir = workdir
        self.proc = None
        self.port = None

    @property
    def host(self):
        return "%s:%d" % (LOOPBACK, self.port)

    @property
    def url(self):
        return "http://" + self.host

    @property
    def log_path(self):
        return os.path.join(self.workdir, "registry.log")

    def start(self, timeout=20):
        if self.workdir is None:
            self.workdir = tempfile.mkdtemp(prefix="lfs-registry.")
        os.makedirs(os.path.join(self.workdir, "storage"), exist_ok=True)
        _track(self)
        last = ""
        for _attempt in range(3):
            self.port = free_port()
            env = dict(os.environ,
                       REGISTRY_HTTP_ADDR=self.host,
                       REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=os.path.join(self.workdir, "storage"))
            if self.auth == "silly":
                if not self.realm:
                    raise ValueError("silly auth needs realm= (the token server URL)")
                env["REGISTRY_AUTH_SILLY_REALM"] = self.realm
                env["REGISTRY_AUTH_SILLY_SERVICE"] = self.service
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen([self.binary, "serve", self.config], env=env,
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                             start_new_session=True, preexec_fn=_pdeathsig)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    st, _, _ = http_get(self.url + "/v2/", timeout=2)
                    if st in (200, 401):
                        return self
                except OSError:
                    pass
                time.sleep(0.05)
            with open(self.log_path, "rb") as f:
                last = f.read()[-2000:].decode(errors="replace")
            self._kill()
            if "address already in use" not in last:
                break
        raise RuntimeError("docker-registry did not become ready; log tail:\n" + last)

    def _kill(self):
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                break
            try:
                p.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue

    def stop(self):
        self._kill()
        _untrack(self)
        if self._own_workdir and self.workdir and os.path.isdir(self.workdir):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def push(source, dest, compress=None, creds=None, tls_verify=False, authfile=None,
         extra_args=(), timeout=120):
    """skopeo copy SOURCE (a transport string: "oci:DIR[:REF]",
    "oci-archive:FILE", "docker-archive:FILE") to DEST ("HOST:PORT/REPO:TAG",
    "docker://" optional).  compress: None (skopeo's default: gzip), "gzip",
    "zstd", or "none"/False: skopeo 1.9 compresses every layer it sends
    to a registry, so then an oci:DIR[:REF] source is pushed byte for byte
    by RegistryClient.push_oci_dir instead (uncompressed layers stay so).
    creds "USER:PASS" for the token server.  Returns the manifest digest "sha256:..."."""
    if not dest.startswith("docker://"):
        dest = "docker://" + dest
    if compress in (False, "none"):
        # skopeo compresses every layer it sends to a registry: push the
        # layout's blobs as they are instead
        if not source.startswith("oci:"):
            raise ValueError("compress=none needs an oci:DIR[:REF] source")
        layout, _, ref = source[4:].partition(":")
        hostport, _, name = dest[len("docker://"):].partition("/")
        repo, _, tag = name.rpartition(":") if ":" in name else (name, "", "latest")
        user, _, pw = (creds or "").partition(":")
        return RegistryClient("http://" + hostport, (user, pw) if creds else None).push_oci_dir(
            repo, layout, tag, ref or None)
    with tempfile.TemporaryDirectory(prefix="lfs-push.") as tmp:
        digestfile = os.path.join(tmp, "digest")
        cmd = ["skopeo", "--insecure-policy", "copy", "--quiet",
               "--dest-tls-verify=%s" % ("true" if tls_verify else "false"),
               "--digestfile", digestfile,
               "--authfile", authfile or os.path.join(tmp, "auth.json")]
        if creds:
            cmd += ["--dest-creds", creds]
        if compress in ("gzip", "zstd"):
            cmd += ["--dest-compress", "--dest-compress-format", compress]
        elif compress is not None:
            raise ValueError("compress: None, gzip, zstd or none")
        cmd += list(extra_args) + [source, dest]
        if authfile is None:
            with open(os.path.join(tmp, "auth.json"), "w") as f:
                f.write("{}")
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("skopeo copy failed (%d): %s" % (r.returncode,
                                                                r.stderr.decode(errors="replace")))
        with open(digestfile) as f:
            return f.read().strip()


# ------------------------------------------------------------------ client

def _parse_challenge(value):
    """'Bearer realm="x",service="y"' -> ("bearer", {realm, service, ...})."""
    scheme, _, rest = value.strip().partition(" ")
    params = dict((k.lower(), v) for k, v in re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


class RegistryClient:
    """Minimal distribution API client over http (Bearer dance included).
    base: "http://127.0.0.1:PORT"; creds: (user, password) for the token
    server.  self.token: the current Bearer token (None before any)."""

    def __init__(self, base, creds=None, timeout=30):
        self.base = base.rstrip("/")
        u = urllib.parse.urlsplit(self.base)
        self.hostname, self.port = u.hostname, u.port
        self.creds, self.timeout, self.token = creds, timeout, None

    def _raw(self, method, url, body=None, headers=None):
        u = urllib.parse.urlsplit(url if "://" in url else self.base + url)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=self.timeout)
        try:
            c.request(method, u.path + ("?" + u.query if u.query else ""), body=body,
                      headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def fetch_token(self, challenge):
        _, p = _parse_challenge(challenge)
        q = {"service": p.get("service", "")}
        if p.get("scope"):
            q["scope"] = p["scope"]
        h = {}
        if self.creds:
            h["Authorization"] = "Basic " + base64.b64encode(
                ("%s:%s" % self.creds).encode()).decode()
        st, _, body = self._raw("GET", p["realm"] + "?" + urllib.parse.urlencode(q), headers=h)
        if st != 200:
            raise RuntimeError("token server answered %d: %s" % (st, body[:200]))
        j = json.loads(body)
        self.token = j.get("token") or j.get("access_token")
        return self.token

    def request(self, method, path, body=None, headers=None):
        """(status, headers, body); retries once after a Bearer challenge."""
        h = dict(headers or {})
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        st, rh, rb = self._raw(method, path, body, h)
        ch = rh.get("www-authenticate", "")
        if st == 401 and ch.lower().startswith("bearer"):
            self.fetch_token(ch)
            h["Authorization"] = "Bearer " + self.token
            st, rh, rb = self._raw(method, path, body, h)
        return st, rh, rb

    # False: upload every blob without asking first whether the registry has
    # it (a fresh repository has none: one request less per blob)
    head_first = True

    def push_blob(self, repo, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if self.head_first:
            st, _, _ = self.request("HEAD", "/v2/%s/blobs/%s" % (repo, digest))
            if st == 200:
                return digest
        st, rh, rb = self.request("POST", "/v2/%s/blobs/uploads/" % repo, body=b"")
        if st != 202:
            raise RuntimeError("upload start: %d %s" % (st, rb[:200]))
        loc = rh["location"]
        loc += ("&" if "?" in loc else "?") + urllib.parse.urlencode({"digest": digest})
        st, _, rb = self.request("PUT", loc, body=data,
                                 headers={"Content-Type": "application/octet-stream"})
        if st != 201:
            raise RuntimeError("blob upload: %d %s" % (st, rb[:200]))
        return digest

    def push_manifest(self, repo, ref, data, media_type):
        st, _, rb = self.request("PUT", "/v2/%s/manifests/%s" % (repo, ref), body=data,
                                 headers={"Content-Type": media_type})
        if st != 201:
            raise RuntimeError("manifest put: %d %s" % (st, rb[:200]))
        return "sha256:" + hashlib.sha256(data).hexdigest()

    def push_oci_dir(self, repo, layout, tag="latest", ref=None):
        """Push an OCI image layout directory's image (ref: its
        org.opencontainers.image.ref.name, default the first manifest)
        byte for byte; nested indexes are pushed with their manifests.
        Returns the digest of the top manifest."""
        with open(os.path.join(layout, "index.json"), "rb") as f:
            index = json.load(f)
        descs = index["manifests"]
        if ref is not None:
            descs = [d for d in descs
                     if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref]
        if not descs:
            raise ValueError("no manifest %r in %s" % (ref, layout))

        def blob(d):
            with open(os.path.join(layout, "blobs", *d["digest"].split(":", 1)), "rb") as f:
                return f.read()

        def push_desc(d, name):
            data = blob(d)
            m = json.loads(data)
            for child in m.get("manifests", []):
                push_desc(child, child["digest"])
            for b in [m["config"]] + m.get("layers", []) if "config" in m else []:
                self.push_blob(repo, blob(b))
            return self.push_manifest(repo, name, data, d["mediaType"])
        return push_desc(descs[0], tag)

    def get_manifest(self, repo, ref, accept=None):
        return self.request("GET", "/v2/%s/manifests/%s" % (repo, ref), headers={
            "Accept": accept or ", ".join([
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.index.v1+json",
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.distribution.manifest.list.v2+json"])})

    def get_blob(self, repo, digest, start=None, end=None):
        h = {}
        if start is not None:
            h["Range"] = "bytes=%d-%s" % (start, "" if end is None else end)
        return self.request("GET", "/v2/%s/blobs/%s" % (repo, digest), headers=h)


# ------------------------------------------------------------ token server

class _QuietHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_json(self, status, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            return self.rfile.read(n)
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return b""


class _TokenHandler(_QuietHandler):
    def do_GET(self):
        ts = self.server.owner
        u = urllib.parse.urlsplit(self.path)
        if u.path == "/__requests":
            with ts.lock:
                return self.send_json(200, list(ts.requests))
        if u.path == "/token":
            return self._token(urllib.parse.parse_qs(u.query), "GET")
        self.send_json(404, {"error": "not found"})

    def do_DELETE(self):
        ts = self.server.owner
        if self.path == "/__requests":
            with ts.lock:
                ts.requests.clear()
            return self.send_json(200, {})
        self.send_json(404, {"error": "not found"})

    def do_POST(self):
        ts = self.server.owner
        body = self.read_body()
        if self.path == "/__config":
            ts.configure(**json.loads(body or b"{}"))
            return self.send_json(200, ts.settings())
        if urllib.parse.urlsplit(self.path).path == "/token":     # OAuth2 form flow
            return self._token(urllib.parse.parse_qs(body.decode()), "POST")
        self.send_json(404, {"error": "not found"})

    def _token(self, q, method):
        ts = self.server.owner
        auth = self.headers.get("Authorization") or ""
        basic = None
        if auth.lower().startswith("basic "):
            try:
                u, _, p = base64.b64decode(auth[6:].strip()).decode().partition(":")
                basic = {"user": u, "password": p}
            except Exception:       # noqa: BLE001 - recorded as garbage
                basic = {"user": None, "password": None}
        if method == "POST" and "username" in q:
            basic = {"user": q["username"][0], "password": q.get("password", [""])[0]}
        rec = {"method": method, "service": q.get("service", [None])[0],
               "scopes": q.get("scope", []), "account": q.get("account", [None])[0],
               "auth_scheme": auth.split(" ")[0] if auth else None, "basic": basic,
               "status": None, "t": time.time()}
        with ts.lock:
            ts.requests.append(rec)
            fail = ts.fail > 0
            if fail:
                ts.fail -= 1
            require = ts.require
        if fail:
            rec["status"] = 500
            return self.send_json(500, {"errors": [{"code": "UNKNOWN", "message": "injected"}]})
        if require and basic != {"user": require["user"], "password": require["password"]}:
            rec["status"] = 401
            return self.send_json(401, {"errors": [{"code": "UNAUTHORIZED",
                                                    "message": "bad or missing credentials"}]},
                                  [("WWW-Authenticate", 'Basic realm="layerfs-test-token"')])
        tok = ts.issue(rec["scopes"])
        rec["status"] = 200
        rec["token"] = tok["token"]
        self.send_json(200, tok)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class TokenServer:
    """GET /token?service=S&scope=repository:R:pull -> {"token", "access_token",
    "expires_in", "issued_at"}.  require=(user, password): 401 without
    those Basic credentials.  expires_in: token lifetime (enforced by
    validate(), i.e. by FaultProxy(check_tokens=...)).  fail=N: the next N
    token requests get a 500.  self.requests: list of {"method", "service",
    "scopes", "account", "auth_scheme", "basic": {"user", "password"} |
    None, "status", "token", "t"}."""

    def __init__(self, expires_in=300, require=None, service="layerfs-test-registry"):
        self.lock = threading.Lock()
        self.requests = []
        self.tokens = {}            # token -> (expiry, scopes)
        self.expires_in, self.service, self.fail = expires_in, service, 0
        self.require = None
        self.configure(require=require)
        self.httpd = None

    def configure(self, expires_in=None, require=False, fail=None):
        """Change settings (require=None: no credentials needed)."""
        with self.lock:
            if expires_in is not None:
                self.expires_in = expires_in
            if require is not False:
                if isinstance(require, (tuple, list)):
                    require = {"user": require[0], "password": require[1]}
                self.require = require
            if fail is not None:
                self.fail = fail

    def settings(self):
        with self.lock:
            return {"expires_in": self.expires_in, "require": self.require, "fail": self.fail}

    def issue(self, scopes):
        tok = secrets.token_hex(16)
        now = time.time()
        with self.lock:
            self.tokens[tok] = (now + self.expires_in, list(scopes))
            exp = self.expires_in
        return {"token": tok, "access_token": tok, "expires_in": exp,
                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}

    def validate(self, token, repo=None, action="pull"):
        """"ok", "unknown", "expired" or "insufficient_scope"."""
        with self.lock:
            t = self.tokens.get(token)
        if t is None:
            return "unknown"
        if time.time() >= t[0]:
            return "expired"
        if repo is not None:
            for s in t[1]:
                for one in s.split(" "):
                    typ, _, rest = one.partition(":")
                    name, _, actions = rest.rpartition(":")
                    if typ == "repository" and name == repo and (
                            action in actions.split(",") or "*" in actions.split(",")):
                        return "ok"
            return "insufficient_scope"
        return "ok"

    @property
    def port(self):
        return self.httpd.server_address[1]

    @property
    def url(self):
        return "http://%s:%d" % (LOOPBACK, self.port)

    @property
    def realm(self):
        return self.url + "/token"

    def start(self):
        self.httpd = _Server((LOOPBACK, 0), _TokenHandler)
        self.httpd.owner = self
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True).start()
        _track(self)
        return self

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
        _untrack(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ------------------------------------------------------------------- proxy

FAULT_KINDS = ("reset", "drop", "status", "truncate", "ignore_range", "wrong_range",
               "corrupt", "stall", "delay", "redirect")
_STATUS_CODES = {429: "TOOMANYREQUESTS", 500: "UNKNOWN", 502: "UNAVAILABLE",
                 503: "UNAVAILABLE", 504: "UNAVAILABLE"}


class _Abort(Exception):
    """End the connection now (mode "close" or "reset")."""

    def __init__(self, mode):
        super().__init__(mode)
        self.mode = mode


def path_kind(path, listener="main"):
    if listener == "redirect":
        return "redirect"
    p = path.split("?", 1)[0]
    if p.rstrip("/") == "/v2":
        return "base"
    if "/blobs/uploads" in p:
        return "uploads"
    if "/blobs/" in p:
        return "blobs"
    if "/manifests/" in p:
        return "manifests"
    return "other"


class _ProxyHandler(_QuietHandler):
    # the listener object stands in for the socketserver
    timeout = 60

    def do_any(self):
        try:
            self.server.proxy._handle(self)
        except _Abort as a:
            self.close_connection = True
            self.abort = a.mode
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_any

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        if getattr(self, "abort", None) == "reset":
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
            except OSError:
                pass


class _Listener:
    def __init__(self, proxy, name, port=0):
        self.proxy, self.name = proxy, name
        self.sock = None
        self.port = port
        self.open()

    def open(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((LOOPBACK, self.port))
        s.listen(64)
        self.port = s.getsockname()[1]
        self.sock = s

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None


class FaultProxy:
    """Reverse proxy on 127.0.0.1:port -> upstream "HOST:PORT" (the
    registry), plus a redirect listener (redirect_host:redirect_port).
    check_tokens: a TokenServer whose tokens the proxy then requires on
    /v2/ (401 Bearer challenge when missing, unknown, expired or lacking
    the repository's pull/push scope; such requests consume no fault)."""

    def __init__(self, upstream, check_tokens=None, redirect_host="localhost",
                 service="layerfs-test-registry"):
        self.upstream = upstream
        self.check_tokens = check_tokens
        self.redirect_host, self.service = redirect_host, service
        self.lock = threading.Lock()
        self.rules = []
        self.next_rule_id = 1
        self.settings = {"latency": 0.0, "bandwidth": None, "path": None}
        self._reset_stats()
        self.running = False
        self.listeners = {}
        self.down_until = 0.0
        self.conns = {}             # client socket -> listener name
        self.threads = []

    # -- public API (ProxyControl offers the same over HTTP)
    @property
    def port(self):
        return self.listeners["main"].port

    @property
    def host(self):
        return "%s:%d" % (LOOPBACK, self.port)

    @property
    def url(self):
        return "http://" + self.host

    @property
    def redirect_port(self):
        return self.listeners["redirect"].port

    def add_fault(self, kind, path=".", count=1, method=None, listener=None, skip=0,
                  **params):
        """Arm a fault for the next COUNT (-1: all) requests whose path
        matches PATH (regex), METHOD (regex, default any; GET for redirect)
        and LISTENER ("main"/"redirect", default both; main for redirect),
        after letting SKIP such requests through untouched.  Returns its id."""
        if kind not in FAULT_KINDS:
            raise ValueError("unknown fault kind %r (one of %s)" % (kind, ", ".join(FAULT_KINDS)))
        if kind == "status" and "status" not in params:
            raise ValueError("status fault needs status=")
        if kind == "redirect":
            method = method or "GET"
            listener = listener or "main"
        re.compile(path)
        with self.lock:
            rid = self.next_rule_id
            self.next_rule_id += 1
            self.rules.append({"id": rid, "kind": kind, "path": path, "count": count,
                               "method": method, "listener": listener, "params": params,
                               "skip": int(skip), "hits": 0})
        return rid

    def faults(self):
        with self.lock:
            return json.loads(json.dumps(self.rules))

    def clear_faults(self):
        with self.lock:
            self.rules.clear()

    def configure(self, latency=None, bandwidth=False, path=False):
        """latency: seconds before each matching request; bandwidth:
        bytes/s cap of each matching response body (None: no cap); path:
        regex the two apply to (None: all requests)."""
        with self.lock:
            if latency is not None:
                self.settings["latency"] = float(latency)
            if bandwidth is not False:
                self.settings["bandwidth"] = bandwidth
            if path is not False:
                self.settings["path"] = path
            return dict(self.settings)

    def down(self, seconds):
        """Refuse connections on the main port for SECONDS (the open ones
        are shut down)."""
        with self.lock:
            self.down_until = time.monotonic() + float(seconds)

    def reset(self):
        """Clear faults, settings and stats."""
        self.clear_faults()
        with self.lock:
            self.settings = {"latency": 0.0, "bandwidth": None, "path": None}
            self.down_until = 0.0
        self.reset_stats()

    def stats(self):
        with self.lock:
            return json.loads(json.dumps(self._stats))

    def reset_stats(self):
        with self.lock:
            self._reset_stats()

    def _reset_stats(self):
        self._stats = {"requests": 0, "bytes": 0, "kinds": {}, "log": [],
                       "connections": {"main": 0, "redirect": 0}}

    # -- lifecycle
    def start(self):
        self.running = True
        self.listeners = {"main": _Listener(self, "main"),
                          "redirect": _Listener(self, "redirect")}
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self.threads.append(t)
        _track(self)
        return self

    def stop(self):
        self.running = False
        for t in self.threads:
            t.join(2)
        self.threads = []
        for lst in self.listeners.values():
            lst.close()
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        _untrack(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _accept_loop(self):
        while self.running:
            with self.lock:
                down = time.monotonic() < self.down_until
            main = self.listeners["main"]
            if down and main.sock:
                main.close()        # new connections are refused ...
                with self.lock:     # ... and the open ones dropped
                    open_main = [c for c, n in self.conns.items() if n == "main"]
                for c in open_main:
                    try:
                        c.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            elif not down and main.sock is None:
                try:
                    main.open()
                except OSError:
                    time.sleep(0.05)
                    continue
            socks = {l.sock: l for l in self.listeners.values() if l.sock}
            try:
                ready, _, _ = select.select(list(socks), [], [], 0.05)
            except (OSError, ValueError):
                continue
            for s in ready:
                try:
                    conn, addr = s.accept()
                except OSError:
                    continue
                threading.Thread(target=self._conn_thread, args=(conn, addr, socks[s]),
                                 daemon=True).start()

    def _conn_thread(self, conn, addr, listener):
        with self.lock:
            self.conns[conn] = listener.name
        try:
            conn.settimeout(60)
            _ProxyHandler(conn, addr, listener)
        except OSError:             # a client went away
            pass
        except Exception:           # noqa: BLE001 - a bug of the proxy: say so
            traceback.print_exc()
        finally:
            with self.lock:
                self.conns.pop(conn, None)
            try:
                conn.close()
            except OSError:
                pass

    # -- request handling
    def _match(self, h, listener):
        with self.lock:
            for r in self.rules:
                if r["count"] == 0:
                    continue
                if r["listener"] and r["listener"] != listener:
                    continue
                if r["method"] and not re.fullmatch(r["method"], h.command):
                    continue
                if not re.search(r["path"], h.path):
                    continue
                if r["skip"] > 0:
                    r["skip"] -= 1
                    continue
                if r["count"] > 0:
                    r["count"] -= 1
                r["hits"] += 1
                rule = dict(r)
                if r["count"] == 0:
                    self.rules.remove(r)
                return rule
        return None

    def _control(self, h):
        p = urllib.parse.urlsplit(h.path).path
        body = h.read_body()
        arg = json.loads(body) if body.strip() else {}
        if p == "/__stats":
            if h.command == "DELETE":
                self.reset_stats()
                return h.send_json(200, {})
            return h.send_json(200, self.stats())
        if p == "/__fault":
            if h.command == "POST":
                try:
                    arg = dict(arg)
                    rid = self.add_fault(arg.pop("kind", None), **arg)
                except (ValueError, TypeError, re.error) as e:
                    return h.send_json(400, {"error": str(e)})
                return h.send_json(200, {"id": rid})
            if h.command == "DELETE":
                self.clear_faults()
                return h.send_json(200, {})
            return h.send_json(200, self.faults())
        if p == "/__config" and h.command == "POST":
            try:
                return h.send_json(200, self.configure(**arg))
            except TypeError as e:
                return h.send_json(400, {"error": str(e)})
        if p == "/__down" and h.command == "POST":
            # answer first: going down drops the open connections, this one too
            h.send_json(200, {})
            h.wfile.flush()
            self.down(arg.get("seconds", 1))
            return None
        if p == "/__reset" and h.command == "POST":
            self.reset()
            return h.send_json(200, {})
        if p == "/__info":
            return h.send_json(200, {"upstream": self.upstream, "port": self.port,
                                     "redirect": "%s:%d" % (self.redirect_host,
                                                            self.redirect_port)})
        return h.send_json(404, {"error": "unknown control endpoint"})

    def _record(self, entry):
        with self.lock:
            st = self._stats
            st["requests"] += 1
            st["bytes"] += entry["bytes"]
            k = st["kinds"].setdefault(entry["kind"], {"requests": 0, "bytes": 0})
            k["requests"] += 1
            k["bytes"] += entry["bytes"]
            entry["n"] = st["requests"]
            st["log"].append(entry)

    def _handle(self, h):
        listener = h.server.name
        if listener == "main" and h.path.startswith("/__"):
            return self._control(h)
        body = h.read_body()
        auth = h.headers.get("Authorization")
        with self.lock:     # connections used since the last stats reset
            if getattr(h, "conn_epoch", None) is not self._stats:
                self._stats["connections"][listener] += 1
                h.conn_n = self._stats["connections"][listener]
                h.conn_epoch = self._stats
        entry = {"listener": listener, "conn": h.conn_n, "method": h.command, "path": h.path,
                 "kind": path_kind(h.path, listener), "range": h.headers.get("Range"),
                 "status": None, "bytes": 0, "auth": auth.split(" ")[0] if auth else None,
                 "fault": None, "t": time.time()}
        try:
            self._handle2(h, listener, body, entry)
        finally:
            self._record(entry)

    def _handle2(self, h, listener, body, entry):
        with self.lock:
            s = dict(self.settings)
        applies = s["path"] is None or re.search(s["path"], h.path)
        if applies and s["latency"]:
            time.sleep(s["latency"])
        rate = s["bandwidth"] if applies else None
        # auth first (a 401 from the proxy consumes no fault), as a
        # registry checks the token before it redirects
        if listener == "main" and self.check_tokens is not None and h.path.startswith("/v2/"):
            if self._check_token(h, entry):
                return None
        rule = self._match(h, listener)
        kind = rule["kind"] if rule else None
        prm = rule["params"] if rule else {}
        entry["fault"] = kind

        if kind == "reset":
            raise _Abort("reset")
        if kind == "drop":
            raise _Abort("close")
        if kind == "delay" or (kind == "stall" and prm.get("after") is None):
            time.sleep(float(prm.get("seconds", 1)))
            if kind == "stall" and prm.get("close"):
                raise _Abort("close")
        if kind == "status":
            return self._send_status(h, entry, int(prm["status"]), prm)
        if kind == "redirect":
            return self._send_redirect(h, entry, prm)

        path = h.path
        headers = [(k, v) for k, v in h.headers.items() if k.lower() not in HOP_BY_HOP]
        if listener == "redirect":
            u = urllib.parse.urlsplit(path)
            q = urllib.parse.parse_qs(u.query)
            if not u.path.startswith("/redir/"):
                return self._send_status(h, entry, 404, {"message": "not a redirect URL"})
            exp = q.get("expires", [None])[0]
            if exp is not None and time.time() > float(exp):
                return self._send_status(h, entry, 403, {"message": "Request has expired"})
            if q.get("reject_auth") == ["1"] and h.headers.get("Authorization"):
                return self._send_status(h, entry, 400, {
                    "message": "Only one auth mechanism allowed"})
            path = u.path[len("/redir"):]
            headers = [(k, v) for k, v in headers if k.lower() not in ("authorization", "host")]
            headers += [("Authorization", "Bearer layerfs-redirect-internal"),
                        ("Host", self.upstream)]
        if kind == "ignore_range":
            headers = [(k, v) for k, v in headers if k.lower() not in ("range", "if-range")]
        shift = int(prm.get("shift", 1)) if kind == "wrong_range" else 0
        if kind == "wrong_range" and prm.get("mode", "shifted") == "shifted":
            headers = [(k, _shift_range(v, shift) if k.lower() == "range" else v)
                       for k, v in headers]
        if body or h.command in ("PUT", "POST", "PATCH"):
            headers.append(("Content-Length", str(len(body))))

        up_host, _, up_port = self.upstream.rpartition(":")
        c = http.client.HTTPConnection(up_host, int(up_port), timeout=60)
        try:
            try:
                c.putrequest(h.command, path, skip_host=True, skip_accept_encoding=True)
                for k, v in headers:
                    c.putheader(k, v)
                c.endheaders(body if body else None)
                r = c.getresponse()
            except OSError as e:
                return self._send_status(h, entry, 502, {"message": "upstream: %s" % e})
            self._relay(h, r, entry, kind, prm, rate, shift)
        finally:
            c.close()
        return None

    def _check_token(self, h, entry):
        """True when a 401 was sent."""
        m = re.match(r"/v2/(.+)/(blobs|manifests|tags)/", h.path)
        repo = m.group(1) if m else None
        action = "push" if h.command in ("PUT", "POST", "PATCH", "DELETE") else "pull"
        auth = h.headers.get("Authorization") or ""
        err = None
        if not auth.lower().startswith("bearer "):
            err = ""
        else:
            v = self.check_tokens.validate(auth[7:].strip(), repo, action)
            if v != "ok":
                err = "insufficient_scope" if v == "insufficient_scope" else "invalid_token"
        if err is None:
            return False
        ch = 'Bearer realm="%s",service="%s"' % (self.check_tokens.realm, self.service)
        if repo:
            ch += ',scope="repository:%s:%s"' % (repo, "pull,push" if action == "push" else "pull")
        if err:
            ch += ',error="%s"' % err
        self._send_status(h, entry, 401, {"message": "authentication required",
                                          "code": "UNAUTHORIZED"},
                          extra=[("WWW-Authenticate", ch)])
        return True

    def _send_status(self, h, entry, status, prm, extra=()):
        code = prm.get("code") or _STATUS_CODES.get(status, "UNKNOWN")
        body = json.dumps({"errors": [{"code": code, "message": prm.get(
            "message", "injected by layerfs test proxy"), "detail": None}]}).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(body)))
        if prm.get("retry_after") is not None:
            h.send_header("Retry-After", str(prm["retry_after"]))
        for k, v in list(extra) + list(prm.get("headers", {}).items()):
            h.send_header(k, v)
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)
            entry["bytes"] += len(body)
        entry["status"] = status

    def _send_redirect(self, h, entry, prm):
        q = {}
        if prm.get("ttl") is not None:
            q["expires"] = "%.3f" % (time.time() + float(prm["ttl"]))
        if prm.get("reject_auth"):
            q["reject_auth"] = "1"
        q["sig"] = secrets.token_hex(8)
        path = urllib.parse.urlsplit(h.path).path
        loc = "http://%s:%d/redir%s?%s" % (prm.get("host", self.redirect_host),
                                           self.redirect_port, path, urllib.parse.urlencode(q))
        st = int(prm.get("status", 307))
        h.send_response(st)
        h.send_header("Location", loc)
        h.send_header("Content-Length", "0")
        h.end_headers()
        entry["status"] = st

    def _relay(self, h, r, entry, kind, prm, rate, shift):
        entry["status"] = r.status
        length = r.getheader("Content-Length")
        no_body = h.command == "HEAD" or r.status in (204, 304) or 100 <= r.status < 200
        chunked = length is None and not no_body
        h.send_response_only(r.status, r.reason)
        for k, v in r.getheaders():
            lk = k.lower()
            if lk in HOP_BY_HOP:
                continue
            if lk == "content-range" and kind == "wrong_range" and prm.get("mode") == "header":
                v = _shift_content_range(v, shift)
            h.send_header(k, v)
        if chunked:
            h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        if no_body:
            h.wfile.flush()
            return
        after = int(prm.get("after", 0)) if kind in ("truncate", "stall") else None
        flip = None
        if kind == "corrupt":
            flip = int(prm.get("at", int(length) // 2 if length else 0))
        sent, t0 = 0, time.monotonic()
        step = 65536 if not rate else max(512, min(65536, int(rate) // 20))
        stalled = False
        while True:
            want = step
            if after is not None and not stalled:
                want = min(want, after - sent) if after > sent else 0
                if want == 0:
                    if kind == "truncate":
                        h.wfile.flush()
                        raise _Abort("reset" if prm.get("reset") else "close")
                    h.wfile.flush()
                    time.sleep(float(prm.get("seconds", 1)))
                    stalled = True
                    if prm.get("close"):
                        raise _Abort("close")
                    continue
            data = r.read(want)
            if not data:
                break
            if flip is not None and sent <= flip < sent + len(data):
                b = bytearray(data)
                b[flip - sent] ^= int(prm.get("xor", 0xFF))
                data = bytes(b)
            if chunked:
                h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                h.wfile.write(data)
            sent += len(data)
            entry["bytes"] = sent
            if rate:
                h.wfile.flush()
                delay = t0 + sent / float(rate) - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        if chunked:
            h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()


def _shift_range(value, shift):
    m = re.fullmatch(r"\s*bytes=(\d+)-(\d*)\s*", value)
    if not m:
        return value
    s = int(m.group(1)) + shift
    e = m.group(2) and str(int(m.group(2)) + shift)
    return "bytes=%d-%s" % (max(s, 0), e)


def _shift_content_range(value, shift):
    m = re.fullmatch(r"\s*bytes (\d+)-(\d+)/(\S+)\s*", value)
    if not m:
        return value
    return "bytes %d-%d/%s" % (int(m.group(1)) + shift, int(m.group(2)) + shift, m.group(3))


class ProxyControl:
    """FaultProxy's API over its HTTP control endpoints (for a proxy run by
    `registry.py serve` in another process).  url: "http://127.0.0.1:PORT"."""

    def __init__(self, url):
        self.url = url.rstrip("/")

    def add_fault(self, kind, **params):
        return _json_request(self.url + "/__fault", "POST", dict(params, kind=kind))["id"]

    def faults(self):
        return _json_request(self.url + "/__fault")

    def clear_faults(self):
        _json_request(self.url + "/__fault", "DELETE")

    def configure(self, **kw):
        return _json_request(self.url + "/__config", "POST", kw)

    def down(self, seconds):
        _json_request(self.url + "/__down", "POST", {"seconds": seconds})

    def reset(self):
        _json_request(self.url + "/__reset", "POST", {})

    def stats(self):
        return _json_request(self.url + "/__stats")

    def reset_stats(self):
        _json_request(self.url + "/__stats", "DELETE")


# --------------------------------------------------------------------- CLI

class Stack:
    """Token server (auth=True), registry and proxy together."""

    def __init__(self, auth=False, check_tokens=False, expires_in=300, require=None):
        self.auth, self.check = auth, check_tokens
        self.expires_in, self.require = expires_in, require
        self.token = self.registry = self.proxy = None

    def start(self):
        try:
            if self.auth or self.check:
                self.token = TokenServer(self.expires_in, self.require).start()
            self.registry = Registry(auth="silly" if self.auth else None,
                                     realm=self.token.realm if self.auth else None).start()
            self.proxy = FaultProxy(self.registry.host,
                                    check_tokens=self.token if self.check else None).start()
        except BaseException:
            self.stop()
            raise
        return self

    def info(self):
        return {"registry": self.registry.host, "proxy": self.proxy.host,
                "redirect": "%s:%d" % (self.proxy.redirect_host, self.proxy.redirect_port),
                "token": self.token.realm if self.token else None,
                "token_control": self.token.url if self.token else None,
                "workdir": self.registry.workdir, "pid": os.getpid()}

    def stop(self):
        for o in (self.proxy, self.registry, self.token):
            if o is not None:
                o.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run token server, registry and proxy")
    s.add_argument("--auth", action="store_true", help="registry with silly Bearer auth")
    s.add_argument("--check-tokens", action="store_true",
                   help="the proxy enforces the token server's tokens")
    s.add_argument("--expires-in", type=int, default=300)
    s.add_argument("--require", metavar="USER:PASS", help="token server requires these")
    s.add_argument("--info", metavar="FILE", help="write the addresses here (else stdout)")
    p = sub.add_parser("push", help="skopeo copy SOURCE to HOST:PORT/REPO:TAG")
    p.add_argument("source")
    p.add_argument("dest")
    p.add_argument("--compress", choices=("gzip", "zstd", "none"))
    p.add_argument("--creds", metavar="USER:PASS")
    a = ap.parse_args(argv)
    if a.cmd == "push":
        print(push(a.source, a.dest, compress=a.compress, creds=a.creds))
        return 0
    install_signal_handlers()
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    req = tuple(a.require.split(":", 1)) if a.require else None
    with Stack(a.auth, a.check_tokens, a.expires_in, req) as st:
        text = json.dumps(st.info(), indent=1, sort_keys=True) + "\n"
        if a.info:
            tmp = a.info + ".tmp"
            with open(tmp, "w") as f:
                f.write(text)
            os.rename(tmp, a.info)
        else:
            sys.stdout.write(text)
            sys.stdout.flush()
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
