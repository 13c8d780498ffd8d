#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""report_cases.py - images whose waste is known by construction, and the
checks of layerfs-report against them (used by report.sh and report_html.sh).

Every expected figure below is written from how the layers are built (the
sizes chosen here and which later layer hides what), never taken from the
program's output.  The main image ("waste") has one of everything:

  layer 1  base files; a hard-link pair; a directory later deleted whole; a
           directory later made opaque; a file that becomes a directory and
           a directory that becomes a symlink; apt lists
  layer 2  whiteout of a whole directory (usr/share/doc), a file
           overwritten with other content, new files, a shipped apt cache
  layer 3  chmod copy-up (same content), a file deleted two layers up, one
           name of the hard-link pair deleted (no bytes freed), apt lists
           deleted, a whiteout of a path that never existed
  layer 4  opaque directory, file -> directory, directory -> symlink
  layer 5  the other hard-link name deleted (the bytes go now, once);
           two identical visible files
  layer 6  a file of layer 2 overwritten; a copy of layer 1's /etc/passwd

Regression images: an opaque marker at a layer's root; entries superseded
within their own layer.

CLI: report_cases.py --report PATH/layerfs-report --tmp DIR [--schema F]
"""

import argparse
import json
import os
import random
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mkimage  # noqa: E402
from mkimage import Entry, make_layer, write_image  # noqa: E402
from report_schema import validate  # noqa: E402


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def eq(got, want, what):
    if got != want:
        raise Fail("%s: got %r, want %r" % (what, got, want))


def blob(n, seed):
    """n bytes of content unique to SEED."""
    return random.Random(seed).randbytes(n)


# ---------------------------------------------------------------- the main image

PASSWD = blob(1000, "passwd")
TOOL = blob(9000, "tool")
DUP = blob(7777, "dup")

HISTORY = [
    ("/bin/sh -c #(nop) ADD file:base in / ", False),
    ("/bin/sh -c #(nop)  ENV A=1", True),
    ("/bin/sh -c apt-get update && apt-get install -y foo", False),
    ("/bin/sh -c #(nop)  LABEL x=y", True),
    ("/bin/sh -c chmod 700 /bin/tool && rm -rf /usr/lib/libbig.so /var/lib/apt/lists/*", False),
    ("|1 V=2 /bin/sh -c rm -rf /opt/app && mkdir /opt/app", False),
    ("RUN /bin/sh -c rm /data/h2 # buildkit", False),
    ("/bin/sh -c make new", False),
    ('/bin/sh -c #(nop)  CMD ["sh"]', True),
]
INSTRUCTIONS = [
    "ADD file:base in /",
    "RUN apt-get update && apt-get install -y foo",
    "RUN chmod 700 /bin/tool && rm -rf /usr/lib/libbig.so /var/lib/apt/lists/*",
    "RUN rm -rf /opt/app && mkdir /opt/app",
    "RUN rm /data/h2",
    "RUN make new",
]
HISTORY_INDEX = [0, 2, 4, 5, 6, 7]


def main_entries():
    d = lambda p: Entry("dir", p)  # noqa: E731
    f = lambda p, data, **kw: Entry("file", p, data=data, **kw)  # noqa: E731
    wh = lambda p: Entry("whiteout", p)  # noqa: E731
    l1 = [d("etc"), f("etc/passwd", PASSWD), f("etc/conf", blob(2500, "conf1")),
          d("usr"), d("usr/lib"), f("usr/lib/libbig.so", blob(100000, "big")),
          d("usr/share"), d("usr/share/doc"), f("usr/share/doc/a", blob(3000, "a")),
          f("usr/share/doc/b", blob(4000, "b")), d("usr/share/doc/sub"),
          f("usr/share/doc/sub/c", blob(5000, "c")),
          d("opt"), d("opt/app"), f("opt/app/x", blob(6000, "x")), f("opt/app/y", blob(7000, "y")),
          d("data"), f("data/h1", blob(20000, "h")), Entry("hardlink", "data/h2", target="data/h1"),
          d("bin"), f("bin/tool", TOOL, mode=0o755),
          d("srv"), f("srv/thing", blob(4400, "thing")), d("srv/dir"),
          f("srv/dir/f1", blob(1100, "f1")), f("srv/dir/f2", blob(1200, "f2")),
          d("var"), d("var/lib"), d("var/lib/apt"), d("var/lib/apt/lists"),
          f("var/lib/apt/lists/pkgs", blob(30000, "pkgs"))]
    l2 = [wh("usr/share/doc"), f("etc/conf", blob(2600, "conf2")),
          d("usr/bin"), f("usr/bin/new", blob(15000, "new1")),
          d("var/cache"), d("var/cache/apt"), d("var/cache/apt/archives"),
          f("var/cache/apt/archives/foo.deb", blob(150000, "deb"))]
    l3 = [f("bin/tool", TOOL, mode=0o700), wh("usr/lib/libbig.so"), wh("data/h1"),
          wh("var/lib/apt/lists/pkgs"), wh("etc/ghost")]
    l4 = [d("opt/app"), Entry("opaque", "opt/app"), f("opt/app/z", blob(800, "z")),
          d("srv/thing"), f("srv/thing/inner", blob(300, "inner")),
          Entry("symlink", "srv/dir", target="thing")]
    l5 = [wh("data/h2"), f("usr/bin/copy1", DUP), f("usr/bin/copy2", DUP)]
    l6 = [f("usr/bin/new", blob(15500, "new2")), f("etc/passwd2", PASSWD)]
    return [l1, l2, l3, l4, l5, l6]


# (path, bytes, cause, marker, stored layer, hidden by layer)
MAIN_WASTE = [
    ("/usr/share/doc/a", 3000, "deleted", "whiteout", 1, 2),
    ("/usr/share/doc/b", 4000, "deleted", "whiteout", 1, 2),
    ("/usr/share/doc/sub/c", 5000, "deleted", "whiteout", 1, 2),
    ("/etc/conf", 2500, "overwritten", None, 1, 2),
    ("/bin/tool", 9000, "identical", None, 1, 3),
    ("/usr/lib/libbig.so", 100000, "deleted", "whiteout", 1, 3),
    ("/var/lib/apt/lists/pkgs", 30000, "deleted", "whiteout", 1, 3),
    ("/opt/app/x", 6000, "deleted", "opaque", 1, 4),
    ("/opt/app/y", 7000, "deleted", "opaque", 1, 4),
    ("/srv/thing", 4400, "type", None, 1, 4),
    ("/srv/dir/f1", 1100, "type", None, 1, 4),
    ("/srv/dir/f2", 1200, "type", None, 1, 4),
    ("/data/h2", 20000, "deleted", "whiteout", 1, 5),  # both names gone: once
    ("/usr/bin/new", 15000, "overwritten", None, 2, 6),
]
# File data each layer stores (hard links once) and, of it, what stays visible.
MAIN_STORED = [1000 + 2500 + 100000 + 3000 + 4000 + 5000 + 6000 + 7000 + 20000 + 9000 + 4400
               + 1100 + 1200 + 30000,
               2600 + 15000 + 150000, 9000, 800 + 300, 2 * 7777, 15500 + 1000]
MAIN_VISIBLE = [1000, 2600 + 150000, 9000, 800 + 300, 2 * 7777, 15500 + 1000]
# (entries, bytes) added / modified / deleted per layer, from the lists above
MAIN_ADDED = [(31, MAIN_STORED[0]), (6, 165000), (0, 0), (2, 1100), (2, 15554), (1, 1000)]
MAIN_MODIFIED = [(0, 0), (1, 2600), (1, 9000), (2, 0), (0, 0), (1, 15500)]
MAIN_DELETED = [(0, 0), (1, 12000), (3, 130000), (2, 13000), (1, 20000), (0, 0)]


def install_history(history):
    """Make mkimage write our image config (history with empty_layer)."""
    orig = mkimage.image_config

    def config(layers, created="2023-11-14T22:13:20Z"):
        cfg = json.loads(orig(layers, created))
        cfg["history"] = [dict({"created": created, "created_by": cb},
                               **({"empty_layer": True} if empty else {}))
                          for cb, empty in history]
        return json.dumps(cfg, sort_keys=True).encode()
    mkimage.image_config = config
    return orig


def build(tmp, name, layers_entries, fmt="docker", comps=None, history=HISTORY):
    comps = comps or ["none"] * len(layers_entries)
    layers = [make_layer(e, c) for e, c in zip(layers_entries, comps)]
    orig = install_history(history)
    try:
        out = os.path.join(tmp, name)
        return write_image(fmt, out, layers)
    finally:
        mkimage.image_config = orig


# ---------------------------------------------------------------- running

class Runner:
    def __init__(self, binary, schema):
        self.bin = binary
        with open(schema) as f:
            self.schema = json.load(f)

    def run(self, args, want_rc=0, env=None):
        p = subprocess.run([self.bin] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env)
        out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
        if p.returncode != want_rc:
            raise Fail("%s: exit %d, want %d\nstderr: %s" % (" ".join(args), p.returncode,
                                                              want_rc, err))
        return out, err

    def json(self, args, want_rc=0):
        out, _ = self.run(["--json"] + args, want_rc)
        doc = json.loads(out)
        errs = validate(doc, self.schema)
        if errs:
            raise Fail("schema: " + "; ".join(errs[:10]))
        return doc


def check_main(doc, with_history=True):
    L = doc["layers"]
    eq(len(L), 6, "layer count")
    for i, layer in enumerate(L):
        n = "layer %d" % (i + 1)
        eq(layer["stored_bytes"], MAIN_STORED[i], n + " stored_bytes")
        eq(layer["visible_bytes"], MAIN_VISIBLE[i], n + " visible_bytes")
        eq(layer["hidden_bytes"], MAIN_STORED[i] - MAIN_VISIBLE[i], n + " hidden_bytes")
        eq(layer["wasted_bytes"], sum(w[1] for w in MAIN_WASTE if w[4] == i + 1),
           n + " wasted_bytes")
        eq(layer["hides_bytes"], sum(w[1] for w in MAIN_WASTE if w[5] == i + 1),
           n + " hides_bytes")
        for cause in ("deleted", "overwritten", "identical", "type"):
            eq(layer["wasted_by_cause"][cause],
               sum(w[1] for w in MAIN_WASTE if w[4] == i + 1 and w[2] == cause),
               n + " wasted_by_cause." + cause)
            eq(layer["hides_by_cause"][cause],
               sum(w[1] for w in MAIN_WASTE if w[5] == i + 1 and w[2] == cause),
               n + " hides_by_cause." + cause)
        for key, want in (("added", MAIN_ADDED), ("modified", MAIN_MODIFIED),
                          ("deleted", MAIN_DELETED)):
            eq((layer[key]["entries"], layer[key]["bytes"]), want[i], n + " " + key)
        if with_history:
            eq(layer["instruction"], INSTRUCTIONS[i], n + " instruction")
            eq(layer["history_index"], HISTORY_INDEX[i], n + " history_index")
    eq(L[0]["entries"]["hardlinks"], 1, "layer 1 hard links")
    eq(L[2]["entries"]["whiteouts"], 4, "layer 3 whiteouts")
    eq(L[2]["entries"]["dangling_whiteouts"], 1, "layer 3 dangling whiteouts")
    eq(L[3]["entries"]["opaque_dirs"], 1, "layer 4 opaque dirs")
    t = doc["totals"]
    wasted = sum(w[1] for w in MAIN_WASTE)
    eq(wasted, 208200, "construction")  # the sum above, written out
    eq(t["stored_bytes"], sum(MAIN_STORED), "stored_bytes")
    eq(t["visible_bytes"], sum(MAIN_VISIBLE), "visible_bytes")
    eq(t["wasted_bytes"], wasted, "wasted_bytes")
    eq(t["ignored_bytes"], 0, "ignored_bytes")
    eq(t["wasted_by_cause"], {"deleted": 175000, "overwritten": 17500, "identical": 9000,
                              "type": 6700}, "wasted_by_cause")
    eq(t["wasted_by_marker"], {"whiteout": 162000, "opaque": 13000}, "wasted_by_marker")
    check(abs(t["efficiency"] - (1 - wasted / sum(MAIN_STORED))) < 1e-9, "efficiency")
    got = sorted((w["path"], w["bytes"], w["cause"], w["marker"], w["stored_layer"],
                  w["hidden_by_layer"]) for w in doc["wasted"]["paths"])
    eq(got, sorted(MAIN_WASTE), "wasted paths")
    d = doc["duplicates"]
    eq((d["groups"], d["visible_redundant_bytes"], d["stored_redundant_bytes"]),
       (3, 7777 + 1000, 7777 + 1000 + 9000), "duplicates")
    dv = doc["dive"]["differences"]
    eq(dv["directory_whiteout_bytes"], 12000, "dive: directory whiteout bytes")
    eq(dv["opaque_bytes"], 13000, "dive: opaque bytes")
    # dive visits bin/, data/, then etc/.wh.ghost and stops: libbig and pkgs unread
    eq(dv["stopped_layers"], [{"layer": 3, "path": "/etc/ghost", "skipped_entries": 3}],
       "dive: stopped layers")


def check_dive(r, tmp):
    """A small image where dive's figures can be worked out by hand."""
    f = lambda p, n, s: Entry("file", p, data=blob(n, s))  # noqa: E731
    a = blob(1000, "a")
    layers = [[Entry("file", "a", data=a), Entry("dir", "d"), f("d/x", 2000, "x"),
               f("d/y", 3000, "y"), Entry("dir", "o"), f("o/p", 4000, "p")],
              [Entry("file", "a", data=a, mode=0o600), Entry("whiteout", "d"),
               Entry("dir", "o"), Entry("opaque", "o"), f("o/q", 500, "q")],
              [Entry("whiteout", "ghost"), f("zz", 100, "zz")]]
    src = build(tmp, "dive.tar", layers, history=[("l%d" % i, False) for i in range(3)])
    doc = r.json(["--top", "0"] + src)
    # dive per path: /a 1000+1000 (min 1000), /d/x 2000, /d/y 3000, /d whiteout
    # of a directory = 5000, /o/p 4000, /o/q 500; /zz never read (stopped at
    # .wh.ghost, which sorts first).  Only /a has two copies.
    eq(doc["dive"]["wasted_bytes"], 2000, "dive wasted")
    check(abs(doc["dive"]["efficiency"] - 15500 / 16500) < 1e-9,
          "dive efficiency %r" % doc["dive"]["efficiency"])
    dv = doc["dive"]["differences"]
    eq(dv, {"kept_copy_bytes": 1000, "directory_whiteout_bytes": 5000, "opaque_bytes": 4000,
            "stopped_layers": [{"layer": 3, "path": "/ghost", "skipped_entries": 2}]},
       "dive differences")
    eq(doc["totals"]["wasted_bytes"], 1000 + 5000 + 4000, "waste of the dive image")
    check(abs(doc["totals"]["efficiency"] - (1 - 10000 / 11600)) < 1e-9, "efficiency")


