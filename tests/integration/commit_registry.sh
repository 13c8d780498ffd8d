#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# commit_registry.sh - `make check` wrapper of commit_registry.py:
# layerfs-commit and layerfs-squash pushing to a local docker-registry
# (127.0.0.1), read back with skopeo and umoci.  Skips (77) without
# python3, docker-registry, skopeo or umoci (Debian packages).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

for t in python3 docker-registry skopeo umoci; do
	command -v "$t" >/dev/null 2>&1 || lfs_skip "$t is not installed"
done
: "${LAYERFS_COMMIT:=$top_builddir/tools/layerfs-commit}"
: "${LAYERFS_SQUASH:=$top_builddir/tools/layerfs-squash}"
export LAYERFS_COMMIT LAYERFS_SQUASH
work=$(lfs_tmpdir)
python3 "$here/commit_registry.py" "$work"
