# SPDX-License-Identifier: Apache-2.0
# lib.sh - shared helpers for the layerfs integration tests (POSIX sh).
#
# Source it from a test script:   . "$(dirname "$0")/lib.sh"
#
#   lfs_require_root_fuse     exit 77 (skip) unless root with /dev/fuse
#   lfs_require_overlay       exit 77 unless the kernel's overlayfs mounts here
#   lfs_tmpdir                print a new temporary directory (removed at exit)
#   lfs_mount [OPT...] SOURCE... MNT
#                             run `layerfs -f` in the background, return once
#                             MNT is mounted (fails if layerfs exits first)
#   lfs_umount MNT            unmount, wait for the daemon to exit
#   lfs_is_mounted PATH [FSTYPE-PREFIX]
#   lfs_host_rootfs DIR TOOL...
#                             a chroot-able tree in DIR: the host's TOOLs with
#                             their shared libraries, merged /usr as the host
#
# A mount made some other way can still be handed to the trap:
#   echo "none $MNT" >>"$lfs_state/mounts"
#   lfs_skip REASON / lfs_fail MESSAGE
#
# Everything mounted or created through these helpers is unmounted and
# removed by the EXIT/INT/TERM/HUP trap installed here, even when the test
# fails half-way.  LAYERFS is the binary under test: by default
# $top_builddir/src/layerfs (make check sets top_builddir and top_srcdir;
# run by hand, both default to the repository holding this file).
#
# Installed mode: LFS_INSTALLED=1 tests the installed programs instead,
# $LFS_BINDIR/PROGRAM (default /usr/bin): LAYERFS, LAYERFS_REPORT,
# LAYERFS_CHROOT, LAYERFS_COMMIT and LAYERFS_SQUASH name them (make check
# sets the same from the Makefile; scripts/test-installed uses it).

lfs_here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$lfs_here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
if [ -n "${LFS_INSTALLED:-}" ]; then
	: "${LFS_BINDIR:=/usr/bin}"
	LAYERFS=$LFS_BINDIR/layerfs
	LAYERFS_REPORT=$LFS_BINDIR/layerfs-report
	LAYERFS_CHROOT=$LFS_BINDIR/layerfs-chroot
	LAYERFS_COMMIT=$LFS_BINDIR/layerfs-commit
	LAYERFS_SQUASH=$LFS_BINDIR/layerfs-squash
	export LFS_BINDIR LAYERFS_REPORT LAYERFS_CHROOT LAYERFS_COMMIT LAYERFS_SQUASH
fi
: "${LAYERFS:=$top_builddir/src/layerfs}"
export top_srcdir top_builddir LAYERFS

# Registry of what to clean up: files, so that helpers called in a
# subshell ($(lfs_tmpdir)) still register with the main script.
lfs_state=$(mktemp -d "${TMPDIR:-/tmp}/lfs-test-state.XXXXXX")
: >"$lfs_state/mounts"      # lines: PID MOUNTPOINT
: >"$lfs_state/tmpdirs"     # lines: DIR

lfs_skip() {
	echo "SKIP: $*" >&2
	exit 77
}

lfs_fail() {
	echo "FAIL: $*" >&2
	exit 1
}

lfs_require_root_fuse() {
	[ "$(id -u)" -eq 0 ] || lfs_skip "needs root (mounts FUSE and overlayfs)"
	[ -c /dev/fuse ] || lfs_skip "/dev/fuse is missing"
	command -v fusermount3 >/dev/null 2>&1 || lfs_skip "fusermount3 is not installed"
}

lfs_require_overlay() {
	grep -qw overlay /proc/filesystems 2>/dev/null ||
		modprobe overlay >/dev/null 2>&1 ||
		lfs_skip "the kernel has no overlayfs"
	_d=$(lfs_tmpdir)
	mkdir "$_d/a" "$_d/b" "$_d/m"
	mount -t overlay overlay -o "lowerdir=$_d/a:$_d/b" "$_d/m" 2>/dev/null ||
		lfs_skip "cannot mount overlayfs here"
	umount "$_d/m"
}

lfs_tmpdir() {
	_t=$(mktemp -d "${TMPDIR:-/tmp}/lfs-test.XXXXXX")
	echo "$_t" >>"$lfs_state/tmpdirs"
	echo "$_t"
}

# Is something mounted exactly at $1 (canonical path)?  $2: fstype prefix.
lfs_is_mounted() {
	awk -v m="$1" -v t="${2:-}" '
		{ p = $5
		  gsub(/\\040/, " ", p); gsub(/\\011/, "\t", p); gsub(/\\134/, "\\", p)
		  for (i = 6; i <= NF; i++) if ($i == "-") break
		  if (p == m && index($(i + 1), t) == 1) found = 1 }
		END { exit !found }' /proc/self/mountinfo
}

lfs_host_rootfs() {
	_root=$1
	shift
	mkdir -p "$_root"
	for _d in bin sbin lib lib32 lib64 libx32; do
		if [ -L "/$_d" ]; then
			ln -s "$(readlink "/$_d")" "$_root/$_d"
			mkdir -p "$_root/$(readlink "/$_d")"
		fi
	done
	for _c in "$@"; do
		_p=$(command -v "$_c") || lfs_fail "host tool $_c missing"
		_real=$(readlink -f "$_p")
		mkdir -p "$_root$(dirname "$_p")" "$_root$(dirname "$_real")"
		cp -a "$_real" "$_root$_real"
		[ "$_real" = "$_p" ] || ln -sf "$_real" "$_root$_p"
		ldd "$_real" 2>/dev/null | awk '/=>/ { print $3 } /^[[:space:]]*\// { print $1 }' |
			while read -r _lib; do
				[ -f "$_lib" ] || continue
				mkdir -p "$_root$(dirname "$_lib")"
				cp -aL "$_lib" "$_root$_lib"
			done
	done
	# the dynamic loader under the name the binaries ask for
	for _ld in /lib64/ld-linux-x86-64.so.2 /lib/ld-linux-aarch64.so.1; do
		[ -e "$_ld" ] && mkdir -p "$_root$(dirname "$_ld")" && cp -aL "$_ld" "$_root$_ld"
	done
	return 0
}

