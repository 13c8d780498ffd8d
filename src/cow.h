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

#include "core.h"

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

/* The node of inode INO, or NULL.  Nodes live as long as the mount. */
struct lfs_node *lfs_cow_node(struct lfs_cow *w, uint64_t ino);

int lfs_cow_lookup(struct lfs_cow *w, uint64_t parent, const char *name, struct lfs_node **out,
		   struct stat *st);
int lfs_cow_getattr(struct lfs_cow *w, struct lfs_node *n, struct stat *st);
int lfs_cow_readlink(struct lfs_cow *w, struct lfs_node *n, char *buf, size_t size);

/*
 * Entries of directory D from position OFF: FN is called with each name,
 * its attributes (type and inode only unless PLUS) and the position after
 * it; it returns nonzero to stop.
 */
typedef int (*lfs_cow_dirent_fn)(void *ctx, const char *name, const struct stat *st, uint64_t next);
int lfs_cow_readdir(struct lfs_cow *w, struct lfs_node *d, uint64_t off, int plus,
		    lfs_cow_dirent_fn fn, void *ctx);

/*
 * Open N with open(2) FLAGS: *fd is an fd of the upper file, or -1 when the
 * file is read from the lower layers.
 */
int lfs_cow_open_file(struct lfs_cow *w, struct lfs_node *n, int flags, int *fd);
/* A handle lfs_cow_open_file gave is closed (FD: its fd, or -1). */
void lfs_cow_release(struct lfs_cow *w, struct lfs_node *n, int fd);
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
/* Create NAME in PARENT; *fd: for regular files, an open fd (else -1). */
int lfs_cow_create(struct lfs_cow *w, uint64_t parent, const char *name,
		   const struct lfs_cow_new *nw, struct lfs_node **out, struct stat *st, int *fd);
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

#endif
