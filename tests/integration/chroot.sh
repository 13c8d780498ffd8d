#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# chroot.sh - layerfs-chroot: a command run inside an image, without Docker.
#
# The images are built here from this machine's own dash, coreutils and
# dpkg with their shared libraries (the bundled sample image has no shell):
#   A  the rootfs; config Cmd ["/bin/sh"]
#   S  A + the layers of the bundled sample image
#   B  A + an entry script; config Entrypoint, Cmd, Env, WorkingDir, User
#   H  A + hostile symlinks: /etc/resolv.conf -> /etc/passwd, /evil -> a host dir
# Cases: exit status and output; the mounts the command sees; a command
# killed by a signal (128+N); not found (127) / not executable (126); the
# image's defaults and the options that override them; --bind rw and ro; a
# package installed with dpkg into a persistent --upper, there in the next
# run; SIGTERM and SIGINT to the wrapper mid-run; ^C on a terminal; the
# layerfs daemon SIGKILLed mid-run; processes left behind by the command;
# a second run on a busy --upper; symlinks in the image never followed;
# a command ignoring SIGTERM killed after --stop-timeout; the hostname of
# its own UTS namespace; a pty of the container's devpts when stdin is a
# terminal (tty, window size, the terminal's mode restored), binary data
# through pipes unchanged without one; no mount point left in a kept
# --upper; a rootless run as nobody (user namespace, one id mapped: the
# subordinate ranges are rootless.sh's).
# After every run: no mount of the run in any process's mount table, no
# process of the run left, no run directory (ephemeral upper) left.
# Needs root, /dev/fuse, dpkg.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
lfs_require_root_fuse
for c in dpkg dpkg-deb ldd python3 setpriv; do
	command -v "$c" >/dev/null 2>&1 || lfs_skip "$c is not installed"
done
export LC_ALL=C
# In a sanitizer build: LeakSanitizer stops the world at exit with a helper
# process, which the wrapper can no longer fork once the pid namespace it
# unshared has lost its init; it then fails the run.  (Checked with
# valgrind instead: no leaks.)  The daemon's leaks are checked by the other tests.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export ASAN_OPTIONS
CHROOT=${LAYERFS_CHROOT:-$top_builddir/tools/layerfs-chroot}
[ -x "$CHROOT" ] || lfs_fail "no layerfs-chroot at $CHROOT (build it first)"
export LAYERFS

t=$(lfs_tmpdir)
chmod 755 "$t"
fail() { lfs_fail "$*"; }
# $t as a shared mount, as / is on systemd hosts: a mount the runs make
# below it would propagate back here unless the wrapper makes its private
mount --bind "$t" "$t"
echo "none $t" >>"$lfs_state/mounts"
mount --make-shared "$t"
# the wrapper's private directories go here: it must be empty after each run
mkdir -m 1777 "$t/tmp"
TMPDIR=$t/tmp
export TMPDIR

# ------------------------------------------------------------------ images
root=$t/rootfs
lfs_host_rootfs "$root" sh dash cat ls id sleep mkdir env rm ln touch readlink stat tr grep \
	dpkg dpkg-deb dpkg-query dpkg-split dpkg-trigger dpkg-divert dpkg-maintscript-helper \
	tar diff find sed mv rmdir chmod ldconfig start-stop-daemon hostname tty stty
mkdir -p "$root/etc" "$root/root" "$root/home/app" "$root/var/lib/dpkg/info" \
	"$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers" "$root/var/log"
: >"$root/var/lib/dpkg/status"
: >"$root/var/lib/dpkg/available"
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\napp:x:1000:\nextra:x:2000:app\n' >"$root/etc/group"
echo "to delete" >"$root/etc/obsolete"
chown 1000:1000 "$root/home/app"
# no /proc, /dev, /sys, /tmp, /etc/resolv.conf: layerfs-chroot makes them
tar -C "$root" --numeric-owner -cf "$t/l0.tar" .

