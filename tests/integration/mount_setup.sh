#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Starting a mount: what layerfs refuses before anything is touched, as the
# kernel's overlayfs does (upper and work directories that overlap or are in
# use, a metacopy=on upper), the mount point (relative, a file, already a
# layerfs mount), directories among several SOURCEs, and layers whose first
# member is named like an image's document.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lfs_require_root_fuse
REPORT=$top_builddir/tools/layerfs-report
CHROOT=${LAYERFS_CHROOT:-$top_builddir/tools/layerfs-chroot}

t=$(lfs_tmpdir)
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$t"
mkdir -p root/etc mnt mnt2
echo base >root/etc/hostname
echo "lower data" >root/data
tar -C root -cf l.tar etc data

# refused ARGS...: layerfs exits 1 with one line on stderr (in $t/err), mounts nothing
refused() {
	local rc=0 before
	before=$(grep -c " $t/" /proc/self/mountinfo || :)
	"$LAYERFS" "$@" 2>"$t/err" || rc=$?
	[ "$rc" -eq 1 ] || fail "layerfs $*: exit $rc, want 1: $(cat "$t/err")"
	[ "$(wc -l <"$t/err")" -eq 1 ] || fail "layerfs $*: not one line: $(cat "$t/err")"
	[ "$(grep -c " $t/" /proc/self/mountinfo || :)" = "$before" ] || fail "layerfs $*: mounted"
}
kernel_refuses() {	# UPPER WORK: the kernel's overlayfs refuses them too
	if mount -t overlay overlay -o "lowerdir=$t/root,upperdir=$1,workdir=$2" "$t/mnt2" 2>/dev/null; then
		umount "$t/mnt2"
		fail "the kernel accepts upper $1 work $2: the test is wrong"
	fi
}

# --- 2. upper and work directories must be separate subtrees
have_overlay=1
grep -qw overlay /proc/filesystems 2>/dev/null || modprobe overlay 2>/dev/null || have_overlay=0
mkdir -p W/work U
echo keep >W/work/saved
for pair in "W/work W" "W/work/x W" "U U/w" "U U" "W W/work/y"; do
	set -- $pair
	refused --upper "$1" --work "$2" l.tar mnt
	grep -q "separate subtrees\|must differ" "$t/err" || fail "upper $1 work $2: $(cat "$t/err")"
	[ "$(cat W/work/saved 2>/dev/null)" = keep ] || fail "upper $1 work $2 emptied W/work"
	[ ! -e W/work/x ] && [ ! -e U/w ] && [ ! -e W/work/y ] || fail "upper $1 work $2: made a directory"
	if [ $have_overlay = 1 ] && [ -d "$1" ] && [ -d "$2" ]; then kernel_refuses "$t/$1" "$t/$2"; fi
done

# --- 3. an upper or work directory in use by another mount
mkdir -p up wk wk2 up2
"$LAYERFS" --upper up --work wk l.tar mnt || fail "background mount with --upper"
echo "none $t/mnt" >>"$lfs_state/mounts"
refused --upper up --work wk2 l.tar mnt2
grep -q "up: the upper directory is in use by another mount (pid [0-9]*, layerfs)" "$t/err" ||
	fail "same upper: $(cat "$t/err")"
refused --upper up2 --work wk l.tar mnt2
grep -q "wk: the work directory is in use by another mount (pid [0-9]*, layerfs)" "$t/err" ||
	fail "same work: $(cat "$t/err")"
pid=$(sed 's/.*(pid \([0-9]*\),.*/\1/' "$t/err")
grep -q "mnt" "/proc/$pid/cmdline" || fail "pid $pid is not the daemon serving mnt"
[ ! -e up2 ] || [ -z "$(ls -A up2)" ] || fail "a refused mount wrote to up2"
if [ -x "$CHROOT" ]; then
	rc=0
	"$CHROOT" --upper up l.tar -- /nonexistent >/dev/null 2>"$t/err" || rc=$?
	[ $rc -eq 125 ] && grep -q "in use" "$t/err" ||
		fail "layerfs-chroot on a used upper: status $rc: $(cat "$t/err")"
fi
fusermount3 -u mnt
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
# the lock ends with the daemon
lfs_mount --upper up --work wk2 l.tar mnt2
lfs_umount mnt2

