#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# sample_image.sh - the bundled sample image (scripts/make-sample-image):
# it builds reproducibly, layerfs shows exactly what the kernel's overlayfs
# shows over its extracted layers (difftest.py --image), and a few facts a
# user would check by hand hold: deleted files are gone, the opaque
# directory hides the lower contents, the hard link, the symlink, the
# setuid bit and the file capability survive.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

lfs_require_root_fuse
lfs_require_overlay
command -v python3 >/dev/null 2>&1 || lfs_skip "python3 is not installed"
[ -x "$LAYERFS" ] || lfs_fail "no layerfs binary at $LAYERFS"

tmp=$(lfs_tmpdir)
img=$tmp/sample.tar
python3 "$top_srcdir/scripts/make-sample-image" "$img"
python3 "$top_srcdir/scripts/make-sample-image" "$tmp/again.tar"
cmp "$img" "$tmp/again.tar" || lfs_fail "make-sample-image is not deterministic"

# The whole tree against the kernel's overlayfs.
python3 "$here/difftest.py" --layerfs "$LAYERFS" --image "$img"

# Facts of the sample.
lfs_mount "$img" "$tmp/mnt"
m=$tmp/mnt
check() {       # DESCRIPTION COMMAND...
	_what=$1
	shift
	if "$@"; then
		echo "ok: $_what"
	else
		lfs_fail "$_what"
	fi
}
check "deleted file var/lib/sample/state.txt is absent" test ! -e "$m/var/lib/sample/state.txt"
check "its directory var/lib/sample stays" test -d "$m/var/lib/sample"
check "deleted directory usr/share/doc/sample is absent" test ! -e "$m/usr/share/doc/sample"
check "usr/share/doc stays" test -d "$m/usr/share/doc"
check "opaque etc/app/defaults holds only only.conf" \
	test "$(ls -A "$m/etc/app/defaults")" = "only.conf"
check "etc/app/config.ini from the base layer shows" test -f "$m/etc/app/config.ini"
check "etc/motd comes from the top layer" grep -q "cleanup layer" "$m/etc/motd"
check "usr/bin/hello comes from the update layer" grep -q "version 2" "$m/usr/bin/hello"
check "hard link usr/bin/hello-again keeps the base version" \
	grep -q "version 1" "$m/usr/bin/hello-again"
check "usr/bin/hello-again: st_nlink 2 (its other name is hidden above)" \
	test "$(stat -c %h "$m/usr/bin/hello-again")" = 2
check "symlink usr/bin/hi -> hello" test "$(readlink "$m/usr/bin/hi")" = hello
check "usr/bin/sample-su is setuid 4755" test "$(stat -c %a "$m/usr/bin/sample-su")" = 4755
check "usr/bin/sample-ping has security.capability (cap_net_raw)" python3 -c '
import sys
v = __import__("os").getxattr(sys.argv[1], "security.capability")
sys.exit(not (len(v) == 20 and v[:4] == bytes([1, 0, 0, 2]) and v[4:8] == bytes([0, 0x20, 0, 0])))
' "$m/usr/bin/sample-ping"
check "var/lib/sample owned by 1000:1000" test "$(stat -c %u:%g "$m/var/lib/sample")" = 1000:1000
check "no whiteout marker is visible" test -z "$(find "$m" -name '.wh.*')"
lfs_umount "$m"
echo "sample image: ok"
