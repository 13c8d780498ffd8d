#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# layerfs-report --html in headless Chromium: the page must render every
# figure of the JSON report of the same run (and of the test image's
# construction), run its script, load nothing from the network.  The
# screenshot goes to the test's temporary directory (nothing is left in the
# build tree: make distcheck checks that), or to $LFS_SHOTS when it names a
# directory to keep it in.  Also the real image when
# /var/tmp/lfs-real exists (LFS_REAL_IMAGE to point elsewhere).
# Skips (77) when chromium is missing.
set -eu
# the helpers are imported from the source tree: leave no __pycache__ there
export PYTHONDONTWRITEBYTECODE=1
here=$(cd "$(dirname "$0")" && pwd)
build=${top_builddir:-$here/../..}
report=${LAYERFS_REPORT:-$build/tools/layerfs-report}

browser=
for b in chromium chromium-browser google-chrome; do
	if command -v "$b" >/dev/null 2>&1; then
		browser=$(command -v "$b")
		break
	fi
done
if [ -z "$browser" ]; then
	echo "SKIP: chromium is missing (apt-get install chromium)"
	exit 77
fi
[ -x "$report" ] || { echo "FAIL: $report is not built"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/report_html.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
shots=${LFS_SHOTS:-$tmp}
mkdir -p "$shots"

real=${LFS_REAL_IMAGE:-/var/tmp/lfs-real/oci}
set -- --report "$report" --chromium "$browser" --tmp "$tmp" --shots "$shots"
if [ -e "$real" ]; then
	set -- "$@" --image "$real"
fi
python3 "$here/report_html_check.py" "$@"