def check_dive_opaque(r, tmp):
    """dive reads layers without their opaque markers: what an opaque directory
    hid is still below in dive's view.  A whiteout of it is no stop for dive,
    and a whiteout of a directory above it weighs it too."""
    f = lambda p, n, s: Entry("file", p, data=blob(n, s))  # noqa: E731
    d = lambda p: Entry("dir", p)  # noqa: E731
    wh = lambda p: Entry("whiteout", p)  # noqa: E731
    layers = [[d("opt"), d("opt/app"), f("opt/app/x", 6000, "x"), f("opt/app/y", 7000, "y"),
               f("opt/keep", 100, "k"), d("opt/app/sub"), f("opt/app/sub/s", 300, "s")],
              [d("opt/app"), Entry("opaque", "opt/app"), f("opt/app/z", 800, "z"),
               wh("opt/app/y"), d("opt/app/sub"), f("opt/app/sub/t", 50, "t")],
              [wh("opt/app/x"), f("zz", 10, "zz"), wh("opt/app/sub/s")],
              [wh("opt"), f("a", 5, "a")]]
    src = build(tmp, "dive-opaque.tar", layers, history=[("l%d" % i, False) for i in range(4)])
    doc = r.json(["--top", "0"] + src)
    # dive per path (cum, min): x, y and s (6000+0, 0), (7000+0, 0), (300+0, 0):
    # their whiteouts find them below (layer 2's opaque app is plain to dive)
    # and weigh 0 as files; keep 100, t 50, z 800, zz 10 (read: no stop at
    # .wh.x), a 5, and the whiteout of /opt weighs what dive still has
    # there: keep + app/z + app/sub/t = 950.
    eq(doc["dive"]["differences"]["stopped_layers"], [], "dive under opaque: no stop")
    eq(doc["dive"]["wasted_bytes"], 6000 + 7000 + 300, "dive under opaque: wasted")
    cum = 6000 + 7000 + 300 + 100 + 50 + 800 + 10 + 5 + 950
    check(abs(doc["dive"]["efficiency"] - (100 + 50 + 800 + 10 + 5 + 950) / cum) < 1e-9,
          "dive under opaque: efficiency %r" % doc["dive"]["efficiency"])


