/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mounted tree: attributes, directory listings, file access and xattrs
 * of nodes that live in the lower layers (served from the index) or in the
 * upper directory (asked of the upper filesystem, which has the truth).
 * Changes to the namespace are in cow_ops.c, copy-up in copyup.c, where
 * nodes are (names, inode numbers, upper directories) in cow_nodes.c.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cow_int.h"
#include "layerfs/lfs.h"

int lfs_cow_writable(const struct lfs_cow *w)
{
	return w->writable;
}

static void rdlock(struct lfs_cow *w)
{
	pthread_rwlock_rdlock(&w->lock);
}

static void unlock(struct lfs_cow *w)
{
	pthread_rwlock_unlock(&w->lock);
}

struct lfs_node *lfs_cow_node(struct lfs_cow *w, uint64_t ino)
{
	struct lfs_node *n;

	rdlock(w);
	n = lfs_tree_node(w->tree, ino);
	unlock(w);
	return n;
}

int lfs_cow_lower_positive(const struct lfs_node *p, const char *name)
{
	struct lfs_node view;

	if (!lfs_cow_is_upper(p))
		return lfs_dir_lookup(p, name, strlen(name)) != NULL;
	if (!p->dir->lower)
		return 0;
	memset(&view, 0, sizeof(view));
	view.dir = p->dir->lower;
	return lfs_dir_lookup(&view, name, strlen(name)) != NULL;
}

