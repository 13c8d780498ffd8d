#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# rootless.sh - layerfs and layerfs-chroot run by an ordinary user (issue 19).
#
# Run as root: it creates a user with a home and subordinate id ranges in
# /etc/subuid and /etc/subgid (removed by the trap), then as that user:
#   1. a plain layerfs mount of an image with root's 0600/0700/0000 files
#      and directories: every file reads with the tar's bytes (rootless.py,
#      Python's tarfile as the reference), owners and modes show as
#      layerfs(1) says (the user's, chmod u+rX), writes land in the upper
#      directory as the user's (a 0555 directory copied up: the daemon is
#      root in a user namespace of its own), the mount gone when the daemon
#      gets SIGTERM or SIGKILL; with --owners=image the image's owners show
#      and root's files stay closed;
#   2. layerfs-chroot maps the subordinate ranges (newuidmap/newgidmap):
#      id 0 inside, the image's uids 100 and 1000 as themselves, a chown to
#      1000 kept in the upper directory (as the range's id outside), --user
#      of the image, --verbose naming the map; without ranges, or with
#      newuidmap failing (a warning), the user's own id alone;
#   3. apt-get update and install from an HTTP repository on 127.0.0.1
#      inside layerfs-chroot, with apt's _apt sandbox (no "unsandboxed"
#      warning), the package there in the next run from the kept upper.
# Skips (77) without root, /dev/fuse, useradd, newuidmap/newgidmap (Debian:
# uidmap), apt-get, dpkg, or unprivileged user namespaces.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/rootless_lib.sh"
lfs_require_root_fuse
lfs_require_cmds useradd userdel setpriv newuidmap newgidmap python3 dpkg-deb ldd apt-get \
	sha256sum unshare
export LC_ALL=C
# as in chroot.sh: LeakSanitizer cannot run once the wrapper's pid namespace has lost its init
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export ASAN_OPTIONS
CHROOT=${LAYERFS_CHROOT:-$top_builddir/tools/layerfs-chroot}
[ -x "$CHROOT" ] || lfs_fail "no layerfs-chroot at $CHROOT (build it first)"
fail() { lfs_fail "$*"; }

t=$(lfs_tmpdir)
chmod 755 "$t"
user=lfsrl$$
fuse_mode=$(stat -c %a /dev/fuse)
made_user=
made_files=
for _f in /etc/subuid /etc/subgid; do
	[ -e "$_f" ] || made_files="$made_files $_f"
done
rootless_cleanup() {
	if [ -s "$lfs_state/daemons" ]; then
		while read -r _p; do kill "$_p" 2>/dev/null || :; done <"$lfs_state/daemons"
	fi
	lfs_cleanup
	if [ -n "$made_user" ]; then
		userdel "$user" 2>/dev/null || :
		for _f in /etc/subuid /etc/subgid; do
			[ -f "$_f" ] && sed -i "/^$user:/d" "$_f"
			# a file we made, now empty
			case " $made_files " in *" $_f "*) [ -s "$_f" ] || rm -f "$_f" ;; esac
		done
	fi
	chmod "$fuse_mode" /dev/fuse
}
trap 'rootless_cleanup' EXIT
trap 'rootless_cleanup; exit 130' INT
trap 'rootless_cleanup; exit 143' TERM
trap 'rootless_cleanup; exit 129' HUP

# ---------------------------------------------------------------- the user
home=$t/home
useradd -M -d "$home" -s /bin/sh -U "$user" >/dev/null 2>&1 || lfs_skip "useradd failed"
made_user=1
mkdir -p "$home/tmp"
chown -R "$user:$user" "$home"
uid=$(id -u "$user")
gid=$(id -g "$user")
# one range of our own, after every range given out (useradd may have
# given the user one already: replaced)
for _f in /etc/subuid /etc/subgid; do
	[ -f "$_f" ] && sed -i "/^$user:/d" "$_f"
done
base=$(cat /etc/subuid /etc/subgid 2>/dev/null |
	awk -F: '$2 ~ /^[0-9]+$/ { e = $2 + $3; if (e > m) m = e } END { print (m > 100000 ? m : 100000) }')
echo "$user:$base:65536" >>/etc/subuid
echo "$user:$base:65536" >>/etc/subgid
chmod o+rw /dev/fuse           # some VMs make it 0600; Debian's is 0666

as_user() {
	setpriv --reuid="$uid" --regid="$gid" --init-groups \
		env HOME="$home" USER="$user" LOGNAME="$user" TMPDIR="$home/tmp" \
		XDG_CACHE_HOME="$home/cache" LAYERFS="$LAYERFS" "$@"
}
as_user unshare -U true 2>/dev/null || lfs_skip "no unprivileged user namespaces here"