def check_regressions(r, tmp):
    """Two classes of input the report once read differently from the mount.

    An opaque marker at a layer's root hides nothing (the kernel always
    merges layer roots).  Entries a later entry of the same tarball replaces
    (a path written twice, a file replaced by a directory, a directory by a
    file, a file by a whiteout) are stored and never visible: waste of their
    own layer."""
    f = lambda p, n, s: Entry("file", p, data=blob(n, s))  # noqa: E731
    layers = [[f("a", 100, "ra"), f("b", 200, "rb"), Entry("dir", "d"), f("d/x", 300, "rx")],
              [Entry("opaque", ""), f("c", 50, "rc")]]
    src = build(tmp, "opaque-root.tar", layers, history=[("l%d" % i, False) for i in range(2)])
    doc = r.json(["--top", "0"] + src)
    eq([(l["stored_bytes"], l["visible_bytes"], l["wasted_bytes"]) for l in doc["layers"]],
       [(600, 600, 0), (50, 50, 0)], "opaque root: stored, visible, wasted per layer")
    eq(doc["layers"][1]["deleted"]["entries"], 0, "opaque root: entries deleted")
    eq(doc["dive"]["differences"]["opaque_bytes"], 0, "opaque root: dive's opaque bytes")

    layers = [[f("a", 5000, "a1"), f("a", 10, "a2"),
               f("t", 400, "t1"), Entry("dir", "t"), f("t/in", 30, "tin"),
               Entry("dir", "u"), f("u/y", 700, "uy"), f("u", 20, "u2"),
               f("z", 300, "z1"), Entry("whiteout", "z")],
              [f("other", 5, "o")]]
    src = build(tmp, "superseded.tar", layers, history=[("l%d" % i, False) for i in range(2)])
    doc = r.json(["--top", "0"] + src)
    l1 = doc["layers"][0]
    eq((l1["stored_bytes"], l1["visible_bytes"], l1["wasted_bytes"]),
       (5000 + 10 + 400 + 30 + 700 + 20 + 300, 10 + 30 + 20, 5000 + 400 + 700 + 300),
       "superseded: layer 1 stored, visible, wasted")
    eq(l1["wasted_by_cause"], {"deleted": 300, "overwritten": 5000, "identical": 0,
                               "type": 400 + 700}, "superseded: causes")
    eq(l1["hides_bytes"], 6400, "superseded: the layer hid its own bytes")
    paths = {(w["path"], w["bytes"]) for w in doc["wasted"]["paths"]}
    eq(paths, {("/a", 5000), ("/t", 400), ("/u/y", 700), ("/z", 300)}, "superseded: paths")
    eq(doc["totals"]["stored_bytes"], 6460 + 5, "superseded: total stored")


