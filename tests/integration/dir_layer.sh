#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# dir_layer.sh - `make check` wrapper of dir_layer.py: a plain directory as
# a layer (alone, under a tar layer, under another directory) against the
# kernel's overlayfs over the same directories.  Skips (77) without root,
# /dev/fuse or overlayfs.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

lfs_require_root_fuse
lfs_require_overlay
command -v python3 >/dev/null 2>&1 || lfs_skip "python3 is not installed"
[ -x "$LAYERFS" ] || lfs_fail "no layerfs binary at $LAYERFS"
python3 "$here/dir_layer.py" "$LAYERFS"
