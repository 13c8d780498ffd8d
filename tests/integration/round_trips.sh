#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The requests a browse sends to the daemon (issue 5: warm walks and reads
# stay in the kernel).  From the FUSE debug log (-d):
#   - read-only: no RELEASE or RELEASEDIR, and OPEN, OPENDIR and FLUSH
#     once each at most (the first answers ENOSYS: the kernel stops);
#   - writable: OPEN per file read (the control: the count works), but
#     OPENDIR and FLUSH once at most and no RELEASEDIR;
#   - both: every listing is READDIRPLUS, so a walk of a directory bigger
#     than one reply looks none of its names up (one LOOKUP: "big" itself,
#     which the first command reaches before any listing).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lfs_require_root_fuse
LAYERFS=${top_builddir:-$here/../..}/src/layerfs
trap lfs_cleanup EXIT

t=$(lfs_tmpdir)
fail() { echo "FAIL: $*" >&2; exit 1; }

# 400 names in one directory: several 4 KiB READDIRPLUS replies
python3 - "$t/layer.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as tf:
    d = tarfile.TarInfo("big"); d.type = tarfile.DIRTYPE; d.mode = 0o755
    tf.addfile(d)
    for i in range(400):
        data = b"file %d\n" % i
        ti = tarfile.TarInfo("big/file-with-a-longish-name-%04d" % i)
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
PY

count() { # OPCODE LOG
	grep -c "opcode: $1 " "$2" || true
}

browse() { # MNT
	cat "$1"/big/* >/dev/null
	find "$1" -printf '%s %m %u\n' >/dev/null
	ls -la "$1/big" >/dev/null
	cat "$1"/big/* >/dev/null
}

for mode in ro rw; do
	opts=()
	[ $mode = ro ] && opts=(--read-only)
	lfs_mount -d "${opts[@]}" "$t/layer.tar" "$t/m-$mode"
	log=$_log
	browse "$t/m-$mode"
	[ "$(ls "$t/m-$mode/big" | wc -l)" -eq 400 ] || fail "$mode: 400 names expected"
	lfs_umount "$t/m-$mode"
	n_open=$(count OPEN "$log") n_rel=$(count RELEASE "$log") n_flush=$(count FLUSH "$log")
	n_odir=$(count OPENDIR "$log") n_rdir=$(count RELEASEDIR "$log")
	n_plain=$(count READDIR "$log") n_plus=$(count READDIRPLUS "$log")
	n_lookup=$(grep -c "LOOKUP" "$log" || true)
	echo "$mode: OPEN $n_open RELEASE $n_rel FLUSH $n_flush OPENDIR $n_odir" \
		"RELEASEDIR $n_rdir READDIR $n_plain READDIRPLUS $n_plus LOOKUP $n_lookup"
	[ "$n_flush" -le 1 ] || fail "$mode: FLUSH sent $n_flush times (the first answers ENOSYS)"
	[ "$n_odir" -le 1 ] || fail "$mode: OPENDIR sent $n_odir times (the first answers ENOSYS)"
	[ "$n_rdir" -eq 0 ] || fail "$mode: RELEASEDIR sent $n_rdir times"
	[ "$n_plain" -eq 0 ] || fail "$mode: $n_plain plain READDIR requests"
	[ "$n_plus" -ge 4 ] || fail "$mode: the listing took $n_plus READDIRPLUS (expected several)"
	[ "$n_lookup" -le 1 ] || fail "$mode: $n_lookup LOOKUPs (READDIRPLUS gives every name)"
	if [ $mode = ro ]; then
		[ "$n_open" -le 1 ] || fail "ro: OPEN sent $n_open times (the first answers ENOSYS)"
		[ "$n_rel" -eq 0 ] || fail "ro: RELEASE sent $n_rel times"
	else
		[ "$n_open" -ge 400 ] || fail "rw: OPEN sent $n_open times, expected one per file read"
	fi
done
echo "PASS: round trips"
