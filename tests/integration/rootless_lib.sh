# SPDX-License-Identifier: Apache-2.0
# rootless_lib.sh - shared pieces of the package-manager tests (POSIX sh,
# sourced after lib.sh): an image root with the host's dpkg and apt, a small
# test package, and an apt repository of it served over HTTP on 127.0.0.1.
#
#   lfs_dpkg_rootfs DIR [TOOL...]
#                   the host's dpkg and what it runs (with their libraries),
#                   an empty dpkg database, /etc/passwd and /etc/group with
#                   root; more TOOLs if given
#   lfs_apt_rootfs DIR [TOOL...]
#                   lfs_dpkg_rootfs + the host's apt-get and its download
#                   methods, apt's directories as Debian has them (the
#                   download directories owned by _apt, uid 100, mode 0700),
#                   the users _apt (100) and nogroup (65534)
#   lfs_test_deb DIR OUT.deb
#                   build the lfs-test package in DIR (a script, a postinst
#                   that writes /var/lib/lfs-test/postinst-ran, 300000
#                   random bytes in /usr/share/lfs-test/data.bin)
#   lfs_apt_repo DIR DEB...
#                   a flat apt repository in DIR (Packages, Release)
#   lfs_http_serve DIR
#                   serve DIR on 127.0.0.1; prints the URL.  The server's
#                   pid goes to $lfs_state/daemons: the caller's trap kills
#                   them

lfs_dpkg_rootfs() {
	_r=$1
	shift
	lfs_host_rootfs "$_r" sh dash rm tar diff find sed mv cat ls ln mkdir rmdir chmod \
		readlink dpkg dpkg-deb dpkg-query dpkg-split dpkg-trigger dpkg-divert \
		dpkg-maintscript-helper ldconfig start-stop-daemon "$@"
	mkdir -p "$_r/var/lib/dpkg/info" "$_r/var/lib/dpkg/updates" "$_r/var/lib/dpkg/triggers" \
		"$_r/etc" "$_r/root" "$_r/var/log"
	: >"$_r/var/lib/dpkg/status"
	: >"$_r/var/lib/dpkg/available"
	echo "root:x:0:0:root:/root:/bin/sh" >"$_r/etc/passwd"
	echo "root:x:0:" >"$_r/etc/group"
}

lfs_apt_rootfs() {
	_ar=$1
	shift
	_m=
	for _x in http file copy store gpgv; do
		[ -x "/usr/lib/apt/methods/$_x" ] && _m="$_m /usr/lib/apt/methods/$_x"
	done
	# shellcheck disable=SC2086
	lfs_dpkg_rootfs "$_ar" apt-get apt-config gpgv $_m "$@"
	mkdir -p "$_ar/etc/apt/apt.conf.d" "$_ar/etc/apt/preferences.d" \
		"$_ar/etc/apt/sources.list.d" "$_ar/etc/apt/trusted.gpg.d" \
		"$_ar/var/lib/apt/lists/partial" "$_ar/var/cache/apt/archives/partial" \
		"$_ar/var/log/apt" "$_ar/usr/lib/apt/solvers" "$_ar/usr/lib/apt/planners" \
		"$_ar/usr/share/dpkg"
	# apt reads dpkg's architecture tables
	cp /usr/share/dpkg/cputable /usr/share/dpkg/tupletable /usr/share/dpkg/ostable \
		/usr/share/dpkg/abitable "$_ar/usr/share/dpkg/" 2>/dev/null || :
	echo "_apt:x:100:65534::/nonexistent:/bin/sh" >>"$_ar/etc/passwd"
	echo "nogroup:x:65534:" >>"$_ar/etc/group"
	# as Debian's apt package makes them
	chown 100:0 "$_ar/var/lib/apt/lists/partial" "$_ar/var/cache/apt/archives/partial"
	chmod 700 "$_ar/var/lib/apt/lists/partial" "$_ar/var/cache/apt/archives/partial"
}

lfs_test_deb() {
	_p=$1
	mkdir -p "$_p/DEBIAN" "$_p/usr/bin" "$_p/usr/share/lfs-test"
	cat >"$_p/DEBIAN/control" <<'EOT'
Package: lfs-test
Version: 1.0
Architecture: all
Maintainer: layerfs tests <root@localhost>
Description: package installed by layerfs' chroot tests
EOT
	cat >"$_p/DEBIAN/postinst" <<'EOT'
#!/bin/sh
set -e
mkdir -p /var/lib/lfs-test
echo configured >/var/lib/lfs-test/postinst-ran
EOT
	chmod 755 "$_p/DEBIAN/postinst"
	printf '#!/bin/sh\necho "hello from lfs-test"\n' >"$_p/usr/bin/lfs-hello"
	chmod 755 "$_p/usr/bin/lfs-hello"
	head -c 300000 /dev/urandom >"$_p/usr/share/lfs-test/data.bin"
	dpkg-deb --root-owner-group -Zgzip --build "$_p" "$2" >/dev/null
}

lfs_apt_repo() {
	_d=$1
	shift
	mkdir -p "$_d"
	: >"$_d/Packages"
	for _deb in "$@"; do
		cp "$_deb" "$_d/"
		{
			dpkg-deb -f "$_deb"
			echo "Filename: ./$(basename "$_deb")"
			echo "Size: $(stat -c %s "$_deb")"
			echo "SHA256: $(sha256sum "$_deb" | cut -d' ' -f1)"
			echo
		} >>"$_d/Packages"
	done
	{
		echo "Origin: layerfs-tests"
		echo "Label: layerfs-tests"
		echo "Date: $(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S UTC')"
		echo "SHA256:"
		echo " $(sha256sum "$_d/Packages" | cut -d' ' -f1) $(stat -c %s "$_d/Packages") Packages"
	} >"$_d/Release"
}

lfs_http_serve() {
	_log=$(mktemp "$lfs_state/http.XXXXXX")
	python3 -u -m http.server --bind 127.0.0.1 --directory "$1" 0 >"$_log" 2>&1 </dev/null &
	echo "$!" >>"$lfs_state/daemons"
	_i=0
	while ! grep -q 'port [0-9]' "$_log"; do
		_i=$((_i + 1))
		[ "$_i" -le 1000 ] || lfs_fail "the HTTP server did not start: $(cat "$_log")"
		sleep 0.01
	done
	echo "http://127.0.0.1:$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$_log" | head -n 1)/"
}
