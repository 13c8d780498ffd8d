#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# crash.sh - SIGKILL the layerfs daemon in the middle of copy-ups: the upper
# directory it leaves must mount again and show, for every file, the old
# content or the new one - never a partial copy (DESIGN: copy-up builds the
# copy in the work directory and renames it into place).
#
# The image (crash_image.py): 50 files of 1-8 MiB of random bytes in two
# gzip layers, so a copy-up takes a while.  Each round mounts it with a fresh
# --upper U --work W, starts 4 processes that copy every file up
# (crash_ops.py work: append a marker, chmod, or open O_RDWR without a
# write), SIGKILLs the daemon at a moment drawn from LFS_CRASH_SEED (once
# K calls of the 50 have returned, K in 0..45, plus up to twice the mean
# time of a call, measured first with a whole pass), force-unmounts
# (fusermount3 -uz), and checks:
#
#  * U itself: only the image's directories and regular files, each a whole
#    copy (the old content, or old + marker for an append: never a truncated
#    one), and every copy-up whose call had returned before the kill is there;
#  * layerfs mounted again on the same U and W empties W/work and shows every
#    file with the old or the new content and mode - nothing in between - and
#    the new one wherever the call had returned; W/work is empty again once
#    it is unmounted cleanly;
#  * the kernel's overlayfs over the same U (lowerdir=U:extracted layers,
#    read-only) shows the same (and the same tree as layerfs: modes, owners,
#    sizes, contents).
#
# At least one round must have caught a copy-up half-way (something left in
# W/work by the killed daemon), or the test did not test anything.
# Environment: LFS_CRASH_SEED (default 1), LFS_CRASH_ROUNDS (default 6).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lfs_require_root_fuse
export LC_ALL=C

seed=${LFS_CRASH_SEED:-1}
rounds=${LFS_CRASH_ROUNDS:-6}
t=$(lfs_tmpdir)
m=$t/mnt
ovl=$t/ovl
out=$t/out
mkdir -p "$m" "$ovl" "$out"
python3 "$here/crash_image.py" "$t/img" >"$t/sources"
ref=$t/img/ref

have_ovl=0
if { grep -qw overlay /proc/filesystems || modprobe overlay; } 2>/dev/null; then
	have_ovl=1
else
	echo "note: no overlayfs here; the upper dirs are not read back by the kernel" >&2
fi

fails=0
bad() {
	echo "FAIL: round $r: $*" >&2
	fails=$((fails + 1))
}

daemon_pid() {   # MOUNTPOINT: the pid lfs_mount recorded
	_d=$(cd "$1" && pwd -P)
	awk -v m="$_d" '{ p = $1; sub(/^[0-9]+ /, ""); if ($0 == m) pid = p } END { print pid }' \
		"$lfs_state/mounts"
}

workers() {   # LOG: start the 4 copy-up processes; their pids in $wpids
	wpids=""
	for n in 0 1 2 3; do
		timeout -k 5 120 python3 "$here/crash_ops.py" work "$m" "$1" $((seed * 1000 + r)) "$n" &
		wpids="$wpids $!"
	done
}

now() { date +%s.%N; }

# --- how long a whole pass takes here (nothing killed)
r=0
mkdir -p "$t/cal"
# shellcheck disable=SC2046
lfs_mount --upper "$t/cal/U" --work "$t/cal/W" $(cat "$t/sources") "$m"
start=$(now)
workers "$out/cal.log"
for p in $wpids; do wait "$p" || lfs_fail "a copy-up process failed (status $?)"; done
pass=$(echo "$(now) $start" | awk '{ printf "%.3f", $1 - $2 }')
lfs_umount "$m"
[ "$(grep -c '^done ' "$out/cal.log")" -eq 50 ] || lfs_fail "the calibration pass did not copy up all 50 files"
python3 "$here/crash_ops.py" upper "$t/cal/U" "$ref" "$out/cal.log" >"$out/cal.upper" ||
	lfs_fail "a full pass left a wrong upper dir: $(head -5 "$out/cal.upper")"
