#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# layerfs-report's files call each other without a circle, and its writers
# call only the formatting helpers (scripts/check-layering, over the object
# files of this build).  It fails on the report of commit 467c67d, where the
# analysis called the JSON writer's file and the writers each other's.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${top_builddir:-$here/../..}
command -v python3 >/dev/null || { echo "SKIP: python3 is missing"; exit 77; }
command -v nm >/dev/null || { echo "SKIP: nm is missing"; exit 77; }
[ -x "$build/tools/layerfs-report" ] || { echo "FAIL: layerfs-report is not built"; exit 1; }
exec python3 "$here/../../scripts/check-layering" -v "$build/tools"
