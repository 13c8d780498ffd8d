/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals shared by the files of the copy-on-write tree.  They call
 * each other in one direction only (the declarations below are grouped by
 * the file that defines them, lowest first):
 *
 *   cow_ops.c (namespace changes) -> cow.c (attributes, data, xattrs)
 *     -> copyup.c -> cow_nodes.c (where nodes are; references, orphans)
 *   cow_mount.c (open, close, reading an upper back) -> cow_nodes.c
 *
 * A file may call any file below it, never one above.
 *
 * Locking: LOCK guards the namespace: directory tables, each node's
 * parent/name/flags, the inode table and the arena.  Operations hold it
 * only for in-memory changes and the short upper-directory calls that go
 * with them; copying a file's data up happens outside it, under the
 * node's stripe mutex, so a big copy-up stalls nothing else.  A thread
 * holds at most one stripe, and takes LOCK inside it, never the reverse.
 * OPEN_LOCK guards the orphan records only; it is taken alone or inside
 * LOCK, and nothing is taken inside it.  A node's REFS are atomic.
 */
#ifndef LFS_COW_INT_H
#define LFS_COW_INT_H

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "layerfs/cow.h"
#include "layerfs/upper.h"

#define LFS_COW_STRIPES 64

/*
 * Nodes and the kernel.  A node is known to the kernel while its REFS (the
 * FUSE lookup count plus open handles) is above zero.  While it has a name
 * in the tree, its upper copy is reached through that name (its parent's
 * upper directory); every change of a name goes through this mount, so the
 * tree always says where the node is.  When a node loses its last name
 * (unlink, rmdir, rename over it) while the kernel still knows it - an open
 * file, a working directory - it becomes an orphan: PARENT and NAME NULL,
 * and, when it has an upper copy, an O_PATH fd of that copy opened before
 * the name went ("pin"), through which it keeps answering (stat, chmod,
 * read, ...) whatever happens to the name.  A lower node needs no pin: its
 * attributes and data are reached through the node.  An orphan nobody
 * references any more is dropped: its pin closed and, for a node the
 * copy-on-write tree made (LFS_NF_OWNED), its memory and inode number
 * reused by the next node made.
 */
struct lfs_cow {
	struct lfs_core *core;
	struct lfs_tree *tree; /* guarded by lock */
	struct lfs_upper up;
	int writable;
	int chown_new; /* running as root: new entries get the caller's owner */
	pthread_rwlock_t lock;
	pthread_mutex_t stripe[LFS_COW_STRIPES];
	/*
	 * New nodes, tables and names (every name of an upper directory's
	 * table comes from its pool: lfs_arena_name); lock held for writing.
	 */
	struct lfs_arena *arena;
	uint64_t cap; /* slots allocated in tree->inodes; lock */
	/*
	 * Orphans the kernel still references, by inode number, and those it
	 * forgot whose memory is still to be recycled: open_lock (taken with
	 * or without LOCK, and nothing taken inside it).
	 */
	pthread_mutex_t open_lock;
	struct lfs_cow_open *opens;
	size_t nopens, capopens;
	size_t nforgotten; /* records LFS_ORPHAN_FORGOTTEN (atomic: read unlocked as a hint) */
	/* Owned nodes dropped, each keeping its inode number (linked by parent): lock. */
	struct lfs_node *dead;
	uint64_t nowned, peak_owned; /* owned nodes in use; lock */
	/* Called when a node's attributes changed behind the kernel's cache. */
	void (*notify)(void *ctx, uint64_t ino);
	void *notify_ctx;
};

/* An orphan (see above), sorted by inode number. */
struct lfs_cow_open {
	uint64_t ino;
	uint32_t count; /* LFS_ORPHAN_FORGOTTEN: no reference left, to recycle */
	int keep;	/* the pin: O_PATH fd of the upper copy, or -1 */
};

#define LFS_ORPHAN_FORGOTTEN 1

/* Is N out of the tree (it lost its last name)?  Lock held. */
static inline int lfs_cow_orphan(const struct lfs_node *n)
{
	return n->parent == NULL;
}

static inline int lfs_cow_is_upper(const struct lfs_node *n)
{
	return (n->flags & LFS_NF_UPPER) != 0;
}

/* Does directory D have a lower part (rename gives EXDEV, rmdir a whiteout)? */
static inline int lfs_cow_has_lower(const struct lfs_node *d)
{
	return !lfs_cow_is_upper(d) || d->dir->lower != NULL;
}

