/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Changes to the namespace of a writable mount, as the kernel's overlayfs
 * makes them (redirect_dir=off): removing a name that a lower layer shows
 * leaves a whiteout; a directory made where a whiteout was is opaque;
 * renaming a directory that has lower parts gives EXDEV, which mv(1)
 * answers by copying.  Each operation changes the upper directory first
 * and the in-memory tree only once that succeeded.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cow_int.h"
#include "layerfs/lfs.h"

static void wrlock(struct lfs_cow *w)
{
	pthread_rwlock_wrlock(&w->lock);
}

static void rdlock(struct lfs_cow *w)
{
	pthread_rwlock_rdlock(&w->lock);
}

static void unlock(struct lfs_cow *w)
{
	pthread_rwlock_unlock(&w->lock);
}

/* Names the mount must refuse: ".wh." ones would read back as whiteouts. */
static int check_name(const char *name)
{
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	if (!strncmp(name, ".wh.", 4))
		return -EINVAL;
	return 0;
}

/* Parent directory PINO, copied up, with an fd of its upper directory. */
static int parent_dir(struct lfs_cow *w, uint64_t pino, struct lfs_node **out, int *pfd)
{
	struct lfs_node *p = lfs_tree_node(w->tree, pino);
	int rc;

	if (!p)
		return -ESTALE;
	if (!p->dir)
		return -ENOTDIR;
	/* Removed: the kernel refuses new entries there itself (ENOENT). */
	if (lfs_cow_orphan(p))
		return -ENOENT;
	rc = lfs_cow_copyup_dir(w, p);
	if (rc < 0)
		return rc;
	*pfd = lfs_cow_dirfd(w, p);
	if (*pfd < 0)
		return *pfd;
	*out = p;
	return 0;
}

/* Make the new entry at DIRFD/NAME as NW describes; *FD for regular files. */
static int make_entry(int dirfd, const char *name, const struct lfs_cow_new *nw, mode_t mode,
		      int *fd)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		*fd = openat(dirfd, name,
			     O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | (nw->flags & O_ACCMODE),
			     mode & 07777);
		return *fd < 0 ? -errno : 0;
	case S_IFDIR:
		return mkdirat(dirfd, name, mode & 07777) < 0 ? -errno : 0;
	case S_IFLNK:
		return symlinkat(nw->link, dirfd, name) < 0 ? -errno : 0;
	default:
		return mknodat(dirfd, name, mode, nw->rdev) < 0 ? -errno : 0;
	}
}

