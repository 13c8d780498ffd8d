/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-chroot: the command's process, from fork to exec.  It takes the
 * pseudo-terminal as its controlling terminal when the wrapper has one, makes the mounted image its
 * root (pivot_root in a mount namespace of its own, so that nothing of the host stays reachable;
 * chroot where pivot_root cannot work), goes to the working directory, becomes the user, and
 * executes the command with the image's environment.  User and group names are looked up in the
 * image's /etc/passwd and /etc/group, read as plain files (never through NSS, which would load the
 * image's libraries into this process).
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "chroot.h"
#include "layerfs/lfs.h"

#define MAX_GROUPS 256

extern char **environ;

struct ids {
	uid_t uid;
	gid_t gid;
	gid_t groups[MAX_GROUPS];
	size_t ngroups;
	char name[256]; /* the user's name, "" if unknown */
	char home[PATH_MAX];
};

static void fail(int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));

static void fail(int code, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	lfs_chroot_msg("%s", buf);
	_exit(code);
}

/* MNT becomes "/". */
static void enter_root(const char *mnt)
{
	if (chdir(mnt) < 0)
		fail(LFS_CHROOT_EXIT_FAIL, "%s: %s", mnt, strerror(errno));
	/* The old root stacks on "." and is detached: the host is gone. */
	if (unshare(CLONE_NEWNS) == 0 && syscall(SYS_pivot_root, ".", ".") == 0) {
		if (umount2(".", MNT_DETACH) < 0)
			fail(LFS_CHROOT_EXIT_FAIL, "cannot detach the host's root: %s",
			     strerror(errno));
	} else if (chroot(".") < 0) {
		/* pivot_root fails when our root is not a mount point (we run in a chroot) */
		fail(LFS_CHROOT_EXIT_FAIL, "chroot %s: %s", mnt, strerror(errno));
	}
	if (chdir("/") < 0)
		fail(LFS_CHROOT_EXIT_FAIL, "chdir /: %s", strerror(errno));
}

static int parse_id(const char *s, unsigned long *out)
{
	char *end;

	if (!*s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || *end || *out > 0xfffffffeUL ? -1 : 0;
}

/* Split a passwd/group line into at most N fields at ':'. */
static size_t fields(char *line, char **f, size_t n)
{
	size_t i = 0;

	line[strcspn(line, "\n")] = '\0';
	while (i < n) {
		f[i++] = line;
		line = strchr(line, ':');
		if (!line)
			break;
		*line++ = '\0';
	}
	return i;
}

/* The user, by name or uid, in /etc/passwd: fills uid, gid, name, home. */
static int lookup_user(const char *user, struct ids *id)
{
	unsigned long num;
	int numeric = parse_id(user, &num) == 0, found = 0;
	FILE *f = fopen("/etc/passwd", "re");
	char *line = NULL, *fl[7];
	size_t cap = 0;

	id->uid = numeric ? (uid_t)num : 0;
	id->gid = 0;
	while (f && !found && getline(&line, &cap, f) > 0) {
		unsigned long u, g;

		if (fields(line, fl, 7) < 7 || parse_id(fl[2], &u) || parse_id(fl[3], &g))
			continue;
		if (numeric ? u != num : strcmp(fl[0], user))
			continue;
		found = 1;
		id->uid = (uid_t)u;
		id->gid = (gid_t)g;
		snprintf(id->name, sizeof(id->name), "%s", fl[0]);
		snprintf(id->home, sizeof(id->home), "%s", fl[5]);
	}
	free(line);
	if (f)
		fclose(f);
	return found || numeric ? 0 : -ENOENT;
}

/* GROUP by name or gid in /etc/group; and the groups that list NAME. */
static int lookup_groups(const char *group, struct ids *id)
{
	unsigned long num;
	int numeric = group && parse_id(group, &num) == 0, found = !group || numeric;
	FILE *f = fopen("/etc/group", "re");
	char *line = NULL, *fl[4];
	size_t cap = 0;

	if (numeric)
		id->gid = (gid_t)num;
	while (f && getline(&line, &cap, f) > 0) {
		unsigned long g;
		char *m, *save = NULL;

		if (fields(line, fl, 4) < 4 || parse_id(fl[2], &g))
			continue;
		if (group && !numeric && !found && !strcmp(fl[0], group)) {
			found = 1;
			id->gid = (gid_t)g;
		}
		if (!*id->name)
			continue;
		for (m = strtok_r(fl[3], ",", &save); m; m = strtok_r(NULL, ",", &save))
			if (!strcmp(m, id->name) && id->ngroups < MAX_GROUPS)
				id->groups[id->ngroups++] = (gid_t)g;
	}
	free(line);
	if (f)
		fclose(f);
	return found ? 0 : -ENOENT;
}

/* "user[:group]" (names or numbers; "" is root) -> ids, inside the image. */
static void resolve_user(const char *spec, struct ids *id)
{
	char *user = lfs_xstrdup(spec), *group = strchr(user, ':'), sb[256];

	memset(id, 0, sizeof(*id));
	if (group)
		*group++ = '\0';
	if (lookup_user(*user ? user : "0", id) < 0)
		fail(LFS_CHROOT_EXIT_FAIL, "unable to find user %s in the image's /etc/passwd",
		     lfs_show(user, sb, sizeof(sb)));
	if (lookup_groups(group && *group ? group : NULL, id) < 0)
		fail(LFS_CHROOT_EXIT_FAIL, "unable to find group %s in the image's /etc/group",
		     lfs_show(group, sb, sizeof(sb)));
	free(user);
}

static void become(const struct ids *id, int rootless)
{
	if (rootless) {
		/* one id is mapped: ours, as root; setgroups() is denied */
		if (id->uid != 0 || id->gid != 0)
			fail(LFS_CHROOT_EXIT_FAIL,
			     "cannot run as %u:%u without root: only root is mapped in the "
			     "user namespace",
			     (unsigned)id->uid, (unsigned)id->gid);
		return;
	}
	if (setgroups(id->ngroups, id->groups) < 0)
		fail(LFS_CHROOT_EXIT_FAIL, "setgroups: %s", strerror(errno));
	if (setgid(id->gid) < 0)
		fail(LFS_CHROOT_EXIT_FAIL, "setgid %u: %s", (unsigned)id->gid, strerror(errno));
	if (setuid(id->uid) < 0)
		fail(LFS_CHROOT_EXIT_FAIL, "setuid %u: %s", (unsigned)id->uid, strerror(errno));
}

/* mkdir -p, inside the new root. */
static void make_workdir(const char *dir)
{
	char *p = lfs_xstrdup(dir);

	for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
		if (s)
			*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			fail(LFS_CHROOT_EXIT_FAIL, "working directory %s: %s", p, strerror(errno));
		if (!s)
			break;
		*s = '/';
	}
	free(p);
}