def check_gates(r, src):
    w = 208200
    r.run(["--fail-if", "wasted>%dB" % (w - 1)] + src, want_rc=2)
    r.run(["--fail-if", "wasted>%d B" % w] + src, want_rc=0)
    r.run(["--fail-if", "wasted>=208.2kB"] + src, want_rc=2)
    r.run(["--fail-if", "identical > 8999b"] + src, want_rc=2)
    r.run(["--fail-if", "identical>9000B", "--fail-if", "type<6700B"] + src, want_rc=0)
    r.run(["--fail-if", "type<=6.7kB"] + src, want_rc=2)
    # a ratio gate applies only past the absolute floor (--min-waste, 1MB by default)
    r.run(["--fail-if", "efficiency<0.9"] + src, want_rc=0)
    r.run(["--fail-if", "efficiency<0.9", "--min-waste", "0"] + src, want_rc=2)
    r.run(["--fail-if", "efficiency<90%", "--min-waste", "208199"] + src, want_rc=2)
    r.run(["--fail-if", "efficiency<0.9", "--min-waste", "208200"] + src, want_rc=0)
    doc = r.json(["--fail-if", "efficiency<0.9", "--min-waste", "0", "--fail-if",
                  "wasted>1MB"] + src, want_rc=2)
    eq([(g["metric"], g["applies"], g["violated"]) for g in doc["gates"]],
       [("efficiency", True, True), ("wasted", True, False)], "gates in JSON")
    # --base 1: layer 1 is the base; the user waste is /usr/bin/new (15000)
    doc = r.json(["--base", "1", "--fail-if", "user_wasted>14999B"] + src, want_rc=2)
    u = doc["totals"]["user"]
    eq((u["base_layers"], u["stored_bytes"], u["wasted_bytes"], u["base_bytes_hidden"]),
       (1, sum(MAIN_STORED[1:]), 15000, w - 15000), "user figures")
    r.run(["--base", "1", "--fail-if", "user_wasted>15000B"] + src, want_rc=0)
    # --ignore takes paths out of the waste everywhere
    doc = r.json(["--ignore", "/var/lib/apt/**", "--top", "0"] + src)
    eq((doc["totals"]["wasted_bytes"], doc["totals"]["ignored_bytes"]), (w - 30000, 30000),
       "--ignore totals")
    eq(doc["layers"][2]["hides_bytes"], 109000, "--ignore: layer 3 hides")
    check(all(p["path"] != "/var/lib/apt/lists/pkgs" for p in doc["wasted"]["paths"]),
          "--ignore: path still listed")
    r.run(["--ignore", "var/lib/apt", "--fail-if", "wasted>%dB" % (w - 30001)] + src, want_rc=2)
    r.run(["--ignore", "pkgs", "--fail-if", "wasted>%dB" % (w - 30000)] + src, want_rc=0)
    # usage errors are 64, bad input 1
    r.run(["--fail-if", "bogus>1"] + src, want_rc=64)
    r.run(["--fail-if", "wasted~1"] + src, want_rc=64)
    r.run(["--fail-if", "wasted>5%"] + src, want_rc=64)
    r.run(["--layer", "7"] + src, want_rc=1)
    r.run(["--sort", "colour"] + src, want_rc=64)
    r.run([], want_rc=64)
    r.run([src[0] + ".missing"], want_rc=1)


