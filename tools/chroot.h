/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-chroot: what its files share.  The wrapper (chroot_main.c reads
 * the options and opens the image, chroot_config.c turns its config into
 * what to run, chroot_run.c runs everything) mounts the image with a
 * layerfs daemon in a private mount namespace, then starts the init of a
 * new pid namespace (chroot_init.c), which makes /proc, /dev, /sys, /tmp
 * and the binds inside the mount (chroot_ns.c) and runs the command in it
 * (chroot_exec.c).  Every function returns 0 or -errno unless
 * it says otherwise; messages go to stderr prefixed with "layerfs-chroot".
 *
 * Five tiers, each calling only the tiers below it (an edge A -> B when
 * A.o uses a symbol B.o defines; scripts/check-layering checks it):
 *   options        chroot_main.c: the command line, --help, the image
 *                  config read, then the run;
 *   supervision    chroot_run.c: the wrapper process: run directory,
 *                  daemon, signals, --stop-timeout, the exit status;
 *   pid 1          chroot_init.c: the init inside the new pid namespace;
 *   the parts      chroot_config.c (image config + options -> what runs),
 *                  chroot_ns.c (namespaces and mounts), chroot_pty.c (the
 *                  status socket and the terminal relay), chroot_exec.c
 *                  (the command: user, workdir, env, exec), chroot_mp.c
 *                  (mount points removed from a kept --upper), chroot_ids.c
 *                  (the subordinate ids a rootless run maps);
 *   helpers        chroot_util.c: messages.
 */
#ifndef LFS_CHROOT_H
#define LFS_CHROOT_H

#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>
#include <termios.h>

#include "layerfs/image.h"
#include "layerfs/opts.h"

/* Exit codes of our own failures, as docker run uses them. */
#define LFS_CHROOT_EXIT_FAIL	 125 /* layerfs-chroot itself, or the layerfs daemon */
#define LFS_CHROOT_EXIT_NOEXEC	 126 /* the command was found but cannot run */
#define LFS_CHROOT_EXIT_NOTFOUND 127 /* the command was not found */

/* How long the command has to end after SIGTERM before SIGKILL, as docker stop. */
#define LFS_CHROOT_STOP_TIMEOUT 10
#define LFS_CHROOT_HOSTNAME_MAX 64

struct lfs_chroot_bind {
	char *src; /* host path (followed) */
	char *dst; /* absolute path in the image (never followed) */
	int ro;
};

/* The command line. */
struct lfs_chroot_opts {
	const char *image;
	struct lfs_image_cli imgopts; /* --tag, --platform, ...: passed on to layerfs */
	const char *upper, *work;
	struct lfs_chroot_bind *binds;
	size_t nbinds;
	char **envs; /* "K=V" or "K" (taken from our environment) */
	size_t nenvs;
	const char *workdir, *user, *entrypoint; /* NULL: the image's */
	int entrypoint_given;
	char **cmd; /* NULL-terminated; NULL: the image's Cmd */
	int quiet;
	int verbose;				       /* say which ids the user namespace maps */
	int userns;				       /* use a user namespace even as root */
	int nosuid;				       /* mount the image nosuid */
	int stop_timeout;			       /* seconds from SIGTERM to SIGKILL */
	char hostname[LFS_CHROOT_HOSTNAME_MAX + 1];    /* --hostname, or a random id */
	const char *commit;			       /* --commit DEST: commit after a good run */
	char *commit_dir, *commit_upper, *commit_work; /* its private upper (no --upper) */
	pid_t commit_pid;			       /* layerfs-commit, waiting for ... */
	int commit_go;				       /* ... a '1' on this pipe */
};

