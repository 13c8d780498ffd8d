#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# toc.sh - `make check` wrapper of toc.py: eStargz and zstd:chunked layers
# from the reference writers (tests/refwriters), mounted through their
# table of contents and compared with the kernel's overlayfs; lazy reads,
# a damaged chunk, and (with docker-registry) an image from a registry.
# Skips (77) without root, /dev/fuse, overlayfs, python3, zstd or Go and the
# writers' Debian sources.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

lfs_require_root_fuse
lfs_require_overlay
for t in python3 zstd go; do
	command -v "$t" >/dev/null 2>&1 || lfs_skip "$t is not installed (scripts/install-deps)"
done
[ -x "$LAYERFS" ] || lfs_fail "no layerfs binary at $LAYERFS"
lfs_run_python "$here/toc.py" "$LAYERFS" "$top_builddir"
