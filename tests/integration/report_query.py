#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""report_query.py - layerfs-report's questions (--path, --tree, --diff,
--packages) checked on images whose every layer this script (and
report_cases.py, whose main image it reuses) wrote.

Every expectation comes from how the layers were built: which layer wrote
which bytes where, which later layer deleted or replaced them; nothing is
copied from the program's output.  The content hash (xxh3-128) is checked
by what it must say: the same for the same bytes, different otherwise.

CLI: report_query.py --report PATH/layerfs-report --tmp DIR
"""

import argparse
import json
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from report_cases import (INSTRUCTIONS, Fail, Runner, blob, build, check,  # noqa: E402
                          eq, main_entries)
from mkimage import Entry  # noqa: E402
from report_html_check import chromium  # noqa: E402


def query(r, args, want_rc=0):
    out, err = r.run(["--json"] + args, want_rc)
    return json.loads(out), err


def versions(doc, path):
    p = [p for p in doc["paths"] if p["path"] == path]
    eq(len(p), 1, "entries for " + path)
    return p[0]


def check_path(r, src):
    doc, _ = query(r, ["--path", "/etc/conf", "--path", "/bin/tool", "--path", "/srv/dir",
                       "--path", "/etc/passwd*", "--path", "/usr/share/doc/**",
                       "--path", "/srv/dir/f1", "--path", "/opt/app/x", "--path", "/data/h2"]
                   + src)
    eq(sorted(p["path"] for p in doc["paths"]),
       sorted(["/etc/conf", "/bin/tool", "/srv/dir", "/etc/passwd", "/etc/passwd2",
               "/usr/share/doc/a", "/usr/share/doc/b", "/usr/share/doc/sub",
               "/usr/share/doc/sub/c", "/srv/dir/f1", "/opt/app/x", "/data/h2"]),
       "--path: the matching paths")
    for p in doc["paths"]:
        for v in p["versions"]:
            eq(v["instruction"], INSTRUCTIONS[v["layer"] - 1],
               "%s layer %d instruction" % (p["path"], v["layer"]))

    def summary(path):
        return [(v["layer"], v["change"], v.get("type"), v.get("size"), v.get("removed_by"),
                 v.get("removed_at"), v["visible"]) for v in versions(doc, path)["versions"]]

    # written in layer 1 (2500 B), rewritten by layer 2 (2600 B)
    conf = versions(doc, "/etc/conf")
    eq(summary("/etc/conf"), [(1, "added", "file", 2500, None, None, False),
                              (2, "modified", "file", 2600, None, None, True)], "/etc/conf")
    eq((conf["visible_layer"], conf["wasted_bytes"]), (2, 2500), "/etc/conf visible, wasted")
    h = [v["xxh3_128"] for v in conf["versions"]]
    check(h[0] and h[1] and h[0] != h[1], "/etc/conf: two contents, one hash %r" % h)
    # chmod 700 in layer 3: same bytes again
    tool = versions(doc, "/bin/tool")
    eq([(v["layer"], v["mode"], v["size"]) for v in tool["versions"]],
       [(1, 0o755, 9000), (3, 0o700, 9000)], "/bin/tool modes")
    eq(tool["versions"][0]["xxh3_128"], tool["versions"][1]["xxh3_128"], "/bin/tool: same hash")
    eq((tool["visible_layer"], tool["wasted_bytes"]), (3, 9000), "/bin/tool visible, wasted")
    # the same content at two paths: one hash
    eq(versions(doc, "/etc/passwd")["versions"][0]["xxh3_128"],
       versions(doc, "/etc/passwd2")["versions"][0]["xxh3_128"], "passwd copies")
    eq(summary("/etc/passwd2"), [(6, "added", "file", 1000, None, None, True)], "/etc/passwd2")
    # a directory becomes a symlink in layer 4, which takes its files with it
    eq(summary("/srv/dir"), [(1, "added", "dir", 0, None, None, False),
                             (4, "modified", "symlink", 5, None, None, True)], "/srv/dir")
    eq(versions(doc, "/srv/dir")["versions"][1]["link"], "thing", "/srv/dir target")
    eq(summary("/srv/dir/f1"), [(1, "added", "file", 1100, None, None, False),
                                (4, "deleted", None, None, "replaced", "/srv/dir", False)],
       "/srv/dir/f1")
    # the whole of /usr/share/doc goes by one whiteout in layer 2
    for name, size in (("a", 3000), ("b", 4000), ("sub/c", 5000)):
        path = "/usr/share/doc/" + name
        eq(summary(path), [(1, "added", "file", size, None, None, False),
                           (2, "deleted", None, None, "whiteout", "/usr/share/doc", False)], path)
        eq(versions(doc, path)["wasted_bytes"], size, path + " wasted")
    eq(summary("/opt/app/x"), [(1, "added", "file", 6000, None, None, False),
                               (4, "deleted", None, None, "opaque", "/opt/app", False)],
       "/opt/app/x (opaque directory)")
    eq(summary("/data/h2"), [(1, "added", "file", 20000, None, None, False),
                             (5, "deleted", None, None, "whiteout", "/data/h2", False)],
       "/data/h2")
    # text: the visible version is starred, the deletion says by what
    out, _ = r.run(["--path", "/usr/share/doc/sub/c", "--path", "/etc/conf"] + src)
    check("whiteout of /usr/share/doc" in out, "--path text: the whiteout")
    starred = [line.split()[1] for line in out.splitlines() if line.startswith("* ")]
    eq(starred, ["2"], "--path text: the visible version")
    # a path no layer has: said, exit 1
    _, err = r.run(["--path", "/etc/conf", "--path", "/nope"] + src, want_rc=1)
    check("'/nope'" in err, "--path of nothing: %r" % err)
    r.run(["--path", "/etc/conf"] + src + src, want_rc=64)


# what the final image of the main image shows: (path, bytes, layer)
FINAL_FILES = [("/etc/passwd", 1000, 1), ("/etc/conf", 2600, 2), ("/etc/passwd2", 1000, 6),
               ("/bin/tool", 9000, 3), ("/usr/bin/new", 15500, 6), ("/usr/bin/copy1", 7777, 5),
               ("/usr/bin/copy2", 7777, 5), ("/var/cache/apt/archives/foo.deb", 150000, 2),
               ("/opt/app/z", 800, 4), ("/srv/thing/inner", 300, 4)]
FINAL_DIRS = ["/", "/etc", "/bin", "/usr", "/usr/bin", "/usr/lib", "/usr/share", "/var",
              "/var/cache", "/var/cache/apt", "/var/cache/apt/archives", "/var/lib",
              "/var/lib/apt", "/var/lib/apt/lists", "/opt", "/opt/app", "/srv", "/srv/thing",
              "/data"]


def below(files, d):
    return [f for f in files if d == "/" or f[0].startswith(d + "/")]


def check_tree(r, src):
    doc, _ = query(r, ["--tree"] + src)
    ents = {e["path"]: e for e in doc["tree"]["entries"]}
    eq(sorted(p for p, e in ents.items() if e["type"] == "file"),
       sorted(f[0] for f in FINAL_FILES), "--tree: files")
    eq(sorted(p for p, e in ents.items() if e["type"] == "dir"), sorted(FINAL_DIRS),
       "--tree: directories")
    eq(ents["/srv/dir"]["type"], "symlink", "--tree: the symlink")
    for path, size, layer in FINAL_FILES:
        eq((ents[path]["bytes"], ents[path]["layer"]), (size, layer), "--tree " + path)
    for d in FINAL_DIRS:
        fs = below(FINAL_FILES, d)
        eq((ents[d]["bytes"], ents[d]["files"]), (sum(f[1] for f in fs), len(fs)),
           "--tree: bytes and files below " + d)
    # the order is a tree walk: each entry after its parent, siblings by name
    paths = [e["path"] for e in doc["tree"]["entries"]]
    eq(paths, sorted(paths, key=lambda p: p.split("/")), "--tree: order")
    # --depth 1: the top level only, still summing everything
    doc, _ = query(r, ["--tree", "--depth", "1"] + src)
    ents = {e["path"]: e for e in doc["tree"]["entries"]}
    eq(sorted(ents), sorted(d for d in FINAL_DIRS if d.count("/") == 1),
       "--tree --depth 1: entries")
    eq(ents["/var"]["bytes"], 150000, "--tree --depth 1: /var")
    eq(ents["/"]["bytes"], sum(f[1] for f in FINAL_FILES), "--tree --depth 1: the root")
    out, _ = r.run(["--tree", "--depth", "2"] + src)
    check(not any(line.endswith("archives/") for line in out.splitlines()),
          "--tree --depth 2: the text shows depth 4")
    check(any(line.endswith("  bin/") for line in out.splitlines()), "--tree text: /usr/bin")
    r.run(["--depth", "2"] + src, want_rc=64)
    # layer 4 as a tree: opaque /opt/app (x, y gone, z new), /srv/thing a file
    # turned directory, /srv/dir a directory turned symlink
    doc, _ = query(r, ["--tree", "--layer", "4"] + src)
    got = {e["path"]: (e["type"], e["change"], e["bytes"]) for e in doc["tree"]["entries"]}
    eq(got, {"/": ("dir", None, 1100), "/opt": ("dir", None, 800),
             "/opt/app": ("dir", None, 800), "/opt/app/x": ("file", "deleted", 0),
             "/opt/app/y": ("file", "deleted", 0), "/opt/app/z": ("file", "added", 800),
             "/srv": ("dir", None, 300), "/srv/dir": ("symlink", "modified", 0),
             "/srv/thing": ("dir", "modified", 300),
             "/srv/thing/inner": ("file", "added", 300)}, "--tree --layer 4")
    hid = {e["path"]: e["hidden_bytes"] for e in doc["tree"]["entries"]}
    eq((hid["/opt/app/x"], hid["/srv"], hid["/"]), (6000, 4400 + 1100 + 1200, 13000 + 6700),
       "--tree --layer 4: hidden bytes")


def check_diff(r, tmp):
    """A text file rewritten, re-stored unchanged, deleted, created again;
    a binary file rewritten."""
    f = lambda p, data, **kw: Entry("file", p, data=data, **kw)  # noqa: E731
    bin1, bin2 = b"\0" + blob(99, "bin1"), b"\0" + blob(119, "bin2")
    layers = [[Entry("dir", "etc"), f("etc/app.conf", b"a\nb\nc\n"), Entry("dir", "bin"),
               f("bin/blob", bin1)],
              [f("etc/app.conf", b"a\nB\nc\nd\n"), f("bin/blob", bin2)],
              [f("etc/app.conf", b"a\nB\nc\nd\n", mode=0o600)],
              [Entry("whiteout", "etc/app.conf")],
              [f("etc/app.conf", b"new\n")]]
    src = build(tmp, "diff.tar", layers, history=[("step %d" % i, False) for i in range(5)])
    doc, _ = query(r, ["--diff", "/etc/app.conf", "--diff", "/bin/*"] + src)
    got = [(d["path"], d["from_layer"], d["to_layer"], d["from_size"], d["to_size"], d["note"])
           for d in doc["diffs"]]
    eq(sorted(got), [("/bin/blob", 1, 2, 100, 120, "not text"),
                     ("/etc/app.conf", 1, 2, 6, 8, None),
                     ("/etc/app.conf", 2, 3, 8, 8, "same content")], "--diff pairs")
    d = [d for d in doc["diffs"] if d["path"] == "/etc/app.conf" and d["to_layer"] == 2][0]
    lines = d["diff"].splitlines()
    eq(lines[:2], ["--- /etc/app.conf (layer 1)", "+++ /etc/app.conf (layer 2)"],
       "--diff labels")
    eq(lines[2:], ["@@ -1,3 +1,4 @@", " a", "-b", "+B", " c", "+d"], "--diff hunk")
    out, _ = r.run(["--diff", "/etc/app.conf"] + src)
    check("\n-b\n+B\n" in out and "(same content)" in out, "--diff text: %r" % out)
    r.run(["--diff", "/etc/nope"] + src, want_rc=1)
    # with --layer: what that layer changed only
    doc, _ = query(r, ["--diff", "**", "--layer", "2"] + src)
    eq(sorted((d["path"], d["from_layer"], d["to_layer"]) for d in doc["diffs"]),
       [("/bin/blob", 1, 2), ("/etc/app.conf", 1, 2)], "--diff ** --layer 2")


def chromium_dom(page, fragment, tmp):
    """The DOM headless Chromium rendered for PAGE#FRAGMENT (None: no Chromium)."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        return None
    p = chromium(binary, ["--dump-dom", "file://" + page + "#" + fragment],
                 os.path.join(tmp, "chromium-profile"))
    check(p.returncode == 0 and p.stdout, "chromium --dump-dom failed: %r" % p.stderr[-500:])
    return p.stdout.decode()