void lfs_cow_stat_lower(const struct lfs_node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = n->ino;
	st->st_mode = n->mode;
	st->st_nlink = n->nlink;
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	st->st_rdev = n->rdev;
	st->st_blksize = 4096;
	if (n->dir) {
		st->st_size = 4096;
		st->st_blocks = 8;
	} else {
		uint64_t stored = n->size;

		if (n->sparse) {
			stored = 0;
			for (uint32_t i = 0; i < n->sparse->n; i++)
				stored += n->sparse->ext[i].len;
		}
		st->st_size = (off_t)n->size;
		st->st_blocks = (blkcnt_t)((stored + 4095) / 4096 * 8);
	}
	st->st_mtim.tv_sec = n->mtime_sec;
	st->st_mtim.tv_nsec = n->mtime_nsec;
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

/*
 * N's attributes, through its name NAME in the directory PFD (-1: its
 * parent's); an orphan's through its pin.
 */
static int stat_named(struct lfs_cow *w, const struct lfs_node *n, int pfd, const char *name,
		      struct stat *st)
{
	int fd = pfd, rc = 0;

	if (!lfs_cow_is_upper(n)) {
		lfs_cow_stat_lower(n, st);
		return 0;
	}
	if (n == w->tree->root) {
		if (fstatat(w->up.root, "", st, AT_EMPTY_PATH) < 0)
			return -errno;
	} else if (lfs_cow_orphan(n)) {
		fd = lfs_cow_pin(w, n);
		if (fd < 0)
			return -ESTALE;
		if (fstat(fd, st) < 0)
			return -errno;
	} else {
		if (fd < 0)
			fd = lfs_cow_dirfd(w, n->parent);
		if (fd < 0)
			return fd;
		if (fstatat(fd, name, st, AT_SYMLINK_NOFOLLOW) < 0)
			rc = -errno;
		if (pfd < 0)
			close(fd);
		if (rc < 0)
			return rc;
	}
	st->st_ino = n->ino;
	/* The kernel's overlayfs: a directory with lower parts has one link. */
	if (n->dir && lfs_cow_has_lower(n))
		st->st_nlink = 1;
	return 0;
}

int lfs_cow_stat_node(struct lfs_cow *w, const struct lfs_node *n, int pfd, struct stat *st)
{
	return stat_named(w, n, pfd, n->name, st);
}

int lfs_cow_lookup(struct lfs_cow *w, uint64_t parent, const char *name, struct lfs_node **out,
		   struct stat *st)
{
	struct lfs_node *d, *n;
	int rc = 0;

	rdlock(w);
	d = lfs_tree_node(w->tree, parent);
	if (!d)
		rc = -ESTALE;
	else if (!d->dir)
		rc = -ENOTDIR;
	else if (!(n = lfs_dir_lookup(d, name, strlen(name))))
		rc = -ENOENT;
	else {
		rc = lfs_cow_stat_node(w, n, -1, st);
		*out = n;
		if (rc == 0)
			lfs_cow_ref(n);
	}
	unlock(w);
	return rc;
}

int lfs_cow_getattr(struct lfs_cow *w, struct lfs_node *n, struct stat *st)
{
	int rc;

	rdlock(w);
	rc = lfs_cow_stat_node(w, n, -1, st);
	unlock(w);
	return rc;
}

/*
 * Where the upper N is, for calls that take a path: DIRFD and NAME (the
 * root and orphans: the /proc path of their fd, FOLLOW set).  PFD is for
 * upath_put to close.
 */
struct upath {
	int pfd;
	int dirfd;
	const char *name;
	int follow;
	char proc[64 + NAME_MAX];
};

static int upath_get(struct lfs_cow *w, const struct lfs_node *n, struct upath *p)
{
	p->pfd = -1;
	if (n == w->tree->root || lfs_cow_orphan(n)) {
		/* The magic link leads to the entry itself, a symlink included. */
		int fd = n == w->tree->root ? w->up.root : lfs_cow_pin(w, n);

		if (fd < 0)
			return -ESTALE;
		lfs_upper_procpath(p->proc, sizeof(p->proc), fd, NULL);
		p->dirfd = AT_FDCWD;
		p->name = p->proc;
		p->follow = 1;
		return 0;
	}
	p->pfd = lfs_cow_dirfd(w, n->parent);
	if (p->pfd < 0)
		return p->pfd;
	p->dirfd = p->pfd;
	p->name = n->name;
	p->follow = 0;
	lfs_upper_procpath(p->proc, sizeof(p->proc), p->pfd, n->name);
	return 0;
}

static void upath_put(struct upath *p)
{
	if (p->pfd >= 0)
		close(p->pfd);
	p->pfd = -1;
}

int lfs_cow_readlink(struct lfs_cow *w, struct lfs_node *n, char *buf, size_t size)
{
	struct upath p;
	ssize_t r;
	int rc = 0;

	if (!S_ISLNK(n->mode))
		return -EINVAL;
	rdlock(w);
	if (!lfs_cow_is_upper(n)) {
		snprintf(buf, size, "%s", n->link);
	} else if (lfs_cow_orphan(n)) {
		/* The pin is the symlink itself (its /proc link would give its path). */
		r = lfs_cow_pin(w, n) < 0 ? -1 : readlinkat(lfs_cow_pin(w, n), "", buf, size - 1);
		if (r < 0)
			rc = lfs_cow_pin(w, n) < 0 ? -ESTALE : -errno;
		else
			buf[r] = '\0';
	} else if ((rc = upath_get(w, n, &p)) == 0) {
		r = readlinkat(p.dirfd, p.name, buf, size - 1);
		if (r < 0)
			rc = -errno;
		else
			buf[r] = '\0';
		upath_put(&p);
	}
	unlock(w);
	return rc;
}

int lfs_cow_readdir(struct lfs_cow *w, struct lfs_node *d, uint64_t off, int plus,
		    lfs_cow_dirent_fn fn, void *ctx)
{
	int pfd = -1;

	rdlock(w);
	if (!d->dir) {
		unlock(w);
		return -ENOTDIR;
	}
	if (plus && lfs_cow_is_upper(d)) {
		pfd = lfs_cow_dirfd(w, d);
		if (pfd < 0) {
			unlock(w);
			return pfd;
		}
	}
	/* Positions: 1 after ".", 2 after "..", 3+i after entry i (deleted ones and holes stay). */
	for (uint64_t i = off; i < (uint64_t)d->dir->n + 2; i++) {
		struct lfs_node *n;
		const char *name;
		struct stat st;

		if (i == 0) {
			n = d;
			name = ".";
		} else if (i == 1) {
			n = d->parent ? d->parent : d;
			name = "..";
		} else {
			n = d->dir->ents[i - 2].node;
			name = d->dir->ents[i - 2].name;
			if (!n)
				continue;
		}
		if (plus) {
			/* A hard link: its attributes through this name, not its first one. */
			if ((i >= 2 ? stat_named(w, n, pfd, name, &st)
				    : lfs_cow_stat_node(w, n, -1, &st)) < 0)
				continue;
		} else {
			memset(&st, 0, sizeof(st));
			st.st_ino = n->ino;
			st.st_mode = n->mode;
		}
		if (fn(ctx, name, &st, i + 1))
			break;
		/* The kernel counts a lookup for each entry but "." and "..". */
		if (plus && i >= 2)
			lfs_cow_ref(n);
	}
	if (pfd >= 0)
		close(pfd);
	unlock(w);
	return 0;
}

/* Lock held.  An fd of N's upper copy opened with FLAGS (O_ACCMODE, O_TRUNC, ...). */
static int open_upper(struct lfs_cow *w, const struct lfs_node *n, int flags)
{
	struct upath p;
	int fd, rc;

	rc = upath_get(w, n, &p);
	if (rc < 0)
		return rc;
	fd = openat(p.dirfd, p.name, flags | (p.follow ? 0 : O_NOFOLLOW) | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		fd = errno == ENOENT ? -ESTALE : -errno;
	upath_put(&p);
	return fd;
}

int lfs_cow_open_file(struct lfs_cow *w, struct lfs_node *n, int flags, int *fd)
{
	int acc = flags & O_ACCMODE, rc = 0;

	*fd = -1;
	if (n->dir)
		return -EISDIR;
	if (acc != O_RDONLY || (flags & O_TRUNC)) {
		if (!w->writable)
			return -EROFS;
		rc = lfs_cow_copyup(w, n, !(flags & O_TRUNC));
		if (rc < 0)
			return rc;
	}
	rdlock(w);
	if (lfs_cow_is_upper(n)) {
		*fd = open_upper(w, n, flags & (O_ACCMODE | O_TRUNC | O_SYNC | O_DSYNC));
		if (*fd < 0) {
			rc = *fd;
			*fd = -1;
		}
	}
	if (rc == 0)
		lfs_cow_ref(n);
	unlock(w);
	return rc;
}

int lfs_cow_data_fd(struct lfs_cow *w, struct lfs_node *n, uint64_t off, size_t size, int *fd,
		    uint64_t *pos, size_t *len)
{
	int rc;

	rdlock(w);
	rc = lfs_cow_is_upper(n) ? -ENOTSUP : lfs_core_data_fd(w->core, n, off, size, fd, pos, len);
	unlock(w);
	return rc;
}

ssize_t lfs_cow_read(struct lfs_cow *w, struct lfs_node *n, void *buf, size_t size, uint64_t off)
{
	ssize_t r;
	int fd;

	rdlock(w);
	if (!lfs_cow_is_upper(n)) {
		unlock(w);
		return lfs_core_read(w->core, n, buf, size, off);
	}
	/* Copied up since it was opened: the kernel's overlayfs reads the copy too. */
	fd = open_upper(w, n, O_RDONLY);
	unlock(w);
	if (fd < 0)
		return fd;
	r = pread(fd, buf, size, (off_t)off);
	if (r < 0)
		r = -errno;
	close(fd);
	return r;
}

int lfs_cow_setattr(struct lfs_cow *w, struct lfs_node *n, int fd, const struct stat *attr,
		    int to_set, struct stat *st)
{
	int nofollow, rc;
	struct upath p;

	if (!w->writable)
		return -EROFS;
	rc = lfs_cow_copyup(w, n, !((to_set & LFS_SET_SIZE) && attr->st_size == 0));
	if (rc < 0)
		return rc;
	rdlock(w);
	rc = upath_get(w, n, &p);
	if (rc < 0)
		goto out;
	nofollow = p.follow ? 0 : AT_SYMLINK_NOFOLLOW;
	if (to_set & (LFS_SET_UID | LFS_SET_GID)) {
		uid_t uid = to_set & LFS_SET_UID ? attr->st_uid : (uid_t)-1;
		gid_t gid = to_set & LFS_SET_GID ? attr->st_gid : (gid_t)-1;

		if (fchownat(p.dirfd, p.name, uid, gid, nofollow) < 0) {
			rc = -errno;
			goto out_path;
		}
	}
	if ((to_set & LFS_SET_MODE) && !S_ISLNK(n->mode) &&
	    fchmodat(p.dirfd, p.name, attr->st_mode & 07777, nofollow) < 0) {
		rc = -errno;
		goto out_path;
	}
	if (to_set & LFS_SET_SIZE) {
		int tfd = fd;

		if (tfd < 0)
			tfd =
			    openat(p.dirfd, p.name,
				   O_WRONLY | (p.follow ? 0 : O_NOFOLLOW) | O_CLOEXEC | O_NONBLOCK);
		if (tfd < 0 || ftruncate(tfd, attr->st_size) < 0)
			rc = -errno;
		if (tfd >= 0 && fd < 0)
			close(tfd);
		if (rc < 0)
			goto out_path;
	}
	if (to_set & (LFS_SET_ATIME | LFS_SET_MTIME)) {
		struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}};

		if (to_set & LFS_SET_ATIME_NOW)
			ts[0].tv_nsec = UTIME_NOW;
		else if (to_set & LFS_SET_ATIME)
			ts[0] = attr->st_atim;
		if (to_set & LFS_SET_MTIME_NOW)
			ts[1].tv_nsec = UTIME_NOW;
		else if (to_set & LFS_SET_MTIME)
			ts[1] = attr->st_mtim;
		if (utimensat(p.dirfd, p.name, ts, nofollow) < 0) {
			rc = -errno;
			goto out_path;
		}
	}
	rc = lfs_cow_stat_node(w, n, p.pfd, st);
out_path:
	upath_put(&p);
out:
	unlock(w);
	return rc;
}

