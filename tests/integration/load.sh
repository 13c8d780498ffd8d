#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# load.sh - many readers and writers at once on one mount.  An image of
# about 5,500 entries (load_image.py: small files, symlinks, hard links,
# whiteouts, an opaque directory, and big files in an uncompressed, a gzip,
# a one-frame zstd and a multi-frame zstd layer) is mounted once, writable
# (--upper U --work W); a serial run records what the tree looks like; then
# 16 processes hammer it for LFS_LOAD_SECONDS seconds - by default 60, about
# 100 s for the whole script; longer by hand:
# LFS_LOAD_SECONDS=300 tests/integration/load.sh
#
#   4 walkers  find -printf with type, mode, owner, size, mtime, nlink, inode
#              and link target of every entry, sorted (all but w/); then a
#              walk of w/, where the only error allowed is a name that went
#              away meanwhile;
#   4 hashers  sha256sum of every file (all but w/), after dropping the files
#              from the page cache so that layerfs serves the bytes;
#   4 readers  load_reader.py: ranges of the big files (across every 1 MiB
#              restart point, random ones) in random order, each range
#              dropped from the page cache first, so the compressed layers'
#              cursors are used from many threads at once;
#   4 writers  load_writer.py K: writer K changes only w/K, where the image
#              has lower files in every layer - copy-up by appends, writes,
#              truncates, O_TRUNC, O_RDWR; creates, renames, unlinks, links,
#              symlinks, mkdir/rmdir, chmod, chown, xattrs - from a script
#              seeded with K, checking every content it changes against its
#              model; at most 10 rounds of 8 operations per second of load
#              (then it keeps reading and checking), so that the replay
#              below stays short.
#
# Every result must be identical to the serial run's, with no error on
# stderr; every process runs under `timeout`, so a deadlock fails the test
# instead of hanging it.  After the load, a second serial run must still
# match, the big files must hash to what the image writer put in them, and
# the mount must unmount cleanly with nothing in layerfs' log and nothing
# left in W/work.  Then each writer's subtree must be the same (names,
# types, modes, owners, sizes, link counts, contents, link targets, user.*
# xattrs; not times):
#   * on a second mount of the same U (what the upper directory kept);
#   * as the same writer script, run for the same number of rounds serially
#     on a fresh mount, leaves it - with the same result for every operation.
# LFS_LOAD_DROP_CACHES=1 also drops the kernel's dentry and inode caches
# (system-wide) every 2 s, so lookups reach layerfs too.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export LC_ALL=C

# Everything but w/, which the writers change.
walk() {
	find "$m" -path "$m/w" -prune -o -printf '%y %M %U:%G %s %T@ %n %i %P -> %l\n' | sort
}
hashes() {
	python3 "$here/load_reader.py" drop "$m"
	(cd "$m" && find . -path ./w -prune -o -type f -print0 | sort -z | xargs -0 sha256sum)
}
# w/ while it changes: a name may go away between readdir and stat, nothing else.
walk_writers() {
	find "$m/w" -printf '%y %M %s %n\n' 2>&1 >/dev/null |
		grep -v ': No such file or directory$' || :
}
worker() {   # KIND N: loop until the deadline, compare every result
	_k=$1 _n=$2 _i=0
	_end=$(($(date +%s) + secs))
	while :; do
		case $_k in
		walk) walk >"$out/$_k$_n.got"
		      walk_writers >"$out/$_k$_n.err"
		      if [ -s "$out/$_k$_n.err" ]; then
			      echo "walk $_n: walking w/ failed:"
			      head -5 "$out/$_k$_n.err"
			      return 1
		      fi ;;
		hash) hashes >"$out/$_k$_n.got" ;;
		read) python3 "$here/load_reader.py" check "$m" "$out/chunks.ref" \
			$((_end - $(date +%s))) "$_n" >"$out/$_k$_n.got" || return 1
		      _i=$((_i + $(cut -d' ' -f1 "$out/$_k$_n.got"))); break ;;
		write) python3 "$here/load_writer.py" run "$m" "$_n" $((_end - $(date +%s))) \
			$((secs * 10)) "$out/write$_n.log" >"$out/write$_n.rounds" || return 1
		       _i=$(cat "$out/write$_n.rounds"); break ;;
		esac
		cmp -s "$out/$_k$_n.got" "$out/$_k.ref" || {
			echo "$_k $_n: result $((_i + 1)) differs from the serial run:"
			diff "$out/$_k.ref" "$out/$_k$_n.got" | head -20
			return 1
		}
		_i=$((_i + 1))
		[ "$(date +%s)" -lt "$_end" ] || break
	done
	echo "$_i" >"$out/$_k$_n.count"
}

# One process of the load: the script runs itself (under timeout) as
#   load.sh --worker KIND N    with m, out and secs in the environment.
if [ "${1:-}" = --worker ]; then
	worker "$2" "$3"
	exit
fi

. "$here/lib.sh"
lfs_require_root_fuse

secs=${LFS_LOAD_SECONDS:-60}
grace=120           # how far past the end a process may run before it counts as hung
t=$(lfs_tmpdir)
m=$t/mnt
out=$t/out
mkdir -p "$out"
export m out secs
writers="0 1 2 3"

python3 "$here/load_image.py" "$t/img" >"$t/sources"
# shellcheck disable=SC2046
lfs_mount --upper "$t/U" --work "$t/W" $(cat "$t/sources") "$m"

# --- the serial run
walk >"$out/walk.ref"
hashes >"$out/hash.ref"
python3 "$here/load_reader.py" chunks "$m" "$out/chunks.ref"
entries=$(wc -l <"$out/walk.ref")
[ "$entries" -gt 4500 ] || lfs_fail "only $entries entries in the image"
for k in $writers; do
	[ "$(find "$m/w/$k" | wc -l)" -ge 80 ] || lfs_fail "w/$k is not in the image"
