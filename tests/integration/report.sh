#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# layerfs-report against images whose waste is known by construction
# (report_cases.py: every cause, hard links, opaque dirs, a file deleted two
# layers up, dive's figures, gates, listings, two-image comparison, every
# source kind and compression), its JSON checked against
# tests/data/report.schema.json; then, when the real buildah image exists
# (/var/tmp/lfs-real, made by scripts/build-test-image; LFS_REAL_DIR to point
# elsewhere), against an independent model of that image (report_real.py),
# with the timing against zcat printed; report_query.py checks the questions
# (--path, --tree ...) on images it built, report_kernel.py --tree and --path
# on difftest's random stacks against mount -t overlay, report_real_pkgs.py
# --packages on
# the real image against dpkg-query.  Set LFS_REPORT_NO_TIMING=1 to skip
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
# --path, --tree, --diff, --packages on layers of known content
python3 "$here/report_query.py" --report "$report" --tmp "$tmp" --schema "$schema" || rc=1
# --tree and --path against the kernel's overlayfs (root only: 77 otherwise)
python3 "$here/report_kernel.py" --report "$report" --tmp "$tmp" || { [ $? = 77 ] || rc=1; }

# The index cache serves reports, with the entries a layer superseded itself
# (a path written twice, a file under a path a file replaced): a second run
# loads every layer from it (its files are not written again: same inode
# numbers) and says the same, superseded bytes counted.
sup=$tmp/superseded
mkdir -p "$sup/xdg"
python3 - "$sup" <<'PY'
import io, sys, tarfile
def layer(path, entries):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in entries:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime = len(data), 1700000000
            tf.addfile(ti, io.BytesIO(data))
layer(sys.argv[1] + "/l1.tar", [("etc/a", b"one" * 1000), ("etc/a", b"two" * 1000),
                                ("x", b"file"), ("x/y", b"child" * 100), ("x", b"again")])
layer(sys.argv[1] + "/l2.tar", [("etc/a", b"three"), ("p", b"p" * 500), ("p", b"q" * 500)])
PY
sup_run() {
	XDG_CACHE_HOME=$sup/xdg "$report" --json --top 0 --layers "$sup/l1.tar" "$sup/l2.tar" \
		>"$sup/$1.json" || { echo "FAIL: layerfs-report --layers (run $1)"; rc=1; }
	ls -i "$sup/xdg/layerfs" | grep '[.]idx$' | sort >"$sup/$1.idx"
}
sup_run 1
sup_run 2
if [ "$(wc -l <"$sup/1.idx")" != 2 ]; then
	echo "FAIL: the first report run did not cache its 2 layers"; rc=1
elif ! cmp -s "$sup/1.idx" "$sup/2.idx"; then
	echo "FAIL: the second report run indexed its layers again"; rc=1
fi
cmp -s "$sup/1.json" "$sup/2.json" || { echo "FAIL: the cached report differs"; rc=1; }
# etc/a 3000 twice, p 500, x 4 and x/y 500; x and x/y by a change of type
python3 -c 'import json, sys; t = json.load(open(sys.argv[1]))["totals"]
sys.exit(t["wasted_bytes"] != 7004 or t["wasted_by_cause"]["type"] != 504)' "$sup/2.json" ||
	{ echo "FAIL: the cached report's waste is not 7004 bytes, 504 by type"; rc=1; }

real=${LFS_REAL_DIR:-/var/tmp/lfs-real}
if [ -e "$real/oci-raw/index.json" ] && [ -e "$real/oci/index.json" ]; then
	set -- --report "$report" --image-dir "$real"
	if [ "${LFS_REPORT_NO_TIMING:-0}" = 1 ]; then
		set -- "$@" --no-timing
	fi
	python3 "$here/report_real.py" "$@" || rc=1
	# --packages against dpkg-query on each layer's own status file
	python3 "$here/report_real_pkgs.py" --report "$report" --image-dir "$real" --tmp "$tmp" ||
		{ [ $? = 77 ] || rc=1; }
else
	echo "note: $real not found: the real-image check is skipped (scripts/build-test-image)"
fi
exit $rc
