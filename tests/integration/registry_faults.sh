#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# registry_faults.sh - `make check` wrapper of registry_faults.py: lazy
# reads of an image in a local docker-registry, behind the test bed's fault
# proxy, never give wrong bytes: every fault (reset, drop, 5xx, 429, a
# truncated body, a wrong Content-Range, corrupted bytes, a stall, the
# registry down) makes the read fail with EIO and a line on stderr, and
# the same read succeeds once the fault is gone; a registry ignoring Range
# and a single transient fault are served right; a corrupt blob during the
# first mount fails it and caches no index of that layer.  Skips (77)
# without root, /dev/fuse, python3, docker-registry, skopeo or zstd.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

lfs_require_root_fuse
for t in python3 docker-registry skopeo zstd; do
	command -v "$t" >/dev/null 2>&1 || lfs_skip "$t is not installed (scripts/install-deps)"
done
[ -x "$LAYERFS" ] || lfs_fail "no layerfs binary at $LAYERFS"
work=$(lfs_tmpdir)
TMPDIR=$work
export TMPDIR
# in the background, so that a signal to this script reaches the trap at once
py_pid=
stop_py() {	# python stops its registry, proxy and mounts on SIGTERM
	[ -z "$py_pid" ] || { kill -TERM "$py_pid" 2>/dev/null || :; wait "$py_pid" 2>/dev/null || :; }
	py_pid=
}
trap 'stop_py; lfs_cleanup' EXIT
trap 'stop_py; lfs_cleanup; exit 130' INT
trap 'stop_py; lfs_cleanup; exit 143' TERM
trap 'stop_py; lfs_cleanup; exit 129' HUP
python3 "$here/registry_faults.py" "$LAYERFS" &
py_pid=$!
rc=0
wait "$py_pid" || rc=$?
py_pid=
exit "$rc"
