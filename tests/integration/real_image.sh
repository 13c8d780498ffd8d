#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# real_image.sh - layerfs against the kernel's overlayfs on a real image.
#
# Builds (scripts/build-test-image, 3-5 minutes, needs Debian's mirror) or
# reuses a ~740 MB, 7-layer Debian bookworm image made with buildah, then
#  1. runs difftest.py --image on it from every source kind: docker-archive,
#     OCI layout dir and oci-archive with uncompressed, gzip and zstd layers,
#     explicit layer files (uncompressed, and mixed compressions).  Each run
#     builds the kernel reference from the layers (one directory per layer,
#     OCI whiteouts turned into overlayfs ones, mount -t overlay) and
#     compares it with layerfs: names, types, modes, owners, ns mtimes,
#     xattrs, links, devices, st_nlink, hard-link groups, contents;
#  2. builds the same reference independently with GNU tar (realcmp.py
#     extract) and compares it with layerfs mounted twice, with a cold and
#     then a warm index cache.
#  3. a package manager in a chroot on a writable mount: apt-get update and
#     apt-get install inside it (needs Debian's mirror; LFS_REAL_APT=0 skips
#     this part), the package still installed after a remount with the same
#     --upper, and on the kernel's overlayfs over the layers with that upper.
# About 30 s per source kind once the image exists.
#
# Slow, so opt-in: skipped (77) unless LFS_REAL_IMAGE=1, and unless root,
# /dev/fuse, overlayfs, buildah, debootstrap and skopeo are there.
#   LFS_REAL_IMAGE_DIR=DIR   use the image already built in DIR (as written by
#                            scripts/build-test-image); default: build or
#                            reuse /var/tmp/lfs-real
#   LFS_REAL_SOURCES="docker oci ..."   test only these source kinds
#   LAYERFS=PATH             the driver to test (default: the build tree's)
#   LFS_REAL_LOG=FILE        append every difference there (only the first
#                            60 lines of each comparison are printed)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
srcdir=${top_srcdir:-$here/../..}
LAYERFS=${LAYERFS:-${top_builddir:-$here/../..}/src/layerfs}
realcmp="python3 $here/realcmp.py"

skip() { echo "real_image: SKIP: $*"; exit 77; }
[ "${LFS_REAL_IMAGE:-0}" = 1 ] || skip "set LFS_REAL_IMAGE=1 to run (slow: builds a ~700 MB image)"
[ "$(id -u)" = 0 ] || skip "needs root"
[ -c /dev/fuse ] || skip "no /dev/fuse"
for tool in buildah debootstrap skopeo fusermount3 zstd; do
	command -v "$tool" >/dev/null || skip "$tool is missing"
done
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || skip "no overlayfs"
[ -x "$LAYERFS" ] || { echo "real_image: FAIL: $LAYERFS is not built" >&2; exit 1; }

# ---------------------------------------------------------------- the image
if [ -n "${LFS_REAL_IMAGE_DIR:-}" ] && [ -e "$LFS_REAL_IMAGE_DIR/oci-raw/index.json" ]; then
	img=$LFS_REAL_IMAGE_DIR
	echo "real_image: reusing the image in $img"
else
	img=${LFS_REAL_IMAGE_DIR:-/var/tmp/lfs-real}
	rc=0
	"$srcdir/scripts/build-test-image" "$img" || rc=$?
	[ $rc = 77 ] && skip "cannot build the image"
	[ $rc = 0 ] || { echo "real_image: FAIL: build-test-image exited $rc" >&2; exit 1; }
fi

# ---------------------------------------------------------------- cleanup
work=$(mktemp -d /var/tmp/lfs-realtest.XXXXXX)
mounts=()
# shellcheck disable=SC2317  # called by the trap
cleanup() {
	set +e
	for m in "${mounts[@]}"; do
		if grep -q " $m " /proc/self/mountinfo; then
			fusermount3 -u "$m" 2>/dev/null || umount -l "$m"
		fi
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- sources
layers_of() { $realcmp layers "$1" | awk '{print $2}'; }
mapfile -t raw_layers < <(layers_of "$img/oci-raw")
mapfile -t gz_layers < <(layers_of "$img/oci")
mapfile -t zst_layers < <(layers_of "$img/oci-zstd")
mixed_layers=()   # uncompressed, gzip, zstd, uncompressed, ...
for i in "${!raw_layers[@]}"; do
	case $((i % 3)) in
	0) mixed_layers+=("${raw_layers[$i]}") ;;
	1) mixed_layers+=("${gz_layers[$i]}") ;;
	2) mixed_layers+=("${zst_layers[$i]}") ;;
	esac
done
declare -A src=(
	[docker]="$img/docker.tar"
	[oci-gzip]="$img/oci"
	[oci-archive-gzip]="$img/oci.tar"
	[oci-raw]="$img/oci-raw"
	[oci-zstd]="$img/oci-zstd"
	[oci-archive-zstd]="$img/oci-zstd.tar"
	[layers-raw]="${raw_layers[*]}"
	[layers-mixed]="${mixed_layers[*]}"
)
order="docker oci-gzip oci-archive-gzip oci-raw oci-zstd oci-archive-zstd layers-raw layers-mixed"
order=${LFS_REAL_SOURCES:-$order}

