/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-chroot: the wrapper's run.  It makes the run directory (the mount
 * point, and the private upper and work directories unless --upper), enters
 * a private mount namespace (in a user namespace mapping the caller to root,
 * and its subordinate ids to 1, 2, ..., when not root; chroot_ns.c), starts
 * `layerfs -f` there and waits for the mount, starts the init of a new pid
 * and UTS namespace (chroot_init.c), passes SIGINT, SIGTERM, SIGHUP, SIGQUIT,
 * SIGUSR1 and SIGUSR2 on to it (and SIGKILL when the command outlives
 * SIGTERM by --stop-timeout), relays its pty (chroot_pty.c), and at the end
 * stops the daemon and removes what it made.  Every mount lives only in the
 * private mount namespace: nothing can be left in the host's mount table,
 * whatever dies first.  The daemon and the init get SIGKILL if the wrapper
 * dies.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "chroot.h"
#include "layerfs/lfs.h"

/* How long the daemon may take to exit once unmounted, then once told to (ms). */
#define DAEMON_UNMOUNT_WAIT 10000
#define DAEMON_TERM_WAIT    5000

struct run {
	const struct lfs_chroot_opts *o;
	struct lfs_chroot_spec *spec;
	char *rundir;	/* $TMPDIR/layerfs-chroot.XXXXXX */
	char *mnt;	/* rundir/root */
	char *upper;	/* --upper, or rundir/upper */
	char *work;	/* --work, rundir/work, or a temporary one next to --upper */
	char *madework; /* the temporary work directory we made next to --upper */
	int upper_lock; /* flock()ed --upper, or -1 */
	pid_t daemon;	/* layerfs -f */
	pid_t init;	/* pid 1 of the new pid namespace */
	int daemon_done, init_done, daemon_status, init_status;
	int daemon_died; /* the daemon ended before we stopped it */
	sigset_t blocked, saved;
	struct lfs_chroot_relay relay; /* the command's pty */
	struct lfs_chroot_mp *mp;      /* the mount points it will create in --upper */
	struct timespec stop_at;       /* SIGTERM + --stop-timeout, when stopping */
	int stopping, killed;	       /* SIGTERM passed on; SIGKILL sent after it */
};

/* ---------------------------------------------------------------- files */

/*
 * Remove NAME in DIRFD and everything under it, never crossing into another
 * filesystem (the mount point must never take the image's upper with it)
 * and never following a symlink.  Directories we may not read are opened up
 * first (the command may have made them 0000).
 */
static int rm_at(int pfd, const char *name, dev_t dev)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd, rc = 0;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(pfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	if (st.st_dev != dev)
		return -EXDEV;
	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == EACCES && fchmodat(pfd, name, 0700, 0) == 0)
		fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if ((st.st_mode & 0700) != 0700)
		fchmod(fd, 0700);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	while ((de = readdir(d))) {
		int r;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		r = rm_at(dirfd(d), de->d_name, dev);
		if (r < 0 && !rc)
			rc = r;
	}
	closedir(d);
	if (rc == 0 && unlinkat(pfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -errno;
	return rc;
}

void lfs_chroot_rmtree(const char *path)
{
	char *dup = lfs_xstrdup(path), *dup2 = lfs_xstrdup(path);
	char *parent = dirname(dup), *base = basename(dup2);
	struct stat st;
	int pfd, rc;

	if (lstat(path, &st) < 0) {
		free(dup);
		free(dup2);
		return;
	}
	pfd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
	rc = pfd < 0 ? -errno : rm_at(pfd, base, st.st_dev);
	if (rc < 0)
		lfs_chroot_msg("cannot remove %s: %s", path, strerror(-rc));
	if (pfd >= 0)
		close(pfd);
	free(dup);
	free(dup2);
}

static char *path_join(const char *a, const char *b)
{
	char *s = lfs_xmalloc(strlen(a) + strlen(b) + 2);

	sprintf(s, "%s/%s", a, b);
	return s;
}

static int make_dir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST) {
		int rc = -errno;

		lfs_chroot_msg("%s: %s", path, strerror(errno));
		return rc;
	}
	return 0;
}