ssize_t lfs_cow_getxattr(struct lfs_cow *w, struct lfs_node *n, const char *name, void *buf,
			 size_t size)
{
	const void *val;
	struct upath p;
	ssize_t r;
	size_t len;
	int rc;

	if (lfs_upper_private_xattr(name))
		return -ENODATA;
	rdlock(w);
	if (!lfs_cow_is_upper(n)) {
		unlock(w);
		rc = lfs_core_getxattr(n, name, &val, &len);
		if (rc < 0)
			return rc;
		if (size && size < len)
			return -ERANGE;
		if (size)
			memcpy(buf, val, len);
		return (ssize_t)len;
	}
	r = upath_get(w, n, &p);
	if (r == 0) {
		r = p.follow ? getxattr(p.proc, name, buf, size)
			     : lgetxattr(p.proc, name, buf, size);
		if (r < 0)
			r = -errno;
		upath_put(&p);
	}
	unlock(w);
	return r;
}

ssize_t lfs_cow_listxattr(struct lfs_cow *w, struct lfs_node *n, char *buf, size_t size)
{
	struct upath p;
	ssize_t r, need = 0;
	char *all = NULL;

	rdlock(w);
	if (!lfs_cow_is_upper(n)) {
		unlock(w);
		need = (ssize_t)lfs_core_listxattr(n, NULL, 0);
		if (size && (size_t)need > size)
			return -ERANGE;
		if (size)
			lfs_core_listxattr(n, buf, size);
		return need;
	}
	r = upath_get(w, n, &p);
	if (r < 0)
		goto out;
	/* The list can grow between the two calls: ask again. */
	for (int tries = 0;; tries++) {
		r = p.follow ? listxattr(p.proc, NULL, 0) : llistxattr(p.proc, NULL, 0);
		if (r < 0) {
			r = -errno;
			break;
		}
		free(all);
		all = lfs_xmalloc((size_t)r + 1);
		r = p.follow ? listxattr(p.proc, all, (size_t)r)
			     : llistxattr(p.proc, all, (size_t)r);
		if (r >= 0)
			break;
		if (errno != ERANGE || tries == 3) {
			r = -errno;
			break;
		}
	}
	if (r >= 0) {
		for (ssize_t i = 0; i < r; i += (ssize_t)strlen(all + i) + 1) {
			size_t l = strlen(all + i) + 1;

			if (lfs_upper_private_xattr(all + i))
				continue;
			if (size && (size_t)need + l <= size)
				memcpy(buf + need, all + i, l);
			need += (ssize_t)l;
		}
		r = size && (size_t)need > size ? -ERANGE : need;
	}
	upath_put(&p);
out:
	unlock(w);
	free(all);
	return r;
}

