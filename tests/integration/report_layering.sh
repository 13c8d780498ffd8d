#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The files of each program - the core library, the driver, layerfs-report
# and layerfs-chroot - call each other without a circle, and the report's
# writers call only the formatting helpers (scripts/check-layering, over the
# object files of this build).  It fails on commit 467c67d (the report's
# analysis called the JSON writer's file) and on 5bb4069 (cow.c <-> copyup.c,
# blob.c <-> its codecs, the chroot files in one circle).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${top_builddir:-$here/../..}
command -v python3 >/dev/null || { echo "SKIP: python3 is missing"; exit 77; }
command -v nm >/dev/null || { echo "SKIP: nm is missing"; exit 77; }
[ -x "$build/tools/layerfs-report" ] || { echo "FAIL: layerfs-report is not built"; exit 1; }
exec python3 "$here/../../scripts/check-layering" -v "$build"