def check_messages(r, src):
    """Usage errors say what was wrong; gate values are in human units."""
    _, err = r.run(["--sort", "bogus"] + src, want_rc=64)
    lines = err.splitlines()
    eq(len(lines), 2, "--sort bogus: lines on stderr")
    check("'bogus'" in lines[0] and "size, path, layer or cause" in lines[0],
          "--sort bogus: the reason: %r" % lines[0])
    check(lines[1].startswith("Try "), "--sort bogus: the Try line")
    # a size gate without a unit is refused, whatever the metric's size
    for expr in ("wasted>50", "user_wasted >= 1", "dive_wasted<0"):
        _, err = r.run(["--fail-if", expr] + src, want_rc=64)
        check("give a unit" in err and "MB" in err, "%s: no word on the unit: %r" % (expr, err))
    r.run(["--fail-if", "layers>5"] + src, want_rc=2)  # a count takes none
    # 208200 bytes wasted: "208 kB" wherever a person reads it
    _, err = r.run(["--fail-if", "wasted>100kB", "--fail-if", "efficiency<0.99",
                    "--min-waste", "0B"] + src, want_rc=2)
    check("wasted is 208 kB" in err, "stderr gate message: %r" % err)
    want_eff = 1 - 208200 / sum(MAIN_STORED)
    check("efficiency is %.4f (%.1f%%)" % (want_eff, 100 * want_eff) in err,
          "stderr ratio gate: %r" % err)
    out, _ = r.run(["--html", "-", "--fail-if", "wasted>100kB", "--fail-if",
                    "size>1B"] + src, want_rc=2)
    gates = out[out.index('id="gates"'):]
    gates = gates[:gates.index("</ul>")]
    check("wasted = 208 kB" in gates, "HTML gate value: %r" % gates)
    check(not re.search(r"\de[+-]\d", gates), "HTML gate in e-notation: %r" % gates)