/* Set (VAL non-NULL) or remove xattr NAME of N, copying N up first. */
static int change_xattr(struct lfs_cow *w, struct lfs_node *n, const char *name, const void *val,
			size_t size, int flags)
{
	const void *cur;
	struct upath p;
	size_t len;
	int rc;

	if (!w->writable)
		return -EROFS;
	if (lfs_upper_private_xattr(name))
		return -EOPNOTSUPP;
	if (!val) {
		rdlock(w);
		rc = lfs_cow_is_upper(n) ? 0 : lfs_core_getxattr(n, name, &cur, &len);
		unlock(w);
		/* Nothing to remove: no copy-up, as the kernel's overlayfs. */
		if (rc < 0)
			return rc;
	}
	rc = lfs_cow_copyup(w, n, 1);
	if (rc < 0)
		return rc;
	rdlock(w);
	rc = upath_get(w, n, &p);
	if (rc == 0) {
		if (val)
			rc = p.follow ? setxattr(p.proc, name, val, size, flags)
				      : lsetxattr(p.proc, name, val, size, flags);
		else
			rc = p.follow ? removexattr(p.proc, name) : lremovexattr(p.proc, name);
		rc = rc < 0 ? -errno : 0;
		upath_put(&p);
	}
	unlock(w);
	return rc;
}

