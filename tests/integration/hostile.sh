#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
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
# Both run twice, each time on layerfs and on the kernel's overlayfs over
# the same layers (extracted), and each attempt must end the same way on
# both (SUCCEEDED, or the same errno / the same messages):
#
#  ro  layerfs --read-only against the kernel's overlayfs mounted ro: every
#      write must fail (EROFS, or ENOENT / ELOOP / EEXIST ... where the kernel
#      gives that).  The tree must still be what the image says (the links
#      are data, a symlink and a file below it in the same layer were not
#      followed, DESIGN rule 8).
#  rw  layerfs --upper U --work W against the kernel's overlayfs with its
#      own upperdir and workdir (redirect_dir=off, as DESIGN asks): writes
#      now succeed or fail as on the kernel, in the same sequence; afterwards
#      both merged trees must be the same (names, types, modes, owners, sizes,
#      link targets, contents, user.* xattrs; not times), and U, mounted by
#      the kernel's overlayfs once layerfs is gone, must show that tree too:
#      the upper directory holds exactly what was written.
#
# After each mode, the canary tree (names, modes, owners, sizes, mtimes, link
# targets, sha256 of contents), /etc (names, sizes, mtimes), /data and
# everything under the test's directory except the upper and work
# directories (the image, the extracted layers, the mount points) must be
# unchanged: no write went anywhere else.  Without overlayfs, ro checks the
# errors against a fixed list and rw only checks that nothing leaked.
#
# The test runs in a private mount namespace where /etc is a copy the test
# owns (bind-mounted over the host's): a write that escaped through the
# image's links to /etc would land in the copy and be seen, while the host's
# own changes to /etc during the run (a package being installed) are not
# mistaken for one.  Where no private namespace can be made, /etc is not
# checked, rather than failing on changes that are not the test's.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${LFS_HOSTILE_NS:-}" ] && [ "$(id -u)" -eq 0 ] &&
	unshare -m --propagation private true 2>/dev/null; then
	LFS_HOSTILE_NS=1 exec unshare -m --propagation private sh "$0" "$@"
fi
. "$here/lib.sh"
lfs_require_root_fuse
if [ -n "${LFS_HOSTILE_NS:-}" ]; then
	# The namespace began as a copy of every mount there was, other tests'
	# FUSE and overlay mounts among them (make check runs tests in
	# parallel); a copy keeps a FUSE connection open, so the other test's
	# daemon could not exit after its unmount.  Drop the copies: none is ours.
	awk '{ for (i = 7; $i != "-"; i++) ; if ($(i + 1) ~ /^(fuse|overlay)/) print $5 }' \
		/proc/self/mountinfo | sort -r | while read -r _m; do
		umount -l "$(printf '%b' "$_m")" 2>/dev/null || :
	done
fi
export LC_ALL=C

t=$(lfs_tmpdir)
check_etc=0
if [ -n "${LFS_HOSTILE_NS:-}" ]; then
	# The copy lives outside $t: $t's own snapshot would otherwise hold it twice.
	etc_copy=$(lfs_tmpdir)
	cp -a /etc/. "$etc_copy/"
	mount --bind "$etc_copy" /etc && check_etc=1
fi
[ $check_etc = 1 ] || echo "note: no private mount namespace; /etc is not checked" >&2
canary=$t/canary
out=$t/out
mkdir -p "$canary/dir/sub" "$out"
for mode in ro rw; do
	mkdir -p "$t/$mode/mnt" "$t/$mode/ovl"
done
# upper and work dirs: layerfs', the kernel's, and a work dir for reading U back
mkdir -m 755 "$t/rw/U" "$t/rw/W" "$t/rw/OU" "$t/rw/OW"
echo "canary secret" >"$canary/file"
echo f2 >"$canary/dir/f2"
ln -s file "$canary/link"
chmod 600 "$canary/file"
chmod 750 "$canary/dir/sub"
touch -h -d @1600000000 "$canary/file" "$canary/dir/f2" "$canary/link" "$canary/dir/sub"

