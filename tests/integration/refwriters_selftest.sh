#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# refwriters_selftest.sh - the reference writers of tests/refwriters/ (issue
# 15) build and write what their formats say: an eStargz blob
# (stargz-snapshotter's estargz.Build) and a zstd:chunked blob
# (containers/storage's compressor) of a layer with files of several sizes
# (one > 4 MiB), directories, symlinks, a hard link, whiteouts, a fifo, a
# device, xattrs and a long name, each checked by independent readers
# (Python's gzip/tarfile, the zstd CLI, GNU tar) in refwriters.py.
# Skips (77) without golang-go and the -dev packages
# (golang-github-containerd-stargz-snapshotter-dev,
# golang-github-containers-storage-dev) or the zstd CLI.  No root, no mount.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

command -v python3 >/dev/null 2>&1 || lfs_skip "python3 is not installed"
command -v zstd >/dev/null 2>&1 || lfs_skip "the zstd CLI is not installed"
python3 "$here/refwriters.py" --selftest --builddir "$top_builddir"
