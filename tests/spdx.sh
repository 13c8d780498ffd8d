#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# spdx.sh - every source file of the tree carries an SPDX licence line in
# its first three lines (C, headers, shell, Python, automake, man pages,
# scripts).  Fails naming the files that lack one.
set -eu
top=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top"
[ -f configure.ac ] || { echo "SKIP: no source tree at $top" >&2; exit 77; }
missing=$(find src lib include tools tests scripts man .ci Makefile.am configure.ac \
	\( -path tests/fuzz/corpus -o -path scripts/sample -o -path tests/data \) -prune -o \
	-type f \( -name '*.c' -o -name '*.h' -o -name '*.sh' -o -name '*.py' -o -name '*.am' \
	-o -name '*.mk' -o -name '*.1' -o -name '*.ac' -o -path 'scripts/*' -o -path '.ci/*' \) \
	-print | while read -r f; do
	head -n 3 "$f" | grep -q 'SPDX-License-Identifier: Apache-2.0' || echo "$f"
done)
if [ -n "$missing" ]; then
	echo "FAIL: no SPDX-License-Identifier line in:" >&2
	echo "$missing" >&2
	exit 1
fi
echo "ok: every source file has its SPDX line"