mkdir -p "$t/l1/usr/local/bin"
cat >"$t/l1/usr/local/bin/entry" <<'EOF'
#!/bin/sh
echo "args=$* uid=$(id -u) gid=$(id -g) groups=$(id -G) pwd=$(pwd) FOO=$FOO HOME=$HOME"
EOF
chmod 755 "$t/l1/usr/local/bin/entry"
tar -C "$t/l1" --numeric-owner -cf "$t/l1.tar" .

mkdir -p "$t/l2/etc" "$t/hostdir"
ln -s /etc/passwd "$t/l2/etc/resolv.conf"
ln -s "$t/hostdir" "$t/l2/evil"
tar -C "$t/l2" --numeric-owner -cf "$t/l2.tar" .

echo '{"Cmd": ["/bin/sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}' >"$t/a.json"
cat >"$t/b.json" <<'EOF'
{"Entrypoint": ["/usr/local/bin/entry"], "Cmd": ["default-arg"],
 "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "FOO=from-image"],
 "WorkingDir": "/srv/work", "User": "app"}
EOF
python3 "$here/chroot_image.py" "$t/a.tar" "$t/a.json" "$t/l0.tar"
# S: the bundled sample image (no shell of its own) over the rootfs
python3 "$top_srcdir/scripts/make-sample-image" "$t/sample.tar"
python3 "$here/chroot_image.py" "$t/s.tar" "$t/a.json" "$t/l0.tar" "$t/sample.tar"
python3 "$here/chroot_image.py" "$t/b.tar" "$t/b.json" "$t/l0.tar" "$t/l1.tar"
python3 "$here/chroot_image.py" "$t/h.tar" "$t/a.json" "$t/l0.tar" "$t/l2.tar"
chmod 644 "$t"/*.tar

# a package for dpkg
pkg=$t/pkg
mkdir -p "$pkg/DEBIAN" "$pkg/usr/bin" "$t/pkgs"
printf 'Package: lfs-test\nVersion: 1.0\nArchitecture: all\nMaintainer: layerfs tests <root@localhost>\nDescription: installed by chroot.sh\n' \
	>"$pkg/DEBIAN/control"
printf '#!/bin/sh\necho "hello from lfs-test"\n' >"$pkg/usr/bin/lfs-hello"
chmod 755 "$pkg/usr/bin/lfs-hello"
dpkg-deb --root-owner-group -Zgzip --build "$pkg" "$t/pkgs/lfs-test.deb" >/dev/null

# ----------------------------------------------------------------- helpers
# Is anything of this test's runs still there?  Mounts in ANY process's
# mount namespace (a leaked namespace is kept alive by a process), processes
# whose command line names our run directories, run directories.
check_clean() {    # WHAT
	_i=0
	while :; do
		_left=$(grep -l -F "$t/" /proc/[0-9]*/mountinfo 2>/dev/null || :)
		_procs=$(grep -l -F "$t/tmp/layerfs-chroot." /proc/[0-9]*/cmdline 2>/dev/null || :)
		[ -n "$_left$_procs" ] || break
		_i=$((_i + 1))
		# the daemon and the namespaces may take a moment to go
		[ "$_i" -lt 100 ] || fail "$1: left behind: mounts in ${_left:-none}; processes ${_procs:-none}"
		sleep 0.05
	done
	[ -z "$(ls -A "$t/tmp")" ] || fail "$1: run directory left: $(ls -A "$t/tmp")"
	! find "$t" -maxdepth 1 -name '.*.work.*' | grep . || fail "$1: work directory left"
}

# run EXPECTED_STATUS ARGS...: layerfs-chroot ARGS, output in $t/out and $t/err
run() {
	_want=$1
	shift
	_rc=0
	"$CHROOT" -q "$@" >"$t/out" 2>"$t/err" </dev/null || _rc=$?
	if [ "$_rc" != "$_want" ]; then
		cat "$t/out" "$t/err" >&2
		fail "layerfs-chroot $*: status $_rc, expected $_want"
	fi
	check_clean "layerfs-chroot $*"
}

