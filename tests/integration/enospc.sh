#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# enospc.sh - the upper directory on a full filesystem.  layerfs --upper U
# --work W with U and W on an 8 MiB tmpfs, against the kernel's overlayfs
# (redirect_dir=off) with its upper and work dirs on another 8 MiB tmpfs,
# over the same layers (enospc_ops.py image: a small file, an empty one,
# 2 and 10 MiB files in a plain tar layer, a 12 MiB one in a gzip layer).
# enospc_ops.py run does the same on both (see there), and:
#
#  * every result - bytes written, OK, or the errno - and the free space of
#    the upper filesystem at each checkpoint must be the same on both:
#    writes past the space fail with ENOSPC at the same byte, and a failed
#    copy-up leaves no space taken;
#  * whatever the kernel does: a copy-up of a lower file bigger than the
#    free space (append, chmod, open O_RDWR, setxattr, truncate) fails with
#    ENOSPC and leaves the lower file intact and readable and nothing in
#    W/work; files written before the filesystem filled up stay complete;
#    once space is freed (rm), writes and copy-ups work again;
#  * at the end both merged trees are the same (names, types, modes, owners,
#    sizes, contents), and so is the tree layerfs shows on a new mount of U.
# Without overlayfs, only the expectations of the second point are checked.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lfs_require_root_fuse
export LC_ALL=C

t=$(lfs_tmpdir)
m=$t/mnt
ovl=$t/ovl
out=$t/out
mkdir -p "$m" "$ovl" "$out" "$t/small" "$t/ksmall"
python3 "$here/enospc_ops.py" image "$t/img" >"$t/sources"
ref=$t/img/ref

# the small filesystems go first: the trap unmounts newest first
mount -t tmpfs -o size=8m,mode=755 tmpfs "$t/small" || lfs_skip "cannot mount a tmpfs"
echo "none $t/small" >>"$lfs_state/mounts"
mkdir -m 755 "$t/small/U" "$t/small/W"

have_ovl=0
if { grep -qw overlay /proc/filesystems || modprobe overlay; } 2>/dev/null; then
	mount -t tmpfs -o size=8m,mode=755 tmpfs "$t/ksmall"
	echo "none $t/ksmall" >>"$lfs_state/mounts"
	mkdir -m 755 "$t/ksmall/U" "$t/ksmall/W"
	if mount -t overlay overlay -o "lowerdir=$ref/l1:$ref/l0,upperdir=$t/ksmall/U,workdir=$t/ksmall/W,redirect_dir=off" \
		"$ovl" 2>"$out/ovl.err"; then
		echo "none $ovl" >>"$lfs_state/mounts"
		have_ovl=1
	else
		echo "note: cannot mount overlayfs ($(cat "$out/ovl.err")); no comparison" >&2
	fi
else
	echo "note: no overlayfs here; no comparison" >&2
fi

fails=0
bad() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

# shellcheck disable=SC2046
lfs_mount --upper "$t/small/U" --work "$t/small/W" $(cat "$t/sources") "$m"
timeout -k 5 120 python3 "$here/enospc_ops.py" run "$m" "$t/small" "$t/small/W/work" "$ref" \
	>"$out/layerfs.log" 2>&1 || bad "enospc_ops.py on layerfs failed (status $?): $(tail -5 "$out/layerfs.log")"
grep '^BAD' "$out/layerfs.log" >"$out/bad" && bad "on layerfs:
$(cat "$out/bad")"
python3 "$here/enospc_ops.py" tree "$m" >"$out/tree.layerfs"

if [ $have_ovl = 1 ]; then
	timeout -k 5 120 python3 "$here/enospc_ops.py" run "$ovl" "$t/ksmall" "$t/ksmall/W/work" "$ref" \
		>"$out/kernel.log" 2>&1 || bad "enospc_ops.py on overlayfs failed (status $?): $(tail -5 "$out/kernel.log")"
	grep '^BAD' "$out/kernel.log" >"$out/bad" &&
		echo "note: expectations that do not hold on the kernel's overlayfs either:
$(cat "$out/bad")" >&2
	diff -u "$out/kernel.log" "$out/layerfs.log" >"$out/log.diff" || bad "results differ from overlayfs':
$(cat "$out/log.diff")"
	python3 "$here/enospc_ops.py" tree "$ovl" >"$out/tree.kernel"
	diff -u "$out/tree.kernel" "$out/tree.layerfs" >"$out/tree.diff" || bad "the merged trees differ:
$(cat "$out/tree.diff")"
fi

lfs_umount "$m"
[ -z "$(ls -A "$t/small/W/work")" ] || bad "left in W/work after unmount: $(ls -A "$t/small/W/work")"
# shellcheck disable=SC2046
lfs_mount --upper "$t/small/U" --work "$t/small/W" $(cat "$t/sources") "$m"
python3 "$here/enospc_ops.py" tree "$m" >"$out/tree.again"
lfs_umount "$m"
diff -u "$out/tree.layerfs" "$out/tree.again" >"$out/again.diff" || bad "a new mount of U shows another tree:
$(cat "$out/again.diff")"

for log in "$lfs_state"/layerfs.*; do
	[ -s "$log" ] && bad "layerfs printed: $(head -5 "$log")"
done

[ $fails -eq 0 ] || lfs_fail "$fails check(s) failed"
echo "ok: $(grep -c ': ENOSPC' "$out/layerfs.log") ENOSPC$([ $have_ovl = 1 ] && echo ' as on overlayfs');" \
	"nothing lost, no space leaked, writes work again after rm"
