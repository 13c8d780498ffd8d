/* SPDX-License-Identifier: Apache-2.0 */
/*
 * FUSE low-level operations.  Each handler decodes the request, asks the
 * mounted tree (cow.h), and replies exactly once.  Every change to the
 * tree goes through this mount, so the kernel keeps its caches coherent
 * itself and every reply lets it cache for a long time.
 *
 * File handles: fi->fh is 0 for a file read from the lower layers, else
 * the upper file's fd + 1, opened at OPEN: reads, writes, fsync and
 * ftruncate through a handle reach the file it opened, whatever happens to
 * its names since.
 *
 * Lookup counts: every reply that hands the kernel an entry (LOOKUP,
 * CREATE, MKNOD, MKDIR, SYMLINK, LINK, and each READDIRPLUS entry but "."
 * and "..") counts one reference in the tree (cow.h); FORGET gives them
 * back, and so does a reply the kernel did not take.  A node the kernel
 * forgot and the tree no longer names is freed.
 *
 * Round trips: a warm walk or read is served by the kernel's caches except
 * for the requests that open and close a file or directory.  Directories
 * need no handle, so OPENDIR answers ENOSYS and the kernel stops sending
 * it (and RELEASEDIR), caching the listing itself.  FLUSH has nothing to
 * do (writes go straight to the upper file), so it is left out and the
 * kernel stops sending it.  A read-only mount needs no file handle either:
 * OPEN answers ENOSYS there, and every read comes with fh 0.
 *
 * Owners: with --owners=user (the default when the daemon is not root)
 * every attribute the kernel gets shows the mounting user and group as
 * owner, and the owner's bits at least r, and x for a directory or a file
 * someone may execute (chmod u+rX): the kernel's permission checks
 * (default_permissions) then let that user read the whole image, as
 * umoci unpack --rootless does.  The daemon itself reads every lower file.
 * Not root, it then moves to a user namespace of its own once mounted,
 * mapping the user to 0 (layerfs.c): root there over its own files, it can
 * copy up and write into directories whose owner may not write (0555), as
 * the kernel's overlayfs mounted in a user namespace does.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fuse_ops.h"
#include "layerfs/lfs.h"

#define MAX_READ (1 << 20)

static struct lfs_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct lfs_cow *cow_of(fuse_req_t req)
{
	return fs_of(req)->cow;
}

static struct lfs_node *node_of(fuse_req_t req, fuse_ino_t ino)
{
	return lfs_cow_node(cow_of(req), ino);
}

static int fd_of(const struct fuse_file_info *fi)
{
	return fi && fi->fh ? (int)(fi->fh - 1) : -1;
}

/* What the kernel is told of ST (see Owners above). */
static void present(const struct lfs_fs *fs, struct stat *st)
{
	if (!fs->owners_user)
		return;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	if (S_ISLNK(st->st_mode))
		return;
	st->st_mode |= S_IRUSR;
	if (S_ISDIR(st->st_mode) || (st->st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
		st->st_mode |= S_IXUSR;
}

static void fill_entry(fuse_req_t req, const struct lfs_node *n, const struct stat *st,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->generation = 1;
	e->attr_timeout = fs_of(req)->timeout;
	e->entry_timeout = fs_of(req)->timeout;
	e->attr = *st;
	present(fs_of(req), &e->attr);
}

/* RC 0: N's entry, with the reference lfs_cow_* counted for it. */
static void reply_entry(fuse_req_t req, int rc, const struct lfs_node *n, const struct stat *st)
{
	struct fuse_entry_param e;

	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fill_entry(req, n, st, &e);
	if (fuse_reply_entry(req, &e) != 0)
		lfs_cow_forget(cow_of(req), e.ino, 1);
}

/* The kernel's cached attributes of INO are wrong: it asks again. */
static void notify_attr(void *ctx, uint64_t ino)
{
	struct lfs_fs *fs = ctx;

	if (fs->se)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct lfs_fs *fs = userdata;

	fs->no_open = fs->read_only && (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT);
	fs->no_opendir = !!(conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT);
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	/*
	 * Always READDIRPLUS: the attributes are in memory anyway.  With the
	 * kernel's "auto" mode only a directory's first batch carries them, so
	 * a walk then looks every later name of a big directory up, one round
	 * trip per name.
	 */
	if (conn->capable & FUSE_CAP_READDIRPLUS) {
		conn->want |= FUSE_CAP_READDIRPLUS;
		conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	}
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/* O_TRUNC comes with the open: a copy-up then skips the data, as the kernel's. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	lfs_cow_set_notify(fs->cow, notify_attr, fs);
}

/*
 * At unmount, with LAYERFS_STATS set in the environment: what the tree
 * holds, on stderr (the tests check that nodes are freed).
 */
static void op_destroy(void *userdata)
{
	struct lfs_fs *fs = userdata;
	struct lfs_cow_stats s;

	if (!getenv("LAYERFS_STATS"))
		return;
	lfs_cow_stats(fs->cow, &s);
	fprintf(stderr, "%s: stats: nodes %llu (peak %llu), orphans %llu, inode numbers %llu\n",
		lfs_progname, (unsigned long long)s.nodes, (unsigned long long)s.peak,
		(unsigned long long)s.orphans, (unsigned long long)s.inodes);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct lfs_node *n = NULL;
	struct stat st;
	int rc = lfs_cow_lookup(cow_of(req), parent, name, &n, &st);

	if (rc == -ENOENT) {
		/* A negative entry the kernel may cache: it hears of every change. */
		struct fuse_entry_param e;

		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs_of(req)->timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	reply_entry(req, rc, n, &st);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	lfs_cow_forget(cow_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		lfs_cow_forget(cow_of(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lfs_node *n = node_of(req, ino);
	int fd = fd_of(fi), rc;
	struct stat st;

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	/* An open upper file answers even once unlinked. */
	if (fd >= 0) {
		rc = fstat(fd, &st) < 0 ? -errno : 0;
		st.st_ino = n->ino;
	} else {
		rc = lfs_cow_getattr(cow_of(req), n, &st);
	}
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	present(fs_of(req), &st);
	fuse_reply_attr(req, &st, fs_of(req)->timeout);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	static const struct {
		int fuse, lfs;
	} map[] = {
	    {FUSE_SET_ATTR_MODE, LFS_SET_MODE},
	    {FUSE_SET_ATTR_UID, LFS_SET_UID},
	    {FUSE_SET_ATTR_GID, LFS_SET_GID},
	    {FUSE_SET_ATTR_SIZE, LFS_SET_SIZE},
	    {FUSE_SET_ATTR_ATIME, LFS_SET_ATIME},
	    {FUSE_SET_ATTR_MTIME, LFS_SET_MTIME},
	    {FUSE_SET_ATTR_ATIME_NOW, LFS_SET_ATIME_NOW},
	    {FUSE_SET_ATTR_MTIME_NOW, LFS_SET_MTIME_NOW},
	};
	struct lfs_node *n = node_of(req, ino);
	struct stat st;
	int set = 0, rc;

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	for (size_t i = 0; i < LFS_ARRAY_SIZE(map); i++)
		if (to_set & map[i].fuse)
			set |= map[i].lfs;
	/* In its own user namespace the daemon is the user as 0, and no one else. */
	if (fs_of(req)->own_userns && (set & (LFS_SET_UID | LFS_SET_GID))) {
		if (((set & LFS_SET_UID) && attr->st_uid != fs_of(req)->uid) ||
		    ((set & LFS_SET_GID) && attr->st_gid != fs_of(req)->gid)) {
			fuse_reply_err(req, EPERM);
			return;
		}
		attr->st_uid = 0;
		attr->st_gid = 0;
	}
	rc = lfs_cow_setattr(cow_of(req), n, fd_of(fi), attr, set, &st);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	present(fs_of(req), &st);
	fuse_reply_attr(req, &st, fs_of(req)->timeout);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct lfs_node *n = node_of(req, ino);
	char buf[PATH_MAX + 1];
	int rc;

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	rc = lfs_cow_readlink(cow_of(req), n, buf, sizeof(buf));
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_readlink(req, buf);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lfs_node *n = node_of(req, ino);
	int fd, rc;

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (fs_of(req)->no_open && (fi->flags & O_ACCMODE) == O_RDONLY && !(fi->flags & O_TRUNC)) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	rc = lfs_cow_open_file(cow_of(req), n, fi->flags, &fd);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = fd >= 0 ? (uint64_t)fd + 1 : 0;
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) != 0)
		lfs_cow_release(cow_of(req), n, fd);
}

static void reply_fd_data(fuse_req_t req, int fd, size_t size, off_t pos)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);

	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
	bv.buf[0].fd = fd;
	bv.buf[0].pos = pos;
	fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct lfs_cow *w = cow_of(req);
	struct lfs_node *n = node_of(req, ino);
	uint64_t pos;
	size_t len;
	ssize_t r;
	char *buf;
	int fd = fd_of(fi);

	if (!n || !S_ISREG(n->mode) || off < 0) {
		fuse_reply_err(req, !n ? ESTALE : EINVAL);
		return;
	}
	if (size > MAX_READ)
		size = MAX_READ;
	if (fd >= 0) {
		reply_fd_data(req, fd, size, off);
		return;
	}
	/* Uncompressed lower layer: let the kernel splice straight from the file. */
	if (lfs_cow_data_fd(w, n, (uint64_t)off, size, &fd, &pos, &len) == 0) {
		reply_fd_data(req, fd, len, (off_t)pos);
		return;
	}
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = lfs_cow_read(w, n, buf, size, (uint64_t)off);
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else
		fuse_reply_buf(req, buf, (size_t)r);
	free(buf);
}

static void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in, off_t off,
			 struct fuse_file_info *fi)
{
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	ssize_t r;

	(void)ino;
	if (fd_of(fi) < 0) {
		fuse_reply_err(req, EBADF);
		return;
	}
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = fd_of(fi);
	out.buf[0].pos = off;
	r = fuse_buf_copy(&out, in, 0);
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else
		fuse_reply_write(req, (size_t)r);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lfs_node *n = node_of(req, ino);

	if (n)
		lfs_cow_release(cow_of(req), n, fd_of(fi));
	else if (fd_of(fi) >= 0)
		close(fd_of(fi));
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	int fd = fd_of(fi), rc = 0;

	(void)ino;
	if (fd >= 0 && (datasync ? fdatasync(fd) : fsync(fd)) < 0)
		rc = errno;
	fuse_reply_err(req, rc);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	int fd = fd_of(fi);

	(void)ino;
	if (fd < 0)
		fuse_reply_err(req, EBADF);
	else
		fuse_reply_err(req, fallocate(fd, mode, off, len) < 0 ? errno : 0);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lfs_node *n = node_of(req, ino);

	if (!n || !n->dir) {
		fuse_reply_err(req, !n ? ESTALE : ENOTDIR);
		return;
	}
	if (fs_of(req)->no_opendir) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

struct dirbuf {
	fuse_req_t req;
	const struct lfs_fs *fs;
	char *p;
	size_t rem;
	int plus;
	double timeout;
	uint64_t *inos; /* READDIRPLUS: the entries that gained a reference */
	size_t ninos, capinos;
};

static int add_dirent(void *ctx, const char *name, const struct stat *st, uint64_t next)
{
	struct dirbuf *b = ctx;
	size_t need;

	if (b->plus) {
		struct fuse_entry_param e;

		memset(&e, 0, sizeof(e));
		e.ino = st->st_ino;
		e.generation = 1;
		e.attr_timeout = b->timeout;
		e.entry_timeout = b->timeout;
		e.attr = *st;
		present(b->fs, &e.attr);
		need = fuse_add_direntry_plus(b->req, b->p, b->rem, name, &e, (off_t)next);
	} else {
		need = fuse_add_direntry(b->req, b->p, b->rem, name, st, (off_t)next);
	}
	if (need > b->rem)
		return 1;
	b->p += need;
	b->rem -= need;
	if (b->plus && strcmp(name, ".") && strcmp(name, "..")) {
		if (b->ninos == b->capinos) {
			b->capinos = b->capinos ? b->capinos * 2 : 64;
			b->inos = lfs_xrealloc(b->inos, b->capinos * sizeof(*b->inos));
		}
		b->inos[b->ninos++] = st->st_ino;
	}
	return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
	struct lfs_node *d = node_of(req, ino);
	struct dirbuf b;
	char *buf;
	int rc;

	if (!d) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memset(&b, 0, sizeof(b));
	b.req = req;
	b.fs = fs_of(req);
	b.p = buf;
	b.rem = size;
	b.plus = plus;
	b.timeout = fs_of(req)->timeout;
	rc = lfs_cow_readdir(cow_of(req), d, (uint64_t)(off < 0 ? 0 : off), plus, add_dirent, &b);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else if (fuse_reply_buf(req, buf, size - b.rem) != 0)
		for (size_t i = 0; i < b.ninos; i++)
			lfs_cow_forget(cow_of(req), b.inos[i], 1);
	free(b.inos);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, 1);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	int rc = lfs_cow_statfs(cow_of(req), &sv);

	(void)ino;
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_statfs(req, &sv);
}

/* Answer an xattr query: the size alone when SIZE is 0, else the bytes. */
static void reply_xattr(fuse_req_t req, ssize_t r, const char *buf, size_t size)
{
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)r);
	else
		fuse_reply_buf(req, buf, (size_t)r);
}