expect_out() {    # TEXT WHAT
	[ "$(cat "$t/out")" = "$1" ] || fail "$2: output '$(cat "$t/out")', expected '$1'"
}

# start ARGS...: layerfs-chroot ARGS in the background ($bg), once it printed "started"
start() {
	rm -f "$t/out"
	"$CHROOT" -q "$@" >"$t/out" 2>"$t/err" </dev/null &
	bg=$!
	_i=0
	until grep -q started "$t/out" 2>/dev/null; do
		_i=$((_i + 1))
		[ "$_i" -lt 400 ] || { cat "$t/err" >&2; fail "$*: never started"; }
		lfs__alive "$bg" || { cat "$t/err" >&2; fail "$*: ended before starting"; }
		sleep 0.05
	done
	! grep -F "$t/" /proc/self/mountinfo >&2 || fail "$*: the run's mounts show on the host"
}

# finish EXPECTED_STATUS WHAT: wait (bounded) for $bg
finish() {
	_i=0
	while lfs__alive "$bg"; do
		_i=$((_i + 1))
		[ "$_i" -lt 300 ] || { kill -9 "$bg"; fail "$2: still running 15 s later"; }
		sleep 0.05
	done
	_rc=0
	wait "$bg" || _rc=$?
	[ "$_rc" = "$1" ] || { cat "$t/err" >&2; fail "$2: status $_rc, expected $1"; }
	check_clean "$2"
}

# ------------------------------------------------------- status and output
run 3 "$t/s.tar" -- sh -c 'echo ok; exit 3'
expect_out ok "sh -c 'echo ok; exit 3'"
run 0 "$t/s.tar" -- sh -c 'hello; cat /etc/motd'
expect_out "hello from the layerfs sample image, version 2
Welcome to the layerfs sample image (cleanup layer)." "the sample image's files"
run 0 "$t/a.tar" sh -c 'echo ok'          # without '--'
expect_out ok "without --"
run 137 "$t/a.tar" -- sh -c 'echo dying; kill -KILL $$'
expect_out dying "killed by SIGKILL"
run 143 "$t/a.tar" -- sh -c 'kill -TERM $$'
run 127 "$t/a.tar" -- no-such-command
grep -q 'no-such-command' "$t/err" || fail "not found: no message"
run 126 "$t/a.tar" -- /etc/passwd
run 125 --bogus-option "$t/a.tar"
# bad values: one line naming the option, usage status
for v in -1 abc 1.5 ''; do
	run 125 --stop-timeout "$v" "$t/a.tar" -- true
	[ "$(wc -l <"$t/err")" = 1 ] && grep -q -- '--stop-timeout' "$t/err" ||
		fail "--stop-timeout '$v': $(cat "$t/err")"
done
for v in bad_name -lead trail- a..b '' "$(printf '%065d' 0)"; do
	run 125 --hostname "$v" "$t/a.tar" -- true
	[ "$(wc -l <"$t/err")" = 1 ] && grep -q -- '--hostname' "$t/err" ||
		fail "--hostname '$v': $(cat "$t/err")"
done

# --------------------------------------------- what the command finds there
run 0 "$t/a.tar" -- sh -c '
	m=/proc/self/mountinfo
	mnt() { while read -r _ _ _ _ p o _; do [ "$p" = "$1" ] && echo "$o"; done <$m; }
	typ() { sed -n "s|^[^ ]* [^ ]* [^ ]* [^ ]* $1 .* - \([^ ]*\) .*|\1|p" $m; }
	echo "root=$(typ /) proc=$(typ /proc) dev=$(typ /dev) pts=$(typ /dev/pts)"
	echo "shm=$(typ /dev/shm) sys=$(typ /sys) tmp=$(typ /tmp)"
	case $(mnt /sys) in ro,*) echo sys-ro ;; esac
	case $(mnt /etc/resolv.conf) in ro,*) echo resolv-ro ;; esac
	echo pid=$$
	for d in null zero full random urandom tty; do [ -c /dev/$d ] || echo "no /dev/$d"; done
	[ -L /dev/ptmx ] && [ -c /dev/pts/ptmx ] && echo ptmx
	echo x >/dev/null && echo null-ok
	touch /sys/x 2>/dev/null || echo sys-readonly
	echo t >/tmp/t && echo tmp-writable
	cat /etc/resolv.conf'