/* The environment with HOME added when the image does not set it. */
static char **final_env(char **envp, const struct ids *id)
{
	size_t n = 0;
	char **env;

	for (; envp[n]; n++)
		if (!strncmp(envp[n], "HOME=", 5))
			return envp;
	env = lfs_xcalloc(n + 2, sizeof(*env));
	memcpy(env, envp, n * sizeof(*env));
	env[n] = lfs_xmalloc(strlen(id->home) + 8);
	sprintf(env[n], "HOME=%s", *id->home ? id->home : "/");
	return env;
}

/* A session of our own with TTY as its terminal, on the streams that were ours. */
static void take_tty(const struct lfs_chroot_spec *spec, int tty)
{
	if (setsid() < 0)
		fail(LFS_CHROOT_EXIT_FAIL, "setsid: %s", strerror(errno));
	if (ioctl(tty, TIOCSCTTY, 0) < 0)
		fail(LFS_CHROOT_EXIT_FAIL, "cannot take the pseudo-terminal: %s", strerror(errno));
	for (int fd = 0; fd < 3; fd++)
		if ((spec->tty_fds & (1 << fd)) && dup2(tty, fd) < 0)
			fail(LFS_CHROOT_EXIT_FAIL, "dup2: %s", strerror(errno));
	if (tty > 2)
		close(tty);
}

void lfs_chroot_exec(const char *mnt, const struct lfs_chroot_spec *spec, int tty)
{
	struct ids id;
	sigset_t none;
	int err;

	/* Our own process group (and session, with a terminal of our own). */
	if (tty >= 0)
		take_tty(spec, tty);
	else
		setpgid(0, 0);
	enter_root(mnt);
	resolve_user(spec->user, &id);
	if (chdir(spec->workdir) < 0) {
		if (errno != ENOENT)
			fail(LFS_CHROOT_EXIT_FAIL, "working directory %s: %s", spec->workdir,
			     strerror(errno));
		make_workdir(spec->workdir);
		if (chdir(spec->workdir) < 0)
			fail(LFS_CHROOT_EXIT_FAIL, "working directory %s: %s", spec->workdir,
			     strerror(errno));
	}
	become(&id, spec->rootless);
	environ = final_env(spec->envp, &id);
	/* As in a container: default dispositions, whatever our caller ignored. */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	/* In the background (no pty: the caller's terminal), reading the terminal
	 * fails (EIO) rather than stopping the command for good: we run no job
	 * control that could continue it. */
	if (tty < 0 && isatty(STDIN_FILENO)) {
		signal(SIGTTIN, SIG_IGN);
		signal(SIGTTOU, SIG_IGN);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execvp(spec->argv[0], spec->argv);
	err = errno;
	{
		char sb[256];

		lfs_chroot_msg("%s: %s", lfs_show(spec->argv[0], sb, sizeof(sb)), strerror(err));
	}
	_exit(err == ENOENT || err == ENOTDIR ? LFS_CHROOT_EXIT_NOTFOUND : LFS_CHROOT_EXIT_NOEXEC);
}