def check_html_tree(r, src, tmp):
    """The HTML page's tree of the final image: every path embedded, with its
    bytes and layer; in Chromium it opens a directory and the filter counts."""
    page = os.path.join(tmp, "tree.html")
    r.run(["--html", page] + src)
    with open(page) as f:
        text = f.read()
    m = re.search(r'<script type="application/json" id="treedata">(.*?)</script>', text, re.S)
    check(m, "no tree data in the page")
    data = json.loads(m.group(1))
    stack, got = [], {}
    for name, depth, size, layer, kind in zip(data["n"], data["d"], data["b"], data["l"],
                                              data["t"]):
        stack[depth:] = [name]
        got["/" + "/".join(stack[1:])] = (kind, size, layer + 1)
    for path, size, layer in FINAL_FILES:
        eq(got.get(path), ("f", size, layer), "HTML tree data: " + path)
    for d in FINAL_DIRS:
        eq(got[d][:2], ("d", sum(f[1] for f in below(FINAL_FILES, d))), "HTML tree data: " + d)
    eq(len(got), len(FINAL_FILES) + len(FINAL_DIRS) + 1, "HTML tree data: entries")
    dom = chromium_dom(page, "open=/usr/bin", tmp)
    if dom is None:
        print("note: chromium is missing: the HTML tree was not rendered")
        return
    # the top level rendered, /usr/bin opened: its three files are there
    names = re.findall(r'<span class="t[df]">(?:\u25b8 |\u25be )?([^<]*)</span>', dom)
    for want in ("etc/", "usr/", "bin/", "copy1", "copy2", "new"):
        check(want in names, "HTML tree: %r not rendered (%r)" % (want, names[:40]))
    check("foo.deb" not in names, "HTML tree: a closed directory rendered")
    dom = chromium_dom(page, "q=copy", tmp)
    m = re.search(r'id="treecount"[^>]*data-count="(\d+)"[^>]*>([^<]*)<', dom) or \
        re.search(r'id="treecount"[^>]*>([^<]*)<', dom)
    check(m and "2 of %d paths" % (len(got) - 1) in m.group(0), "HTML filter count: %r"
          % (m.group(0) if m else None))
    check("/usr/bin/copy2" in dom, "HTML filter: the hit /usr/bin/copy2 not shown")