/* What runs, from the image config and the options. */
struct lfs_chroot_spec {
	char **argv;	     /* NULL-terminated, at least one word */
	char **envp;	     /* NULL-terminated "K=V" */
	char *workdir;	     /* absolute; "/" by default */
	char *user;	     /* "", "uid", "name", "uid:gid", "name:group" */
	int userns;	     /* in a user namespace (as an ordinary user, or --userns) */
	int rootless;	     /* in a user namespace mapping one uid to 0 (no subordinate ids) */
	unsigned long ngids; /* with USERNS: how many gids it maps */
	int tty_fg;	     /* stdin is our terminal and we own it: the command gets a pty */
	int tty_fds;	     /* with tty_fg: the standard streams (bit N: fd N) on the terminal */
};

/* chroot_config.c: the image config (may be NULL) and the options -> SPEC. */
int lfs_chroot_spec_build(struct lfs_chroot_spec *spec, const struct lfs_image_config *config,
			  const struct lfs_chroot_opts *o);
void lfs_chroot_spec_free(struct lfs_chroot_spec *spec);

/* What the init tells the wrapper through the status pipe before it exits. */
struct lfs_chroot_status {
	int kind;   /* LFS_CHROOT_DONE: STATUS is the command's wait status */
	int status; /* LFS_CHROOT_SETUP_FAILED: the message is printed already */
};
#define LFS_CHROOT_DONE		0
#define LFS_CHROOT_SETUP_FAILED 1
#define LFS_CHROOT_PTY		2 /* the pty master comes with it */

/* chroot_pty.c: the status socket's messages, with an fd or -1; recv: 1, 0 at EOF. */
int lfs_chroot_send(int sock, const struct lfs_chroot_status *msg, int fd);
int lfs_chroot_recv(int sock, struct lfs_chroot_status *msg, int *fd);
/* In the init: a pty of the devpts mounted on MNT/dev/pts, like our terminal. */
int lfs_chroot_pty_open(const char *mnt, int *master, int *slave);

/* In the wrapper: our terminal <-> the pty master. */
struct lfs_chroot_relay {
	int master;	 /* -1: no pty */
	int master_eof;	 /* no slave open any more */
	int in, out;	 /* our terminal; -1 once gone */
	char ibuf[4096]; /* from IN, for the master */
	char obuf[4096]; /* from the master, for OUT */
	size_t ilen, olen;
	struct termios saved; /* the terminal's mode, restored at the end */
	int raw;
};
void lfs_chroot_relay_init(struct lfs_chroot_relay *rl);
int lfs_chroot_relay_start(struct lfs_chroot_relay *rl, int master);
/* Three pollfds (unused ones get fd -1), then their revents to relay_io. */
void lfs_chroot_relay_fds(const struct lfs_chroot_relay *rl, struct pollfd pfd[3]);
void lfs_chroot_relay_io(struct lfs_chroot_relay *rl, const struct pollfd pfd[3]);
void lfs_chroot_relay_winch(const struct lfs_chroot_relay *rl);
/* Drain the command's output (bounded), close the master, restore the terminal. */
void lfs_chroot_relay_stop(struct lfs_chroot_relay *rl);

/* chroot_mp.c: the mount points layerfs-chroot creates in a kept upper
 * directory are removed from it after the run. */
struct lfs_chroot_mp;
/* Once the image is mounted on MNT, before anything is created in it. */
struct lfs_chroot_mp *lfs_chroot_mp_scan(const char *mnt, const char *upper,
					 const struct lfs_chroot_opts *o);
/* Once layerfs has ended: remove what is still an empty mount point; frees MP. */
void lfs_chroot_mp_clean(struct lfs_chroot_mp *mp, const char *upper);

/* chroot_run.c: run it all; returns the exit code of layerfs-chroot. */
int lfs_chroot_run(const struct lfs_chroot_opts *o, struct lfs_chroot_spec *spec);

/* chroot_init.c: the signals the wrapper and the init pass on to the command. */
extern const int lfs_chroot_fwd_signals[];
extern const size_t lfs_chroot_nfwd_signals;
/* The set blocked in the wrapper and the init (forwarded ones + SIGCHLD + SIGTTOU/SIGTTIN). */
void lfs_chroot_sigset(sigset_t *set);