# ------------------------------------------- 1. a plain mount by the user
python3 "$here/rootless.py" image "$t/img.tar" "$t/layer.tar"
chmod 644 "$t/img.tar" "$t/layer.tar"
# lfs_mount runs $LAYERFS: here, as the user
cat >"$t/layerfs-as-user" <<EOF
#!/bin/sh
exec setpriv --reuid=$uid --regid=$gid --init-groups env HOME="$home" \
	XDG_CACHE_HOME="$home/cache" TMPDIR="$home/tmp" "$LAYERFS" "\$@"
EOF
chmod 755 "$t/layerfs-as-user"
real_layerfs=$LAYERFS
# (root may not enter the user's mount: lfs_umount cannot cd there)
user_umount() {
	lfs__release "$(awk -v m="$1" '$2 == m { p = $1 } END { print p }' "$lfs_state/mounts")" "$1"
}
as_user mkdir "$home/m1" "$home/m2"
LAYERFS=$t/layerfs-as-user lfs_mount --upper "$home/up1" --work "$home/wk1" "$t/img.tar" "$home/m1"
as_user python3 "$here/rootless.py" check "$home/m1" "$t/layer.tar" "$uid" "$gid" ||
	fail "the plain mount as $user (--owners=user by default)"
user_umount "$home/m1"
[ "$(stat -c %u:%g "$home/up1/root/private/new")" = "$uid:$gid" ] ||
	fail "the new file in the upper is not the user's"