/* The run directory, the upper and work directories. */
static int make_dirs(struct run *r)
{
	const char *tmp = r->o->imgopts.tmpdir ? r->o->imgopts.tmpdir : getenv("TMPDIR");
	char *base, *tmpl;
	int rc;

	if (!tmp || !*tmp)
		tmp = "/var/tmp";
	base = realpath(tmp, NULL);
	if (!base) {
		lfs_chroot_msg("%s: %s", tmp, strerror(errno));
		return -errno;
	}
	tmpl = path_join(base, "layerfs-chroot.XXXXXX");
	free(base);
	if (!mkdtemp(tmpl)) {
		rc = -errno;
		lfs_chroot_msg("cannot create a run directory %s: %s", tmpl, strerror(errno));
		free(tmpl);
		return rc;
	}
	r->rundir = tmpl;
	r->mnt = path_join(r->rundir, "root");
	if ((rc = make_dir(r->mnt, 0755)) < 0)
		return rc;
	if (!r->o->upper) {
		r->upper = path_join(r->rundir, "upper");
		r->work = path_join(r->rundir, "work");
		if ((rc = make_dir(r->upper, 0755)) < 0 || (rc = make_dir(r->work, 0700)) < 0)
			return rc;
		return 0;
	}
	/* A persistent upper: one run at a time. */
	if ((rc = make_dir(r->o->upper, 0755)) < 0)
		return rc;
	r->upper = realpath(r->o->upper, NULL);
	if (!r->upper) {
		lfs_chroot_msg("%s: %s", r->o->upper, strerror(errno));
		return -errno;
	}
	r->upper_lock = open(r->upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->upper_lock < 0 || flock(r->upper_lock, LOCK_EX | LOCK_NB) < 0) {
		rc = -errno;
		lfs_chroot_msg("%s: %s", r->upper,
			       errno == EWOULDBLOCK ? "in use by another layerfs-chroot"
						    : strerror(errno));
		return rc;
	}
	if (r->o->work) {
		r->work = lfs_xstrdup(r->o->work);
		return 0;
	}
	/* layerfs needs its work directory on the upper's filesystem. */
	{
		char *dup = lfs_xstrdup(r->upper), *dup2 = lfs_xstrdup(r->upper);
		char *name = lfs_xmalloc(strlen(basename(dup2)) + 32);

		sprintf(name, ".%s.work.XXXXXX", basename(dup2));
		tmpl = path_join(dirname(dup), name);
		free(dup);
		free(dup2);
		free(name);
	}
	if (!mkdtemp(tmpl)) {
		rc = -errno;
		lfs_chroot_msg("cannot create a work directory %s: %s", tmpl, strerror(errno));
		free(tmpl);
		return rc;
	}
	r->madework = tmpl;
	r->work = lfs_xstrdup(tmpl);
	return 0;
}

/* ------------------------------------------------------------- children */

static void reap(struct run *r)
{
	int st;
	pid_t p;

	while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
		if (p == r->daemon) {
			r->daemon_done = 1;
			r->daemon_status = st;
		} else if (p == r->init) {
			r->init_done = 1;
			r->init_status = st;
		}
	}
}

static int is_fwd_signal(int sig)
{
	for (size_t i = 0; i < lfs_chroot_nfwd_signals; i++)
		if (lfs_chroot_fwd_signals[i] == sig)
			return 1;
	return 0;
}

/* Wait for a signal, at most MS milliseconds (< 0: no limit).  0 on timeout. */
static int next_signal(struct run *r, long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	siginfo_t si;
	int sig;

	sig = ms < 0 ? sigwaitinfo(&r->blocked, &si) : sigtimedwait(&r->blocked, &si, &ts);
	if (sig == SIGCHLD)
		reap(r);
	return sig < 0 ? 0 : sig;
}

static char *find_layerfs(void)
{
	const char *env = getenv("LAYERFS");
	char self[PATH_MAX], *p;
	ssize_t n;

	if (env && *env)
		return lfs_xstrdup(env);
	n = readlink("/proc/self/exe", self, sizeof(self) - 16);
	if (n > 0) {
		self[n] = '\0';
		p = strrchr(self, '/');
		if (p) {
			/* Installed: both in the same bin directory. */
			strcpy(p + 1, "layerfs");
			if (access(self, X_OK) == 0)
				return lfs_xstrdup(self);
			/* Run from the build tree: tools/ here, src/layerfs there. */
			*p = '\0';
			if (!strcmp(self, LFS_BUILD_TOOLS_DIR) &&
			    access(LFS_BUILD_LAYERFS, X_OK) == 0)
				return lfs_xstrdup(LFS_BUILD_LAYERFS);
		}
	}
	return lfs_xstrdup("layerfs"); /* from $PATH */
}

