#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# cowdiff.sh - `make check` wrapper of the copy-on-write differential test
# (cowdiff.py): random layer stacks, random sequences of writes applied to
# layerfs --upper and to the kernel's overlayfs (redirect_dir=off) over the
# same layers, results and trees compared, then the upper dir layerfs wrote
# mounted with the kernel's overlayfs and with layerfs again, and committed
# with layerfs-commit: the kernel's overlayfs over the image's layers and the
# committed one (extracted by Python's tarfile) must show the tree layerfs
# showed (xattrs other than user.* and security.capability aside, which a
# layer does not keep).  Skips (77)
# without root, /dev/fuse or overlayfs.  First proves that the comparison
# catches differences (--selftest) and that the harness is deterministic
# (a few sequences kernel against kernel), then runs the sequences.
#
# Environment: LAYERFS (default $top_builddir/src/layerfs) and the
# LFS_COW_* variables of cowdiff.py (SEED, SEQS, BASE, BUDGET, KEEP).
#
# `cowdiff.py --impl kernel` (kernel against kernel) and `--impl
# fuse-overlayfs` (a development aid, with many known differences listed in
# cowdiff.py) run the same sequences without layerfs.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

lfs_require_root_fuse
lfs_require_overlay
command -v python3 >/dev/null 2>&1 || lfs_skip "python3 is not installed"
command -v zstd >/dev/null 2>&1 || lfs_skip "the zstd CLI is not installed"
[ -x "$LAYERFS" ] || lfs_fail "no layerfs binary at $LAYERFS"
"$LAYERFS" --help 2>&1 | grep -q -- '--upper' ||
	lfs_skip "this layerfs has no --upper (no copy-on-write layer yet)"

python3 "$here/cowdiff.py" --selftest
# kernel against kernel must agree: otherwise the harness is not deterministic
out=$(lfs_tmpdir)/kernel.log
LFS_COW_SEQS=20 LFS_COW_SEED= LFS_COW_BUDGET=0 \
	python3 "$here/cowdiff.py" --impl kernel >"$out" 2>&1 || {
	cat "$out"
	lfs_fail "cowdiff.py --impl kernel reports differences: the harness is not deterministic"
}
tail -n 1 "$out"
# after each sequence the upper is committed (layerfs-commit) and the
# committed image checked against the mount, as the kernel shows it
COMMIT=${LAYERFS_COMMIT:-$top_builddir/tools/layerfs-commit}
[ -x "$COMMIT" ] || lfs_fail "no layerfs-commit at $COMMIT"
python3 "$here/cowdiff.py" --impl layerfs --layerfs "$LAYERFS" --commit "$COMMIT"
