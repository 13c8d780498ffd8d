#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# pkg_chroot.sh - a package manager inside a chroot on a writable mount.
#
# The image is built here from this machine's own dpkg and the tools it
# needs (with their libraries), as two layers: the second deletes a file
# and replaces a directory, so that the chroot runs on a real merge.  A .deb
# built with dpkg-deb is installed with `dpkg -i` inside a chroot on the
# mount (its postinst runs and writes too), then:
#   * the mount is remounted with the same --upper: the package is still
#     installed (dpkg -s, its files, its postinst's mark), and removes cleanly;
#   * the kernel's overlayfs over the same layers (extracted) with layerfs's
#     upper directory shows the same installed package: the upper really is
#     in overlayfs' format.
# A real Debian image with apt-get is exercised by real_image.sh
# (LFS_REAL_IMAGE=1).  Needs root, /dev/fuse, dpkg and overlayfs.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lfs_require_root_fuse
lfs_require_overlay
for c in dpkg dpkg-deb ldd; do
	command -v "$c" >/dev/null 2>&1 || lfs_skip "$c is not installed"
done
export LC_ALL=C

t=$(lfs_tmpdir)
fail() { lfs_fail "$*"; }

# --- the image: dpkg and what it runs, with their shared libraries
root=$t/l0
lfs_host_rootfs "$root" sh dash rm tar diff find sed mv cat ls ln mkdir rmdir chmod readlink \
	dpkg dpkg-deb dpkg-query dpkg-split dpkg-trigger dpkg-divert dpkg-maintscript-helper \
	ldconfig start-stop-daemon
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers" \
	"$root/tmp" "$root/etc" "$root/usr/share/doc/old" "$root/var/log"
: >"$root/var/lib/dpkg/status"
: >"$root/var/lib/dpkg/available"
chmod 1777 "$root/tmp"
echo "old" >"$root/usr/share/doc/old/file"
echo "to delete" >"$root/etc/obsolete"
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
tar -C "$root" --numeric-owner -cf "$t/l0.tar" .

# layer 1: deletes /etc/obsolete, makes /usr/share/doc/old opaque with new content
l1=$t/l1
mkdir -p "$l1/etc" "$l1/usr/share/doc/old"
: >"$l1/etc/.wh.obsolete"
: >"$l1/usr/share/doc/old/.wh..wh..opq"
echo "new" >"$l1/usr/share/doc/old/newfile"
tar -C "$l1" --numeric-owner -cf "$t/l1.tar" .

# --- the package
pkg=$t/pkg
mkdir -p "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/usr/share/lfs-test"
cat >"$pkg/DEBIAN/control" <<'EOF'
Package: lfs-test
Version: 1.0
Architecture: all
Maintainer: layerfs tests <root@localhost>
Description: package installed by layerfs' chroot test
EOF
cat >"$pkg/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
mkdir -p /var/lib/lfs-test
echo configured >/var/lib/lfs-test/postinst-ran
EOF
chmod 755 "$pkg/DEBIAN/postinst"
printf '#!/bin/sh\necho "hello from lfs-test"\n' >"$pkg/usr/bin/lfs-hello"
chmod 755 "$pkg/usr/bin/lfs-hello"
head -c 300000 /dev/urandom >"$pkg/usr/share/lfs-test/data.bin"
dpkg-deb --root-owner-group -Zgzip --build "$pkg" "$t/lfs-test.deb" >/dev/null

# --- install inside a chroot on the mount
m=$t/mnt
up=$t/upper
wk=$t/work
lfs_mount --upper "$up" --work "$wk" "$t/l0.tar" "$t/l1.tar" "$m"
[ ! -e "$m/etc/obsolete" ] || fail "the whiteout of layer 1"
[ "$(ls "$m/usr/share/doc/old")" = newfile ] || fail "the opaque directory of layer 1"
cp "$t/lfs-test.deb" "$m/tmp/"
chroot "$m" /usr/bin/dpkg -i /tmp/lfs-test.deb >"$t/dpkg.log" 2>&1 ||
	{ cat "$t/dpkg.log" >&2; fail "dpkg -i inside the chroot"; }

check_installed() {    # ROOT WHAT
	chroot "$1" /usr/bin/dpkg-query -W -f '${Status}\n' lfs-test >"$t/status" 2>&1 ||
		{ cat "$t/status" >&2; fail "$2: dpkg-query"; }
	[ "$(cat "$t/status")" = "install ok installed" ] || fail "$2: status $(cat "$t/status")"
	[ "$(chroot "$1" /usr/bin/lfs-hello)" = "hello from lfs-test" ] || fail "$2: lfs-hello"
	cmp "$pkg/usr/share/lfs-test/data.bin" "$1/usr/share/lfs-test/data.bin" ||
		fail "$2: package data"
	[ "$(cat "$1/var/lib/lfs-test/postinst-ran")" = configured ] || fail "$2: postinst"
	[ ! -e "$1/etc/obsolete" ] || fail "$2: whiteout"
}
check_installed "$m" "after dpkg -i"
lfs_umount "$m"
[ -f "$up/usr/share/lfs-test/data.bin" ] || fail "the package is not in the upper directory"

# --- a new mount with the same upper continues where the first stopped
lfs_mount --upper "$up" --work "$wk" "$t/l0.tar" "$t/l1.tar" "$m"
check_installed "$m" "remounted"
lfs_umount "$m"

# --- the kernel's overlayfs reads the same upper directory
mkdir -p "$t/x0" "$t/x1" "$t/kwork" "$t/kmnt"
tar -C "$t/x0" -xf "$t/l0.tar"
tar -C "$t/x1" -xf "$t/l1.tar"
rm "$t/x1/etc/.wh.obsolete" "$t/x1/usr/share/doc/old/.wh..wh..opq"
mknod "$t/x1/etc/obsolete" c 0 0
setfattr -n trusted.overlay.opaque -v y "$t/x1/usr/share/doc/old"
# a copy: the kernel may add its own xattrs to what it mounts
cp -a "$up" "$t/kupper"
mount -t overlay overlay \
	-o "lowerdir=$t/x1:$t/x0,upperdir=$t/kupper,workdir=$t/kwork,redirect_dir=off" "$t/kmnt"
echo "none $t/kmnt" >>"$lfs_state/mounts"
check_installed "$t/kmnt" "kernel overlayfs over layerfs' upper"
umount "$t/kmnt"

# --- and the package removes cleanly through a remount
lfs_mount --upper "$up" --work "$wk" "$t/l0.tar" "$t/l1.tar" "$m"
chroot "$m" /usr/bin/dpkg -r lfs-test >"$t/dpkg.log" 2>&1 ||
	{ cat "$t/dpkg.log" >&2; fail "dpkg -r inside the chroot"; }
[ ! -e "$m/usr/bin/lfs-hello" ] || fail "dpkg -r left the binary"
[ ! -e "$m/usr/share/lfs-test" ] || fail "dpkg -r left the data directory"
[ "$(cat "$m/usr/share/doc/old/newfile")" = new ] || fail "unrelated lower file after dpkg -r"
lfs_umount "$m"
echo "pkg_chroot: ok"