got=$(cat "$t/out")
resolv=$(cat /etc/resolv.conf 2>/dev/null || :)
want_head="root=fuse.layerfs proc=proc dev=tmpfs pts=devpts
shm=tmpfs sys=sysfs tmp=tmpfs
sys-ro${resolv:+
resolv-ro}
pid=2
ptmx
null-ok
sys-readonly
tmp-writable"
[ "$got" = "$want_head${resolv:+
$resolv}" ] || fail "inside the image: got
$got
expected
$want_head
$resolv"

# ------------------------------------------ the image's defaults, overrides
run 0 "$t/b.tar"
expect_out "args=default-arg uid=1000 gid=1000 groups=1000 2000 pwd=/srv/work FOO=from-image HOME=/home/app" \
	"image defaults"
run 0 -u 0:extra -w /tmp -e FOO=cli "$t/b.tar" -- a b
expect_out "args=a b uid=0 gid=2000 groups=2000 pwd=/tmp FOO=cli HOME=/root" "overrides"
export FOO=from-host
run 0 -e FOO --entrypoint '' -u app -e HOME=/x "$t/b.tar" -- sh -c 'echo "$FOO $HOME $PATH $(id -un)"'
unset FOO
expect_out "from-host /x /usr/local/bin:/usr/bin:/bin app" "--entrypoint '' and --env NAME"
run 125 -u nosuchuser "$t/b.tar"
grep -q 'nosuchuser' "$t/err" || fail "unknown user: no message"

# ------------------------------------------------------------------ --bind
mkdir "$t/shared"
echo host >"$t/shared/in"
run 0 --bind "$t/shared:/mnt/shared" --bind "$t/shared:/ro:ro" "$t/a.tar" -- sh -c \
	'cat /mnt/shared/in; echo guest >/mnt/shared/out; echo x >/ro/no 2>/dev/null || echo ro-refused'
expect_out "host
ro-refused" "--bind"
[ "$(cat "$t/shared/out")" = guest ] || fail "--bind: the write did not reach the host"
[ ! -e "$t/shared/no" ] || fail "--bind :ro: the write went through"

# ------------------------------------------------ symlinks are not followed
run 0 "$t/h.tar" -- sh -c 'cat /etc/resolv.conf; grep -c app /etc/passwd'
expect_out "${resolv:+$resolv
}1" "resolv.conf symlink"
run 125 --bind "$t/shared:/evil/x" "$t/h.tar" -- true
grep -q 'symlink' "$t/err" || fail "bind through a symlink: $(cat "$t/err")"
[ -z "$(ls -A "$t/hostdir")" ] || fail "bind through a symlink created $(ls -A "$t/hostdir")"

# ------------------------------------------- a package in a persistent upper
up=$t/upper
run 0 --upper "$up" --bind "$t/pkgs:/pkgs:ro" "$t/a.tar" -- dpkg -i /pkgs/lfs-test.deb
[ -x "$up/usr/bin/lfs-hello" ] || fail "the package is not in the upper directory"
run 0 --upper "$up" "$t/a.tar" -- sh -c 'dpkg-query -W -f "\${Status}\n" lfs-test; lfs-hello'
expect_out "install ok installed
hello from lfs-test" "the package after a new run with the same --upper"
run 0 "$t/a.tar" -- sh -c 'command -v lfs-hello || echo absent'
expect_out absent "the package in a run with an ephemeral upper"
# one run at a time on an upper
start --upper "$up" "$t/a.tar" -- sh -c 'echo started; sleep 60'
rc=0
"$CHROOT" -q --upper "$up" "$t/a.tar" -- true 2>"$t/err2" || rc=$?
if [ "$rc" != 125 ] || ! grep -q 'in use' "$t/err2"; then
	fail "a busy --upper: status $rc, $(cat "$t/err2")"