rm -rf "$t/cal"
# Round r: SIGKILL once K of the 50 calls have returned, plus a delay of up
# to twice the mean time of one call: K and the delay are drawn from the seed.
plan=$(python3 -c 'import random, sys
r = random.Random(int(sys.argv[1]))
one = float(sys.argv[2]) / 50
print(" ".join("%d:%.3f" % (r.randrange(0, 46), r.uniform(0, 2 * one)) for _ in range(int(sys.argv[3]))))' \
	"$seed" "$pass" "$rounds")
echo "a whole pass takes ${pass}s; seed $seed: SIGKILL after calls:seconds $plan"

caught=0
r=0
for kd in $plan; do
	r=$((r + 1))
	k=${kd%:*}
	delay=${kd#*:}
	u=$t/r$r/U
	w=$t/r$r/W
	log=$out/r$r.log
	mkdir -p "$t/r$r"
	# shellcheck disable=SC2046
	lfs_mount --upper "$u" --work "$w" $(cat "$t/sources") "$m"
	pid=$(daemon_pid "$m")
	: >"$log"
	workers "$log"
	i=0
	while [ "$(wc -l <"$log")" -lt "$k" ] && [ $i -lt 6000 ]; do
		sleep 0.01
		i=$((i + 1))
	done
	sleep "$delay"
	kill -KILL "$pid"
	for p in $wpids; do wait "$p" || bad "a copy-up process failed (status $?)"; done
	fusermount3 -uz "$m" 2>/dev/null || umount -l "$m"
	lfs_umount "$m"        # reaps the daemon, forgets the mount

	left=$(find "$w/work" -mindepth 1 | wc -l)
	[ "$left" -gt 0 ] && caught=$((caught + 1))
	python3 "$here/crash_ops.py" upper "$u" "$ref" "$log" >"$out/r$r.upper" ||
		bad "the upper dir after the crash:
$(head -20 "$out/r$r.upper")"

	# shellcheck disable=SC2046
	lfs_mount --upper "$u" --work "$w" $(cat "$t/sources") "$m"
	[ -z "$(ls -A "$w/work")" ] ||
		bad "the work dir was not emptied at mount: $(ls -A "$w/work" | head -5)"
	python3 "$here/crash_ops.py" check "$m" "$ref" "$log" "$out/r$r.tree.layerfs" \
		>"$out/r$r.check" || bad "layerfs over the upper dir after the crash:
$(head -20 "$out/r$r.check")"
	lfs_umount "$m"
	[ -z "$(ls -A "$w/work")" ] ||
		bad "the work dir is not empty after a clean unmount: $(ls -A "$w/work" | head -5)"

	if [ $have_ovl = 1 ]; then
		mount -t overlay overlay -o "ro,lowerdir=$u:$ref/l1:$ref/l0" "$ovl"
		echo "none $ovl" >>"$lfs_state/mounts"
		python3 "$here/crash_ops.py" check "$ovl" "$ref" "$log" "$out/r$r.tree.kernel" \
			>"$out/r$r.kcheck" || bad "the kernel's overlayfs over the upper dir:
$(head -20 "$out/r$r.kcheck")"
		umount "$ovl"
		grep -v " $ovl\$" "$lfs_state/mounts" >"$lfs_state/mounts.new" || :
		mv "$lfs_state/mounts.new" "$lfs_state/mounts"
		diff -u "$out/r$r.tree.kernel" "$out/r$r.tree.layerfs" >"$out/r$r.tree.diff" ||
			bad "layerfs and the kernel's overlayfs show the upper dir differently:
$(head -20 "$out/r$r.tree.diff")"
	fi
	echo "round $r: killed ${delay}s after call $k returned; $(grep -c '^done ' "$log") had returned," \
		"$left entries left in W/work; $(cat "$out/r$r.upper"); $(cat "$out/r$r.check")"
	rm -rf "$t/r$r"
done

[ $caught -gt 0 ] || bad "no round killed the daemon during a copy-up (nothing left in W/work)"
[ $fails -eq 0 ] || lfs_fail "$fails check(s) failed"
echo "ok: $rounds crashes ($caught of them during a copy-up); every file old or new, never partial"
