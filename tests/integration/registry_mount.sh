#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# registry_mount.sh - `make check` wrapper of registry_mount.py: images
# mounted straight from a local docker-registry (docker://HOST/REPO:TAG,
# by digest, with --platform), compared with the kernel's overlayfs and
# with the local OCI layout, the explicit transports (oci:, oci-archive:,
# docker-archive:), the report's figures, layerfs-chroot, the index cache
# on a second mount, and bad references.  Skips (77) without root, /dev/fuse,
# overlayfs, python3, docker-registry or skopeo.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

lfs_require_root_fuse
lfs_require_overlay
for t in python3 docker-registry skopeo zstd; do
	command -v "$t" >/dev/null 2>&1 || lfs_skip "$t is not installed (scripts/install-deps)"
done
[ -x "$LAYERFS" ] || lfs_fail "no layerfs binary at $LAYERFS"
report=$top_builddir/tools/layerfs-report
[ -x "$report" ] || lfs_fail "no layerfs-report binary at $report"
chroot=$top_builddir/tools/layerfs-chroot
[ -x "$chroot" ] || lfs_fail "no layerfs-chroot binary at $chroot"
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
python3 "$here/registry_mount.py" "$LAYERFS" "$report" "$chroot" &
py_pid=$!
rc=0
wait "$py_pid" || rc=$?
py_pid=
exit "$rc"
