#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# completion.sh - the bash completion of scripts/bash-completion/layerfs
# (issue 19): options come from each program's --help (a new option is
# offered without touching the script), directories for --upper, files for
# images, the transports for an empty word, and nothing after
# layerfs-chroot's "--" (the command in the image).  No root, no mount;
# skips (77) without bash.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

command -v bash >/dev/null 2>&1 || lfs_skip "bash is not installed"
script=$top_srcdir/scripts/bash-completion/layerfs
# installed mode (lib.sh): the completion the package installed
[ -z "${LFS_INSTALLED:-}" ] || script=/usr/share/bash-completion/completions/layerfs
PATH=$top_builddir/src:$top_builddir/tools:$PATH
export PATH
t=$(lfs_tmpdir)
mkdir "$t/updir" "$t/upother"
: >"$t/upfile"
cd "$t"

# complete WORD... : what the completion offers for the last word, one per line, sorted
complete_() {
	bash --norc --noprofile -c '
		. "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_layerfs_complete
		[ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}" | LC_ALL=C sort' sh "$script" "$@"
}
expect() {	# WANT WORD...
	want=$1
	shift
	got=$(complete_ "$@" | tr '\n' ' ')
	[ "$got" = "$want" ] || lfs_fail "completing '$*': got '$got', want '$want'"
}

expect "--cache --cache-size " layerfs --cach
expect "--chunk-cache-size " layerfs --chunk
expect "--publish-index " layerfs --pub
expect "--hostname " layerfs-chroot --hostn
expect "--min-waste " layerfs-report --min
expect "--compress " layerfs-commit --compr
expect "--slim " layerfs-squash --sl
expect "updir upother " layerfs --upper up
expect "updir upfile upother " layerfs up
expect "false true " layerfs --tls-verify ""
expect "" layerfs-chroot img.tar -- --ca
complete_ layerfs "" | grep -qx "docker://" || lfs_fail "the transports for an empty word"
bash --norc --noprofile -c '. "$1"; complete -p layerfs-report layerfs-chroot layerfs layerfs-commit layerfs-squash' \
	sh "$script" >/dev/null || lfs_fail "the five programs are not all registered"
echo "completion: ok"
