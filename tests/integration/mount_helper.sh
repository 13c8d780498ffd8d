#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# mount_helper.sh - layerfs as mount(8) and fstab run it (issue 19): through
# mount.fuse3, which puts "-o OPTS" after the positional arguments, with
# layerfs' own options as -o keys (upper=, work=, read-only or ro, tag=
# ...), from an fstab (mount -T FILE, mount -a -T FILE), and as -t
# fuse.layerfs with layerfs found in mount's own PATH (a private mount
# namespace puts it in /usr/local/sbin).  Also options after the
# positional arguments on the command line, and bad -o keys.  Skips (77)
# without root, /dev/fuse or mount.fuse3.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

lfs_require_root_fuse
lfs_require_cmds mount.fuse3 unshare
[ -x "$LAYERFS" ] || lfs_fail "no layerfs binary at $LAYERFS"
bin=$(cd "$(dirname "$LAYERFS")" && pwd)/$(basename "$LAYERFS")
t=$(lfs_tmpdir)
mkdir -p "$t/d/etc" "$t/m"
echo "from the image" >"$t/d/etc/motd"
tar -C "$t/d" --numeric-owner -cf "$t/l.tar" .
fail() { umount "$t/m" 2>/dev/null || :; lfs_fail "$*"; }
fstype() { awk -v m="$t/m" '$2 == m { print $3 " " $4 }' /proc/mounts; }
check_mounted() {	# WHAT: the image is there, read-only or not (ro|rw)
	[ "$(cat "$t/m/etc/motd" 2>/dev/null)" = "from the image" ] || fail "$1: the image's file"
	case $(fstype) in
	"fuse.layerfs $2"*) ;;
	*) fail "$1: /proc/mounts says '$(fstype)', not fuse.layerfs $2" ;;
	esac
}

# mount -t fuse "PROGRAM#SOURCE": mount.fuse3 runs PROGRAM SOURCE MNT -o OPTS
mount -t fuse "$bin#$t/l.tar" "$t/m" -o ro || fail "mount -t fuse ... -o ro"
check_mounted "mount -o ro" ro
(echo x >"$t/m/new") 2>/dev/null && fail "mount -o ro: a write went through"
umount "$t/m"

mount -t fuse "$bin#$t/l.tar" "$t/m" -o "upper=$t/up,work=$t/w,allow_other" ||
	fail "mount -o upper=,work="
check_mounted "mount -o upper=DIR,work=DIR" rw
echo written >"$t/m/etc/new"
umount "$t/m"
[ "$(cat "$t/up/etc/new" 2>/dev/null)" = written ] || fail "-o upper=DIR: the change is not in DIR"

# an fstab line, with layerfs' own options as -o keys
printf '%s#%s %s fuse read-only,tag=any,noauto 0 0\n' "$bin" "$t/l.tar" "$t/m" >"$t/fstab"
mount -T "$t/fstab" "$t/m" 2>"$t/err" && fail "fstab: tag=any picked an image from a layer file"
grep -q "tag" "$t/err" || fail "fstab: a bad tag= is not named: $(cat "$t/err")"
printf '%s#%s %s fuse read-only 0 0\n' "$bin" "$t/l.tar" "$t/m" >"$t/fstab"
mount -a -T "$t/fstab" || fail "mount -a with an fstab"
check_mounted "fstab, mount -a" ro
umount "$t/m"

# -t fuse.layerfs: mount finds layerfs in its own PATH (installed, it is in /usr/bin)
mkdir "$t/sbin"
ln -s "$bin" "$t/sbin/layerfs"
unshare -m sh -c '
	mount --make-rprivate / &&
	mount --bind "$1/sbin" /usr/local/sbin &&
	mount -t fuse.layerfs "$1/l.tar" "$1/m" -o ro &&
	cat "$1/m/etc/motd" >"$1/typed" &&
	umount "$1/m"' sh "$t" || fail "mount -t fuse.layerfs"
[ "$(cat "$t/typed")" = "from the image" ] || fail "mount -t fuse.layerfs: the image's file"

# options after the positional arguments, as other FUSE programs take them
"$LAYERFS" "$t/l.tar" "$t/m" --read-only -o allow_other || fail "options after MOUNTPOINT"
check_mounted "layerfs IMAGE MNT --read-only" ro
umount "$t/m"

# bad -o keys: bad usage, one line
for o in upper read-only=yes; do
	rc=0
	"$LAYERFS" "$t/l.tar" "$t/m" -o "$o" 2>"$t/err" || rc=$?
	[ "$rc" = 2 ] && [ "$(wc -l <"$t/err")" -le 2 ] && grep -q -- "-o $o" "$t/err" ||
		fail "-o $o: status $rc, $(cat "$t/err")"
done
[ -z "$(fstype)" ] || fail "something is still mounted at $t/m"
echo "mount_helper: ok"
