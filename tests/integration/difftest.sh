#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# difftest.sh - `make check` wrapper of the differential test (difftest.py):
# random layer stacks mounted with layerfs and with the kernel's overlayfs,
# compared tree against tree.  Skips (77) without root, /dev/fuse or
# overlayfs.  First proves that the comparison catches differences
# (--selftest), then runs the stacks.
#
# Environment: LAYERFS (default $top_builddir/src/layerfs) and the
# LFS_DIFF_* variables of difftest.py (SEED, STACKS, BASE, BUDGET, KEEP).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

lfs_require_root_fuse
lfs_require_overlay
command -v python3 >/dev/null 2>&1 || lfs_skip "python3 is not installed"
command -v zstd >/dev/null 2>&1 || lfs_skip "the zstd CLI is not installed"
[ -x "$LAYERFS" ] || lfs_fail "no layerfs binary at $LAYERFS"

python3 "$here/difftest.py" --selftest
python3 "$here/difftest.py" --layerfs "$LAYERFS"