done
grep -F -f "$t/img/big.sha256" "$out/hash.ref" >"$out/big.got" || :
cmp -s "$t/img/big.sha256" "$out/big.got" ||
	lfs_fail "the big files do not read back as written: $(diff "$t/img/big.sha256" "$out/big.got")"

# --- the load
dropper() {
	_end=$(($(date +%s) + secs))
	while [ "$(date +%s)" -lt "$_end" ]; do
		echo 2 >/proc/sys/vm/drop_caches
		sleep 2
	done
}

pids=""
i=0
for k in walk walk walk walk hash hash hash hash read read read read; do
	i=$((i + 1))
	timeout -k 5 $((secs + grace)) sh "$here/load.sh" --worker "$k" "$i" >"$out/w$i.log" 2>&1 &
	pids="$pids $!:$k:$i"
done
for k in $writers; do
	timeout -k 5 $((secs + grace)) sh "$here/load.sh" --worker write "$k" >"$out/wr$k.log" 2>&1 &
	pids="$pids $!:write:$k"
done
if [ "${LFS_LOAD_DROP_CACHES:-0}" = 1 ]; then
	dropper &
	pids="$pids $!:dropper:0"
fi
echo "load: 16 processes (4 of them writing) for ${secs}s on $entries entries"

fails=0
for p in $pids; do
	rc=0
	wait "${p%%:*}" || rc=$?
	name=${p#*:}
	i=${name#*:}
	name=${name%:*}$i
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		echo "FAIL: $name still running $grace s after the end: deadlock?" >&2
		fails=$((fails + 1))
	elif [ $rc -ne 0 ]; then
		echo "FAIL: $name exited with status $rc" >&2
		fails=$((fails + 1))
	fi
	log=$out/w$i.log
	[ "${name%[0-9]*}" = write ] && log=$out/wr$i.log
	if [ -s "$log" ]; then
		echo "FAIL: $name printed:" >&2
		head -20 "$log" >&2
		fails=$((fails + 1))
	fi
done

# --- after the load: the same tree, a clean daemon
walk >"$out/walk.after"
hashes >"$out/hash.after"
cmp -s "$out/walk.ref" "$out/walk.after" || { echo "FAIL: the tree changed under load" >&2; fails=$((fails + 1)); }
cmp -s "$out/hash.ref" "$out/hash.after" || { echo "FAIL: contents changed under load" >&2; fails=$((fails + 1)); }
for k in $writers; do
	python3 "$here/load_writer.py" dump "$m" "$k" >"$out/dump$k.load"
done
lfs_umount "$m"
layerfs_logs() {
	for log in "$lfs_state"/layerfs.*; do
		if [ -s "$log" ]; then
			echo "FAIL: layerfs printed:" >&2
			head -20 "$log" >&2
			fails=$((fails + 1))
		fi
		rm -f "$log"
	done
}
layerfs_logs
if [ -n "$(ls -A "$t/W/work")" ]; then
	echo "FAIL: left in the work directory: $(ls -A "$t/W/work" | head -5)" >&2
	fails=$((fails + 1))
fi
[ $fails -eq 0 ] || lfs_fail "$fails problem(s) under load"

# --- the writers' subtrees: kept in U, and what a serial run makes
# shellcheck disable=SC2046
lfs_mount --upper "$t/U" --work "$t/W" $(cat "$t/sources") "$m"
for k in $writers; do
	python3 "$here/load_writer.py" dump "$m" "$k" >"$out/dump$k.again"
	cmp -s "$out/dump$k.load" "$out/dump$k.again" || {
		echo "FAIL: w/$k differs on a second mount of the same upper directory:" >&2
		diff "$out/dump$k.load" "$out/dump$k.again" | head -20 >&2
		fails=$((fails + 1))
	}
done
lfs_umount "$m"
# shellcheck disable=SC2046
lfs_mount --upper "$t/U2" --work "$t/W2" $(cat "$t/sources") "$m"
for k in $writers; do
	rounds=$(cat "$out/write$k.rounds")
	timeout -k 5 $((secs + grace)) python3 "$here/load_writer.py" replay "$m" "$k" "$rounds" \
		"$out/write$k.serial" >/dev/null 2>"$out/replay$k.err" || {
		echo "FAIL: writer $k failed when replayed alone:" >&2
		head -20 "$out/replay$k.err" >&2
		fails=$((fails + 1))
	}
	cmp -s "$out/write$k.log" "$out/write$k.serial" || {
		echo "FAIL: writer $k: operations ended otherwise than in the serial run:" >&2
		diff "$out/write$k.serial" "$out/write$k.log" | head -20 >&2
		fails=$((fails + 1))
	}
	python3 "$here/load_writer.py" dump "$m" "$k" >"$out/dump$k.serial"
	cmp -s "$out/dump$k.serial" "$out/dump$k.load" || {
		echo "FAIL: w/$k differs from what the serial run makes:" >&2
		diff "$out/dump$k.serial" "$out/dump$k.load" | head -20 >&2
		fails=$((fails + 1))
	}
done
lfs_umount "$m"
layerfs_logs
[ $fails -eq 0 ] || lfs_fail "$fails problem(s) in the writers' subtrees"

count() { cat "$out/$1"*.count 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }
echo "ok: $(count walk) walks, $(count hash) sha256sum passes, $(count read) range reads," \
	"all identical to the serial run; $(cat "$out"/write*.rounds | awk '{ s += $1 } END { print s + 0 }')" \
	"writer rounds (x8 operations), the same as replayed serially"