# --- 4. an upper written by the kernel with metacopy=on
if [ $have_overlay = 1 ]; then
	mkdir -p mc/u mc/w
	if mount -t overlay overlay -o "lowerdir=$t/root,upperdir=$t/mc/u,workdir=$t/mc/w,metacopy=on" mnt2 2>/dev/null; then
		chmod 600 mnt2/data
		umount mnt2
		if getfattr -n trusted.overlay.metacopy mc/u/data >/dev/null 2>&1; then
			refused --upper mc/u --work mc/w l.tar mnt
			grep -q "metacopy=on" "$t/err" && grep -q "data" "$t/err" ||
				fail "metacopy upper: $(cat "$t/err")"
		else
			echo "mount_setup: the kernel wrote no metacopy file; part 4 skipped" >&2
		fi
	fi
fi

# --- 7. a relative mount point: a signal unmounts it
for sig in TERM HUP INT; do
	mkdir "rel-$sig"
	"$LAYERFS" l.tar "rel-$sig" || fail "relative mount point"
	echo "none $t/rel-$sig" >>"$lfs_state/mounts"
	pid=$(pgrep -f "^$LAYERFS l.tar rel-$sig\$") || fail "no daemon for the relative mount"
	kill -s $sig "$pid"
	for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	! grep -q " $t/rel-$sig " /proc/self/mountinfo || fail "SIG$sig left $t/rel-$sig mounted"
	ls "rel-$sig" >/dev/null || fail "SIG$sig left a dead mount"
done

# --- 9. the mount point: already a layerfs mount, a regular file
lfs_mount l.tar mnt
refused l.tar mnt
grep -q "already a layerfs mount" "$t/err" || fail "second mount: $(cat "$t/err")"
[ "$(grep -c " $t/mnt " /proc/self/mountinfo)" -eq 1 ] || fail "a second daemon stacked"
lfs_umount mnt
: >afile
refused l.tar afile
grep -q "afile: Not a directory" "$t/err" || fail "file as mount point: $(cat "$t/err")"

# --- 8. a directory among several SOURCEs: a plain one is a layer (read in
# place), one holding oci-layout is an image, refused there, never a crash
mkdir -p adir/etc alayout
echo "from adir" >adir/etc/hostname
echo '{"imageLayoutVersion": "1.0.0"}' >alayout/oci-layout
n=${LFS_DIR_RUNS:-10}
for i in $(seq "$n"); do
	for args in "alayout l.tar" "alayout alayout" "l.tar alayout" "adir alayout"; do
		set -- $args
		refused "$@" mnt
		grep -q "alayout: is an OCI image layout; with several SOURCEs" "$t/err" ||
			fail "run $i, $args: $(cat "$t/err")"
	done
done
for args in "adir l.tar:base:lower data" "l.tar adir:from adir:lower data" "adir adir:from adir:"; do
	want=${args#*:}
	set -- ${args%%:*}
	lfs_mount "$@" mnt
	got="$(cat mnt/etc/hostname):$(cat mnt/data 2>/dev/null || :)"
	lfs_umount mnt
	[ "$got" = "$want" ] || fail "layerfs $*: hostname:data is '$got', want '$want'"
done

# --- 10. layers whose first member is named like an image's document
i=0
for doc in index.json manifest.json oci-layout repositories; do
	for comp in cat gzip zstd; do
		i=$((i + 1))
		rm -rf lr && mkdir -p lr/etc
		echo '{"name":"app"}' >"lr/$doc"
		echo "layer $i" >lr/etc/hostname
		tar -C lr -cf - "$doc" etc | $comp >"like$i"
		lfs_mount "like$i" mnt
		[ "$(cat "mnt/$doc")" = '{"name":"app"}' ] || fail "$doc ($comp): not mounted as a layer"
		[ "$(cat mnt/etc/hostname)" = "layer $i" ] || fail "$doc ($comp): content"
		lfs_umount mnt
		lfs_mount l.tar "like$i" mnt
		[ "$(cat mnt/data)" = "lower data" ] && [ -e "mnt/$doc" ] || fail "$doc ($comp) over l.tar"
		lfs_umount mnt
		if [ -x "$REPORT" ]; then
			"$REPORT" --layers "like$i" >/dev/null 2>"$t/err" ||
				fail "layerfs-report --layers ($doc, $comp): $(cat "$t/err")"
		fi
	done
done
echo "mount_setup: ok"