int lfs_cow_create(struct lfs_cow *w, uint64_t parent, const char *name,
		   const struct lfs_cow_new *nw, struct lfs_node **out, struct stat *st, int *fd)
{
	struct lfs_node *p, *n;
	mode_t mode = nw->mode;
	gid_t gid = nw->gid;
	char tmp[40];
	struct stat pst;
	int pfd = -1, rc, wh, dirfd;
	const char *ename;

	*fd = -1;
	if (!w->writable)
		return -EROFS;
	rc = check_name(name);
	if (rc < 0)
		return rc;
	/* The kernel's overlayfs refuses to make a whiteout look-alike. */
	if (S_ISCHR(mode) && nw->rdev == makedev(0, 0))
		return -EPERM;
	wrlock(w);
	p = lfs_tree_node(w->tree, parent);
	if (p && p->dir && lfs_dir_lookup(p, name, strlen(name))) {
		rc = -EEXIST;
		goto out;
	}
	rc = parent_dir(w, parent, &p, &pfd);
	if (rc < 0)
		goto out;
	if (fstat(pfd, &pst) < 0) {
		rc = -errno;
		goto out;
	}
	/* What the kernel's inode_init_owner gives a new entry in a setgid directory. */
	if (pst.st_mode & S_ISGID) {
		gid = pst.st_gid;
		if (S_ISDIR(mode))
			mode |= S_ISGID;
	}
	wh = lfs_upper_is_whiteout(&w->up, pfd, name);
	if (wh < 0) {
		rc = wh;
		goto out;
	}
	/* Over a whiteout, build it aside and swap it in: never a moment without either. */
	if (wh)
		lfs_upper_tmpname(&w->up, tmp);
	dirfd = wh ? w->up.work : pfd;
	ename = wh ? tmp : name;
	rc = make_entry(dirfd, ename, nw, mode, fd);
	if (rc < 0)
		goto out;
	if (w->chown_new && fchownat(dirfd, ename, nw->uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		rc = -errno;
	if (rc == 0 && !S_ISLNK(mode) &&
	    fchmodat(dirfd, ename, mode & 07777, AT_SYMLINK_NOFOLLOW) < 0)
		rc = -errno;
	if (rc == 0 && wh && S_ISDIR(mode))
		rc = lfs_upper_set_opaque(&w->up, dirfd, ename);
	if (rc == 0 && wh)
		rc = lfs_upper_install(&w->up, tmp, pfd, name);
	if (rc < 0) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		if (S_ISDIR(mode))
			unlinkat(dirfd, ename, AT_REMOVEDIR);
		else
			unlinkat(dirfd, ename, 0);
		goto out;
	}
	n = lfs_cow_new_node(w, mode, p);
	lfs_cow_name_node(w, p, name, n, 1);
	rc = lfs_cow_stat_node(w, n, pfd, st);
	*out = n;
	if (rc < 0 && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	/* The entry, and the open fd. */
	if (rc == 0)
		lfs_cow_ref(n);
	if (*fd >= 0)
		lfs_cow_ref(n);
out:
	if (pfd >= 0)
		close(pfd);
	unlock(w);
	return rc;
}

int lfs_cow_link(struct lfs_cow *w, struct lfs_node *n, uint64_t parent, const char *name,
		 struct stat *st)
{
	struct lfs_node *p;
	int pfd = -1, sfd = -1, rc, wh;
	char tmp[40];

	if (!w->writable)
		return -EROFS;
	rc = check_name(name);
	if (rc < 0)
		return rc;
	if (n->dir)
		return -EPERM;
	rc = lfs_cow_copyup(w, n, 1);
	if (rc < 0)
		return rc;
	wrlock(w);
	p = lfs_tree_node(w->tree, parent);
	if (p && p->dir && lfs_dir_lookup(p, name, strlen(name))) {
		rc = -EEXIST;
		goto out;
	}
	/* No name left (the kernel does not link a file it knows as unlinked). */
	if (lfs_cow_orphan(n)) {
		rc = -ENOENT;
		goto out;
	}
	rc = parent_dir(w, parent, &p, &pfd);
	if (rc < 0)
		goto out;
	sfd = lfs_cow_dirfd(w, n->parent);
	if (sfd < 0) {
		rc = sfd;
		goto out;
	}
	wh = lfs_upper_is_whiteout(&w->up, pfd, name);
	if (wh < 0)
		rc = wh;
	else if (wh) {
		lfs_upper_tmpname(&w->up, tmp);
		rc = linkat(sfd, n->name, w->up.work, tmp, 0) < 0 ? -errno : 0;
		if (rc == 0 && (rc = lfs_upper_install(&w->up, tmp, pfd, name)) < 0)
			unlinkat(w->up.work, tmp, 0);
	} else {
		rc = linkat(sfd, n->name, pfd, name, 0) < 0 ? -errno : 0;
	}
	if (rc < 0)
		goto out;
	lfs_cow_name_node(w, p, name, n, 0);
	rc = lfs_cow_stat_node(w, n, sfd, st);
	if (rc == 0)
		lfs_cow_ref(n);
out:
	if (sfd >= 0)
		close(sfd);
	if (pfd >= 0)
		close(pfd);
	unlock(w);
	return rc;
}

/* NAME in PFD, a name of N, is about to go: may N have other names? */
static int name_goes(const struct lfs_node *n, int pfd, const char *name)
{
	struct stat st;

	if (n->dir)
		return 0;
	if (!lfs_cow_is_upper(n))
		return n->nlink > 1;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 1;
	return st.st_nlink > 1;
}

int lfs_cow_unlink(struct lfs_cow *w, uint64_t parent, const char *name, int dir)
{
	struct lfs_node *p, *n;
	int pfd = -1, rc, lower, multi, pin;

	if (!w->writable)
		return -EROFS;
	wrlock(w);
	p = lfs_tree_node(w->tree, parent);
	if (!p || !p->dir) {
		rc = p ? -ENOTDIR : -ESTALE;
		goto out;
	}
	n = lfs_dir_lookup(p, name, strlen(name));
	if (!n)
		rc = -ENOENT;
	else if (dir && !n->dir)
		rc = -ENOTDIR;
	else if (!dir && n->dir)
		rc = -EISDIR;
	else if (dir && n->dir->live)
		rc = -ENOTEMPTY;
	else
		rc = parent_dir(w, parent, &p, &pfd);
	if (rc < 0)
		goto out;
	lower = lfs_cow_lower_positive(p, name);
	multi = name_goes(n, pfd, name);
	/* An open file or a working directory keeps its upper copy (cow_int.h). */
	pin = lfs_cow_pin_open(n, pfd, name);
	if (!lfs_cow_is_upper(n))
		rc = lfs_upper_whiteout(&w->up, pfd, name);
	else if (n->dir)
		rc =
		    lower ? lfs_upper_whiteout_dir(&w->up, pfd, name) : lfs_upper_rmtree(pfd, name);
	else if (lower)
		rc = lfs_upper_whiteout(&w->up, pfd, name);
	else
		rc = unlinkat(pfd, name, 0) < 0 ? -errno : 0;
	if (rc < 0) {
		if (pin >= 0)
			close(pin);
		goto out;
	}
	lfs_cow_unname(w, p, name, n, multi, pin);
out:
	if (pfd >= 0)
		close(pfd);
	unlock(w);
	return rc;
}

/* Is D the directory A or below it? */
static int is_within(const struct lfs_node *d, const struct lfs_node *a,
		     const struct lfs_node *root)
{
	for (;; d = d->parent) {
		if (d == a)
			return 1;
		if (d == root || !d)
			return 0;
	}
}

/* The checks the kernel makes (VFS first), in its order; 1: nothing to do. */
static int rename_check(struct lfs_cow *w, struct lfs_node *p1, struct lfs_node *p2,
			struct lfs_node *s, struct lfs_node *t, unsigned flags)
{
	const struct lfs_node *root = w->tree->root;
	int exchange = (flags & RENAME_EXCHANGE) != 0;

	if (!s)
		return -ENOENT;
	if ((flags & RENAME_NOREPLACE) && t)
		return -EEXIST;
	if (exchange && !t)
		return -ENOENT;
	if (s->dir && is_within(p2, s, root))
		return -EINVAL;
	if (t && t->dir && is_within(p1, t, root))
		return exchange ? -EINVAL : -ENOTEMPTY;
	if (s == t)
		return 1;
	if (!exchange && t) {
		if (s->dir && !t->dir)
			return -ENOTDIR;
		if (!s->dir && t->dir)
			return -EISDIR;
	}
	/* Directories with lower parts would need redirects (redirect_dir=off). */
	if (s->dir && lfs_cow_has_lower(s))
		return -EXDEV;
	if (exchange && t->dir && lfs_cow_has_lower(t))
		return -EXDEV;
	if (!exchange && t && t->dir && t->dir->live)
		return -ENOTEMPTY;
	return 0;
}

/* The upper side of a plain rename (not an exchange). */
static int rename_upper(struct lfs_cow *w, int pfd1, const char *n1, int pfd2, const char *n2,
			const struct lfs_node *s, const struct lfs_node *t, int lower1)
{
	int wh2 = 0, rc;

	if (t && lfs_cow_is_upper(t) && t->dir) {
		/* A merged directory shown empty holds whiteouts: clear them first. */
		rc = lfs_upper_empty(pfd2, n2);
		if (rc < 0)
			return rc;
	}
	if (!t) {
		wh2 = lfs_upper_is_whiteout(&w->up, pfd2, n2);
		if (wh2 < 0)
			return wh2;
	}
	if (wh2 && !w->up.wh_files && (lower1 || s->dir)) {
		/* Swap with the whiteout: it moves to the source, as needed or not. */
		if (renameat2(pfd1, n1, pfd2, n2, RENAME_EXCHANGE) < 0)
			return -errno;
		return lower1 ? 0 : (unlinkat(pfd1, n1, 0) < 0 ? -errno : 0);
	}
	if (lower1 && !w->up.wh_files && renameat2(pfd1, n1, pfd2, n2, RENAME_WHITEOUT) == 0)
		return 0;
	if (renameat(pfd1, n1, pfd2, n2) < 0)
		return -errno;
	if (wh2 && (rc = lfs_upper_drop_whiteout(&w->up, pfd2, n2)) < 0)
		return rc;
	return lower1 ? lfs_upper_whiteout(&w->up, pfd1, n1) : 0;
}

int lfs_cow_rename(struct lfs_cow *w, uint64_t p1i, const char *n1, uint64_t p2i, const char *n2,
		   unsigned flags)
{
	struct lfs_node *p1, *p2, *s, *t;
	int pfd1 = -1, pfd2 = -1, rc, tries = 0, tmulti = 0, tpin = -1, tprimary;
	struct lfs_dirent *e;
	const char *old;

	if (!w->writable)
		return -EROFS;
	if ((flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) ||
	    ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE)))
		return -EINVAL;
	rc = check_name(n2);
	if (rc < 0)
		return rc;
again:
	/* Copy the files up first, without the namespace lock. */
	rdlock(w);
	p1 = lfs_tree_node(w->tree, p1i);
	p2 = lfs_tree_node(w->tree, p2i);
	s = p1 && p1->dir ? lfs_dir_lookup(p1, n1, strlen(n1)) : NULL;
	t = p2 && p2->dir ? lfs_dir_lookup(p2, n2, strlen(n2)) : NULL;
	unlock(w);
	if (!p1 || !p2)
		return -ESTALE;
	if (!p1->dir || !p2->dir)
		return -ENOTDIR;
	if (s && !s->dir && !lfs_cow_is_upper(s) && (rc = lfs_cow_copyup(w, s, 1)) < 0)
		return rc;
	if ((flags & RENAME_EXCHANGE) && t && !t->dir && !lfs_cow_is_upper(t) &&
	    (rc = lfs_cow_copyup(w, t, 1)) < 0)
		return rc;

	wrlock(w);
	s = lfs_dir_lookup(p1, n1, strlen(n1));
	t = lfs_dir_lookup(p2, n2, strlen(n2));
	if (((s && !s->dir && !lfs_cow_is_upper(s)) ||
	     ((flags & RENAME_EXCHANGE) && t && !t->dir && !lfs_cow_is_upper(t))) &&
	    tries++ < 8) {
		unlock(w);
		goto again;
	}
	rc = rename_check(w, p1, p2, s, t, flags);
	if (rc != 0) {
		rc = rc > 0 ? 0 : rc;
		goto out;
	}
	rc = parent_dir(w, p1i, &p1, &pfd1);
	if (rc == 0)
		rc = parent_dir(w, p2i, &p2, &pfd2);
	if (rc < 0)
		goto out;
	if (t && !(flags & RENAME_EXCHANGE)) {
		tmulti = name_goes(t, pfd2, n2);
		tpin = lfs_cow_pin_open(t, pfd2, n2);
	}
	if (flags & RENAME_EXCHANGE) {
		rc = renameat2(pfd1, n1, pfd2, n2, RENAME_EXCHANGE) < 0 ? -errno : 0;
		if (rc == 0 && t->dir && p1->dir->lower)
			rc = lfs_upper_set_opaque(&w->up, pfd1, n1);
	} else {
		rc = rename_upper(w, pfd1, n1, pfd2, n2, s, t, lfs_cow_lower_positive(p1, n1));
	}
	/* A directory moved among lower entries must not show them (the kernel does so). */
	if (rc == 0 && s->dir && p2->dir->lower)
		rc = lfs_upper_set_opaque(&w->up, pfd2, n2);
	if (rc < 0) {
		if (tpin >= 0)
			close(tpin);
		goto out;
	}
	if (flags & RENAME_EXCHANGE) {
		lfs_cow_name_node(w, p1, n1, t, 1);
		lfs_cow_name_node(w, p2, n2, s, 1);
		goto out;
	}
	e = t ? lfs_dir_find(p2, n2, strlen(n2)) : NULL;
	tprimary = t && t->parent == p2 && t->name == e->name;
	/* S takes the name (T's entry, if any), then leaves its old one. */
	lfs_cow_name_node(w, p2, n2, s, 1);
	old = lfs_dir_drop(p1, lfs_dir_find(p1, n1, strlen(n1)));
	lfs_arena_name_free(w->arena, old);
	if (t)
		lfs_cow_replaced(w, t, tprimary, tmulti, tpin);
out:
	if (pfd1 >= 0)
		close(pfd1);
	if (pfd2 >= 0)
		close(pfd2);
	unlock(w);
	return rc;
}
