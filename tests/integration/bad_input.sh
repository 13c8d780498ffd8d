#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Bad input: each kind of damage gives one clear error, exit 1, no mount.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -c /dev/fuse ] || { echo "SKIP: no /dev/fuse"; exit 77; }
exec python3 "$here/bad_input.py" "${top_builddir:-$here/../..}/src/layerfs"
