#!/bin/sh
# layerfs-report against images whose waste is known by construction
# (report_cases.py: every cause, hard links, opaque dirs, a file deleted two
# layers up, dive's figures, gates, listings, two-image comparison, every
# source kind and compression), its JSON checked against
# tests/data/report.schema.json; then, when the real buildah image exists
# (/var/tmp/lfs-real, made by scripts/build-test-image; LFS_REAL_DIR to point
# elsewhere), against an independent model of that image (report_real.py),
# with the timing against zcat printed.  Set LFS_REPORT_NO_TIMING=1 to skip
# the timing.
set -eu
# the helpers are imported from the source tree: leave no __pycache__ there
export PYTHONDONTWRITEBYTECODE=1
here=$(cd "$(dirname "$0")" && pwd)
build=${top_builddir:-$here/../..}
report=$build/tools/layerfs-report
schema=$here/../data/report.schema.json

[ -x "$report" ] || { echo "FAIL: $report is not built"; exit 1; }
command -v python3 >/dev/null || { echo "SKIP: python3 is missing"; exit 77; }
command -v zstd >/dev/null || { echo "SKIP: zstd is missing (the fixtures use it)"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/report.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

"$report" --version | grep -q '^layerfs-report ' || { echo "FAIL: --version"; exit 1; }
"$report" --help | grep -q -- '--fail-if' || { echo "FAIL: --help"; exit 1; }

rc=0
python3 "$here/report_cases.py" --report "$report" --tmp "$tmp" --schema "$schema" || rc=1

real=${LFS_REAL_DIR:-/var/tmp/lfs-real}
if [ -e "$real/oci-raw/index.json" ] && [ -e "$real/oci/index.json" ]; then
	set -- --report "$report" --image-dir "$real"
	if [ "${LFS_REPORT_NO_TIMING:-0}" = 1 ]; then
		set -- "$@" --no-timing
	fi
	python3 "$here/report_real.py" "$@" || rc=1
else
	echo "note: $real not found: the real-image check is skipped (scripts/build-test-image)"
fi
exit $rc
