#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# difftest.sh - `make check` wrapper of the differential test (difftest.py):
# random layer stacks mounted with layerfs and with the kernel's overlayfs,
# compared tree against tree.  Skips (77) without root, /dev/fuse or
# overlayfs.  First proves that the comparison catches differences
# (--selftest), then runs the stacks.  With docker-registry installed
# (scripts/install-deps), about 1 in 6 stacks are pushed to a registry on
# 127.0.0.1 and mounted as docker://... (difftest_registry.py), and the
# selftest proves that path; without it every stack mounts local files.
#
# Environment: LAYERFS (default $top_builddir/src/layerfs) and the
# LFS_DIFF_* variables of difftest.py (SEED, STACKS, BASE, BUDGET, KEEP,
# REGISTRY).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

lfs_require_root_fuse
lfs_require_overlay
command -v python3 >/dev/null 2>&1 || lfs_skip "python3 is not installed"
command -v zstd >/dev/null 2>&1 || lfs_skip "the zstd CLI is not installed"
[ -x "$LAYERFS" ] || lfs_fail "no layerfs binary at $LAYERFS"

command -v docker-registry >/dev/null 2>&1 ||
	echo "note: docker-registry is not installed: no stack comes from a registry"
python3 "$here/difftest.py" --selftest
python3 "$here/difftest.py" --layerfs "$LAYERFS"
