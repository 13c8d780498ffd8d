#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# registry_client.sh - the registry client (lib/registry.h) against the local
# registry test bed: registry_client.py drives tests/integration/regclient
# through docker-registry, the fault proxy and the token server.
# Skips (77) without root, python3, docker-registry or skopeo, or without
# the regclient program.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

[ "$(id -u)" -eq 0 ] || lfs_skip "needs root (as in CI: registry storage)"
for t in python3 docker-registry skopeo; do
	command -v "$t" >/dev/null 2>&1 || lfs_skip "$t is not installed (scripts/install-deps)"
done
[ -x "$top_builddir/tests/integration/regclient" ] ||
	lfs_skip "$top_builddir/tests/integration/regclient is not built (make check builds it)"

work=$(lfs_tmpdir)
py_pid=
stop_py() {
	[ -n "$py_pid" ] || return 0
	kill -TERM "$py_pid" 2>/dev/null || :
	wait "$py_pid" 2>/dev/null || :
	py_pid=
}
trap 'stop_py; lfs_cleanup' EXIT
trap 'stop_py; lfs_cleanup; exit 130' INT
trap 'stop_py; lfs_cleanup; exit 143' TERM
trap 'stop_py; lfs_cleanup; exit 129' HUP
TMPDIR=$work
export TMPDIR

# in the background, so that a signal to this script reaches the trap at once
python3 "$here/registry_client.py" &
py_pid=$!
rc=0
wait "$py_pid" || rc=$?
py_pid=
exit "$rc"