def check_shipped_shares(r, tmp):
    """A cache shipped by two layers: the suggestion names both, with their share."""
    f = lambda p, n, s: Entry("file", p, data=blob(n, s))  # noqa: E731
    d = lambda p: Entry("dir", p)  # noqa: E731
    base = [d("var"), d("var/cache"), d("var/cache/apt"), d("var/cache/apt/archives")]
    layers = [base + [f("var/cache/apt/archives/a.deb", 60000, "sa"),
                      f("var/cache/apt/archives/b.deb", 50000, "sb")],
              [f("var/cache/apt/archives/c.deb", 120000, "sc"), f("other", 10, "so")]]
    src = build(tmp, "shipped.tar", layers,
                history=[("/bin/sh -c apt-get install a", False),
                         ("/bin/sh -c apt-get install c", False)])
    doc = r.json(src)
    s = [s for s in doc["suggestions"] if s["kind"] == "shipped-cache"]
    eq(len(s), 1, "shipped cache suggestions")
    s = s[0]
    eq((s["path"], s["bytes"], s["files"], s["stored_layer"]),
       ("/var/cache/apt", 230000, 3, 2), "shipped cache: path, bytes, files, biggest layer")
    adv = s["advice"]
    for want in ("110 kB in layer 1 (2 files", "120 kB in layer 2 (1 file;", "230 kB (3 files)",
                 "apt-get clean"):
        check(want in adv, "shipped advice lacks %r: %r" % (want, adv))


