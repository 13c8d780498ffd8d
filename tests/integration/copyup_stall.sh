#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# copyup_stall.sh - copying a big file up does not stall the rest of the
# mount.  A chmod of a 1 GiB file from a gzip layer makes layerfs
# decompress and copy it into WORK/work; while that copy is seen in
# progress there, other files are looked up, read, created, renamed and
# removed, directories listed and made.  The test then checks that the
# copy was STILL in progress when all of that had finished (an ordering,
# not a timing: if the machine copied the file before the first operation
# even started, the round is repeated with a fresh mount, and after three
# such rounds the test fails as unable to tell).  Finally the copied file
# has its new mode, its size and its content.  Needs root and /dev/fuse.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lfs_require_root_fuse
export LC_ALL=C

t=$(lfs_tmpdir)
fail() { lfs_fail "$*"; }

mkdir -p "$t/l0/etc" "$t/l0/data" "$t/l0/dir"
echo small >"$t/l0/etc/small"
echo other >"$t/l0/dir/other"
truncate -s 1G "$t/l0/data/big"
tar -C "$t/l0" -cf - . | gzip -1 >"$t/l0.tar.gz"
rm -rf "$t/l0"

in_progress() {        # is a copy being built in the work directory?
	[ -n "$(ls -A "$t/wk/work" 2>/dev/null)" ]
}

round=0
while :; do
	round=$((round + 1))
	rm -rf "$t/up" "$t/wk"
	m=$t/mnt
	lfs_mount --upper "$t/up" --work "$t/wk" "$t/l0.tar.gz" "$m"
	chmod 600 "$m/data/big" &
	pid=$!
	while ! in_progress && kill -0 "$pid" 2>/dev/null; do :; done
	if ! in_progress; then
		wait "$pid"
		lfs_umount "$m"
		[ "$round" -lt 3 ] || fail "the copy-up was never seen in progress"
		continue
	fi
	# all of this while the copy-up of data/big goes on
	[ "$(cat "$m/etc/small")" = small ] || fail "read of another lower file"
	stat "$m/dir/other" >/dev/null || fail "stat of another file"
	ls "$m/dir" "$m/etc" >/dev/null || fail "directory listing"
	echo new >"$m/etc/new" || fail "create"
	mv "$m/etc/new" "$m/etc/renamed" || fail "rename"
	mkdir "$m/dir/sub" || fail "mkdir"
	echo more >>"$m/dir/other" || fail "copy-up of a small file"
	rm "$m/etc/small" || fail "unlink"
	if ! in_progress; then
		wait "$pid"
		lfs_umount "$m"
		[ "$round" -lt 3 ] || fail "operations on other files waited for the copy-up"
		continue
	fi
	wait "$pid" || fail "chmod of the big file"
	break
done

[ "$(stat -c %a "$m/data/big")" = 600 ] || fail "mode after the copy-up"
[ "$(stat -c %s "$m/data/big")" = 1073741824 ] || fail "size after the copy-up"
cmp -n 1073741824 "$m/data/big" /dev/zero || fail "content after the copy-up"
[ "$(cat "$m/etc/renamed")" = new ] || fail "file made during the copy-up"
[ "$(cat "$m/dir/other")" = "other
more" ] || fail "file copied up during the copy-up"
[ -z "$(ls -A "$t/wk/work")" ] || fail "the work directory is not empty afterwards"
lfs_umount "$m"
echo "copyup_stall: ok (round $round)"
