/*
 * Internals shared by the files of the copy-on-write tree (cow.c,
 * cow_ops.c, copyup.c, upper_load.c).
 *
 * Locking: LOCK guards the namespace: directory tables, each node's
 * parent/name/flags, the inode table and the arena.  Operations hold it
 * only for in-memory changes and the short upper-directory calls that go
 * with them; copying a file's data up happens outside it, under the
 * node's stripe mutex, so a big copy-up stalls nothing else.  A thread
 * holds at most one stripe, and takes LOCK inside it, never the reverse.
 */
#ifndef LFS_COW_INT_H
#define LFS_COW_INT_H

#include <pthread.h>
#include <time.h>

#include "cow.h"
#include "upper.h"

#define LFS_COW_STRIPES 64

struct lfs_cow {
	struct lfs_core *core;
	struct lfs_tree *tree; /* guarded by lock */
	struct lfs_upper up;
	int writable;
	int chown_new; /* running as root: new entries get the caller's owner */
	pthread_rwlock_t lock;
	pthread_mutex_t stripe[LFS_COW_STRIPES];
	struct lfs_arena *arena; /* new nodes and names; lock held for writing */
	uint64_t cap;		 /* slots allocated in tree->inodes; lock */
	/*
	 * Open files, so that one unlinked while open still answers stat (the
	 * kernel sends no file handle with it): guarded by open_lock.
	 */
	pthread_mutex_t open_lock;
	struct lfs_cow_open *opens;
	size_t nopens, capopens;
};

struct lfs_cow_open {
	uint64_t ino;
	uint32_t count; /* open handles */
	int keep;	/* O_PATH fd of the file once its last name is gone, or -1 */
};

/* N has one more open handle. */
void lfs_cow_note_open(struct lfs_cow *w, const struct lfs_node *n);
/* Lock held for writing: N's last name, NAME in PFD, is about to go. */
void lfs_cow_keep_open(struct lfs_cow *w, const struct lfs_node *n, int pfd, const char *name);

static inline int lfs_cow_is_upper(const struct lfs_node *n)
{
	return (n->flags & LFS_NF_UPPER) != 0;
}

/* Does directory D have a lower part (rename gives EXDEV, rmdir a whiteout)? */
static inline int lfs_cow_has_lower(const struct lfs_node *d)
{
	return !lfs_cow_is_upper(d) || d->dir->lower != NULL;
}

/* Would a lower layer show NAME in P if the upper had nothing there? */
int lfs_cow_lower_positive(const struct lfs_node *p, const char *name);

/* Lock held.  An O_PATH fd of upper directory D (copied up). */
int lfs_cow_dirfd(struct lfs_cow *w, const struct lfs_node *d);
/* Lock held.  PFD: an fd of N's parent's upper directory, or -1. */
int lfs_cow_stat_node(struct lfs_cow *w, const struct lfs_node *n, int pfd, struct stat *st);
void lfs_cow_stat_lower(const struct lfs_node *n, struct stat *st);
/* Lock held for writing.  Give N a new inode number. */
void lfs_cow_add_inode(struct lfs_cow *w, struct lfs_node *n);
/*
 * Lock held for writing.  Directory D now lives in the upper directory too:
 * its table becomes its own, the lower one kept for lower_positive.
 */
void lfs_cow_dir_to_upper(struct lfs_cow *w, struct lfs_node *d);
/*
 * Lock held for writing.  Give N the name NAME in directory P (the name
 * copied unless P already holds it); PRIMARY: make it the name N is known by.
 */
void lfs_cow_name_node(struct lfs_cow *w, struct lfs_node *p, const char *name, struct lfs_node *n,
		       int primary);
/* Lock held for writing.  Copy directory D (and its ancestors) up. */
int lfs_cow_copyup_dir(struct lfs_cow *w, struct lfs_node *d);
/*
 * No lock held.  Copy N up (a directory, or a file with all its hard links;
 * without its data when DATA is 0: it is about to be truncated).
 */
int lfs_cow_copyup(struct lfs_cow *w, struct lfs_node *n, int data);

struct lfs_cow_ref {
	struct lfs_node *dir;
	const char *name;
};
/* Lock held.  Every name of non-directory N in the tree (malloc'd array). */
size_t lfs_cow_names(struct lfs_cow *w, const struct lfs_node *n, struct lfs_cow_ref **out);
/* Lock held for writing: N lost the name it was known by; pick another. */
void lfs_cow_renamed_away(struct lfs_cow *w, struct lfs_node *n);

/* Set the times of what FD refers to (an O_PATH fd is fine). */
int lfs_cow_fd_times(int fd, const struct timespec ts[2]);

/* Lock held for writing, at mount: apply an existing upper directory. */
int lfs_cow_load_upper(struct lfs_cow *w);

#endif