def check_listings(r, src):
    doc = r.json(["--top", "3"] + src)
    eq([p["path"] for p in doc["wasted"]["paths"]],
       ["/usr/lib/libbig.so", "/var/lib/apt/lists/pkgs", "/data/h2"], "--top 3")
    eq(doc["wasted"]["count"], len(MAIN_WASTE), "wasted count")
    doc = r.json(["--top", "0", "--filter", "usr/**"] + src)
    eq(sorted(p["path"] for p in doc["wasted"]["paths"]),
       sorted(w[0] for w in MAIN_WASTE if w[0].startswith("/usr/")), "--filter usr/**")
    doc = r.json(["--top", "0", "--sort", "path"] + src)
    eq([p["path"] for p in doc["wasted"]["paths"]], sorted(w[0] for w in MAIN_WASTE),
       "--sort path")
    doc = r.json(["--layer", "3"] + src)
    ch = doc["layers"][2]["changes"]
    eq(sorted((c["path"], c["change"], c["bytes"], c["hidden_bytes"]) for c in ch["paths"]),
       sorted([("/bin/tool", "modified", 9000, 9000),
               ("/usr/lib/libbig.so", "deleted", 0, 100000),
               ("/data/h1", "deleted", 0, 0),  # the other name keeps the bytes
               ("/var/lib/apt/lists/pkgs", "deleted", 0, 30000)]), "--layer 3")
    check(all("changes" not in l for i, l in enumerate(doc["layers"]) if i != 2),
          "--layer: changes of other layers listed")
    doc = r.json(["--layer", "-3", "--sort", "path"] + src)
    eq([(c["path"], c["change"], c["cause"], c["marker"])
        for c in doc["layers"][3]["changes"]["paths"]],
       [("/opt/app/x", "deleted", "deleted", "opaque"),
        ("/opt/app/y", "deleted", "deleted", "opaque"),
        ("/opt/app/z", "added", None, None),
        ("/srv/dir", "modified", "type", None),
        ("/srv/thing", "modified", "type", None),
        ("/srv/thing/inner", "added", None, None)], "--layer -3")
    out, _ = r.run(["--layer", "3", "--filter", "*.so"] + src)
    rows = [line.split()[-1] for line in out.splitlines()
            if re.match(r"  (added|modified|deleted) +(file|dir|symlink|none) ", line)]
    eq(rows, ["/usr/lib/libbig.so"], "--layer text + --filter")
    check("9.00 kB still visible, 0 B hidden" in out, "--layer text: visible / hidden")
    out, _ = r.run(src)
    for want in ("RUN chmod 700 /bin/tool", "deleted (whiteout)", "identical", "208 kB",
                 "/usr/lib/libbig.so", "Suggestions", "apt package lists",
                 "dive's score"):
        check(want in out, "text report lacks %r" % want)
    check("\033[" not in out, "colour codes when stdout is not a TTY")
    out, _ = r.run(["--color=always"] + src)
    check("\033[" in out, "--color=always without colour codes")
    doc = r.json(src)
    kinds = {(s["kind"], s["path"]) for s in doc["suggestions"]}
    check(("package-cache", "/var/lib/apt/lists") in kinds, "no apt-lists suggestion")
    check(("copy-up", "/bin") in kinds, "no chmod copy-up suggestion")
    check(("shipped-cache", "/var/cache/apt") in kinds, "no shipped apt cache suggestion")
    s = [s for s in doc["suggestions"] if s["kind"] == "package-cache"][0]
    eq((s["bytes"], s["files"], s["stored_layer"], s["hidden_by_layer"]), (30000, 1, 1, 3),
       "apt lists suggestion")
    check("same RUN" in s["advice"], "advice names the fix")


def check_tty_colour(binary, src):
    """Colour on a TTY, none with NO_COLOR (run under a pseudo-terminal)."""
    import pty

    def under_pty(env):
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(binary, [binary, "-q"] + src, env)
        out = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        os.waitpid(pid, 0)
        return out.decode("utf-8", "replace")
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    check("\033[" in under_pty(env), "no colour on a TTY")
    check("\033[" not in under_pty(dict(env, NO_COLOR="1")), "colour despite NO_COLOR")


