#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# make check: replay the committed corpora (tests/fuzz/corpus/TARGET/) through
# every fuzz target, so that each crash once found and fixed stays fixed.
# Works with both builds of the targets: plain programs (replay.c's main)
# and libFuzzer binaries (--enable-fuzzing), which run each file given once.
set -u
top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
status=0
for target in layer json image merge cache; do
	bin=$top_builddir/tests/fuzz/fuzz_$target
	dir=$top_srcdir/tests/fuzz/corpus/$target
	if [ ! -x "$bin" ]; then
		echo "replay.sh: $bin is not built" >&2
		exit 99
	fi
	set -- "$dir"/*
	if [ ! -f "$1" ]; then
		echo "replay.sh: no corpus in $dir" >&2
		exit 99
	fi
	echo "== fuzz_$target: $# inputs from $dir"
	if ! "$bin" "$@"; then
		echo "FAIL: fuzz_$target crashed on an input above" >&2
		status=1
	fi
done
exit $status
