/*
 * layerfs-chroot: what its files share.  The wrapper (chroot_main.c reads
 * the options and opens the image, chroot_config.c turns its config into
 * what to run, chroot_run.c runs everything) mounts the image with a
 * layerfs daemon in a private mount namespace, then starts the init of a
 * new pid namespace (chroot_init.c), which makes /proc, /dev, /sys, /tmp
 * and the binds inside the mount (chroot_ns.c) and runs the command in it
 * (chroot_exec.c).  Every function returns 0 or -errno unless
 * it says otherwise; messages go to stderr prefixed with "layerfs-chroot".
 */
#ifndef LFS_CHROOT_H
#define LFS_CHROOT_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

/* Exit codes of our own failures, as docker run uses them. */
#define LFS_CHROOT_EXIT_FAIL	 125 /* layerfs-chroot itself, or the layerfs daemon */
#define LFS_CHROOT_EXIT_NOEXEC	 126 /* the command was found but cannot run */
#define LFS_CHROOT_EXIT_NOTFOUND 127 /* the command was not found */

struct lfs_chroot_bind {
	char *src; /* host path (followed) */
	char *dst; /* absolute path in the image (never followed) */
	int ro;
};

/* The command line. */
struct lfs_chroot_opts {
	const char *image;
	const char *tag, *platform;
	const char *upper, *work;
	struct lfs_chroot_bind *binds;
	size_t nbinds;
	char **envs; /* "K=V" or "K" (taken from our environment) */
	size_t nenvs;
	const char *workdir, *user, *entrypoint; /* NULL: the image's */
	int entrypoint_given;
	char **cmd; /* NULL-terminated; NULL: the image's Cmd */
	int quiet;
	int userns; /* use a user namespace even as root */
	int nosuid; /* mount the image nosuid */
};

/* What runs, from the image config and the options. */
struct lfs_chroot_spec {
	char **argv;   /* NULL-terminated, at least one word */
	char **envp;   /* NULL-terminated "K=V" */
	char *workdir; /* absolute; "/" by default */
	char *user;    /* "", "uid", "name", "uid:gid", "name:group" */
	int rootless;  /* in a user namespace mapping one uid to 0 */
	int tty_fg;    /* stdin is our terminal and we own it: hand it to the command */
};

/* chroot_config.c: the image config (JSON, may be NULL) and the options -> SPEC. */
int lfs_chroot_spec_build(struct lfs_chroot_spec *spec, const char *config,
			  const struct lfs_chroot_opts *o);
void lfs_chroot_spec_free(struct lfs_chroot_spec *spec);

/* What the init tells the wrapper through the status pipe before it exits. */
struct lfs_chroot_status {
	int kind;   /* LFS_CHROOT_DONE: STATUS is the command's wait status */
	int status; /* LFS_CHROOT_SETUP_FAILED: the message is printed already */
};
#define LFS_CHROOT_DONE		0
#define LFS_CHROOT_SETUP_FAILED 1

/* chroot_run.c: run it all; returns the exit code of layerfs-chroot. */
int lfs_chroot_run(const struct lfs_chroot_opts *o, struct lfs_chroot_spec *spec);

/* The signals the wrapper and the init pass on to the command. */
extern const int lfs_chroot_fwd_signals[];
extern const size_t lfs_chroot_nfwd_signals;
/* The set blocked in the wrapper and the init (forwarded ones + SIGCHLD + SIGTTOU/SIGTTIN). */
void lfs_chroot_sigset(sigset_t *set);

/* chroot_ns.c: inside the mounted image MNT make /proc, /dev, /sys, /tmp,
 * /etc/resolv.conf and the binds.  Runs in the new pid namespace. */
int lfs_chroot_setup_mounts(const char *mnt, const struct lfs_chroot_opts *o, int rootless);

/* chroot_init.c: the pid namespace's init: mounts, the command, signals.
 * Writes the command's wait status (or a failure) to STATUS_FD; never returns. */
void lfs_chroot_init(const char *mnt, const struct lfs_chroot_opts *o,
		     const struct lfs_chroot_spec *spec, int status_fd) __attribute__((noreturn));

/* chroot_exec.c: in the forked child: enter MNT as root, become the user,
 * exec the command.  Never returns (exits 125, 126 or 127 on failure). */
void lfs_chroot_exec(const char *mnt, const struct lfs_chroot_spec *spec) __attribute__((noreturn));

/* Messages: "layerfs-chroot: ..." on stderr. */
void lfs_chroot_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