def check_compare(r, tmp):
    ents = main_entries()
    a = build(tmp, "cmp-a.tar", ents[:5], history=HISTORY[:7])
    b = build(tmp, "cmp-b.tar", ents, history=HISTORY)
    doc = r.json(a + b)
    c = doc["compare"]
    eq(c["shared_prefix"], 5, "shared prefix")
    eq(c["b_own_layers"]["count"], 1, "B's own layers")
    eq(c["b_own_layers"]["stored_bytes"], MAIN_STORED[5], "B's own stored bytes")
    eq(doc["totals"]["user"]["base_layers"], 5, "compare: base = shared layers")
    eq(doc["totals"]["user"]["base_bytes_hidden"], 15000, "B hides 15000 of A's bytes")
    eq(c["files"]["added"], {"entries": 1, "bytes": 1000}, "files added")
    eq(c["files"]["modified"], {"entries": 1, "bytes": 15500}, "files modified")
    eq(c["files"]["deleted"], {"entries": 0, "bytes": 0}, "files deleted")
    eq(c["delta"]["wasted_bytes"], 15000, "delta wasted")
    eq(c["delta"]["visible_bytes"], 1000 + 15500 - 15000, "delta visible")
    out, _ = r.run(a + b)
    check("Shared: B's first 5 layers" in out, "compare text")


def check_names(r, tmp):
    """Names that are not UTF-8 or hold control characters: valid JSON, \\xNN."""
    layers = [[Entry("file", b"caf\xe9", data=blob(10, "n1")),
               Entry("file", "new\nline", data=blob(20, "n2"))],
              [Entry("whiteout", b"caf\xe9"), Entry("whiteout", "new\nline")]]
    src = build(tmp, "names.tar", layers, history=[("a", False), ("b", False)])
    doc = r.json(["--top", "0", "--sort", "path"] + src)
    eq([(p["path"], p["bytes"]) for p in doc["wasted"]["paths"]],
       [("/caf\\xe9", 10), ("/new\\x0aline", 20)], "escaped names")
    out, _ = r.run(src)
    check("/new\\x0aline" in out and "\n/new\nline" not in out, "text: raw newline in a name")
    out, _ = r.run(["--html", "-"] + src)
    check(out.startswith("<!DOCTYPE html>") and "/caf\\xe9" in out, "--html - on stdout")
    r.run(["--html", "-", "--json"] + src, want_rc=64)


def check_formats(r, tmp):
    """Every source kind, every compression: the same figures."""
    ents = main_entries()
    comps = ["gzip", "zstd", "none", "gzip", "zstd", "gzip"]
    for fmt in ("oci-dir", "oci-archive", "docker-oci"):
        src = build(tmp, "main-" + fmt, ents, fmt=fmt, comps=comps)
        check_main(r.json(["--top", "0"] + src))
    src = build(tmp, "main-layers", ents, fmt="layers", comps=comps)
    doc = r.json(["--top", "0", "--layers"] + src)
    check_main(doc, with_history=False)
    eq(doc["image"]["kind"], "layers", "kind of explicit layer files")
    eq([l["compression"] for l in doc["layers"]], comps, "compressions")
    r.run(src, want_rc=64)  # several layer files need --layers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--report", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--schema", default=os.path.join(HERE, "..", "data", "report.schema.json"))
    args = ap.parse_args()
    r = Runner(args.report, args.schema)
    # the validator must be able to fail
    check(validate({"schema_version": 1}, r.schema), "validator accepted a bad document")
    src = build(args.tmp, "main.tar", main_entries())
    steps = [("main image", lambda: check_main(r.json(["--top", "0"] + src))),
             ("dive", lambda: check_dive(r, args.tmp)),
             ("dive under opaque", lambda: check_dive_opaque(r, args.tmp)),
             ("regressions", lambda: check_regressions(r, args.tmp)),
             ("gates", lambda: check_gates(r, src)),
             ("listings", lambda: check_listings(r, src)),
             ("messages", lambda: check_messages(r, src)),
             ("shipped cache shares", lambda: check_shipped_shares(r, args.tmp)),
             ("tty colour", lambda: check_tty_colour(args.report, src)),
             ("compare", lambda: check_compare(r, args.tmp)),
             ("names", lambda: check_names(r, args.tmp)),
             ("formats", lambda: check_formats(r, args.tmp))]
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
