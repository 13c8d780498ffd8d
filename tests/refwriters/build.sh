#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# build.sh OUTDIR - build the reference-writer programs of tests/refwriters/
# into OUTDIR:
#
#   OUTDIR/refwriter-estargz       estargz.Build (stargz-snapshotter)
#   OUTDIR/refwriter-zstdchunked   compressor.ZstdCompressor (containers/storage)
#
# with Debian's golang-go in GOPATH mode against the Go sources that
# Debian's -dev packages install under /usr/share/gocode.  Offline: no
# module proxy, no download.  A binary is rebuilt only when its source, this
# script, the Go version or the -dev packages' versions changed (a stamp
# file beside it).  Prints nothing on success unless -v.
#
# Exit 77 (skip) when the toolchain or the sources are missing; the packages
# are: golang-go golang-github-containerd-stargz-snapshotter-dev
# golang-github-containers-storage-dev.
#
# Environment: LFS_REFWRITERS_GOPATH (default /usr/share/gocode), GO (the go
# binary; default: go in PATH, else /usr/lib/go/bin/go).
set -eu

verbose=
if [ "${1:-}" = -v ]; then verbose=1; shift; fi
[ $# -eq 1 ] || { echo "usage: $0 [-v] OUTDIR" >&2; exit 2; }
out=$1
here=$(cd "$(dirname "$0")" && pwd)
gocode=${LFS_REFWRITERS_GOPATH:-/usr/share/gocode}
pkgs="golang-go golang-github-containerd-stargz-snapshotter-dev golang-github-containers-storage-dev"

skip() {
	echo "refwriters: SKIP: $* (apt-get install $pkgs)" >&2
	exit 77
}

if [ -z "${GO:-}" ]; then
	if command -v go >/dev/null 2>&1; then GO=go
	elif [ -x /usr/lib/go/bin/go ]; then GO=/usr/lib/go/bin/go
	else skip "no Go toolchain (go)"
	fi
fi
"$GO" version >/dev/null 2>&1 || skip "$GO does not run"
for d in github.com/containerd/stargz-snapshotter/estargz \
	github.com/containers/storage/pkg/chunked/compressor \
	github.com/klauspost/compress/zstd github.com/opencontainers/go-digest; do
	[ -d "$gocode/src/$d" ] || skip "Go sources of $d missing under $gocode/src"
done

mkdir -p "$out"
out=$(cd "$out" && pwd)

# The Go environment: GOPATH mode, nothing from outside, nothing from the
# caller's Go settings or C flags (make check under ASan sets CC/CFLAGS).
export GOPATH="$gocode" GO111MODULE=off GOFLAGS= GOPROXY=off GOSUMDB=off \
	GOTOOLCHAIN=local GOENV=off CGO_ENABLED=0 GOCACHE="$out/gocache" \
	GOTMPDIR= GOWORK=off
unset GOROOT GOOS GOARCH GOBIN 2>/dev/null || true
: "${HOME:=$out}"
export HOME

# Serialise concurrent builds into the same OUTDIR.
if command -v flock >/dev/null 2>&1 && [ -z "${LFS_REFWRITERS_LOCKED:-}" ]; then
	export LFS_REFWRITERS_LOCKED=1
	exec flock "$out/.lock" sh "$0" ${verbose:+-v} "$out"
fi

versions=$("$GO" version)
for p in golang-github-containerd-stargz-snapshotter-dev golang-github-containers-storage-dev \
	golang-github-klauspost-compress-dev; do
	versions="$versions
$p $(dpkg-query -W -f '${Version}' "$p" 2>/dev/null || echo '?')"
done

for prog in estargz zstdchunked; do
	src="$here/$prog/main.go"
	bin="$out/refwriter-$prog"
	stamp=$( { printf '%s\n' "$versions"; cat "$src" "$here/build.sh"; } | sha256sum | cut -d' ' -f1)
	if [ -x "$bin" ] && [ -f "$bin.stamp" ] && [ "$(cat "$bin.stamp")" = "$stamp" ]; then
		[ -z "$verbose" ] || echo "refwriters: $bin is up to date"
		continue
	fi
	[ -z "$verbose" ] || echo "refwriters: building $bin"
	rm -f "$bin.stamp"
	# Build from a copy inside OUTDIR: the source tree may be read-only.
	mkdir -p "$out/src/$prog"
	cp "$src" "$out/src/$prog/main.go"
	if ! (cd "$out/src/$prog" && "$GO" build -o "$bin.tmp" .) >"$out/build-$prog.log" 2>&1; then
		cat "$out/build-$prog.log" >&2
		echo "refwriters: FAILED to build $bin (log: $out/build-$prog.log)" >&2
		exit 1
	fi
	mv -f "$bin.tmp" "$bin"
	echo "$stamp" >"$bin.stamp"
done
