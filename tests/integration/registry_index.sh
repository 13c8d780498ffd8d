#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# registry_index.sh - `make check` wrapper of registry_index.py: the layerfs
# index published to a local docker-registry as an artifact referring to
# the image (layerfs --publish-index), a mount with an empty cache that
# needs no pass, a damaged or mismatched artifact ignored with a warning.
# Skips (77) without root, /dev/fuse, python3, docker-registry or zstd.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

lfs_require_root_fuse
lfs_require_cmds python3 docker-registry zstd
[ -x "$LAYERFS" ] || lfs_fail "no layerfs binary at $LAYERFS"
lfs_run_python "$here/registry_index.py" "$LAYERFS"