int lfs_cow_setxattr(struct lfs_cow *w, struct lfs_node *n, const char *name, const void *val,
		     size_t size, int flags)
{
	/* A zero-length value still is a value. */
	return change_xattr(w, n, name, val ? val : "", size, flags);
}

int lfs_cow_removexattr(struct lfs_cow *w, struct lfs_node *n, const char *name)
{
	return change_xattr(w, n, name, NULL, 0, 0);
}

int lfs_cow_statfs(struct lfs_cow *w, struct statvfs *sv)
{
	const struct lfs_core *c = w->core;
	char path[64];
	uint64_t bytes = 0;

	if (w->writable) {
		lfs_upper_procpath(path, sizeof(path), w->up.root, NULL);
		if (statvfs(path, sv) < 0)
			return -errno;
		sv->f_flag &= ~(unsigned long)ST_RDONLY;
		return 0;
	}
	for (uint32_t i = 0; i < c->nlayers; i++)
		bytes += c->layers[i]->plain_size;
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = 4096;
	sv->f_frsize = 4096;
	sv->f_blocks = (fsblkcnt_t)((bytes + 4095) / 4096);
	sv->f_files = (fsfilcnt_t)w->tree->ninodes;
	sv->f_namemax = 255;
	sv->f_flag = ST_RDONLY;
	return 0;
}