/*
 * What copying up an orphan gives: the kernel's overlayfs tries to place
 * the copy at the old name, taken by a whiteout or another entry.
 */
static inline int lfs_cow_orphan_copyup_error(const struct lfs_node *n)
{
	return n->dir ? -ENOTDIR : -EEXIST;
}

/* cow_nodes.c: where nodes are (calls no other copy-on-write file). */

/* Lock held for writing.  Give N, a node of the arena, a new inode number. */
void lfs_cow_add_inode(struct lfs_cow *w, struct lfs_node *n);
/*
 * Lock held for writing.  Directory D now lives in the upper directory too:
 * its table becomes its own (names from the arena's pool), the lower one
 * kept for lower_positive.
 */
void lfs_cow_dir_to_upper(struct lfs_cow *w, struct lfs_node *d);
/*
 * Lock held for writing.  Give N the name NAME in directory P (the name
 * copied unless P already holds it); PRIMARY: make it the name N is known by.
 */
void lfs_cow_name_node(struct lfs_cow *w, struct lfs_node *p, const char *name, struct lfs_node *n,
		       int primary);

struct lfs_cow_ref {
	struct lfs_node *dir;
	const char *name;
};
/* Lock held.  Every name of non-directory N in the tree (malloc'd array). */
size_t lfs_cow_names(struct lfs_cow *w, const struct lfs_node *n, struct lfs_cow_ref **out);

/* Lock held.  An O_PATH fd of upper directory D (copied up, not an orphan). */
int lfs_cow_dirfd(struct lfs_cow *w, const struct lfs_node *d);
/* Set the times of what FD refers to (an O_PATH fd is fine). */
int lfs_cow_fd_times(int fd, const struct timespec ts[2]);

/* cow_nodes.c: references, orphans and their pins. */

/* N gains a reference the kernel holds (an entry reply, an open). */
void lfs_cow_ref(struct lfs_node *n);
/* Lock held.  The pin of orphan N, or -1 (valid while N is referenced). */
int lfs_cow_pin(struct lfs_cow *w, const struct lfs_node *n);
/*
 * Lock held for writing.  N is about to lose a name of its upper copy,
 * NAME in PFD: an O_PATH fd of it (-1 if N has no upper copy or on
 * failure), for lfs_cow_unname.
 */
int lfs_cow_pin_open(const struct lfs_node *n, int pfd, const char *name);
/*
 * Lock held for writing.  Entry NAME of P (a name of N) is gone from the
 * upper directory: drop it from the table.  MULTI: N may have other names.
 * PIN (lfs_cow_pin_open) is kept if N is left without a name, else closed.
 */
void lfs_cow_unname(struct lfs_cow *w, struct lfs_node *p, const char *name, struct lfs_node *n,
		    int multi, int pin);
/*
 * Lock held for writing.  The entry N had in the tree (P, E) now holds
 * another node: if it was N's primary name, find another or make N an
 * orphan (keeping PIN).  MULTI as above.
 */
void lfs_cow_replaced(struct lfs_cow *w, struct lfs_node *n, int was_primary, int multi, int pin);
/* Lock held for writing.  A new owned node of type MODE (a directory: in P). */
struct lfs_node *lfs_cow_new_node(struct lfs_cow *w, uint32_t mode, struct lfs_node *p);

/* copyup.c (calls cow_nodes.c). */

/* Lock held for writing.  Copy directory D (and its ancestors) up. */
int lfs_cow_copyup_dir(struct lfs_cow *w, struct lfs_node *d);
/*
 * No lock held.  Copy N up (a directory, or a file with all its hard links;
 * without its data when DATA is 0: it is about to be truncated).
 */
int lfs_cow_copyup(struct lfs_cow *w, struct lfs_node *n, int data);

/* cow.c (calls copyup.c and cow_nodes.c). */

/* Would a lower layer show NAME in P if the upper had nothing there? */
int lfs_cow_lower_positive(const struct lfs_node *p, const char *name);
/* Lock held.  PFD: an fd of N's parent's upper directory, or -1. */
int lfs_cow_stat_node(struct lfs_cow *w, const struct lfs_node *n, int pfd, struct stat *st);
void lfs_cow_stat_lower(const struct lfs_node *n, struct stat *st);

/* cow_mount.c (calls cow_nodes.c). */

/* Lock held for writing, at mount: apply an existing upper directory. */
int lfs_cow_load_upper(struct lfs_cow *w);

#endif
