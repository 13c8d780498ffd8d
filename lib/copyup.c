/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Copy-up: a lower entry becomes an upper one before it changes.  The copy
 * is built in the work directory (data, owner, xattrs, mode, then times) and
 * renamed into place in one step, so a crash leaves either no copy or a
 * whole one; the parent's times are put back, since a copy-up is not a
 * change the user made.  A file with several hard links is copied once and
 * linked under each of its names (the kernel with index=on keeps them
 * together the same way).  It uses only cow_nodes.c (where nodes are),
 * never the files that call it (cow.c, cow_ops.c).
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

#define COPY_CHUNK (1u << 20)

static void wrlock(struct lfs_cow *w)
{
	pthread_rwlock_wrlock(&w->lock);
}

static void unlock(struct lfs_cow *w)
{
	pthread_rwlock_unlock(&w->lock);
}

/* Copy bytes [OFF, OFF+LEN) of N's data to FD at the same offset. */
static int copy_range(struct lfs_cow *w, const struct lfs_node *n, int fd, uint64_t off,
		      uint64_t len, char **buf)
{
	while (len) {
		size_t want = len < COPY_CHUNK ? (size_t)len : COPY_CHUNK, got;
		uint64_t pos;
		ssize_t r;
		int sfd;

		if (lfs_core_data_fd(w->core, n, off, want, &sfd, &pos, &got) == 0 && got) {
			loff_t in = (loff_t)pos, out = (loff_t)off;

			r = copy_file_range(sfd, &in, fd, &out, got, 0);
			if (r > 0) {
				off += (uint64_t)r;
				len -= (uint64_t)r;
				continue;
			}
			if (r < 0 && errno != EXDEV && errno != EINVAL && errno != ENOSYS &&
			    errno != EOPNOTSUPP)
				return -errno;
		}
		if (!*buf)
			*buf = lfs_xmalloc(COPY_CHUNK);
		r = lfs_core_read(w->core, n, *buf, want, off);
		if (r < 0)
			return (int)r;
		if (r == 0)
			return -EIO;
		for (ssize_t done = 0; done < r;) {
			ssize_t wr =
			    pwrite(fd, *buf + done, (size_t)(r - done), (off_t)(off + done));

			if (wr < 0)
				return -errno;
			done += wr;
		}
		off += (uint64_t)r;
		len -= (uint64_t)r;
	}
	return 0;
}

static int copy_data(struct lfs_cow *w, const struct lfs_node *n, int fd)
{
	char *buf = NULL;
	int rc = 0;

	if (n->sparse) {
		/* Holes stay holes. */
		if (ftruncate(fd, (off_t)n->size) < 0)
			rc = -errno;
		for (uint32_t i = 0; rc == 0 && i < n->sparse->n; i++)
			rc = copy_range(w, n, fd, n->sparse->ext[i].off, n->sparse->ext[i].len,
					&buf);
	} else {
		rc = copy_range(w, n, fd, 0, n->size, &buf);
	}
	free(buf);
	return rc;
}