static void start_daemon(struct run *r)
{
	const struct lfs_chroot_opts *o = r->o;
	const char *argv[24 + LFS_IMAGE_CLI_MAXWORDS];
	char nums[LFS_IMAGE_CLI_NUMS][24];
	char *bin = find_layerfs();
	pid_t parent = getpid();
	size_t n = 0;
	int fd;

	argv[n++] = bin;
	argv[n++] = "-f";
	if (o->quiet)
		argv[n++] = "-q";
	if (!o->nosuid) {
		argv[n++] = "-o";
		argv[n++] = "suid";
	}
	lfs_image_cli_argv(&o->imgopts, argv, &n, nums);
	argv[n++] = "--upper";
	argv[n++] = r->upper;
	argv[n++] = "--work";
	argv[n++] = r->work;
	argv[n++] = o->image;
	argv[n++] = r->mnt;
	argv[n] = NULL;
	r->daemon = fork();
	if (r->daemon < 0) {
		lfs_chroot_msg("fork: %s", strerror(errno));
		free(bin);
		return;
	}
	if (r->daemon == 0) {
		/* Dies with us; out of reach of the terminal's ^C (we pass signals on). */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(LFS_CHROOT_EXIT_FAIL);
		setpgid(0, 0);
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0 && fd != STDIN_FILENO) {
			dup2(fd, STDIN_FILENO);
			close(fd);
		}
		dup2(STDERR_FILENO, STDOUT_FILENO);
		sigprocmask(SIG_SETMASK, &r->saved, NULL);
		execvp(bin, (char **)argv);
		lfs_chroot_msg("cannot run %s: %s (set LAYERFS to the layerfs binary)", bin,
			       strerror(errno));
		_exit(LFS_CHROOT_EXIT_FAIL);
	}
	free(bin);
}

/* Is a FUSE filesystem mounted exactly on MNT in our mount namespace? */
static int fuse_mounted(const char *mnt)
{
	char type[64];

	return lfs_mount_fstype(mnt, type, sizeof(type)) &&
	       (!strcmp(type, "fuse") || !strncmp(type, "fuse.", 5));
}