fi
kill -TERM "$bg"
finish 143 "SIGTERM with --upper"

# ------------------------------------ no mount point left in a kept --upper
# the image has /etc but no /proc, /dev, /sys, /tmp, resolv.conf, /src,
# /opt: what was made to mount on goes; what the command wrote stays
snap() { (cd "$1" && find . -printf '%p %y %m %s\n' | sort); }
mkdir "$t/up18" "$t/up18/keep"
echo kept >"$t/up18/keep/file"
before=$(snap "$t/up18")
run 0 --upper "$t/up18" --bind "$t/shared:/src" --bind "$t/shared:/opt/deep/mnt:ro" \
	--bind "$t/shared/in:/etc/bound-in" "$t/a.tar" -- sh -c 'ls /src /opt/deep/mnt >/dev/null; cat /etc/bound-in'
expect_out host "--bind with a kept --upper"
after=$(snap "$t/up18")
[ "$after" = "$before" ] || fail "mount points left in --upper: before
$before
after
$after"
run 0 --upper "$t/up18" --bind "$t/shared:/opt/deep/mnt" "$t/a.tar" -- sh -c 'echo mine >/opt/deep/file'
[ "$(cat "$t/up18/opt/deep/file")" = mine ] || fail "the command's file next to a mount point is gone"
[ ! -e "$t/up18/opt/deep/mnt" ] || fail "the mount point next to the command's file was left"
[ ! -e "$t/up18/etc" ] && [ ! -e "$t/up18/proc" ] || fail "mount points left: $(ls -A "$t/up18")"

# ------------------------------------------------------ signals and deaths
start "$t/a.tar" -- sh -c 'echo started; sleep 60; echo not-stopped'
kill -TERM "$bg"
finish 143 "SIGTERM to the wrapper"
grep -q not-stopped "$t/out" && fail "SIGTERM: the command went on"

start "$t/a.tar" -- sh -c 'echo started; sleep 60'
kill -INT "$bg"
finish 130 "SIGINT to the wrapper"

start "$t/a.tar" -- sh -c 'echo started; sleep 60'
daemon=$(pgrep -P "$bg" -x layerfs) || fail "no layerfs daemon under the wrapper"
kill -KILL "$daemon"
finish 125 "the daemon SIGKILLed"
grep -q 'layerfs ended' "$t/err" || fail "the daemon SIGKILLed: no message: $(cat "$t/err")"

# what the command leaves running ends with it
run 0 "$t/a.tar" -- sh -c 'sleep 9137 & echo bg'
pgrep -f 'sleep 9137' >/dev/null && fail "a process of the command outlived it"

# ------------------------------------------------- --stop-timeout (SIGKILL)
start --stop-timeout 1 "$t/a.tar" -- sh -c 'trap "" TERM; echo started; sleep 300; echo not-killed'
kill -TERM "$bg"
finish 137 "a command ignoring SIGTERM, --stop-timeout 1"   # (finish gives up after 15 s)
! grep -q not-killed "$t/out" || fail "--stop-timeout: the command went on"
grep -q 'SIGTERM' "$t/err" || fail "--stop-timeout: no message: $(cat "$t/err")"
# a command that ends on SIGTERM is not reported as killed
start --stop-timeout 5 "$t/a.tar" -- sh -c 'echo started; exec sleep 300'
kill -TERM "$bg"
finish 143 "SIGTERM with --stop-timeout 5"

# ------------------------------------------------------------ UTS namespace
host_name=$(hostname)
run 0 --hostname build-1.example "$t/a.tar" -- sh -c 'hostname; cat /proc/sys/kernel/hostname'
expect_out "build-1.example
build-1.example" "--hostname"
run 0 "$t/a.tar" -- hostname
grep -qx '[0-9a-f]\{12\}' "$t/out" || fail "default hostname: '$(cat "$t/out")'"
[ "$(hostname)" = "$host_name" ] || fail "the host's hostname changed to $(hostname)"