/* Owner, xattrs, mode and times of lower node N onto NAME in the work directory. */
static int copy_meta(struct lfs_cow *w, const struct lfs_node *n, const char *name)
{
	struct timespec ts[2];
	char path[64 + NAME_MAX];
	int work = w->up.work;

	if (w->chown_new && fchownat(work, name, n->uid, n->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	lfs_upper_procpath(path, sizeof(path), work, name);
	for (uint32_t i = 0; n->xattrs && i < n->xattrs->n; i++) {
		const struct lfs_xattr *x = &n->xattrs->x[i];

		if (lfs_upper_private_xattr(x->name))
			continue;
		if (lsetxattr(path, x->name, x->value, x->len, 0) < 0) {
			int e = errno;

			/* As the kernel: xattrs the upper cannot hold are dropped, except
			 * security.* */
			if ((e != EOPNOTSUPP && e != EPERM) || !strncmp(x->name, "security.", 9))
				return -e;
		}
	}
	if (!S_ISLNK(n->mode) && fchmodat(work, name, n->mode & 07777, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	ts[0].tv_sec = ts[1].tv_sec = n->mtime_sec;
	ts[0].tv_nsec = ts[1].tv_nsec = n->mtime_nsec;
	if (utimensat(work, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

/* Rename TMP into NAME in PFD, keeping PFD's times. */
static int place(struct lfs_cow *w, const char *tmp, int pfd, const char *name)
{
	struct timespec ts[2];
	struct stat pst;

	if (fstat(pfd, &pst) < 0)
		return -errno;
	if (renameat2(w->up.work, tmp, pfd, name, RENAME_NOREPLACE) < 0)
		return -errno;
	ts[0] = pst.st_atim;
	ts[1] = pst.st_mtim;
	lfs_cow_fd_times(pfd, ts);
	return 0;
}

int lfs_cow_copyup_dir(struct lfs_cow *w, struct lfs_node *d)
{
	struct lfs_node *x;

	if (!lfs_cow_is_upper(d) && lfs_cow_orphan(d))
		return lfs_cow_orphan_copyup_error(d);
	/* Ancestors first (iteratively: image paths can be thousands deep). */
	while (!lfs_cow_is_upper(d)) {
		char tmp[40];
		int pfd, rc;

		for (x = d; !lfs_cow_is_upper(x->parent);)
			x = x->parent;
		pfd = lfs_cow_dirfd(w, x->parent);
		if (pfd < 0)
			return pfd;
		lfs_upper_tmpname(&w->up, tmp);
		rc = mkdirat(w->up.work, tmp, 0700) < 0 ? -errno : 0;
		if (rc == 0)
			rc = copy_meta(w, x, tmp);
		if (rc == 0)
			rc = place(w, tmp, pfd, x->name);
		close(pfd);
		if (rc < 0) {
			lfs_upper_rmtree(w->up.work, tmp);
			return rc;
		}
		lfs_cow_dir_to_upper(w, x);
	}
	return 0;
}

/* The names N has now: all of them when it is hard-linked, else its one name. */
static size_t current_names(struct lfs_cow *w, struct lfs_node *n, struct lfs_cow_ref **out)
{
	if (n->nlink > 1)
		return lfs_cow_names(w, n, out);
	*out = lfs_xmalloc(sizeof(**out));
	if (lfs_cow_orphan(n))
		return 0;
	(*out)[0].dir = n->parent;
	(*out)[0].name = n->name;
	return 1;
}

static int build_copy(struct lfs_cow *w, const struct lfs_node *n, const char *tmp, int data)
{
	int work = w->up.work, fd, rc = 0;

	switch (n->mode & S_IFMT) {
	case S_IFREG:
		fd = openat(work, tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return -errno;
		if (data)
			rc = copy_data(w, n, fd);
		if (close(fd) < 0 && rc == 0)
			rc = -errno;
		break;
	case S_IFLNK:
		rc = symlinkat(n->link, work, tmp) < 0 ? -errno : 0;
		break;
	default:
		rc = mknodat(work, tmp, (n->mode & S_IFMT) | 0600, n->rdev) < 0 ? -errno : 0;
		break;
	}
	if (rc == 0)
		rc = copy_meta(w, n, tmp);
	return rc;
}

/* 1: copied up now, 0: it was already, or -errno. */
static int copyup_file(struct lfs_cow *w, struct lfs_node *n, int data)
{
	struct lfs_cow_ref *refs = NULL;
	char tmp[40];
	size_t k;
	int rc = 0, pfd;

	wrlock(w);
	if (lfs_cow_is_upper(n))
		goto out_locked;
	k = current_names(w, n, &refs);
	if (!k) {
		rc = lfs_cow_orphan_copyup_error(n);
		goto out_locked;
	}
	for (size_t i = 0; rc == 0 && i < k; i++)
		rc = lfs_cow_copyup_dir(w, refs[i].dir);
	free(refs);
	refs = NULL;
	unlock(w);
	if (rc < 0)
		return rc;

	/* The data: no namespace lock, only this node's stripe (held by the caller). */
	lfs_upper_tmpname(&w->up, tmp);
	rc = build_copy(w, n, tmp, data);
	if (rc < 0) {
		unlinkat(w->up.work, tmp, 0);
		return rc;
	}

	wrlock(w);
	/* Names only go away meanwhile: a rename or link would have copied up first. */
	k = current_names(w, n, &refs);
	if (!k) {
		unlinkat(w->up.work, tmp, 0);
		rc = lfs_cow_orphan_copyup_error(n);
		goto out_locked;
	}
	pfd = lfs_cow_dirfd(w, refs[0].dir);
	rc = pfd < 0 ? pfd : place(w, tmp, pfd, refs[0].name);
	if (rc < 0) {
		if (pfd >= 0)
			close(pfd);
		unlinkat(w->up.work, tmp, 0);
		goto out_locked;
	}
	for (size_t i = 1; rc == 0 && i < k; i++) {
		int qfd = lfs_cow_dirfd(w, refs[i].dir);
		struct timespec ts[2];
		struct stat qst;

		if (qfd < 0) {
			rc = qfd;
			break;
		}
		if (fstat(qfd, &qst) < 0 || linkat(pfd, refs[0].name, qfd, refs[i].name, 0) < 0)
			rc = -errno;
		ts[0] = qst.st_atim;
		ts[1] = qst.st_mtim;
		if (rc == 0)
			lfs_cow_fd_times(qfd, ts);
		close(qfd);
	}
	close(pfd);
	n->parent = refs[0].dir;
	n->name = refs[0].name;
	n->flags |= LFS_NF_UPPER;
	rc = rc < 0 ? rc : 1;
out_locked:
	unlock(w);
	free(refs);
	return rc;
}

int lfs_cow_copyup(struct lfs_cow *w, struct lfs_node *n, int data)
{
	pthread_mutex_t *m;
	int rc;

	if (!w->writable)
		return -EROFS;
	if (n->dir) {
		wrlock(w);
		rc = lfs_cow_copyup_dir(w, n);
		unlock(w);
		return rc;
	}
	m = &w->stripe[n->ino % LFS_COW_STRIPES];
	pthread_mutex_lock(m);
	rc = copyup_file(w, n, data);
	pthread_mutex_unlock(m);
	/*
	 * The kernel caches what the lower file said (st_nlink: the copy has
	 * only the names the tree shows; blocks, ctime); an open that copies
	 * up returns no attributes.
	 */
	if (rc > 0 && w->notify)
		w->notify(w->notify_ctx, n->ino);
	return rc < 0 ? rc : 0;
}
