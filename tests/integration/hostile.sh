#!/bin/sh
# hostile.sh - an image whose layers are full of symlinks pointing out of it:
# at /etc, /etc/passwd, /etc/shadow, "..", "../../..", "/", and at absolute
# and relative paths of a canary tree this test creates on the host
# (hostile_image.py).  Mount it, then try every kind of write through the
# mount, via each symlink and below it:
#
#  * from inside a chroot into the mount (hostile_ops.py): the container's
#    view, where every symlink of the image resolves inside the image - touch,
#    utimes, mkdir, rmdir, rm, mv both ways, ln -s, ln both ways, chmod,
#    chown, truncate, echo >, echo >>, setxattr, mkfifo;
#  * from the host with the real commands (touch, mkdir, rm, mv, ln, chmod,
#    chown, truncate, echo >, echo >>) on every symlink itself and on paths
#    whose resolution stays inside the mount (".", "dir/..", a loop).  From
#    the host, the kernel resolves an absolute symlink or a ".." at the mount
#    root against the host - that has nothing to do with layerfs, and doing
#    it would really write to the host - so those are tried from the chroot.
#
# Every write must fail.  The mount is read-only today, so each must fail
# exactly as on the kernel's overlayfs (mounted ro over the same layers,
# extracted): EROFS, or ENOENT / ELOOP / EEXIST ... where the kernel gives
# that; without overlayfs, each must fail with one of those errors.  Finally
# the canary tree (names, modes, owners, sizes, mtimes, link targets, sha256
# of contents) and the host's /etc (names, sizes, mtimes) must be unchanged,
# and a symlink and a file below it in the same layer must not have been
# followed (DESIGN rule 8).
#
# The copy-on-write layer (a separate issue) will reuse this script with
# writes expected to SUCCEED, landing inside the upper directory and nowhere
# else: the canary and /etc checks stay as they are, and the upper directory
# must then hold exactly what was written.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lfs_require_root_fuse
export LC_ALL=C

t=$(lfs_tmpdir)
canary=$t/canary
m=$t/mnt
ovl=$t/ovl
out=$t/out
mkdir -p "$canary/dir/sub" "$m" "$ovl" "$out"
echo "canary secret" >"$canary/file"
echo f2 >"$canary/dir/f2"
ln -s file "$canary/link"
chmod 600 "$canary/file"
chmod 750 "$canary/dir/sub"
touch -h -d @1600000000 "$canary/file" "$canary/dir/f2" "$canary/link" "$canary/dir/sub"

