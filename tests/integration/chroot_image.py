#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""chroot_image.py - a docker-save image of layer tarballs with a chosen config.

Usage: chroot_image.py OUT.tar CONFIG.json LAYER.tar...

CONFIG.json is the image config's "config" object (Entrypoint, Cmd, Env,
WorkingDir, User); the layers (uncompressed tars, lowest first) are packed
as they are.  A LAYER that is a docker-save tarball (classic form, as
scripts/make-sample-image writes) stands for all its layers.  Used by
chroot.sh, which builds its small images from the host's own binaries.
"""

import json
import os
import sys
import tarfile

sys.dont_write_bytecode = True     # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mkimage  # noqa: E402


def layer_tars(path):
    """The layer tars a LAYER argument stands for."""
    with tarfile.open(path) as tf:
        names = tf.getnames()
        if "manifest.json" not in names:
            with open(path, "rb") as f:
                return [f.read()]
        manifest = json.load(tf.extractfile("manifest.json"))
        return [tf.extractfile(tf.getmember(m)).read() for m in manifest[0]["Layers"]]


def main(argv):
    if len(argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    out, config_path, layer_paths = argv[1], argv[2], argv[3:]
    with open(config_path) as f:
        runtime = json.load(f)
    layers = []
    for p in layer_paths:
        for tar in layer_tars(p):
            layers.append(mkimage.Layer(tar, tar, "none"))
    base = mkimage.image_config

    def image_config(ls, created="2023-11-14T22:13:20Z"):
        cfg = json.loads(base(ls, created))
        cfg["config"] = runtime
        return json.dumps(cfg, sort_keys=True).encode()

    mkimage.image_config = image_config
    mkimage.write_docker(out, layers, tag="layerfs-chroot-test:latest")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
