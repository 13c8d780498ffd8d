#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# chroot_commit.sh - layerfs-chroot --commit DEST (issue 16): the command
# runs, then its changes become a new layer on top of the image at DEST.
# What DEST holds is read back by umoci (an independent reader): a new
# file, a deleted one (GNU tar lists its .wh. entry in the new layer), a
# new directory tree and a symlink; the history names the command.  A
# command that fails commits nothing and its status is the exit status; a
# DEST that exists is refused before the command runs; --upper is kept and
# committed; no private upper is left behind.  Skips (77) without root,
# /dev/fuse, python3 or umoci.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

lfs_require_root_fuse
lfs_require_cmds python3 umoci tar
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export ASAN_OPTIONS LAYERFS
CHROOT=${LAYERFS_CHROOT:-$top_builddir/tools/layerfs-chroot}
COMMIT=${LAYERFS_COMMIT:-$top_builddir/tools/layerfs-commit}
[ -x "$CHROOT" ] && [ -x "$COMMIT" ] || lfs_fail "no layerfs-chroot or layerfs-commit (build them first)"
export LAYERFS_COMMIT="$COMMIT"

t=$(lfs_tmpdir)
mkdir -m 1777 "$t/tmp"
TMPDIR=$t/tmp
export TMPDIR
root=$t/rootfs
lfs_host_rootfs "$root" sh cat rm mkdir ln
mkdir -p "$root/etc"
echo "to delete" >"$root/etc/obsolete"
echo "kept" >"$root/etc/kept"
tar -C "$root" --numeric-owner -cf "$t/l0.tar" .
echo '{"Cmd": ["/bin/sh"]}' >"$t/config.json"
python3 "$here/chroot_image.py" "$t/img.tar" "$t/config.json" "$t/l0.tar"

cmd='echo new >/new && rm /etc/obsolete && mkdir -p /d/e && echo x >/d/e/f && ln -s /new /link'
"$CHROOT" -q --commit "oci:$t/out:v1" "$t/img.tar" -- sh -c "$cmd" ||
	lfs_fail "layerfs-chroot --commit: exit $?"
umoci unpack --image "$t/out:v1" "$t/b" >/dev/null
r=$t/b/rootfs
[ "$(cat "$r/new")" = new ] || lfs_fail "DEST: /new is not the command's"
[ ! -e "$r/etc/obsolete" ] || lfs_fail "DEST: the deleted /etc/obsolete is back"
[ "$(cat "$r/etc/kept")" = kept ] || lfs_fail "DEST: /etc/kept lost"
[ "$(cat "$r/d/e/f")" = x ] || lfs_fail "DEST: /d/e/f missing"
[ "$(readlink "$r/link")" = /new ] || lfs_fail "DEST: /link is not the symlink made"
python3 - "$t/out" "$t/top.tar" "$cmd" <<'PY' || lfs_fail "DEST: the new layer or its history is wrong"
import gzip, json, sys
out, top, cmd = sys.argv[1:4]
blob = lambda d: f"{out}/blobs/sha256/{d.split(':')[1]}"
ix = json.load(open(f"{out}/index.json"))
m = json.load(open(blob(ix["manifests"][0]["digest"])))
cfg = json.load(open(blob(m["config"]["digest"])))
want = "sh -c '" + cmd + "'"
assert cfg["history"][-1]["created_by"] == want, (cfg["history"][-1], want)
assert len(m["layers"]) == 2, m["layers"]
with open(top, "wb") as f:
    f.write(gzip.decompress(open(blob(m["layers"][-1]["digest"]), "rb").read()))
PY
tar -tvf "$t/top.tar" >"$t/top.lst"
grep -q ' etc/\.wh\.obsolete$' "$t/top.lst" || lfs_fail "no etc/.wh.obsolete in the new layer: $(cat "$t/top.lst")"
if grep -q '^c' "$t/top.lst"; then lfs_fail "a character device in the new layer"; fi

# a failing command: its status, no DEST
rc=0
"$CHROOT" -q --commit "oci:$t/out2" "$t/img.tar" -- sh -c 'echo y >/y; exit 3' || rc=$?
[ "$rc" = 3 ] || lfs_fail "a command exiting 3: layerfs-chroot --commit exited $rc"
[ ! -e "$t/out2" ] || lfs_fail "a failed command was committed"

# DEST exists: refused before the command runs
mkdir "$t/host"
rc=0
"$CHROOT" -q --bind "$t/host:/host" --commit "oci:$t/out:v1" "$t/img.tar" -- sh -c 'echo ran >/host/ran' \
	2>"$t/err" || rc=$?
[ "$rc" = 125 ] || lfs_fail "an existing DEST: exit $rc, not 125"
[ ! -e "$t/host/ran" ] || lfs_fail "an existing DEST: the command ran anyway"
[ "$(wc -l <"$t/err")" = 1 ] && grep -q 'already exists' "$t/err" || lfs_fail "an existing DEST: $(cat "$t/err")"

# --upper: kept, and what is committed
"$CHROOT" -q --upper "$t/u" --commit "docker-archive:$t/out3.tar:me/x:1" "$t/img.tar" -- sh -c 'echo z >/z' ||
	lfs_fail "--upper + --commit: exit $?"
[ "$(cat "$t/u/z")" = z ] || lfs_fail "--upper: the upper was not kept"
tar -xOf "$t/out3.tar" manifest.json | grep -q '"me/x:1"' || lfs_fail "docker-archive DEST: no me/x:1 tag"

left=$(find "$t/tmp" -maxdepth 1 -name 'layerfs-*' | head -1)
[ -z "$left" ] || lfs_fail "left behind: $left"
echo "PASS: --commit to oci: and docker-archive:, a failing command, an existing DEST, --upper"