failed=0
results=()
show_out() { # the first differences and the last line; all of it in $LFS_REAL_LOG
	if [ "$(wc -l <"$work/out")" -gt 80 ]; then
		head -n 60 "$work/out"
		echo "  ... ($(wc -l <"$work/out") lines)"
		tail -n 1 "$work/out"
	else
		cat "$work/out"
	fi
	[ -z "${LFS_REAL_LOG:-}" ] || cat "$work/out" >>"$LFS_REAL_LOG"
}
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }

# ---------------------------------------------------------------- 1. difftest --image
# Every source kind through difftest.py: its own reference from the layers
# read out of that source, layerfs -f on the source, the full comparison.
for name in $order; do
	[ -n "${src[$name]:-}" ] || { echo "real_image: unknown source kind $name" >&2; exit 1; }
	echo "real_image: --- $name"
	t0=$(date +%s.%N)
	# shellcheck disable=SC2086  # the layer lists are word lists on purpose
	if python3 "$here/difftest.py" --layerfs "$LAYERFS" --image ${src[$name]} >"$work/out" 2>&1; then
		res=ok
	else
		res="FAILED ($(grep -c 'DIFF' "$work/out") difference(s))"
		failed=1
	fi
	show_out
	results+=("difftest --image $name: $res ($(elapsed "$t0")s)")
done

# ---------------------------------------------------------------- 2. GNU tar reference
# The same reference built independently (GNU tar + whiteout conversion,
# realcmp.py), against layerfs on the gzip OCI layout, first with a cold
# index cache, then with the warm one the first mount left.
echo "real_image: --- GNU tar reference, cold and warm index"
lower=$($realcmp extract "$work/layers" "$img/oci-raw")
ref=$work/ref
mkdir "$ref"
mounts+=("$ref")
mount -t overlay lfs-reference -o "ro,lowerdir=$lower,redirect_dir=off" "$ref"
export XDG_CACHE_HOME=$work/cache
for pass in cold warm; do
	mnt=$work/mnt-$pass
	mkdir "$mnt"
	mounts+=("$mnt")
	t0=$(date +%s.%N)
	if ! "$LAYERFS" -q "$img/oci" "$mnt" 2>"$work/err"; then
		results+=("tar reference, $pass index: layerfs did not mount: $(cat "$work/err")")
		failed=1
		continue
	fi
	t_mount=$(elapsed "$t0")
	if $realcmp compare "$ref" "$mnt" >"$work/out" 2>&1; then
		res=ok
	else
		res="FAILED ($(grep -c '^DIFF' "$work/out") difference(s))"
		failed=1
	fi
	show_out
	fusermount3 -u "$mnt"
	results+=("tar reference vs layerfs oci-gzip, $pass index: $res (mount ${t_mount}s)")
done

# ---------------------------------------------------------------- 3. apt-get in a chroot
if [ "${LFS_REAL_APT:-1}" = 1 ]; then
	echo "real_image: --- apt-get install in a chroot on the mount"
	mnt=$work/mnt-apt
	up=$work/apt-upper
	mkdir "$mnt"
	mounts+=("$mnt/proc" "$mnt/dev" "$mnt")
	chroot_run() {    # ROOT COMMAND
		mount --bind /dev "$1/dev" && mount -t proc proc "$1/proc" &&
			cp /etc/resolv.conf "$1/etc/resolv.conf" &&
			chroot "$1" /bin/sh -c "$2" >>"$work/apt.log" 2>&1
		_rc=$?
		umount "$1/proc" "$1/dev" 2>/dev/null
		return $_rc
	}
	res=ok
	if ! "$LAYERFS" -q --upper "$up" --work "$work/apt-work" "$img/oci" "$mnt" 2>"$work/err"; then
		res="layerfs did not mount: $(cat "$work/err")"
	elif ! chroot_run "$mnt" 'export DEBIAN_FRONTEND=noninteractive
		# the image replaced /usr/share/man with a file (a dir -> file test)
		if [ -f /usr/share/man ]; then rm /usr/share/man && mkdir /usr/share/man; fi
		apt-get update -q && apt-get install -y -q hello && hello'; then
		res="apt-get install failed (see below)"
		tail -n 20 "$work/apt.log"
	else
		fusermount3 -u "$mnt"
		if ! "$LAYERFS" -q --upper "$up" --work "$work/apt-work" "$img/oci" "$mnt" 2>"$work/err"; then
			res="remount failed: $(cat "$work/err")"
		elif ! chroot_run "$mnt" 'hello && dpkg -s hello | grep -q "ok installed" && dpkg --audit'; then
			res="not installed after a remount"
		else
			fusermount3 -u "$mnt"
			kmnt=$work/kernel-apt
			mkdir "$kmnt" "$work/kwork"
			mounts+=("$kmnt/proc" "$kmnt/dev" "$kmnt")
			cp -a "$up" "$work/kupper"
			if ! mount -t overlay lfs-apt -o "lowerdir=$lower,upperdir=$work/kupper,workdir=$work/kwork,redirect_dir=off" "$kmnt"; then
				res="the kernel did not mount layerfs' upper"
			elif ! chroot_run "$kmnt" 'hello && dpkg -s hello | grep -q "ok installed"'; then
				res="not installed on the kernel's overlayfs over layerfs' upper"
			fi
		fi
	fi
	[ "$res" = ok ] || failed=1
	results+=("apt-get install in a chroot, remount, kernel overlayfs: $res")
fi

echo "real_image: summary"
printf '  %s\n' "${results[@]}"
[ $failed = 0 ] && echo "real_image: ok"
exit $failed
