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

lfs_run_python "$here/registry_client.py"
