#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Basic behaviour of a real mount: the CLI contract (exit codes, background
# mode returns once mounted), reads through every compression, xattrs,
# readlink, statfs, and EROFS on writes.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lfs_require_root_fuse
LAYERFS=${top_builddir:-$here/../..}/src/layerfs

t=$(lfs_tmpdir)
fail() { echo "FAIL: $*" >&2; exit 1; }

# --- CLI contract
"$LAYERFS" --version | grep -q '^layerfs ' || fail "--version"
"$LAYERFS" --help | grep -q -- '--tag' || fail "--help"
set +e
"$LAYERFS" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no arguments must exit 2"
"$LAYERFS" --bogus a b >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad option must exit 2"
"$LAYERFS" "$t/missing.tar" "$t" 2>"$t/err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "missing source must exit 1 (got $rc)"
grep -q 'missing.tar' "$t/err" || fail "error must name the file: $(cat "$t/err")"
[ "$(wc -l <"$t/err")" -eq 1 ] || fail "error must be one line: $(cat "$t/err")"

# --- layers: raw, gzip, zstd, with a big file to cross restart points
python3 - "$t" <<'PY'
import io, os, sys, tarfile, random
t = sys.argv[1]
rnd = random.Random(42)
big = bytes(rnd.getrandbits(8) for _ in range(256 * 1024)) * 12 + b"tail"
def layer(name, entries):
    with tarfile.open(os.path.join(t, name), "w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            ti = tarfile.TarInfo(e["name"])
            ti.type = e.get("type", tarfile.REGTYPE)
            ti.mode = e.get("mode", 0o644)
            ti.mtime = 1700000000
            ti.linkname = e.get("link", "")
            if "xattr" in e:
                ti.pax_headers = {"SCHILY.xattr." + k: v for k, v in e["xattr"].items()}
            data = e.get("data", b"")
            ti.size = len(data) if ti.type == tarfile.REGTYPE else 0
            tf.addfile(ti, io.BytesIO(data) if ti.size else None)
    open(os.path.join(t, "big.bin"), "wb").write(big)
layer("l0.tar", [
    {"name": "etc", "type": tarfile.DIRTYPE, "mode": 0o755},
    {"name": "etc/hostname", "data": b"base\n"},
    {"name": "etc/gone", "data": b"gone\n"},
    {"name": "usr/bin/tool", "data": b"#!/bin/sh\necho hi\n", "mode": 0o755},
    {"name": "usr/bin/link", "type": tarfile.SYMTYPE, "link": "tool"},
    {"name": "data/big0", "data": big},
])
layer("l1.tar", [
    {"name": "etc/hostname", "data": b"gzip layer\n", "xattr": {"user.note": "hello"}},
    {"name": "etc/.wh.gone"},
    {"name": "data/big1", "data": big},
])
layer("l2.tar", [
    {"name": "data/big2", "data": big},
    {"name": "opt/app/run", "data": b"run\n", "mode": 0o4755},
])
PY
gzip -9 "$t/l1.tar"
zstd -q --rm -19 "$t/l2.tar"
mnt="$t/mnt"; mkdir "$mnt"
# where the private upper directory goes (checked for removal below)
mkdir -m 1777 "$t/tmp"
TMPDIR=$t/tmp
export TMPDIR
lfs_mount "$t/l0.tar" "$t/l1.tar.gz" "$t/l2.tar.zst" "$mnt"

[ "$(cat "$mnt/etc/hostname")" = "gzip layer" ] || fail "upper file must win"
[ ! -e "$mnt/etc/gone" ] || fail "whiteout must hide etc/gone"
[ "$(readlink "$mnt/usr/bin/link")" = tool ] || fail readlink
[ "$("$mnt/usr/bin/link" 2>/dev/null || sh "$mnt/usr/bin/tool")" = hi ] || fail "script content"
[ "$(getfattr --absolute-names --only-values -n user.note "$mnt/etc/hostname")" = hello ] || fail getxattr
[ "$(stat -c %a "$mnt/opt/app/run")" = 4755 ] || fail "setuid mode"
for i in 0 1 2; do
	cmp "$t/big.bin" "$mnt/data/big$i" || fail "content of big$i"
	# random reads at odd offsets, checked against the original
	for off in 1 70000 1048575 1048577 2500000 3145727; do
		a=$(dd if="$t/big.bin" bs=1 skip=$off count=4096 status=none | md5sum)
		b=$(dd if="$mnt/data/big$i" bs=1 skip=$off count=4096 status=none | md5sum)
		[ "$a" = "$b" ] || fail "read big$i at $off"
	done
done
# stable inode numbers
[ "$(stat -c %i "$mnt/etc/hostname")" = "$(stat -c %i "$mnt/etc/hostname")" ] || fail ino
# writable by default: changes land in a private upper directory that goes away
ino=$(stat -c %i "$mnt/etc/hostname")
echo more >>"$mnt/etc/hostname" || fail "append must work"
[ "$(cat "$mnt/etc/hostname")" = "gzip layer
more" ] || fail "appended content"
[ "$(stat -c %i "$mnt/etc/hostname")" = "$ino" ] || fail "st_ino must survive a copy-up"
touch "$mnt/newfile" || fail "create must work"
rm "$mnt/data/big0" || fail "unlink must work"
[ ! -e "$mnt/data/big0" ] || fail "unlinked file still there"
cmp "$t/big.bin" "$mnt/data/big1" || fail "a sibling of an unlinked file"
df "$mnt" >/dev/null || fail statfs
stat -f -c %T "$mnt" | grep -q fuse || fail "statfs type"
lfs_umount "$mnt"
grep -q " $mnt " /proc/self/mountinfo && fail "still mounted"
[ -z "$(ls "$t/tmp")" ] || fail "the private upper directory must be removed"

# --read-only: every change fails with EROFS
lfs_mount --read-only "$t/l0.tar" "$t/l1.tar.gz" "$t/l2.tar.zst" "$mnt"
if touch "$mnt/newfile" 2>"$t/err"; then fail "write must fail"; fi
grep -qi 'read-only' "$t/err" || fail "write must fail with EROFS: $(cat "$t/err")"
if rm "$mnt/etc/hostname" 2>/dev/null; then fail "unlink must fail"; fi
[ "$(cat "$mnt/etc/hostname")" = "gzip layer" ] || fail "a private upper must not outlive its mount"
lfs_umount "$mnt"

# --- the index cache: a warm mount serves the same bytes, and damaged index
# files are rebuilt, never trusted
cache=$t/cache
lfs_mount --cache "$cache" "$t/l0.tar" "$t/l1.tar.gz" "$t/l2.tar.zst" "$mnt"
lfs_umount "$mnt"
[ "$(ls "$cache"/*.idx | wc -l)" -eq 3 ] || fail "one index file per layer expected"
check_tree() {
	[ "$(cat "$mnt/etc/hostname")" = "gzip layer" ] || fail "$1: upper file"
	[ ! -e "$mnt/etc/gone" ] || fail "$1: whiteout"
	for i in 0 1 2; do cmp "$t/big.bin" "$mnt/data/big$i" || fail "$1: big$i"; done
}
lfs_mount --cache "$cache" "$t/l0.tar" "$t/l1.tar.gz" "$t/l2.tar.zst" "$mnt"
check_tree "warm mount"
lfs_umount "$mnt"
for f in "$cache"/*.idx; do
	size=$(stat -c %s "$f")
	printf '\377' | dd of="$f" bs=1 seek=$((size / 2)) conv=notrunc status=none
done
lfs_mount --cache "$cache" "$t/l0.tar" "$t/l1.tar.gz" "$t/l2.tar.zst" "$mnt"
check_tree "flipped index bytes"
lfs_umount "$mnt"
for f in "$cache"/*.idx; do truncate -s 100 "$f"; done
for f in "$cache"/*.scr; do [ -f "$f" ] && printf 'xxxx' | dd of="$f" bs=1 seek=100 conv=notrunc status=none; done
lfs_mount --cache "$cache" "$t/l0.tar" "$t/l1.tar.gz" "$t/l2.tar.zst" "$mnt"
check_tree "truncated index"
lfs_umount "$mnt"

# --- background mode: returns only when the mount is ready
"$LAYERFS" "$t/l0.tar" "$mnt" || fail "background mount"
echo "none $mnt" >>"$lfs_state/mounts"	# unmounted by lib.sh's trap if we fail
[ "$(cat "$mnt/etc/hostname")" = base ] || fail "background mount not ready on return"
fusermount3 -u "$mnt"

# --- an ordinary user mounts through fusermount3 (Debian's /dev/fuse is 0666;
# some VMs make it 0600: open it up for this part and put it back after)
fuse_mode=$(stat -c %a /dev/fuse)
trap 'chmod "$fuse_mode" /dev/fuse; lfs_cleanup' EXIT
chmod o+rw /dev/fuse
u=$t/user; mkdir -p "$u/mnt"; cp "$t/l0.tar" "$t/l1.tar.gz" "$u/"
chown -R 65534:65534 "$u"; chmod 755 "$t" "$u"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
as_nobody "$LAYERFS" --no-cache "$u/l0.tar" "$u/l1.tar.gz" "$u/mnt" || fail "mount as an ordinary user"
echo "none $u/mnt" >>"$lfs_state/mounts"
[ "$(as_nobody cat "$u/mnt/etc/hostname")" = "gzip layer" ] || fail "read as an ordinary user"
grep " $u/mnt " /proc/self/mountinfo | grep -q 'user_id=65534' || fail "not the user's mount"
as_nobody fusermount3 -u "$u/mnt" || fail "unmount as an ordinary user"
chmod "$fuse_mode" /dev/fuse
echo "mount_basic: ok"
