#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# datacache.sh - `make check` wrapper of datacache.py: the decompressed-data
# cache fills on a first mount, serves a later one, survives damage, feeds
# copy-ups, and keeps to --data-cache-size.  Skips (77) without root,
# /dev/fuse or python3.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

lfs_require_root_fuse
lfs_require_cmds python3 zstd
lfs_run_python "$here/datacache.py" "$LAYERFS"
