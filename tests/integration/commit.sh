#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# commit.sh - `make check` wrapper of commit.py: layerfs-commit of an upper
# written by layerfs and of one written by the kernel's overlayfs, checked
# with umoci, skopeo, GNU tar, the kernel's overlayfs and layerfs itself.
# Skips (77) without root, /dev/fuse, overlayfs, python3, umoci or skopeo
# (Debian packages umoci and skopeo).
#
# Environment: LAYERFS, LAYERFS_COMMIT (default: the build tree's).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

lfs_require_root_fuse
lfs_require_overlay
for t in python3 umoci skopeo tar; do
	command -v "$t" >/dev/null 2>&1 || lfs_skip "$t is not installed"
done
: "${LAYERFS_COMMIT:=$top_builddir/tools/layerfs-commit}"
[ -x "$LAYERFS_COMMIT" ] || lfs_fail "no layerfs-commit at $LAYERFS_COMMIT"
[ -x "$LAYERFS" ] || lfs_fail "no layerfs binary at $LAYERFS"
export LAYERFS_COMMIT
work=$(lfs_tmpdir)
python3 "$here/commit.py" "$work"
