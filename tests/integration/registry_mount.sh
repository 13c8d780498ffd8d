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
lfs_run_python "$here/registry_mount.py" "$LAYERFS" "$report" "$chroot"
