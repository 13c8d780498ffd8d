#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""report_html_check.py - load layerfs-report's HTML page in headless
Chromium and check what it rendered against the JSON report of the same run
and against the image's construction (report_cases.py).

  report_html_check.py --report BIN --chromium PATH --tmp DIR --shots DIR

Exit 0 when every check holds, 1 otherwise; the screenshot goes to --shots.
"""

import argparse
import html.parser
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from report_cases import (Fail, MAIN_STORED, MAIN_VISIBLE, build, check, eq,  # noqa: E402
                          main_entries)

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-extensions", "--window-size=1280,1600"]


class Dom(html.parser.HTMLParser):
    """Elements with their attributes, parents and text (what we check)."""

    VOID = {"meta", "br", "input", "img", "hr", "link", "rect"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elems = []
        self.stack = []

    def handle_starttag(self, tag, attrs):
        e = {"tag": tag, "attrs": dict(attrs), "text": "", "parent": self.stack[-1]
             if self.stack else None, "children": []}
        if e["parent"] is not None:
            e["parent"]["children"].append(e)
        self.elems.append(e)
        if tag not in self.VOID:
            self.stack.append(e)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i]["tag"] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        for e in self.stack:
            e["text"] += data

    def find(self, tag=None, **attrs):
        return [e for e in self.elems if (tag is None or e["tag"] == tag) and
                all(e["attrs"].get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def one(self, tag=None, **attrs):
        r = self.find(tag, **attrs)
        if len(r) != 1:
            raise Fail("expected one <%s %s>, found %d" % (tag, attrs, len(r)))
        return r[0]


def descendants(e):
    for c in e["children"]:
        yield c
        yield from descendants(c)


def chromium(binary, args, profile):
    return subprocess.run([binary] + FLAGS + ["--user-data-dir=" + profile] + args,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)


def check_page(dom, doc):
    body = dom.one("body")
    eq(body["attrs"].get("data-check"), "ok", "the page's script (bars against the table)")
    eq(body["attrs"].get("data-bars"), str(len(doc["layers"])), "bars counted by the script")
    t = doc["totals"]
    eff = dom.one(id="efficiency")
    check(abs(float(eff["attrs"]["data-value"]) - t["efficiency"]) < 1e-6, "efficiency card")
    check("%.4f" % t["efficiency"] in eff["text"], "efficiency as shown: %r" % eff["text"])
    for card, key in (("wasted", "wasted_bytes"), ("stored", "stored_bytes"),
                      ("visible", "visible_bytes"), ("compressed", "stored_size")):
        eq(int(dom.one(id=card)["attrs"]["data-bytes"]), t[key], "card " + card)
    dive = dom.one(id="dive-efficiency")
    check(abs(float(dive["attrs"]["data-value"]) - doc["dive"]["efficiency"]) < 1e-6, "dive")
    eq(dom.one(id="layer-count")["text"], str(len(doc["layers"])), "layer count")
    for L in doc["layers"]:
        n = L["number"]
        row = dom.one("tr", data_layer=str(n))
        cells = {c["attrs"]["data-key"]: c for c in row["children"] if "data-key" in c["attrs"]}
        for key in ("stored_size", "plain_size", "visible_bytes", "wasted_bytes",
                    "hides_bytes"):
            eq(int(cells[key]["attrs"]["data-bytes"]), L[key], "layer %d %s" % (n, key))
        for kind in ("added", "modified", "deleted"):
            eq(int(cells[kind + "_entries"]["text"]), L[kind]["entries"],
               "layer %d %s entries" % (n, kind))
            eq(int(cells[kind + "_bytes"]["attrs"]["data-bytes"]), L[kind]["bytes"],
               "layer %d %s bytes" % (n, kind))
        check((L["instruction"] or "") in row["text"], "layer %d instruction" % n)
        bar = dom.one("g", data_layer=str(n))
        parts = {r["attrs"]["data-part"]: int(r["attrs"]["data-bytes"])
                 for r in descendants(bar) if r["tag"] == "rect"}
        want = {"kept": L["visible_bytes"], "ignored": L["ignored_bytes"]}
        want.update(L["wasted_by_cause"])
        eq(parts, {k: v for k, v in want.items() if v}, "layer %d bar" % n)
        det = dom.one("details", id="layer-%d" % n)
        eq(int(det["attrs"]["data-changes"]),
           L["added"]["entries"] + L["modified"]["entries"] + L["deleted"]["entries"],
           "layer %d file list" % n)
    rows = [e for e in dom.one("table", id="wasted-paths")["children"][1]["children"]]
    eq([r["attrs"]["data-path"] for r in rows], [p["path"] for p in doc["wasted"]["paths"]],
       "wasted paths in order")
    for r, p in zip(rows, doc["wasted"]["paths"]):
        eq(r["attrs"]["data-cause"], p["cause"], p["path"] + " cause")
        check(str(p["bytes"]) in [c["attrs"].get("data-bytes") for c in r["children"]],
              p["path"] + " bytes")
        check((p["created_by"] or "") in r["text"] and (p["hidden_by"] or "") in r["text"],
              p["path"] + " instructions")
    eq(len([e for e in dom.elems if e["tag"] == "li" and "data-kind" in e["attrs"]]),
       len(doc["suggestions"]), "suggestions")


def check_static(text):
    """Self-contained: nothing to fetch."""
    for pat in (r"<link\b", r"<img\b", r"\bsrc\s*=", r"@import", r"url\("):
        check(not re.search(pat, text, re.I), "the page loads something: " + pat)
    urls = set(re.findall(r"https?://[^\s\"'<>]+", text)) - {"http://www.w3.org/2000/svg"}
    check(not urls, "the page names URLs: %s" % sorted(urls))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--report", required=True)
    ap.add_argument("--chromium", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--shots", required=True)
    ap.add_argument("--image", help="also check this image (e.g. the real one)")
    a = ap.parse_args()
    images = [("main", build(a.tmp, "main.tar", main_entries()))]
    if a.image:
        images.append(("real", [a.image]))
    failed = 0
    for name, src in images:
        page = os.path.join(a.tmp, name + ".html")
        try:
            p = subprocess.run([a.report, "-q", "--json", "--html", page] + src,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            check(p.returncode == 0, "layerfs-report: %s" % p.stderr.decode())
            doc = json.loads(p.stdout)
            with open(page, encoding="utf-8") as f:
                check_static(f.read())
            url = "file://" + os.path.abspath(page)
            r = chromium(a.chromium, ["--dump-dom", url], os.path.join(a.tmp, "profile-" + name))
            check(r.returncode == 0 and r.stdout, "chromium --dump-dom failed: %s"
                  % r.stderr.decode()[-2000:])
            dom = Dom()
            dom.feed(r.stdout.decode("utf-8"))
            check_page(dom, doc)
            if name == "main":
                # and against the construction, not only the JSON
                eq([int(dom.one("tr", data_layer=str(i + 1))["attrs"]["data-stored"])
                    for i in range(6)], MAIN_STORED, "stored bytes per layer")
                eq([int(c["attrs"]["data-bytes"]) for i in range(6)
                    for c in dom.one("tr", data_layer=str(i + 1))["children"]
                    if c["attrs"].get("data-key") == "visible_bytes"], MAIN_VISIBLE,
                   "visible bytes per layer")
            shot = os.path.join(a.shots, "report_html-%s.png" % name)
            r = chromium(a.chromium, ["--screenshot=" + shot, url],
                         os.path.join(a.tmp, "profile-shot-" + name))
            check(r.returncode == 0 and os.path.getsize(shot) > 1000, "no screenshot")
            print("ok: %s (screenshot %s)" % (name, shot))
        except (Fail, subprocess.TimeoutExpired, OSError, ValueError) as e:
            failed += 1
            print("FAIL: %s: %s" % (name, e))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
