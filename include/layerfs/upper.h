/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The upper directory on disk, in the kernel overlayfs' format: whiteouts,
 * opaque markers, the work directory where copies are built before they
 * are renamed into place.  Every call is relative to a directory fd and
 * never follows a symlink, so nothing in the image can steer a write
 * outside the upper and work directories.
 */
#ifndef LFS_UPPER_H
#define LFS_UPPER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

struct lfs_upper {
	int root;		  /* the upper directory (O_PATH) */
	int work;		  /* WORK/work, where copies are built (O_PATH) */
	int wh_files;		  /* mknod of 0:0 is refused: whiteouts as .wh. files */
	const char *opaque_xattr; /* trusted.overlay.opaque, or user.* unprivileged */
	char *ephemeral;	  /* private directory removed at unmount, or NULL */
	int lock[2];		  /* the upper and work directories, locked while open */
	atomic_uint_fast64_t seq; /* names of temporary files */
};

/*
 * Open UPPER and WORK (created when missing; WORK/work is emptied), or, when
 * UPPER is NULL, a private pair under TMPDIR that lfs_upper_close removes.
 * As the kernel's overlayfs, refuses (touching nothing) an UPPER and WORK
 * that are one directory or one inside the other, and either one in use by
 * another mount: both stay locked (OFD locks, kept across fork) until
 * lfs_upper_close or the end of the process.
 */
int lfs_upper_open(struct lfs_upper *u, const char *upper, const char *work, const char *tmpdir);
void lfs_upper_close(struct lfs_upper *u);

/* An O_PATH fd of the directory NAMES[0]/.../NAMES[N-1] below the upper root. */
int lfs_upper_opendir(const struct lfs_upper *u, const char *const *names, size_t n);
/* A new unique name for a temporary entry in the work directory. */
void lfs_upper_tmpname(struct lfs_upper *u, char buf[40]);

/* Is NAME in DIRFD a whiteout (either form)?  1, 0, or -errno. */
int lfs_upper_is_whiteout(const struct lfs_upper *u, int dirfd, const char *name);
/* Is the entry (a whiteout of either form or a real one) present at NAME? */
int lfs_upper_exists(const struct lfs_upper *u, int dirfd, const char *name);
/* Make NAME in DIRFD a whiteout, replacing a non-directory there atomically. */
int lfs_upper_whiteout(struct lfs_upper *u, int dirfd, const char *name);
/* Remove the whiteout at NAME (of either form), if there is one. */
int lfs_upper_drop_whiteout(const struct lfs_upper *u, int dirfd, const char *name);
/* Replace the directory NAME (emptied of whiteouts, or not) by a whiteout. */
int lfs_upper_whiteout_dir(struct lfs_upper *u, int dirfd, const char *name);
/*
 * Move the entry built at TMP in the work directory to NAME in DIRFD,
 * replacing a whiteout there (a directory is exchanged with it).
 */
int lfs_upper_install(struct lfs_upper *u, const char *tmp, int dirfd, const char *name);

int lfs_upper_set_opaque(const struct lfs_upper *u, int dirfd, const char *name);
/* Is the directory NAME in DIRFD opaque (xattr or .wh..wh..opq)?  1, 0 or -errno. */
int lfs_upper_is_opaque(const struct lfs_upper *u, int dirfd, const char *name);

/* Remove NAME in DIRFD and everything below it. */
int lfs_upper_rmtree(int dirfd, const char *name);
/* Remove everything in the directory NAME in DIRFD, keeping it. */
int lfs_upper_empty(int dirfd, const char *name);
/* Path that reaches NAME in DIRFD without following a final symlink. */
void lfs_upper_procpath(char *buf, size_t n, int dirfd, const char *name);
/* Is NAME one of overlayfs' own xattrs (never shown nor copied)? */
int lfs_upper_private_xattr(const char *name);

#endif