def dpkg_status(*pkgs):
    return "".join("Package: %s\nStatus: install ok %s\nVersion: %s\nArchitecture: amd64\n\n"
                   % (n, st, v) for n, v, st in pkgs).encode()


def check_packages(r, tmp):
    """One of each database, their packages installed, upgraded, removed and
    stored again across three layers, with file sizes chosen here."""
    f = lambda p, data, **kw: Entry("file", p, data=data, **kw)  # noqa: E731
    d = lambda p: Entry("dir", p)  # noqa: E731
    info = "var/lib/dpkg/info/"
    site = "usr/lib/python3/site-packages/"
    data = blob(3000, "alpha-data")
    r1 = b"requests/__init__.py,sha256=x,1200\nrequests/api.py,,800\n" \
        b"requests-2.31.0.dist-info/RECORD,,\n"
    r2 = b"requests/__init__.py,,1300\nrequests/api.py,,800\nrequests-2.32.0.dist-info/RECORD,,\n"
    p1 = json.dumps({"name": "left-pad", "version": "1.3.0"}).encode()
    p2 = json.dumps({"name": "left-pad", "version": "1.3.1"}).encode()
    apk = (b"C:Q1x\nP:musl\nV:1.2.4\nF:lib\nR:ld-musl.so\n\n"
           b"P:apk-tools\nV:2.14\nF:sbin\nR:apk-tool\n\n")
    layers = [
        [d("usr"), d("usr/bin"), Entry("symlink", "bin", target="usr/bin"),
         f("usr/bin/alpha", blob(1000, "a1")), d("usr/share"), d("usr/share/alpha"),
         f("usr/share/alpha/data", data), d("usr/lib"), f("usr/lib/beta.so", blob(5000, "b")),
         d("var"), d("var/lib"), d("var/lib/dpkg"), d("var/lib/dpkg/info"),
         f("var/lib/dpkg/status", dpkg_status(("alpha", "1.0", "installed"),
                                              ("beta", "2.0", "installed"),
                                              ("gamma", "1.0", "config-files"))),
         f(info + "alpha.list", b"/.\n/bin\n/bin/alpha\n/usr\n/usr/share\n/usr/share/alpha\n"
                                b"/usr/share/alpha/data\n"),
         f(info + "beta:amd64.list", b"/usr/lib/beta.so\n"),
         f(info + "gamma.list", b"/usr/lib/gamma\n"), f("usr/lib/gamma", blob(10, "g")),
         d("lib"), d("lib/apk"), d("lib/apk/db"), f("lib/apk/db/installed", apk),
         f("lib/ld-musl.so", blob(700, "musl")), d("sbin"), f("sbin/apk-tool", blob(400, "at")),
         d(site + "requests"), f(site + "requests/__init__.py", blob(1200, "ri")),
         f(site + "requests/api.py", blob(800, "ra")), d(site + "requests-2.31.0.dist-info"),
         f(site + "requests-2.31.0.dist-info/RECORD", r1),
         d("app/node_modules/leftpad"), f("app/node_modules/leftpad/package.json", p1),
         f("app/node_modules/leftpad/index.js", blob(900, "lp1"))],
        [f("usr/bin/alpha", blob(1100, "a2")), Entry("whiteout", "usr/lib/beta.so"),
         Entry("whiteout", info + "beta:amd64.list"),
         f("var/lib/dpkg/status", dpkg_status(("alpha", "1.1", "installed"),
                                              ("delta", "0.5", "installed"))),
         f(info + "delta.list", b"/usr/bin/delta\n"), f("usr/bin/delta", blob(2000, "d")),
         f(site + "requests/__init__.py", blob(1300, "ri2")),
         Entry("whiteout", site + "requests-2.31.0.dist-info"),
         f(site + "requests-2.32.0.dist-info/RECORD", r2),
         f("app/node_modules/leftpad/package.json", p2),
         f("app/node_modules/leftpad/index.js", blob(950, "lp2"))],
        [f("usr/share/alpha/data", data, mode=0o600), f("sbin/apk-tool", blob(400, "at")),
         f("app/node_modules/broken/package.json", b"{not json")]]
    src = build(tmp, "packages.tar", layers, history=[("step %d" % i, False) for i in range(3)])
    doc, err = query(r, ["--packages"] + src)
    pk = doc["packages"]
    eq({m: (v["found"], v["final_count"]) for m, v in pk["managers"].items()},
       {"dpkg": (True, 2), "apk": (True, 2), "python": (True, 1), "npm": (True, 1)},
       "--packages: databases and final counts")
    got = [sorted((p["manager"], p["name"], p["change"], p["old_version"], p["version"],
                   p["bytes"], p["files"], p["wasted_bytes"]) for p in L["packages"])
           for L in pk["layers"]]
    eq(got[0], sorted([
        # /bin/alpha through the /bin symlink; both files replaced later
        ("dpkg", "alpha", "installed", None, "1.0", 4000, 2, 4000),
        ("dpkg", "beta", "installed", None, "2.0", 5000, 1, 5000),
        ("apk", "musl", "installed", None, "1.2.4", 700, 1, 0),
        ("apk", "apk-tools", "installed", None, "2.14", 400, 1, 400),
        ("python", "requests", "installed", None, "2.31.0", 1200 + 800 + len(r1), 3,
         1200 + len(r1)),
        ("npm", "left-pad", "installed", None, "1.3.0", len(p1) + 900, 2, len(p1) + 900)]),
       "--packages: layer 1")
    eq(got[1], sorted([
        ("dpkg", "alpha", "upgraded", "1.0", "1.1", 1100, 1, 0),
        ("dpkg", "beta", "removed", "2.0", None, 0, 0, 0),
        ("dpkg", "delta", "installed", None, "0.5", 2000, 1, 0),
        ("python", "requests", "upgraded", "2.31.0", "2.32.0", 1300 + len(r2), 2, 0),
        ("npm", "left-pad", "upgraded", "1.3.0", "1.3.1", len(p2) + 950, 2, 0)]),
       "--packages: layer 2")
    eq(got[2], sorted([("dpkg", "alpha", "unchanged", "1.1", "1.1", 3000, 1, 0),
                       ("apk", "apk-tools", "unchanged", "2.14", "2.14", 400, 1, 0)]),
       "--packages: layer 3")
    eq(len(pk["not_read"]), 1, "--packages: databases not read")
    check(pk["not_read"][0].startswith("/app/node_modules/broken/package.json"),
          "--packages: the broken package.json: %r" % pk["not_read"])
    out, _ = r.run(["--packages"] + src)
    check("upgraded   alpha 1.0 -> 1.1" in out and "stored again" in out,
          "--packages text: %r" % out)
    # --html with --packages: a table per layer, the same rows
    page = os.path.join(tmp, "packages.html")
    r.run(["--packages", "--html", page] + src)
    with open(page) as f:
        text = f.read()
    for k, rows in enumerate(got):
        m = re.search(r'<details class="pkgs" data-layer="%d">(.*?)</details>' % (k + 1), text,
                      re.S)
        check(m, "HTML: no packages of layer %d" % (k + 1))
        cells = re.findall(r"<tr><td>(\w+)</td><td>(\w+)</td><td>([^<]*)</td>", m.group(1))
        eq(sorted(cells), sorted((x[0], x[2], x[1]) for x in rows),
           "HTML: packages of layer %d" % (k + 1))
    # two images: B's packages, and its final ones against A's (A: layer 1 alone)
    a = build(tmp, "packages-a.tar", layers[:1], history=[("step 0", False)])
    doc, _ = query(r, ["--packages"] + a + src)
    eq(sorted((c["manager"], c["name"], c["change"], c["old_version"], c["version"])
              for c in doc["packages"]["compare"]),
       sorted([("dpkg", "alpha", "upgraded", "1.0", "1.1"),
               ("dpkg", "beta", "removed", "2.0", None),
               ("dpkg", "delta", "installed", None, "0.5"),
               ("python", "requests", "upgraded", "2.31.0", "2.32.0"),
               ("npm", "left-pad", "upgraded", "1.3.0", "1.3.1")]), "--packages A B: compare")
    eq(len(doc["packages"]["layers"]), 3, "--packages A B: B's layers")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--report", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--schema", default=os.path.join(HERE, "..", "data", "report.schema.json"))
    args = ap.parse_args()
    r = Runner(args.report, args.schema)
    src = build(args.tmp, "query-main.tar", main_entries())
    steps = [("--path", lambda: check_path(r, src)),
             ("--tree", lambda: check_tree(r, src)),
             ("--diff", lambda: check_diff(r, args.tmp)),
             ("--packages", lambda: check_packages(r, args.tmp)),
             ("HTML tree", lambda: check_html_tree(r, src, args.tmp))]
    failed = 0
    for name, fn in steps:
        try:
            fn()
            print("ok: %s" % name)
        except Fail as e:
            failed += 1
            print("FAIL: %s: %s" % (name, e))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