python3 "$here/hostile_image.py" "$t/img" "$canary" >"$t/sources"
links=$(cd "$here" && python3 -c 'import sys; from hostile_image import links
print(" ".join(l for _, l, _, _ in links(sys.argv[1])))' "$canary")
lowers=$t/img/ref/l2:$t/img/ref/l1:$t/img/ref/l0

# The state of everything outside the mounts that a write could reach:
# everything in $t but the upper and work directories and the test's output.
snapshot() {
	find "$canary" -printf '%P|%M|%U:%G|%s|%T@|%l\n' | sort
	find "$canary" -type f -exec sha256sum {} + | sort
	[ $check_etc = 0 ] || find /etc -xdev -printf '%P|%s|%T@\n' | sort
	find "$t" \( -path "$out" -o -path "$t/rw/U" -o -path "$t/rw/W" -o -path "$t/rw/OU" \
		-o -path "$t/rw/OW" \) -prune -o \
		-printf '%P|%M|%U:%G|%s|%T@|%l\n' | sort
	find "$t/img" -type f -exec sha256sum {} + | sort
	ls -a /data 2>&1 || :
}
snapshot >"$out/before"

have_ovl=0
if { grep -qw overlay /proc/filesystems || modprobe overlay; } 2>/dev/null; then
	have_ovl=1
else
	echo "note: no overlayfs here; checking the errors against a fixed list" >&2
fi

fails=0
bad() {
	echo "FAIL: [$mode] $*" >&2
	fails=$((fails + 1))
}

# Mount the kernel's overlayfs (options $1) on $ovl; 0 if it worked.
ovl_mount() {
	[ $have_ovl = 1 ] || return 1
	if mount -t overlay overlay -o "$1" "$ovl" 2>"$out/ovl.err"; then
		echo "none $ovl" >>"$lfs_state/mounts"
		return 0
	fi
	echo "note: cannot mount overlayfs ($(cat "$out/ovl.err")); no comparison in $mode" >&2
	return 1
}
ovl_umount() {
	umount "$1"
	grep -v " $1\$" "$lfs_state/mounts" >"$lfs_state/mounts.new" || :
	mv "$lfs_state/mounts.new" "$lfs_state/mounts"
}

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

# The merged tree, no times; the layerfs-only "sneaky" left out (never
# extracted for the reference: tar would follow or refuse it).
tree() {
	python3 "$here/hostile_ops.py" --tree "$1" sneaky
}

run_mode() {   # ro | rw
	mode=$1
	m=$t/$mode/mnt
	ovl=$t/$mode/ovl
	o=$out/$mode
	mkdir -p "$o"
	have_ref=0
	if [ "$mode" = ro ]; then
		# shellcheck disable=SC2046
		lfs_mount --read-only $(cat "$t/sources") "$m"
		ovl_mount "ro,lowerdir=$lowers" && have_ref=1
	else
		# shellcheck disable=SC2046
		lfs_mount --upper "$t/rw/U" --work "$t/rw/W" $(cat "$t/sources") "$m"
		ovl_mount "lowerdir=$lowers,upperdir=$t/rw/OU,workdir=$t/rw/OW,redirect_dir=off" &&
			have_ref=1
		if [ $have_ref = 1 ]; then
			tree "$m" >"$o/tree0.layerfs"
			tree "$ovl" >"$o/tree0.overlay"
			diff -u "$o/tree0.overlay" "$o/tree0.layerfs" >"$o/tree0.diff" ||
				bad "the trees differ before any write:
$(head -40 "$o/tree0.diff")"
		fi
	fi

	# --- 1. the container's view: writes from a chroot into the mount
	timeout -k 5 120 python3 "$here/hostile_ops.py" "$m" "$canary" >"$o/chroot.layerfs" ||
		bad "hostile_ops.py on layerfs failed or timed out (status $?)"
	n=$(wc -l <"$o/chroot.layerfs")
	[ "$n" -gt 1000 ] || bad "only $n writes tried from the chroot"
	if [ "$mode" = ro ] && grep SUCCEEDED "$o/chroot.layerfs" >"$o/ok"; then
		bad "writes succeeded from the chroot: $(head -5 "$o/ok")"
	fi
	if [ $have_ref = 1 ]; then
		timeout -k 5 120 python3 "$here/hostile_ops.py" "$ovl" "$canary" >"$o/chroot.overlay" ||
			bad "hostile_ops.py on overlayfs failed or timed out"
		diff -u "$o/chroot.overlay" "$o/chroot.layerfs" >"$o/chroot.diff" ||
			bad "results from the chroot differ from overlayfs':
$(head -40 "$o/chroot.diff")"
	elif [ "$mode" = ro ]; then
		grep -Ev ' (EROFS|ENOENT|ELOOP|EEXIST|ENOTDIR|EISDIR|EPERM|ENOTEMPTY|EXDEV|EBUSY|EINVAL)$' \
			"$o/chroot.layerfs" >"$o/odd" && bad "unexpected errors: $(head -5 "$o/odd")"
	fi

	# --- 2. from the host, with the real commands, paths that stay inside
	outside "$m" >"$o/host.layerfs"
	if [ "$mode" = ro ] && grep SUCCEEDED "$o/host.layerfs" >"$o/ok"; then
		bad "writes succeeded from the host: $(head -5 "$o/ok")"
	fi
	if [ $have_ref = 1 ]; then
		outside "$ovl" >"$o/host.overlay"
		diff -u "$o/host.overlay" "$o/host.layerfs" >"$o/host.diff" ||
			bad "results from the host differ from overlayfs':
$(head -40 "$o/host.diff")"
	elif [ "$mode" = ro ]; then
		grep -Ev 'Read-only file system|No such file|Too many levels|File exists|Not a directory|Is a directory|are the same file|Operation not permitted' \
			"$o/host.layerfs" >"$o/odd" && bad "unexpected errors: $(head -5 "$o/odd")"
	fi

	# --- 3. the tree itself
	[ ! -e "$m/data/planted" ] || bad "sneaky/planted was written through the symlink sneaky -> /data"
	if [ "$mode" = ro ]; then
		# links are data, nothing was followed, nothing changed
		[ "$(readlink "$m/etc")" = /etc ] || bad "readlink etc: $(readlink "$m/etc")"
		[ "$(readlink "$m/canary")" = "$canary" ] || bad "readlink canary"
		[ "$(cat "$m/$canary/file")" = "the image's copy of the canary" ] || bad "image's canary copy"
		if [ ! -d "$m/over" ] || [ -L "$m/over" ] || [ "$(cat "$m/over/planted")" != planted ]; then
			bad "a directory over a lower symlink to /etc must hide it (rule 5)"
		fi
		[ "$(cat "$m/data/file")" = data ] || bad "data/file changed"
	else
		tree "$m" >"$o/tree.layerfs"
		[ "$(wc -l <"$o/tree.layerfs")" -gt 20 ] || bad "only $(wc -l <"$o/tree.layerfs") entries left"
		if [ $have_ref = 1 ]; then
			tree "$ovl" >"$o/tree.overlay"
			diff -u "$o/tree.overlay" "$o/tree.layerfs" >"$o/tree.diff" ||
				bad "the merged trees differ after the writes:
$(head -40 "$o/tree.diff")"
		fi
	fi

	lfs_umount "$m"
	[ $have_ref = 1 ] && ovl_umount "$ovl"

	# --- 4. rw: the upper directory holds exactly what was written
	if [ "$mode" = rw ] && [ $have_ref = 1 ]; then
		[ -z "$(ls -A "$t/rw/W/work" 2>/dev/null)" ] ||
			bad "layerfs left entries in its work directory: $(ls -A "$t/rw/W/work" | head -5)"
		if ovl_mount "ro,lowerdir=$t/rw/U:$lowers,redirect_dir=off"; then
			tree "$ovl" >"$o/tree.upper"
			ovl_umount "$ovl"
			diff -u "$o/tree.layerfs" "$o/tree.upper" >"$o/upper.diff" ||
				bad "the kernel's overlayfs over layerfs' upper dir shows another tree:
$(head -40 "$o/upper.diff")"
		else
			bad "the kernel's overlayfs cannot mount layerfs' upper dir"
		fi
	fi

	# --- 5. nothing outside changed
	snapshot >"$o/after"
	diff -u "$out/before" "$o/after" >"$o/outside.diff" ||
		bad "the host changed:
$(head -40 "$o/outside.diff")"

	echo "$mode: $n writes from the chroot and $(wc -l <"$o/host.layerfs") from the host" \
		"$([ $have_ref = 1 ] && echo 'ended as on overlayfs')" \
		"($(grep -c SUCCEEDED "$o/chroot.layerfs" "$o/host.layerfs" |
			awk -F: '{ s += $2 } END { print s + 0 }') succeeded);" \
		"nothing outside the mount changed"
}

run_mode ro
run_mode rw

[ $fails -eq 0 ] || lfs_fail "$fails check(s) failed"
echo "ok"
