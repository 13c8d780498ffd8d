/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mounted tree: the merged lower layers plus, on a writable mount, the
 * copy-on-write upper directory.  Everything the FUSE layer asks goes
 * through here; functions return 0 or -errno.  A read-only mount uses the
 * same calls, and every change gives -EROFS.
 */
#ifndef LFS_COW_H
#define LFS_COW_H

#include <stdint.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include "layerfs/core.h"

struct lfs_cow;

struct lfs_cow_opts {
	int read_only;
	const char *upper;  /* NULL: a private directory removed at unmount */
	const char *work;   /* required with upper */
	const char *tmpdir; /* where the private directory goes */
};

/* Takes over CORE (freed by lfs_cow_close), also on failure. */
int lfs_cow_open(struct lfs_cow **out, struct lfs_core *core, const struct lfs_cow_opts *o);
void lfs_cow_close(struct lfs_cow *w);
int lfs_cow_writable(const struct lfs_cow *w);

/*
 * References: every call that hands the caller a node for the kernel (an
 * entry: lookup, create, link, readdir with PLUS) counts one reference the
 * kernel now holds, and lfs_cow_open_file one for the open handle.  The
 * caller gives them back with lfs_cow_forget (the kernel's FORGET, or a
 * reply that failed to reach it) and lfs_cow_release.  A node lives while
 * it has a name in the tree or a reference; an unlinked file stays readable
 * and writable, and answers stat, until the last one goes.
 */

/* The node of inode INO, or NULL (unknown, or dropped once forgotten). */
struct lfs_node *lfs_cow_node(struct lfs_cow *w, uint64_t ino);
/* The kernel forgets NLOOKUP lookups of inode INO. */
void lfs_cow_forget(struct lfs_cow *w, uint64_t ino, uint64_t nlookup);

/* One reference (see above) on success. */
int lfs_cow_lookup(struct lfs_cow *w, uint64_t parent, const char *name, struct lfs_node **out,
		   struct stat *st);
int lfs_cow_getattr(struct lfs_cow *w, struct lfs_node *n, struct stat *st);
int lfs_cow_readlink(struct lfs_cow *w, struct lfs_node *n, char *buf, size_t size);

/*
 * Entries of directory D from position OFF: FN is called with each name,
 * its attributes (type and inode only unless PLUS) and the position after
 * it; it returns nonzero to stop.  With PLUS, each entry FN takes but "."
 * and ".." gains a reference (lfs_cow_forget st_ino if the reply fails).
 */
typedef int (*lfs_cow_dirent_fn)(void *ctx, const char *name, const struct stat *st, uint64_t next);
int lfs_cow_readdir(struct lfs_cow *w, struct lfs_node *d, uint64_t off, int plus,
		    lfs_cow_dirent_fn fn, void *ctx);

/*
 * Open N with open(2) FLAGS: *fd is an fd of the upper file (the handle's
 * own: it stays that file whatever happens to its names), or -1 when the
 * file is read from the lower layers.  One reference on success.
 */
int lfs_cow_open_file(struct lfs_cow *w, struct lfs_node *n, int flags, int *fd);
/* A handle lfs_cow_open_file or lfs_cow_create gave is closed (FD: its fd, or -1). */
void lfs_cow_release(struct lfs_cow *w, struct lfs_node *n, int fd);
/*
 * Where SIZE bytes at OFF of a lower-opened N lie in an uncompressed layer
 * file, for splicing (see lfs_core_data_fd); -ENOTSUP when there is no such
 * fd (compressed or sparse data, or N has an upper copy now): use
 * lfs_cow_read.
 */
int lfs_cow_data_fd(struct lfs_cow *w, struct lfs_node *n, uint64_t off, size_t size, int *fd,
		    uint64_t *pos, size_t *len);
/* Read a lower-opened file (it may have been copied up since). */
ssize_t lfs_cow_read(struct lfs_cow *w, struct lfs_node *n, void *buf, size_t size, uint64_t off);

/* What lfs_cow_setattr changes. */
enum {
	LFS_SET_MODE = 1 << 0,
	LFS_SET_UID = 1 << 1,
	LFS_SET_GID = 1 << 2,
	LFS_SET_SIZE = 1 << 3,
	LFS_SET_ATIME = 1 << 4,
	LFS_SET_MTIME = 1 << 5,
	LFS_SET_ATIME_NOW = 1 << 6,
	LFS_SET_MTIME_NOW = 1 << 7,
};
/* Change the LFS_SET_* attributes TO_SET of N to ATTR's; FD: the open file or -1. */
int lfs_cow_setattr(struct lfs_cow *w, struct lfs_node *n, int fd, const struct stat *attr,
		    int to_set, struct stat *st);

struct lfs_cow_new {
	mode_t mode; /* type and permissions (umask applied) */
	dev_t rdev;
	const char *link; /* symlink target */
	uid_t uid;
	gid_t gid;
	int flags; /* regular files: open(2) flags of the fd to return */
};
/*
 * Create NAME in PARENT; *fd: for regular files, an open fd (else -1).  One
 * reference for the entry, and one more for the open fd.
 */
int lfs_cow_create(struct lfs_cow *w, uint64_t parent, const char *name,
		   const struct lfs_cow_new *nw, struct lfs_node **out, struct stat *st, int *fd);
/* One reference on success. */
int lfs_cow_link(struct lfs_cow *w, struct lfs_node *n, uint64_t parent, const char *name,
		 struct stat *st);
int lfs_cow_unlink(struct lfs_cow *w, uint64_t parent, const char *name, int dir);
int lfs_cow_rename(struct lfs_cow *w, uint64_t p1, const char *n1, uint64_t p2, const char *n2,
		   unsigned flags);

/* Value length (copied when SIZE > 0), or -errno. */
ssize_t lfs_cow_getxattr(struct lfs_cow *w, struct lfs_node *n, const char *name, void *buf,
			 size_t size);
ssize_t lfs_cow_listxattr(struct lfs_cow *w, struct lfs_node *n, char *buf, size_t size);
int lfs_cow_setxattr(struct lfs_cow *w, struct lfs_node *n, const char *name, const void *val,
		     size_t size, int flags);
int lfs_cow_removexattr(struct lfs_cow *w, struct lfs_node *n, const char *name);
int lfs_cow_statfs(struct lfs_cow *w, struct statvfs *sv);

/*
 * FN(CTX, INO) is called when a change made the kernel's cached attributes
 * of inode INO wrong without a reply that carries the new ones (a copy-up
 * by an open, which can split a hard-link group).
 */
void lfs_cow_set_notify(struct lfs_cow *w, void (*fn)(void *ctx, uint64_t ino), void *ctx);

struct lfs_cow_stats {
	uint64_t nodes;	  /* nodes the copy-on-write tree made (or read back), in use */
	uint64_t peak;	  /* the most in use at once */
	uint64_t orphans; /* nodes with no name left that the kernel still references */
	uint64_t inodes;  /* inode numbers handed out (highest + 1) */
};
void lfs_cow_stats(struct lfs_cow *w, struct lfs_cow_stats *s);

#endif