/* NAME: the xattr to get, or NULL to list them. */
static void do_xattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct lfs_node *n = node_of(req, ino);
	char *buf = NULL;
	ssize_t r;

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (size && !(buf = malloc(size))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (name)
		r = lfs_cow_getxattr(cow_of(req), n, name, buf, size);
	else
		r = lfs_cow_listxattr(cow_of(req), n, buf, size);
	reply_xattr(req, r, buf, size);
	free(buf);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	do_xattr(req, ino, name, size);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	do_xattr(req, ino, NULL, size);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	struct lfs_node *n = node_of(req, ino);

	if (!n)
		fuse_reply_err(req, ESTALE);
	else
		fuse_reply_err(req, -lfs_cow_setxattr(cow_of(req), n, name, value, size, flags));
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct lfs_node *n = node_of(req, ino);

	if (!n)
		fuse_reply_err(req, ESTALE);
	else
		fuse_reply_err(req, -lfs_cow_removexattr(cow_of(req), n, name));
}

/* Create NAME in PARENT as NW describes, with the caller as owner. */
static int do_create(fuse_req_t req, fuse_ino_t parent, const char *name, struct lfs_cow_new *nw,
		     struct lfs_node **n, struct stat *st, int *fd)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	nw->uid = ctx->uid;
	nw->gid = ctx->gid;
	return lfs_cow_create(cow_of(req), parent, name, nw, n, st, fd);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct lfs_cow_new nw = {.mode = mode, .rdev = rdev};
	struct lfs_node *n = NULL;
	struct stat st;
	int fd, rc;

	if (S_ISREG(mode) || (mode & S_IFMT) == 0)
		nw.mode = S_IFREG | (mode & 07777);
	rc = do_create(req, parent, name, &nw, &n, &st, &fd);
	if (fd >= 0)
		lfs_cow_release(cow_of(req), n, fd);
	reply_entry(req, rc, n, &st);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct lfs_cow_new nw = {.mode = S_IFDIR | (mode & 07777)};
	struct lfs_node *n = NULL;
	struct stat st;
	int fd;
	int rc = do_create(req, parent, name, &nw, &n, &st, &fd);

	reply_entry(req, rc, n, &st);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct lfs_cow_new nw = {.mode = S_IFLNK | 0777, .link = link};
	struct lfs_node *n = NULL;
	struct stat st;
	int fd;
	int rc = do_create(req, parent, name, &nw, &n, &st, &fd);

	reply_entry(req, rc, n, &st);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct lfs_cow_new nw = {.mode = S_IFREG | (mode & 07777), .flags = fi->flags};
	struct fuse_entry_param e;
	struct lfs_node *n = NULL;
	struct stat st;
	int fd, rc = do_create(req, parent, name, &nw, &n, &st, &fd);

	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fill_entry(req, n, &st, &e);
	fi->fh = (uint64_t)fd + 1;
	if (fuse_reply_create(req, &e, fi) != 0) {
		lfs_cow_release(cow_of(req), n, fd);
		lfs_cow_forget(cow_of(req), e.ino, 1);
	}
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct lfs_node *n = node_of(req, ino);
	struct stat st;
	int rc;

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	rc = lfs_cow_link(cow_of(req), n, newparent, newname, &st);
	reply_entry(req, rc, n, &st);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -lfs_cow_unlink(cow_of(req), parent, name, 0));
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -lfs_cow_unlink(cow_of(req), parent, name, 1));
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	fuse_reply_err(req, -lfs_cow_rename(cow_of(req), parent, name, newparent, newname, flags));
}

const struct fuse_lowlevel_ops lfs_fuse_ops = {
    .init = op_init,
    .destroy = op_destroy,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .readlink = op_readlink,
    .open = op_open,
    .read = op_read,
    .write_buf = op_write_buf,
    .release = op_release,
    .fsync = op_fsync,
    .fallocate = op_fallocate,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .fsyncdir = op_fsyncdir,
    .statfs = op_statfs,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .setxattr = op_setxattr,
    .removexattr = op_removexattr,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .symlink = op_symlink,
    .create = op_create,
    .link = op_link,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .rename = op_rename,
};
