#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""hostile_image.py OUT CANARY - the image of hostile.sh.

An image whose layers are full of symlinks pointing out of it: at /etc, at
"..", at "/", and at CANARY (an absolute path of the host, a tree the test
created).  Writes

  OUT/layers/l0.tar l1.tar.gz l2.tar.zst   the layerfs SOURCEs (printed, one a line)
  OUT/ref/l0 l1 l2                         the same layers extracted (by this
                                           script, which never follows a symlink):
                                           lower dirs for the kernel's overlayfs

LINKS (imported by hostile_ops.py) lists every symlink with a name that
exists below it once the link is resolved inside the image.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mkimage as mk  # noqa: E402


def links(canary):
    """[(layer, link path, target, existing name below it or None)]"""
    c = canary.strip("/")
    return [
        (0, "etc", "/etc", "passwd"),
        (0, "etc_passwd", "/etc/passwd", None),
        (0, "up", "..", "data/file"),
        (0, "upup", "../../..", "data/file"),
        (0, "root", "/", "data/file"),
        (0, "canary", "/" + c, "file"),
        (0, "canary_file", "/" + c + "/file", None),
        (0, "canary_missing", "/" + c + "/missing/deeper", None),
        (0, "relcanary", "../" * 12 + c, "file"),
        (0, "self", ".", "data/file"),
        (0, "loop", "loop", None),
        (0, "dir/up", "..", "data/file"),
        (0, "dir/root", "/", "data/file"),
        (0, "over", "/etc", None),              # layer 1 puts a directory over it
        (1, "data/etc", "/etc", "passwd"),
        (1, "data/up", "../..", "data/file"),
        (1, "shadow", "/etc/shadow", None),
        (2, "canary2", "/" + c + "/dir", "f2"),
        (2, "etc2", "/etc/", "passwd"),
        (2, "deep/a/b/top", "../../..", "data/file"),
    ]


def layer_entries(canary):
    """[(compression, [Entry], [Entry only in the layerfs image])] per layer."""
    c = canary.strip("/")
    F = mk.Entry
    out = [
        ("none", [F("dir", "data"), F("file", "data/file", data=b"data\n"),
                  F("dir", "dir"), F("file", "dir/existing", data=b"e\n"),
                  F("file", c + "/file", data=b"the image's copy of the canary\n"),
                  F("file", c + "/dir/f2", data=b"f2\n")], []),
        ("gzip", [F("file", "data/file2", data=b"file2\n"),
                  F("file", "over/planted", data=b"planted\n")], []),
        # A symlink and an entry below it in the same layer: the driver must
        # not follow the link (DESIGN rule 8), so nothing lands in data/.
        # Not extracted for the reference: tar would follow or refuse it.
        ("zstd", [], [F("symlink", "sneaky", target="/data"),
                      F("file", "sneaky/planted", data=b"sneaky\n")]),
    ]
    for layer, path, target, _ in links(canary):
        out[layer][1].append(F("symlink", path, target=target))
    return out


def extract(entries, d):
    """Create ENTRIES under D without ever following a symlink."""
    os.makedirs(d)
    for e in entries:
        p = os.path.join(d, e.path.strip("/"))
        parent = os.path.dirname(p)
        # every parent is a real directory made here: nothing to follow
        q = parent
        while q != d:
            assert not os.path.islink(q), q
            q = os.path.dirname(q)
        os.makedirs(parent, exist_ok=True)
        if e.kind == "dir":
            os.makedirs(p, exist_ok=True)
        elif e.kind == "file":
            with open(p, "wb") as f:
                f.write(e.data)
        elif e.kind == "symlink":
            os.symlink(e.target, p)
        else:
            raise ValueError(e.kind)


def main():
    out, canary = sys.argv[1], sys.argv[2]
    ext = {"none": ".tar", "gzip": ".tar.gz", "zstd": ".tar.zst"}
    os.makedirs(out + "/layers")
    for i, (comp, entries, only_layerfs) in enumerate(layer_entries(canary)):
        layer = mk.make_layer(entries + only_layerfs, comp)
        p = "%s/layers/l%d%s" % (out, i, ext[comp])
        with open(p, "wb") as f:
            f.write(layer.blob)
        extract(entries, "%s/ref/l%d" % (out, i))
        print(p)


if __name__ == "__main__":
    main()