python3 "$here/hostile_image.py" "$t/img" "$canary" >"$t/sources"
links=$(cd "$here" && python3 -c 'import sys; from hostile_image import links
print(" ".join(l for _, l, _, _ in links(sys.argv[1])))' "$canary")

# The state of everything outside the mount that a write could reach.
snapshot() {
	find "$canary" -printf '%P|%M|%U:%G|%s|%T@|%l\n' | sort
	find "$canary" -type f -exec sha256sum {} + | sort
	find /etc -xdev -printf '%P|%s|%T@\n' | sort
	find "$t" -maxdepth 1 -printf '%P|%M\n' | sort
	ls -a /data 2>&1 || :
}
snapshot >"$out/before"

# shellcheck disable=SC2046
lfs_mount $(cat "$t/sources") "$m"

have_ovl=0
if { grep -qw overlay /proc/filesystems || modprobe overlay; } 2>/dev/null &&
	mount -t overlay overlay -o "ro,lowerdir=$t/img/ref/l2:$t/img/ref/l1:$t/img/ref/l0" \
		"$ovl" 2>/dev/null; then
	echo "none $ovl" >>"$lfs_state/mounts"
	have_ovl=1
else
	echo "note: no overlayfs here; checking the errors against a fixed list" >&2
fi

fails=0
bad() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

# --- 1. the container's view: writes from a chroot into the mount
timeout -k 5 120 python3 "$here/hostile_ops.py" "$m" "$canary" >"$out/chroot.layerfs" ||
	bad "hostile_ops.py on layerfs failed or timed out (status $?)"
n=$(wc -l <"$out/chroot.layerfs")
[ "$n" -gt 1000 ] || bad "only $n writes tried from the chroot"
if grep SUCCEEDED "$out/chroot.layerfs" >"$out/ok"; then
	bad "writes succeeded from the chroot: $(head -5 "$out/ok")"
fi
if [ $have_ovl = 1 ]; then
	timeout -k 5 120 python3 "$here/hostile_ops.py" "$ovl" "$canary" >"$out/chroot.overlay" ||
		bad "hostile_ops.py on overlayfs failed or timed out"
	diff -u "$out/chroot.overlay" "$out/chroot.layerfs" >"$out/chroot.diff" ||
		bad "errors from the chroot differ from overlayfs':
$(head -40 "$out/chroot.diff")"
else
	grep -Ev ' (EROFS|ENOENT|ELOOP|EEXIST|ENOTDIR|EISDIR|EPERM|ENOTEMPTY|EXDEV|EBUSY|EINVAL)$' \
		"$out/chroot.layerfs" >"$out/odd" && bad "unexpected errors: $(head -5 "$out/odd")"
fi

# --- 2. from the host, with the real commands, paths that stay inside
try() {   # NAME COMMAND...: one line, the command's status and messages
	_n=$1
	shift
	if _o=$(timeout -k 2 20 "$@" 2>&1); then
		echo "$_n: SUCCEEDED"
	else
		echo "$_n: failed $? $(printf '%s\n' "$_o" | sed "s|$r|ROOT|g" | sort | tr '\n' ' ')"
	fi
}

outside() {   # ROOT
	r=$1
	for l in $links; do
		try "rm $l" rm "$r/$l"
		try "mv $l" mv -T "$r/$l" "$r/$l.moved"
		try "ln -sfn $l" ln -sfn x "$r/$l"
		try "touch -h $l" touch -h "$r/$l"
		try "chown -h $l" chown -h 1:1 "$r/$l"
	done
	for p in data/file dir dir/existing data/new self self/data/file self/new \
		dir/up/data/file dir/up/new deep/a/b/top/data/file deep/a/b/top/new \
		loop loop/x over over/planted; do
		try "touch $p" touch "$r/$p"
		try "mkdir $p" mkdir "$r/$p"
		try "rm $p" rm "$r/$p"
		try "rm -r $p" rm -r "$r/$p"
		try "rmdir $p" rmdir "$r/$p"
		try "mv from $p" mv -T "$r/$p" "$r/data/moved"
		try "mv to $p" mv -T "$r/data/file" "$r/$p"
		try "ln -s $p" ln -s x "$r/$p"
		try "ln to $p" ln "$r/data/file" "$r/$p"
		try "ln from $p" ln "$r/$p" "$r/data/hardlink"
		try "chmod $p" chmod 777 "$r/$p"
		try "chown $p" chown 1:1 "$r/$p"
		try "truncate $p" truncate -s 0 "$r/$p"
		try "echo > $p" sh -c 'echo hostile >"$1"' sh "$r/$p"
		try "echo >> $p" sh -c 'echo hostile >>"$1"' sh "$r/$p"
	done
}

outside "$m" >"$out/host.layerfs"
if grep SUCCEEDED "$out/host.layerfs" >"$out/ok"; then
	bad "writes succeeded from the host: $(head -5 "$out/ok")"
fi
if [ $have_ovl = 1 ]; then
	outside "$ovl" >"$out/host.overlay"
	diff -u "$out/host.overlay" "$out/host.layerfs" >"$out/host.diff" ||
		bad "errors from the host differ from overlayfs':
$(head -40 "$out/host.diff")"
else
	grep -Ev 'Read-only file system|No such file|Too many levels|File exists|Not a directory|Is a directory|are the same file|Operation not permitted' \
		"$out/host.layerfs" >"$out/odd" && bad "unexpected errors: $(head -5 "$out/odd")"
fi

# --- 3. the tree itself: links are data, nothing was followed
[ "$(readlink "$m/etc")" = /etc ] || bad "readlink etc: $(readlink "$m/etc")"
[ "$(readlink "$m/canary")" = "$canary" ] || bad "readlink canary"
[ "$(cat "$m/$canary/file")" = "the image's copy of the canary" ] || bad "image's canary copy"
if [ ! -d "$m/over" ] || [ -L "$m/over" ] || [ "$(cat "$m/over/planted")" != planted ]; then
	bad "a directory over a lower symlink to /etc must hide it (rule 5)"
fi
[ ! -e "$m/data/planted" ] || bad "sneaky/planted was written through the symlink sneaky -> /data"
[ "$(cat "$m/data/file")" = data ] || bad "data/file changed"

lfs_umount "$m"
if [ $have_ovl = 1 ]; then
	umount "$ovl"
	grep -v " $ovl\$" "$lfs_state/mounts" >"$lfs_state/mounts.new" || :
	mv "$lfs_state/mounts.new" "$lfs_state/mounts"
fi

# --- 4. nothing outside changed
snapshot >"$out/after"
diff -u "$out/before" "$out/after" >"$out/outside.diff" ||
	bad "the host changed:
$(head -40 "$out/outside.diff")"

[ $fails -eq 0 ] || lfs_fail "$fails check(s) failed"
echo "ok: $n writes from the chroot and $(wc -l <"$out/host.layerfs") from the host all failed" \
	"$([ $have_ovl = 1 ] && echo 'as on overlayfs'); the canary and /etc are unchanged"