# --------------- run from the build tree: its daemon found without $LAYERFS
if [ -z "${LAYERFS_CHROOT:-}" ]; then
	env -u LAYERFS PATH=/usr/sbin:/usr/bin:/sbin:/bin "$CHROOT" -q "$t/a.tar" -- sh -c "echo found" \
		>"$t/out" 2>"$t/err" || fail "tools/layerfs-chroot without \$LAYERFS: $(cat "$t/err")"
	[ "$(cat "$t/out")" = found ] || fail "tools/layerfs-chroot without \$LAYERFS: '$(cat "$t/out")'"
	check_clean "the build tree's daemon"
fi

# ------------------------------------------- pipes without a terminal: bytes
python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 300 + b"\r\n\x04\x03")' >"$t/bin"
"$CHROOT" -q "$t/a.tar" -- cat <"$t/bin" >"$t/bin.out" 2>"$t/err" || fail "cat through pipes: $(cat "$t/err")"
cmp "$t/bin" "$t/bin.out" || fail "binary data through pipes changed"
check_clean "binary data through pipes"

# ------------------------------------------------------ a terminal: a pty
# the wrapper on a terminal (python's pty) of 33x111: inside, a /dev/pts/N of
# the container's devpts on stdin, stdout and stderr, the size, a resize;
# after it, the caller's terminal in its mode again
python3 - "$CHROOT" "$t/a.tar" >"$t/pty.out" 2>&1 <<'PY' || { cat "$t/pty.out" >&2; fail "a pty on a terminal"; }
import fcntl, os, pty, re, select, struct, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "-q", sys.argv[2], "--", "sh", "-c",
        'n=$(tty) && [ -c "$n" ] && echo "tty=$n"; test -t 0 && test -t 1 && test -t 2 && echo all-tty; '
        'echo "size=$(stty size)"; trap \'echo "resized=$(stty size)"; exit 7\' WINCH; echo started; '
        'while :; do sleep 0.1; done'])
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
out = b""
def read_until(what, secs):
    global out
    end = time.time() + secs
    while what not in out and time.time() < end:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return what in out
if not read_until(b"started", 20):
    os.kill(pid, 9)
    sys.exit("never started: %r" % out)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 44, 122, 0, 0))
read_until(b"never", 10 if b"resized" not in out else 0)
end = time.time() + 15
while time.time() < end:
    p, st = os.waitpid(pid, os.WNOHANG)
    if p:
        break
    read_until(b"never", 0.1)
else:
    os.kill(pid, 9)
    sys.exit("still running: %r" % out)
text = out.decode("latin-1")
for want in (r"tty=/dev/pts/\d+\r\n", r"all-tty\r\n", r"size=33 111\r\n", r"resized=44 122\r\n"):
    if not re.search(want, text):
        sys.exit("no %s in %r" % (want, out))
if os.waitstatus_to_exitcode(st) != 7:
    sys.exit("status %d, output %r" % (os.waitstatus_to_exitcode(st), out))
lflag = termios.tcgetattr(fd)[3]
if not (lflag & termios.ICANON and lflag & termios.ECHO):
    sys.exit("the terminal was left in raw mode")
PY
check_clean "a pty on a terminal"

# ^C on a terminal: the command has the terminal, ^C reaches it
python3 - "$CHROOT" "$t/a.tar" >"$t/pty.out" 2>&1 <<'PY' || { cat "$t/pty.out" >&2; fail "^C on a terminal"; }
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "-q", sys.argv[2], "--", "sh", "-c",
                           "read x; echo got-$x; exec sleep 60"])
out = b""
def read_until(what, secs):
    global out
    end = time.time() + secs
    while what not in out and time.time() < end:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return what in out
os.write(fd, b"line\n")
if not read_until(b"got-line", 20):
    sys.exit("the command did not read the terminal: %r" % out)
