#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# registry_cache.sh - `make check` wrapper of registry_cache.py: what an
# image from a local docker-registry leaves in the cache directory and what
# later mounts fetch: no blob kept, one request for a later mount, reads of
# single chunks, --chunk-cache-size, --keep-blobs, --offline (by tag and by
# digest, with the registry stopped), --stats in the three programs.  Skips
# (77) without root, /dev/fuse, python3, docker-registry or zstd.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

lfs_require_root_fuse
lfs_require_cmds python3 docker-registry zstd
for b in "$LAYERFS" "$top_builddir/tools/layerfs-report" "$top_builddir/tools/layerfs-chroot"; do
	[ -x "$b" ] || lfs_fail "no binary at $b"
done
lfs_run_python "$here/registry_cache.py" "$LAYERFS" "$top_builddir/tools/layerfs-report" \
	"$top_builddir/tools/layerfs-chroot"
