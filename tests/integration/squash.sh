#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# squash.sh - `make check` wrapper of squash.py: layerfs-squash --from,
# --slim and --keep checked with umoci unpack, skopeo inspect and Python's
# tarfile.  Skips (77) without python3, umoci or skopeo (Debian
# packages umoci, skopeo).
#
# Environment: LAYERFS_SQUASH (default: the build tree's).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

for t in python3 umoci skopeo; do
	command -v "$t" >/dev/null 2>&1 || lfs_skip "$t is not installed"
done
: "${LAYERFS_SQUASH:=$top_builddir/tools/layerfs-squash}"
[ -x "$LAYERFS_SQUASH" ] || lfs_fail "no layerfs-squash at $LAYERFS_SQUASH"
: "${LAYERFS_REPORT:=$top_builddir/tools/layerfs-report}"
[ -x "$LAYERFS_REPORT" ] || lfs_fail "no layerfs-report at $LAYERFS_REPORT"
export LAYERFS_SQUASH LAYERFS_REPORT
work=$(lfs_tmpdir)
python3 "$here/squash.py" "$work"