# Is process $1 alive (and not a zombie)?
lfs__alive() {
	[ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

lfs_mount() {
	[ $# -ge 2 ] || lfs_fail "usage: lfs_mount [OPTION...] SOURCE... MOUNTPOINT"
	for _m in "$@"; do :; done          # the last argument
	[ -d "$_m" ] || mkdir -p "$_m"
	_m=$(cd "$_m" && pwd -P)
	[ -x "$LAYERFS" ] || lfs_fail "no layerfs binary at $LAYERFS (build it first)"
	_log=$(mktemp "$lfs_state/layerfs.XXXXXX")
	"$LAYERFS" -f "$@" >"$_log" 2>&1 </dev/null &
	_pid=$!
	echo "$_pid $_m" >>"$lfs_state/mounts"
	_i=0
	while ! lfs_is_mounted "$_m" fuse; do
		if ! lfs__alive "$_pid"; then
			_rc=0
			wait "$_pid" 2>/dev/null || _rc=$?
			cat "$_log" >&2
			lfs_fail "layerfs exited (status $_rc) before mounting $_m"
		fi
		_i=$((_i + 1))
		[ "$_i" -le 3000 ] || lfs_fail "layerfs did not mount $_m within 30s"
		sleep 0.01
	done
}

# Unmount $1 and wait (bounded) for its daemon to exit.
lfs_umount() {
	_m=$(cd "$1" && pwd -P)
	_pid=$(awk -v m="$_m" '{ p = $1; sub(/^[0-9]+ /, ""); if ($0 == m) pid = p } END { print pid }' \
		"$lfs_state/mounts")
	lfs__release "$_pid" "$_m"
	awk -v m="$_m" '{ line = $0; sub(/^[0-9]+ /, ""); if ($0 != m) print line }' \
		"$lfs_state/mounts" >"$lfs_state/mounts.new"
	mv "$lfs_state/mounts.new" "$lfs_state/mounts"
}

lfs__release() {     # PID MOUNTPOINT
	if lfs_is_mounted "$2"; then
		fusermount3 -u "$2" 2>/dev/null || umount "$2" 2>/dev/null ||
			umount -l "$2" 2>/dev/null || echo "warning: cannot unmount $2" >&2
	fi
	case $1 in ''|*[!0-9]*) return 0 ;; esac     # "none": not our daemon
	_i=0
	while lfs__alive "$1" && [ "$_i" -lt 1000 ]; do
		_i=$((_i + 1))
		sleep 0.01
	done
	if lfs__alive "$1"; then
		echo "warning: layerfs (pid $1) still running after unmount; killing it" >&2
		kill -9 "$1" 2>/dev/null || :
	fi
	wait "$1" 2>/dev/null || :
}

lfs_cleanup() {
	[ -d "${lfs_state:-}" ] || return 0
	# newest first
	if [ -s "$lfs_state/mounts" ]; then
		sed -n '1!G;h;$p' "$lfs_state/mounts" | while read -r _p _mnt; do
			lfs__release "$_p" "$_mnt"
		done
	fi
	while read -r _d; do
		# never recurse into something still mounted
		if grep -qF " $_d/" /proc/self/mountinfo 2>/dev/null; then
			awk '{print $5}' /proc/self/mountinfo | grep "^$_d/" | sort -r |
				while read -r _x; do umount -l "$_x" 2>/dev/null || :; done
		fi
		rm -rf "$_d"
	done <"$lfs_state/tmpdirs"
	rm -rf "$lfs_state"
}

# Each test gets its own index cache: nothing leaks between tests or into ~/.cache.
XDG_CACHE_HOME=$(lfs_tmpdir)/cache
export XDG_CACHE_HOME

trap 'lfs_cleanup' EXIT
trap 'lfs_cleanup; exit 130' INT
trap 'lfs_cleanup; exit 143' TERM
trap 'lfs_cleanup; exit 129' HUP

# Run a Python test (python3 SCRIPT ARGS...) with TMPDIR in a fresh temporary
# directory, and exit with its status.  It runs in the background, so that a
# signal to this script reaches the trap at once; the trap sends it SIGTERM
# (the registry test bed stops its registry, proxy and mounts on it) before
# the usual cleanup.
lfs__py_pid=
lfs__stop_py() {
	[ -n "$lfs__py_pid" ] || return 0
	kill -TERM "$lfs__py_pid" 2>/dev/null || :
	wait "$lfs__py_pid" 2>/dev/null || :
	lfs__py_pid=
}
lfs_run_python() {
	TMPDIR=$(lfs_tmpdir)
	export TMPDIR
	trap 'lfs__stop_py; lfs_cleanup' EXIT
	trap 'lfs__stop_py; lfs_cleanup; exit 130' INT
	trap 'lfs__stop_py; lfs_cleanup; exit 143' TERM
	trap 'lfs__stop_py; lfs_cleanup; exit 129' HUP
	python3 "$@" &
	lfs__py_pid=$!
	_rc=0
	wait "$lfs__py_pid" || _rc=$?
	lfs__py_pid=
	exit "$_rc"
}

# Skip (77) unless every command named is installed.
lfs_require_cmds() {
	for _c in "$@"; do
		command -v "$_c" >/dev/null 2>&1 || lfs_skip "$_c is not installed (scripts/install-deps)"
	done
}