time.sleep(0.5)    # (until sh has become sleep: sh itself catches SIGINT)
os.write(fd, b"\x03")
end = time.time() + 15
while time.time() < end:
    p, st = os.waitpid(pid, os.WNOHANG)
    if p:
        break
    read_until(b"never", 0.1)
else:
    os.kill(pid, 9)
    sys.exit("still running after ^C: %r" % out)
code = os.waitstatus_to_exitcode(st)
if code != 130:
    sys.exit("^C: status %d, output %r" % (code, out))
PY
check_clean "^C on a terminal"

# ---------------------------------------------------------------- rootless
if setpriv --reuid=65534 --regid=65534 --clear-groups unshare -U true 2>/dev/null; then
	fuse_mode=$(stat -c %a /dev/fuse)
	trap 'chmod "$fuse_mode" /dev/fuse; lfs_cleanup' EXIT
	chmod o+rw /dev/fuse           # some VMs make it 0600; Debian's is 0666
	mkdir "$t/nobody" "$t/nobody/cache"
	chown 65534:65534 "$t/nobody" "$t/nobody/cache"
	as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups env XDG_CACHE_HOME="$t/nobody/cache" "$@"; }
	rc=0
	as_nobody "$CHROOT" -q --verbose --hostname rootless --upper "$t/nobody/upper" "$t/a.tar" -- \
		sh -c 'echo ok; id -u; cat /proc/self/uid_map | tr -s " "; hostname; echo new >/newfile; rm /etc/obsolete; exit 3' \
		>"$t/out" 2>"$t/err" </dev/null || rc=$?
	[ "$rc" = 3 ] || { cat "$t/err" >&2; fail "rootless: status $rc"; }
	expect_out "ok
0
 0 65534 1
rootless" "rootless"
	# nobody has no subordinate ids: one id mapped (rootless.sh maps ranges)
	grep -q 'user namespace: only uid 65534 and gid 65534 are mapped, to 0' "$t/err" ||
		fail "rootless --verbose: $(cat "$t/err")"
	[ "$(hostname)" = "$host_name" ] || fail "rootless: the host's hostname changed"
	[ ! -e "$t/nobody/upper/proc" ] && [ ! -e "$t/nobody/upper/tmp" ] || fail "rootless: mount points left in the upper"
	[ "$(stat -c %u "$t/nobody/upper/newfile")" = 65534 ] || fail "rootless: the new file is not the user's"
	# a 0:0 device (Linux >= 5.8 lets a user namespace make whiteouts), else .wh.obsolete
	[ -c "$t/nobody/upper/etc/obsolete" ] || [ -e "$t/nobody/upper/etc/.wh.obsolete" ] ||
		fail "rootless: no whiteout for the deleted file"
	check_clean "rootless"
	! find "$t/nobody" -maxdepth 1 -name '.*.work.*' | grep . || fail "rootless: work directory left"
	rc=0
	as_nobody "$CHROOT" -q -u app "$t/a.tar" -- true 2>"$t/err" </dev/null || rc=$?
	if [ "$rc" != 125 ] || ! grep -q 'only root is mapped' "$t/err"; then
		fail "rootless --user app: status $rc, $(cat "$t/err")"
	fi
	check_clean "rootless --user app"
	# root with --userns: root mapped to itself, one id
	out=$("$CHROOT" -q --userns --verbose "$t/a.tar" -- cat /proc/self/uid_map 2>"$t/err" </dev/null) ||
		fail "--userns as root: $(cat "$t/err")"
	[ "$(echo "$out" | tr -s ' ')" = " 0 0 1" ] || fail "--userns as root: uid_map $out"
	grep -q 'only uid 0 and gid 0 are mapped, to 0 (root maps itself)' "$t/err" ||
		fail "--userns as root --verbose: $(cat "$t/err")"
	check_clean "--userns as root"
	chmod "$fuse_mode" /dev/fuse
else
	echo "chroot: rootless part skipped: no unprivileged user namespaces here" >&2
fi
echo "chroot: ok"
