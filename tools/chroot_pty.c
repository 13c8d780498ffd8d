/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-chroot: the command's pseudo-terminal, when standard input is our
 * terminal (as docker run -t).  The init opens it from the container's own
 * devpts instance (MNT/dev/pts/ptmx), so that the command's terminal is a
 * /dev/pts/N that exists inside, and hands the master to the wrapper over
 * the status socket; the wrapper puts its terminal in raw mode (the pty
 * does the line discipline), relays bytes both ways, forwards the window
 * size, and restores the terminal whatever ends the run.  The command never
 * holds the host's terminal (no TIOCSTI into the caller's shell).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "chroot.h"

int lfs_chroot_pty_open(const char *mnt, int *master, int *slave)
{
	char path[PATH_MAX];
	struct termios tio;
	struct winsize ws;
	int m, s = -1, unlock = 0, n, rc;

	snprintf(path, sizeof(path), "%s/dev/pts/ptmx", mnt);
	m = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0) {
		rc = -errno;
		lfs_chroot_msg("cannot open a pseudo-terminal (%s): %s", path, strerror(errno));
		return rc;
	}
	if (ioctl(m, TIOCSPTLCK, &unlock) < 0)
		goto fail;
#ifdef TIOCGPTPEER
	/* the slave of this very devpts instance, whatever the paths say */
	s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
#endif
	if (s < 0) {
		/* before Linux 4.13 */
		if (ioctl(m, TIOCGPTN, &n) < 0)
			goto fail;
		snprintf(path, sizeof(path), "%s/dev/pts/%d", mnt, n);
		s = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (s < 0)
			goto fail;
	}
	/* It starts as our terminal is now: cooked, the same size. */
	if (tcgetattr(STDIN_FILENO, &tio) == 0)
		tcsetattr(s, TCSANOW, &tio);
	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
		ioctl(m, TIOCSWINSZ, &ws);
	*master = m;
	*slave = s;
	return 0;
fail:
	rc = -errno;
	lfs_chroot_msg("cannot set up a pseudo-terminal: %s", strerror(errno));
	close(m);
	return rc;
}

int lfs_chroot_send(int sock, const struct lfs_chroot_status *msg, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = {.iov_base = (void *)msg, .iov_len = sizeof(*msg)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		u.h.cmsg_level = SOL_SOCKET;
		u.h.cmsg_type = SCM_RIGHTS;
		u.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&u.h), &fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*msg) ? 0 : n < 0 ? -errno : -EIO;
}

int lfs_chroot_recv(int sock, struct lfs_chroot_status *msg, int *fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = {.iov_base = msg, .iov_len = sizeof(*msg)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	if (n == 0)
		return 0; /* the init is gone */
	return n == (ssize_t)sizeof(*msg) ? 1 : -EIO;
}

/* ----------------------------------------------------- the wrapper's relay */

void lfs_chroot_relay_init(struct lfs_chroot_relay *rl)
{
	memset(rl, 0, sizeof(*rl));
	rl->master = rl->in = rl->out = -1;
}

/* Where the command's terminal output goes: our first standard stream on a terminal. */
static int output_fd(void)
{
	if (isatty(STDOUT_FILENO))
		return STDOUT_FILENO;
	if (isatty(STDERR_FILENO))
		return STDERR_FILENO;
	return STDIN_FILENO; /* a terminal is usually open read-write */
}

int lfs_chroot_relay_start(struct lfs_chroot_relay *rl, int master)
{
	struct termios raw;

	rl->master = master;
	rl->in = STDIN_FILENO;
	rl->out = output_fd();
	fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
	if (tcgetattr(STDIN_FILENO, &rl->saved) < 0)
		return -errno;
	raw = rl->saved;
	cfmakeraw(&raw);
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0)
		return -errno;
	rl->raw = 1;
	return 0;
}

void lfs_chroot_relay_fds(const struct lfs_chroot_relay *rl, struct pollfd pfd[3])
{
	int mopen = rl->master >= 0 && !rl->master_eof;

	pfd[0].fd = rl->in >= 0 && rl->ilen == 0 && mopen ? rl->in : -1;
	pfd[0].events = POLLIN;
	pfd[1].fd = mopen ? rl->master : -1;
	pfd[1].events = (short)((rl->olen == 0 ? POLLIN : 0) | (rl->ilen ? POLLOUT : 0));
	pfd[2].fd = rl->out >= 0 && rl->olen ? rl->out : -1;
	pfd[2].events = POLLOUT;
}

static int again(void)
{
	return errno == EAGAIN || errno == EINTR;
}

/* The master's output into the buffer; end of it once no slave is open (EIO). */
static void read_master(struct lfs_chroot_relay *rl)
{
	ssize_t n = read(rl->master, rl->obuf, sizeof(rl->obuf));

	if (n > 0)
		rl->olen = (size_t)n;
	else if (n == 0 || !again())
		rl->master_eof = 1;
}

static void write_out(struct lfs_chroot_relay *rl)
{
	ssize_t n = write(rl->out, rl->obuf, rl->olen);

	if (n > 0) {
		memmove(rl->obuf, rl->obuf + n, rl->olen - (size_t)n);
		rl->olen -= (size_t)n;
	} else if (n < 0 && !again()) {
		rl->olen = 0; /* our output is gone: drop the command's */
		rl->out = -1;
	}
}

void lfs_chroot_relay_io(struct lfs_chroot_relay *rl, const struct pollfd pfd[3])
{
	ssize_t n;

	if (pfd[0].fd >= 0 && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
		n = read(rl->in, rl->ibuf, sizeof(rl->ibuf));
		if (n > 0)
			rl->ilen = (size_t)n;
		else if (n == 0 || !again())
			rl->in = -1; /* our terminal hung up */
	}
	if (pfd[1].fd >= 0) {
		if ((pfd[1].revents & POLLOUT) && rl->ilen) {
			n = write(rl->master, rl->ibuf, rl->ilen);
			if (n > 0) {
				memmove(rl->ibuf, rl->ibuf + n, rl->ilen - (size_t)n);
				rl->ilen -= (size_t)n;
			} else if (n < 0 && !again()) {
				rl->ilen = 0;
			}
		}
		if ((pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) && rl->olen == 0)
			read_master(rl);
	}
	if (pfd[2].fd >= 0 && (pfd[2].revents & (POLLOUT | POLLERR | POLLHUP)))
		write_out(rl);
}

void lfs_chroot_relay_winch(const struct lfs_chroot_relay *rl)
{
	struct winsize ws;

	if (rl->master >= 0 && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
		ioctl(rl->master, TIOCSWINSZ, &ws);
}

/* Once nothing inside holds the terminal: what it still has, out (bounded). */
static void drain(struct lfs_chroot_relay *rl, long ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (rl->out >= 0 && (rl->olen || !rl->master_eof)) {
		struct pollfd p = {.fd = rl->olen ? rl->out : rl->master,
				   .events = rl->olen ? POLLOUT : POLLIN};
		long left;

		clock_gettime(CLOCK_MONOTONIC, &t);
		left = ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		if (rl->olen)
			write_out(rl);
		else
			read_master(rl);
	}
}

void lfs_chroot_relay_stop(struct lfs_chroot_relay *rl)
{
	if (rl->master >= 0) {
		drain(rl, 2000);
		close(rl->master);
		rl->master = -1;
	}
	if (rl->raw) {
		tcsetattr(STDIN_FILENO, TCSANOW, &rl->saved);
		rl->raw = 0;
	}
}