static void describe_status(int st, char *buf, size_t n)
{
	if (WIFEXITED(st))
		snprintf(buf, n, "exit status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(buf, n, "status 0x%x", st);
}

/* Until the image is mounted: 0, or a signal number that stopped us, or -1. */
static int wait_mounted(struct run *r)
{
	char what[96];

	for (;;) {
		int sig;

		if (fuse_mounted(r->mnt))
			return 0;
		if (r->daemon_done) {
			describe_status(r->daemon_status, what, sizeof(what));
			lfs_chroot_msg("layerfs ended before mounting the image (%s)", what);
			return -1;
		}
		sig = next_signal(r, 10);
		if (is_fwd_signal(sig))
			return sig;
	}
}

/* Unmount, let the daemon finish (bounded), then make sure it is gone. */
static void stop_daemon(struct run *r)
{
	struct timespec t0, t;
	int phase = 0, phase_start;
	long waited;

	if (r->mnt && umount2(r->mnt, MNT_DETACH) < 0) {
		/* not mounted (yet): the daemon will not see an unmount */
		phase = 1;
		if (errno != EINVAL && errno != ENOENT)
			lfs_chroot_msg("cannot unmount %s: %s", r->mnt, strerror(errno));
	}
	if (r->daemon <= 0)
		return;
	phase_start = phase;
	for (; !r->daemon_done; phase++) {
		long limit = phase == 0 ? DAEMON_UNMOUNT_WAIT : DAEMON_TERM_WAIT;

		if (phase == 1) {
			if (phase_start == 0)
				lfs_chroot_msg("layerfs still runs after the unmount: stopping it");
			kill(r->daemon, SIGTERM);
		} else if (phase == 2) {
			kill(r->daemon, SIGKILL);
			waitpid(r->daemon, &r->daemon_status, 0);
			r->daemon_done = 1;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		do {
			next_signal(r, 50);
			clock_gettime(CLOCK_MONOTONIC, &t);
			waited = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		} while (!r->daemon_done && waited < limit);
	}
}

/* ----------------------------------------------------------------- run */

static int start_init(struct run *r, int *status_fd)
{
	int p[2], rc;

	rc = lfs_chroot_ns_pid_uts(r->o->hostname);
	if (rc < 0)
		return rc;
	/* messages keep their bounds; the pty master travels as SCM_RIGHTS */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) < 0)
		return -errno;
	r->init = fork();
	if (r->init < 0) {
		rc = -errno;
		lfs_chroot_msg("fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return rc;
	}
	if (r->init == 0) {
		struct pollfd pf = {.fd = p[1], .events = POLLOUT};

		close(p[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* (getppid() says 0 across the pid namespace: did we miss our parent's end?) */
		if (poll(&pf, 1, 0) == 1 && (pf.revents & (POLLERR | POLLHUP)))
			_exit(LFS_CHROOT_EXIT_FAIL);
		/* Signals reach it from us only, once. */
		setpgid(0, 0);
		lfs_chroot_init(r->mnt, r->o, r->spec, p[1]);
	}
	close(p[1]);
	*status_fd = p[0];
	return 0;
}

static long ms_until(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
}

static void daemon_gone(struct run *r, const char *what_next)
{
	char what[96];

	r->daemon_died = 1;
	describe_status(r->daemon_status, what, sizeof(what));
	lfs_chroot_msg("layerfs ended while the command was running (%s)%s", what, what_next);
}

/* The signals that came, from SFD. */
static void take_signals(struct run *r, int sfd)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		int sig = (int)si.ssi_signo;

		if (sig == SIGCHLD) {
			reap(r);
		} else if (sig == SIGWINCH) {
			lfs_chroot_relay_winch(&r->relay);
		} else if (is_fwd_signal(sig) && !r->init_done) {
			kill(r->init, sig);
			/* as docker stop: SIGTERM, then SIGKILL after the grace period */
			if (sig == SIGTERM && !r->stopping) {
				r->stopping = 1;
				clock_gettime(CLOCK_MONOTONIC, &r->stop_at);
				r->stop_at.tv_sec += r->o->stop_timeout;
			}
		}
	}
	if (r->daemon_done && !r->daemon_died && !r->init_done) {
		daemon_gone(r, ": stopping the command");
		kill(r->init, SIGKILL);
	}
}

/* A message from the init: its result, or the pty master to relay. */
static int take_message(struct run *r, int ctl, struct lfs_chroot_status *msg, int *have)
{
	struct lfs_chroot_status m;
	int fd, rc = lfs_chroot_recv(ctl, &m, &fd);

	if (rc > 0 && m.kind == LFS_CHROOT_PTY && fd >= 0 && r->relay.master < 0) {
		rc = lfs_chroot_relay_start(&r->relay, fd);
		if (rc < 0)
			lfs_chroot_msg("cannot put the terminal in raw mode: %s", strerror(-rc));
		return 1;
	}
	if (fd >= 0)
		close(fd);
	if (rc > 0) {
		*msg = m;
		*have = 1;
	}
	return rc;
}

/* From the init's start to its end, passing signals on.  Returns the exit code. */
static int supervise(struct run *r, int status_fd)
{
	struct lfs_chroot_status msg = {0};
	int have = 0, ctl_open = 1, sfd;
	char what[96];

	sfd = signalfd(-1, &r->blocked, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		lfs_chroot_msg("signalfd: %s", strerror(errno));
		kill(r->init, SIGKILL);
	}
	while (!r->init_done && sfd >= 0) {
		struct pollfd pfd[5] = {{.fd = sfd, .events = POLLIN},
					{.fd = ctl_open ? status_fd : -1, .events = POLLIN}};
		long wait = -1;

		lfs_chroot_relay_fds(&r->relay, pfd + 2);
		if (r->stopping && !r->killed) {
			wait = ms_until(&r->stop_at);
			if (wait <= 0) {
				lfs_chroot_msg(
				    "the command did not end %d s after SIGTERM: killing it",
				    r->o->stop_timeout);
				r->killed = 1;
				kill(r->init, SIGKILL);
				continue;
			}
		}
		if (poll(pfd, 5, wait > INT_MAX ? INT_MAX : (int)wait) < 0) {
			if (errno == EINTR)
				continue;
			lfs_chroot_msg("poll: %s", strerror(errno));
			kill(r->init, SIGKILL);
			break;
		}
		if (pfd[0].revents & POLLIN)
			take_signals(r, sfd);
		if (pfd[1].revents && take_message(r, status_fd, &msg, &have) <= 0)
			ctl_open = 0;
		lfs_chroot_relay_io(&r->relay, pfd + 2);
	}
	if (sfd >= 0)
		close(sfd);
	while (!r->init_done)
		next_signal(r, -1);
	/* The daemon may have died just before the command saw its files go. */
	if (r->daemon_done && !r->daemon_died)
		daemon_gone(r, "");
	/* what the init said last (it has ended: no wait) */
	while (ctl_open && take_message(r, status_fd, &msg, &have) > 0)
		;
	close(status_fd);
	if (r->daemon_died)
		return LFS_CHROOT_EXIT_FAIL;
	if (!have && r->killed)
		return 128 + SIGKILL;
	if (!have) {
		describe_status(r->init_status, what, sizeof(what));
		lfs_chroot_msg("the namespace's init ended without a result (%s)", what);
		return LFS_CHROOT_EXIT_FAIL;
	}
	if (msg.kind != LFS_CHROOT_DONE)
		return LFS_CHROOT_EXIT_FAIL;
	if (WIFEXITED(msg.status))
		return WEXITSTATUS(msg.status);
	if (WIFSIGNALED(msg.status))
		return 128 + WTERMSIG(msg.status);
	return LFS_CHROOT_EXIT_FAIL;
}

static void cleanup(struct run *r)
{
	if (r->upper_lock >= 0)
		close(r->upper_lock);
	if (r->madework)
		lfs_chroot_rmtree(r->madework);
	if (r->rundir)
		lfs_chroot_rmtree(r->rundir);
	free(r->rundir);
	free(r->mnt);
	free(r->upper);
	free(r->work);
	free(r->madework);
}

int lfs_chroot_run(const struct lfs_chroot_opts *o, struct lfs_chroot_spec *spec)
{
	struct run r = {.o = o, .spec = spec, .upper_lock = -1};
	int rc = LFS_CHROOT_EXIT_FAIL, status_fd = -1, sig;

	/* Signals are taken with sigwaitinfo() or a signalfd from here on;
	 * children restore the mask.  SIGPIPE must not kill us with the
	 * terminal in raw mode; SIGWINCH is for the pty. */
	lfs_chroot_sigset(&r.blocked);
	sigaddset(&r.blocked, SIGWINCH);
	sigaddset(&r.blocked, SIGPIPE);
	sigprocmask(SIG_BLOCK, &r.blocked, &r.saved);
	lfs_chroot_relay_init(&r.relay);
	spec->userns = geteuid() != 0 || o->userns;
	spec->tty_fg = isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp();
	/* the streams on the terminal go through the pty; redirected ones stay as they are */
	for (int fd = 0; spec->tty_fg && fd < 3; fd++)
		if (isatty(fd))
			spec->tty_fds |= 1 << fd;

	if (make_dirs(&r) < 0 || lfs_chroot_ns_enter(spec, o->verbose, o->quiet) < 0)
		goto out;
	start_daemon(&r);
	if (r.daemon <= 0)
		goto out;
	sig = wait_mounted(&r);
	if (sig) {
		if (sig > 0)
			rc = 128 + sig;
		goto out;
	}
	if (o->upper)
		r.mp = lfs_chroot_mp_scan(r.mnt, r.upper, o);
	if (start_init(&r, &status_fd) < 0)
		goto out;
	rc = supervise(&r, status_fd);
out:
	lfs_chroot_relay_stop(&r.relay);
	stop_daemon(&r);
	if (r.mp && r.daemon_done)
		lfs_chroot_mp_clean(r.mp, r.upper);
	else if (r.mp)
		lfs_chroot_mp_clean(r.mp, NULL);
	if (r.daemon > 0 && r.daemon_done && !r.daemon_died && r.init > 0 &&
	    WIFSIGNALED(r.daemon_status) && WTERMSIG(r.daemon_status) != SIGTERM) {
		char what[96];

		describe_status(r.daemon_status, what, sizeof(what));
		lfs_chroot_msg("layerfs ended badly after the command (%s)", what);
	}
	/* Take the terminal back from the command's process group. */
	if (spec->tty_fg)
		tcsetpgrp(STDIN_FILENO, getpgrp());
	cleanup(&r);
	sigprocmask(SIG_SETMASK, &r.saved, NULL);
	return rc;
}