/* The pid namespace's init: mounts, the command, signals.
 * Writes the command's wait status (or a failure) to STATUS_FD; never returns. */
void lfs_chroot_init(const char *mnt, const struct lfs_chroot_opts *o,
		     const struct lfs_chroot_spec *spec, int status_fd) __attribute__((noreturn));

/* chroot_ids.c: the subordinate ids of /etc/subuid and /etc/subgid. */
struct lfs_chroot_idrange {
	unsigned long start, count; /* outside the namespace */
};
#define LFS_CHROOT_MAX_RANGES 32
/* The ranges TEXT (a subuid or subgid file's contents) gives the user named
 * NAME (NULL: none) or numbered ID, in the file's order, at most MAX: bad
 * lines, empty ranges, ranges holding ID itself and ranges past 2^32-2 ids
 * inside are skipped.  Returns how many. */
size_t lfs_chroot_subid_parse(const char *text, const char *name, unsigned long id,
			      struct lfs_chroot_idrange *r, size_t max);
/* The same from the file PATH: 0 (*N set) or -errno. */
int lfs_chroot_subid_read(const char *path, const char *name, unsigned long id,
			  struct lfs_chroot_idrange *r, size_t max, size_t *n);
/* newuidmap's words after the pid: "0 OWN 1 1 START COUNT 1+COUNT ...",
 * into BUF.  Returns how many ids the map holds, 0 when BUF is too small. */
unsigned long lfs_chroot_idmap_words(unsigned long own, const struct lfs_chroot_idrange *r,
				     size_t n, char *buf, size_t size);

/* chroot_ns.c: in the wrapper, a private mount namespace, in a user
 * namespace first when SPEC->userns: mapping us to root and, not being
 * root, our subordinate ids to 1, 2, ... through newuidmap and newgidmap
 * when we have some.  Sets SPEC->rootless (one id mapped) and ->ngids. */
int lfs_chroot_ns_enter(struct lfs_chroot_spec *spec, int verbose, int quiet);
/* In the wrapper, before it forks the init: a new pid and UTS namespace
 * (for its children) with HOSTNAME. */
int lfs_chroot_ns_pid_uts(const char *hostname);
/* Inside the mounted image MNT make /proc, /dev, /sys, /tmp,
 * /etc/resolv.conf and the binds.  Runs in the new pid namespace. */
int lfs_chroot_setup_mounts(const char *mnt, const struct lfs_chroot_opts *o,
			    const struct lfs_chroot_spec *spec);

/* chroot_exec.c: in the forked child: take TTY (the pty slave, or -1) as
 * the controlling terminal, enter MNT as root, become the user, exec the command.  Never returns
 * (exits 125, 126 or 127 on failure). */
void lfs_chroot_exec(const char *mnt, const struct lfs_chroot_spec *spec, int tty)
    __attribute__((noreturn));

/* chroot_util.c: messages: "layerfs-chroot: ..." on stderr. */
void lfs_chroot_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* chroot_run.c: rm -rf PATH, never leaving its file system (a message on failure). */
void lfs_chroot_rmtree(const char *path);

/*
 * chroot_commit.c: --commit DEST.  Before the run: check DEST, and make a
 * private upper that outlives the mount when there is no --upper (0, or -1
 * with a message).  After a run that succeeded: write DEST with
 * layerfs-commit, forked before the run (0, or 125 with a message).  Then
 * remove that upper.
 */
int lfs_chroot_commit_prepare(struct lfs_chroot_opts *o, const struct lfs_chroot_spec *spec);
/* OK: the run succeeded: commit; else only stop the waiting process. */
int lfs_chroot_commit_run(struct lfs_chroot_opts *o, int ok);
void lfs_chroot_commit_clean(struct lfs_chroot_opts *o);

#endif
