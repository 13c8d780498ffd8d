#!/bin/sh
# load.sh - many readers at once on one mount.  An image of about 5,000
# entries (load_image.py: small files, symlinks, hard links, whiteouts, an
# opaque directory, and big files in an uncompressed, a gzip, a one-frame
# zstd and a multi-frame zstd layer) is mounted once; a serial run records
# what the tree looks like; then 16 processes hammer it for LFS_LOAD_SECONDS
# seconds - by default 20, about 35 s for the whole script, to keep
# `make check` fast; longer by hand: LFS_LOAD_SECONDS=300 tests/integration/load.sh
#
#   5 walkers  find -printf with type, mode, owner, size, mtime, nlink, inode
#              and link target of every entry, sorted;
#   5 hashers  sha256sum of every file, after dropping the files from the
#              page cache so that layerfs serves the bytes;
#   6 readers  load_reader.py: ranges of the big files (across every 1 MiB
#              restart point, random ones) in random order, each range
#              dropped from the page cache first, so the compressed layers'
#              cursors are used from many threads at once.
#
# Every result must be identical to the serial run's, with no error on
# stderr; every process runs under `timeout`, so a deadlock fails the test
# instead of hanging it.  After the load, a second serial run must still
# match, the big files must hash to what the image writer put in them, and
# the mount must unmount cleanly with nothing in layerfs' log.
# LFS_LOAD_DROP_CACHES=1 also drops the kernel's dentry and inode caches
# (system-wide) every 2 s, so lookups reach layerfs too.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export LC_ALL=C

walk() {
	find "$m" -printf '%y %M %U:%G %s %T@ %n %i %P -> %l\n' | sort
}
hashes() {
	python3 "$here/load_reader.py" drop "$m"
	(cd "$m" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
}
worker() {   # KIND N: loop until the deadline, compare every result
	_k=$1 _n=$2 _i=0
	_end=$(($(date +%s) + secs))
	while :; do
		case $_k in
		walk) walk >"$out/$_k$_n.got" ;;
		hash) hashes >"$out/$_k$_n.got" ;;
		read) python3 "$here/load_reader.py" check "$m" "$out/chunks.ref" \
			$((_end - $(date +%s))) "$_n" >"$out/$_k$_n.got" || return 1
		      _i=$((_i + $(cut -d' ' -f1 "$out/$_k$_n.got"))); break ;;
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

secs=${LFS_LOAD_SECONDS:-20}
grace=120           # how far past the end a process may run before it counts as hung
t=$(lfs_tmpdir)
m=$t/mnt
out=$t/out
mkdir -p "$out"
export m out secs

python3 "$here/load_image.py" "$t/img" >"$t/sources"
# shellcheck disable=SC2046
lfs_mount $(cat "$t/sources") "$m"

# --- the serial run
walk >"$out/walk.ref"
hashes >"$out/hash.ref"
python3 "$here/load_reader.py" chunks "$m" "$out/chunks.ref"
entries=$(wc -l <"$out/walk.ref")
[ "$entries" -gt 4500 ] || lfs_fail "only $entries entries in the image"
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
for k in walk walk walk walk walk hash hash hash hash hash read read read read read read; do
	i=$((i + 1))
	timeout -k 5 $((secs + grace)) sh "$here/load.sh" --worker "$k" "$i" >"$out/w$i.log" 2>&1 &
	pids="$pids $!:$k:$i"
done
if [ "${LFS_LOAD_DROP_CACHES:-0}" = 1 ]; then
	dropper &
	pids="$pids $!:dropper:0"
fi
echo "load: 16 processes for ${secs}s on $entries entries"

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
	if [ -s "$out/w$i.log" ]; then
		echo "FAIL: $name printed:" >&2
		head -20 "$out/w$i.log" >&2
		fails=$((fails + 1))
	fi
done

# --- after the load: the same tree, a clean daemon
walk >"$out/walk.after"
hashes >"$out/hash.after"
cmp -s "$out/walk.ref" "$out/walk.after" || { echo "FAIL: the tree changed under load" >&2; fails=$((fails + 1)); }
cmp -s "$out/hash.ref" "$out/hash.after" || { echo "FAIL: contents changed under load" >&2; fails=$((fails + 1)); }
lfs_umount "$m"
for log in "$lfs_state"/layerfs.*; do
	if [ -s "$log" ]; then
		echo "FAIL: layerfs printed:" >&2
		head -20 "$log" >&2
		fails=$((fails + 1))
	fi
done
[ $fails -eq 0 ] || lfs_fail "$fails problem(s) under load"

count() { cat "$out/$1"*.count 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }
echo "ok: $(count walk) walks, $(count hash) sha256sum passes, $(count read) range reads," \
	"all identical to the serial run"
