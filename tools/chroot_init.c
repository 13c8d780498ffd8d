/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-chroot: pid 1 of the new pid namespace.  It makes the mounts
 * inside the image (chroot_ns.c), forks the command (chroot_exec.c), passes
 * the signals the wrapper sends it on to the command (SIGINT, SIGQUIT and
 * SIGHUP to its process group, as a terminal does; SIGTERM, SIGUSR1 and
 * SIGUSR2 to the command itself, as docker stop does), reaps every process
 * that ends up its child, and when the command ends sends its wait status
 * to the wrapper and exits: the kernel then kills whatever the command left
 * running in the namespace.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chroot.h"

const int lfs_chroot_fwd_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
const size_t lfs_chroot_nfwd_signals =
    sizeof(lfs_chroot_fwd_signals) / sizeof(lfs_chroot_fwd_signals[0]);

void lfs_chroot_sigset(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < lfs_chroot_nfwd_signals; i++)
		sigaddset(set, lfs_chroot_fwd_signals[i]);
	sigaddset(set, SIGCHLD);
	/* handing the terminal over and back from a background process group */
	sigaddset(set, SIGTTOU);
	sigaddset(set, SIGTTIN);
}

static void report(int fd, int kind, int status)
{
	struct lfs_chroot_status msg = {.kind = kind, .status = status};

	lfs_chroot_send(fd, &msg, -1);
}

void lfs_chroot_init(const char *mnt, const struct lfs_chroot_opts *o,
		     const struct lfs_chroot_spec *spec, int status_fd)
{
	struct lfs_chroot_status pty_msg = {.kind = LFS_CHROOT_PTY};
	int status = 0, master = -1, slave = -1;
	sigset_t set;
	pid_t cmd;

	lfs_chroot_sigset(&set);
	if (lfs_chroot_setup_mounts(mnt, o, spec) < 0) {
		report(status_fd, LFS_CHROOT_SETUP_FAILED, 0);
		_exit(LFS_CHROOT_EXIT_FAIL);
	}
	/* The pty comes from the container's devpts: its /dev/pts/N is valid inside. */
	if (spec->tty_fg && (lfs_chroot_pty_open(mnt, &master, &slave) < 0 ||
			     lfs_chroot_send(status_fd, &pty_msg, master) < 0)) {
		report(status_fd, LFS_CHROOT_SETUP_FAILED, 0);
		_exit(LFS_CHROOT_EXIT_FAIL);
	}
	if (master >= 0)
		close(master);
	cmd = fork();
	if (cmd < 0) {
		lfs_chroot_msg("fork: %s", strerror(errno));
		report(status_fd, LFS_CHROOT_SETUP_FAILED, 0);
		_exit(LFS_CHROOT_EXIT_FAIL);
	}
	if (cmd == 0) {
		close(status_fd);
		lfs_chroot_exec(mnt, spec, slave);
	}
	if (slave >= 0)
		close(slave);
	/* Its own process group (it does the same: no race), so that signals
	 * sent to ours reach it once, through us.  With a pty it makes a
	 * session instead, which it could not once in a group of its own. */
	if (slave < 0)
		setpgid(cmd, cmd);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si), st;
		pid_t p;

		if (sig == SIGCHLD) {
			while ((p = waitpid(-1, &st, WNOHANG | WUNTRACED)) > 0) {
				if (p != cmd)
					continue;
				/* No job control here: a stopped command (^Z) goes on. */
				if (WIFSTOPPED(st)) {
					kill(-cmd, SIGCONT);
					continue;
				}
				status = st;
				goto done;
			}
		} else if (sig == SIGINT || sig == SIGQUIT || sig == SIGHUP) {
			/* what a terminal sends to the whole foreground job (the
			 * command itself until its setsid() has made the group) */
			if (kill(-cmd, sig) < 0 && errno == ESRCH)
				kill(cmd, sig);
		} else if (sig > 0 && sig != SIGTTOU && sig != SIGTTIN) {
			/* what docker stop sends: to the command only */
			kill(cmd, sig);
		}
	}
done:
	report(status_fd, LFS_CHROOT_DONE, status);
	_exit(0);
}