[ "$(cat "$home/up1/etc/secret")" = "root's secret
appended" ] || fail "etc/secret in the upper: $(cat "$home/up1/etc/secret")"
[ -d "$home/up1/root/private/newdir" ] && [ -d "$home/up1/locked/newdir" ] ||
	fail "no root/private/newdir or locked/newdir in the upper"
[ "$(stat -c %a:%u "$home/up1/usr")" = "555:$uid" ] || fail "usr in the upper: $(stat -c %a:%u "$home/up1/usr")"
[ "$(cat "$home/up1/usr/config")" = "in a 0555 directory
changed" ] || fail "usr/config in the upper"
# the image's owners, as asked: root's files stay closed
LAYERFS=$t/layerfs-as-user lfs_mount --read-only -o owners=image "$t/img.tar" "$home/m2"
as_user python3 "$here/rootless.py" check-image "$home/m2" "$t/layer.tar" ||
	fail "the plain mount as $user with --owners=image"
user_umount "$home/m2"
# the daemon in its own user namespace cannot unmount: its helper does, however it ends
for sig in TERM KILL; do
	LAYERFS=$t/layerfs-as-user lfs_mount "$t/img.tar" "$home/m2"
	pid=$(awk -v m="$home/m2" '$2 == m { p = $1 } END { print p }' "$lfs_state/mounts")
	grep -q "^ *0 *$uid *1\$" "/proc/$pid/uid_map" || fail "the daemon is not in a user namespace of its own"
	kill -"$sig" "$pid"
	i=0
	while lfs_is_mounted "$home/m2" && [ "$i" -lt 500 ]; do
		i=$((i + 1))
		sleep 0.01
	done
	! lfs_is_mounted "$home/m2" || fail "still mounted after SIG$sig to the daemon"
	user_umount "$home/m2"
done
LAYERFS=$real_layerfs
rc=0
as_user "$LAYERFS" --owners=nobody "$t/img.tar" "$home/m2" 2>"$t/err" || rc=$?
[ "$rc" = 2 ] && grep -q 'owners' "$t/err" || fail "--owners=nobody: status $rc, $(cat "$t/err")"
echo "rootless: plain mount ok"

# ----------------------------- 2. layerfs-chroot with subordinate ranges
root=$t/rootfs
lfs_apt_rootfs "$root" id stat chown touch cat cmp
mkdir -p "$root/home/app"
echo "app:x:1000:1000:app:/home/app:/bin/sh" >>"$root/etc/passwd"
echo "app:x:1000:" >>"$root/etc/group"
chown 1000:1000 "$root/home/app"
tar -C "$root" --numeric-owner -cf "$t/l0.tar" .
echo '{"Cmd": ["/bin/sh"]}' >"$t/config.json"
python3 "$here/chroot_image.py" "$t/apt.tar" "$t/config.json" "$t/l0.tar"
chmod 644 "$t/apt.tar"

# shellcheck disable=SC2016
as_user "$CHROOT" -q --verbose --upper "$home/up2" "$t/apt.tar" -- sh -c '
	id -u; id -g
	stat -c %u:%g /var/cache/apt/archives/partial /home/app
	touch /newfile && chown 1000:1000 /newfile && stat -c %u:%g /newfile' \
	>"$t/out" 2>"$t/err" </dev/null || { cat "$t/err" >&2; fail "layerfs-chroot as $user"; }
[ "$(cat "$t/out")" = "0
0
100:0
1000:1000
1000:1000" ] || fail "layerfs-chroot as $user: $(cat "$t/out")"
grep -q "user namespace: uids 0 $uid 1 1 $base 65536, gids 0 $gid 1 1 $base 65536" "$t/err" ||
	fail "--verbose: $(cat "$t/err")"
# outside, the chown is to the range's id for 1000
[ "$(stat -c %u:%g "$home/up2/newfile")" = "$((base + 999)):$((base + 999))" ] ||
	fail "the chowned file in the upper: $(stat -c %u:%g "$home/up2/newfile")"
out=$(as_user "$CHROOT" -q -u app "$t/apt.tar" -- id -u 2>&1 </dev/null) ||
	fail "layerfs-chroot -u app as $user: $out"
[ "$out" = 1000 ] || fail "layerfs-chroot -u app as $user: $out"
# without ranges: one id, the user's own, as before
sed -i "/^$user:/d" /etc/subuid
# shellcheck disable=SC2016
as_user "$CHROOT" -q --verbose "$t/apt.tar" -- sh -c 'id -u; cat /proc/self/uid_map /proc/self/gid_map' \
	>"$t/out" 2>"$t/err" </dev/null || { cat "$t/err" >&2; fail "layerfs-chroot without ranges"; }
[ "$(tr -s ' ' <"$t/out")" = "0
 0 $uid 1
 0 $gid 1" ] || fail "layerfs-chroot without ranges: $(cat "$t/out")"
grep -q "user namespace: only uid $uid and gid $gid are mapped, to 0 (no range for $user" "$t/err" ||
	fail "--verbose without ranges: $(cat "$t/err")"
echo "$user:$base:65536" >>/etc/subuid
# newuidmap refusing: a warning, and the user's own id alone
mkdir "$t/fakebin"
printf '#!/bin/sh\necho "newuidmap: refused" >&2\nexit 1\n' >"$t/fakebin/newuidmap"
chmod 755 "$t/fakebin/newuidmap"
as_user env PATH="$t/fakebin:$PATH" "$CHROOT" "$t/apt.tar" -- cat /proc/self/uid_map \
	>"$t/out" 2>"$t/err" </dev/null || { cat "$t/err" >&2; fail "layerfs-chroot, newuidmap failing"; }
[ "$(tr -s ' ' <"$t/out")" = " 0 $uid 1" ] || fail "layerfs-chroot, newuidmap failing: $(cat "$t/out")"
grep -q "newuidmap or newgidmap failed: only your own uid and gid are mapped" "$t/err" ||
	fail "no warning when newuidmap fails: $(cat "$t/err")"
echo "rootless: layerfs-chroot with subordinate ids ok"

# ------------------------------------------ 3. apt-get install, rootless
lfs_test_deb "$t/pkg" "$t/lfs-test.deb"
lfs_apt_repo "$t/repo" "$t/lfs-test.deb"
url=$(lfs_http_serve "$t/repo")
as_user "$CHROOT" -q --upper "$home/up3" "$t/apt.tar" -- sh -c "
	echo 'deb [trusted=yes] $url ./' >/etc/apt/sources.list &&
	apt-get update && apt-get install -y lfs-test" >"$t/apt.log" 2>&1 </dev/null ||
	{ cat "$t/apt.log" >&2; fail "apt-get install in layerfs-chroot as $user"; }
if grep -i 'unsandboxed\|sandbox user' "$t/apt.log"; then
	fail "apt could not use its _apt sandbox"
fi
cp "$t/pkg/usr/share/lfs-test/data.bin" "$t/data.ref"
chmod 644 "$t/data.ref" "$t/lfs-test.deb"
# the next run finds it installed; apt's download (by _apt) is the package
# shellcheck disable=SC2016
as_user "$CHROOT" -q --upper "$home/up3" --bind "$t/data.ref:/ref" --bind "$t/lfs-test.deb:/ref.deb" \
	"$t/apt.tar" -- sh -c '
	dpkg-query -W -f "\${Status}\n" lfs-test
	lfs-hello
	cat /var/lib/lfs-test/postinst-ran
	cmp /ref /usr/share/lfs-test/data.bin && echo data ok
	cmp /ref.deb /var/cache/apt/archives/lfs-test_1.0_all.deb && echo download ok
	stat -c %u /var/cache/apt/archives/partial' >"$t/out" 2>"$t/err" </dev/null ||
	{ cat "$t/out" "$t/err" >&2; fail "the installed package in the next run"; }
[ "$(cat "$t/out")" = "install ok installed
hello from lfs-test
configured
data ok
download ok
100" ] || fail "the installed package in the next run: $(cat "$t/out")"
echo "rootless: ok"
