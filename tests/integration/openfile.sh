#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# openfile.sh - an open file is the file it opened, whatever happens to its
# names (openfile.py): unlinked open files stay readable and writable and
# answer fstat, fchmod, futimens, ftruncate, xattrs until the last close;
# the old fd of a file replaced by write-to-temporary-then-rename keeps
# showing and changing the old file, never the new one; a removed working
# directory still answers stat(".").  The same scenarios run on layerfs
# --upper and on the kernel's overlayfs (redirect_dir=off) over the same
# layers, and every step must end the same way, the trees afterwards too.
# Then, on layerfs only, a copy-up that splits a hard-link group must show
# the new st_nlink at once (not after a readdir refreshes the kernel's cache).
# Skips (77) without root, /dev/fuse or overlayfs.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

lfs_require_root_fuse
lfs_require_overlay
command -v python3 >/dev/null 2>&1 || lfs_skip "python3 is not installed"

t=$(lfs_tmpdir)
python3 "$here/openfile.py" image "$t/img"
mkdir "$t/ku" "$t/kw" "$t/k" "$t/lu" "$t/lw" "$t/l"

mount -t overlay overlay \
	-o "lowerdir=$t/img/l2:$t/img/l1,upperdir=$t/ku,workdir=$t/kw,redirect_dir=off,index=off,metacopy=off,xino=off" \
	"$t/k" || lfs_skip "cannot mount overlayfs here"
echo "none $t/k" >>"$lfs_state/mounts"
python3 "$here/openfile.py" run "$t/k" >"$t/kernel.out"
umount "$t/k"

lfs_mount --upper "$t/lu" --work "$t/lw" "$t/img/l1.tar" "$t/img/l2.tar" "$t/l"
log=$_log # lib.sh's: the daemon's output
python3 "$here/openfile.py" run "$t/l" >"$t/layerfs.out"
links=0
python3 "$here/openfile.py" links "$t/l" >"$t/links.out" || links=1
lfs_umount "$t/l"
if grep -q 'Sanitizer\|runtime error:' "$log"; then
	cat "$log" >&2
	lfs_fail "the daemon reported a sanitizer error"
fi

if ! diff -u "$t/kernel.out" "$t/layerfs.out"; then
	lfs_fail "layerfs (+) and the kernel's overlayfs (-) differ"
fi
cat "$t/links.out"
[ "$links" -eq 0 ] || lfs_fail "st_nlink after a copy-up that split a hard-link group is stale"
echo "PASS: $(grep -c . "$t/kernel.out") steps as the kernel's overlayfs; hard-link split seen at once"
