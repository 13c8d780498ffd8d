/*
 * FUSE low-level operations.  Each handler decodes the request, asks the
 * core, and replies exactly once.  The lower layers never change, so every
 * reply lets the kernel cache for a long time.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "fuse_ops.h"
#include "lfs.h"

#define MAX_READ (1 << 20)

static struct lfs_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct lfs_node *node_of(fuse_req_t req, fuse_ino_t ino)
{
	return lfs_tree_node(fs_of(req)->core->tree, ino);
}

static void fill_stat(const struct lfs_node *n, struct stat *st)
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

static void fill_entry(struct lfs_fs *fs, const struct lfs_node *n, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = n->ino;
	e->generation = 1;
	e->attr_timeout = fs->timeout;
	e->entry_timeout = fs->timeout;
	fill_stat(n, &e->attr);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct lfs_fs *fs = fs_of(req);
	struct lfs_node *d = node_of(req, parent), *n;
	struct fuse_entry_param e;

	if (!d) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (!d->dir) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	n = lfs_dir_lookup(d, name, strlen(name));
	if (!n) {
		/* A negative entry the kernel may cache as long as the rest. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	fill_entry(fs, n, &e);
	fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	/* Nodes live as long as the mount: nothing to release. */
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	(void)count;
	(void)forgets;
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lfs_node *n = node_of(req, ino);
	struct stat st;

	(void)fi;
	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	fill_stat(n, &st);
	fuse_reply_attr(req, &st, fs_of(req)->timeout);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct lfs_node *n = node_of(req, ino);

	if (!n)
		fuse_reply_err(req, ESTALE);
	else if (!S_ISLNK(n->mode))
		fuse_reply_err(req, EINVAL);
	else
		fuse_reply_readlink(req, n->link);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lfs_node *n = node_of(req, ino);

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (n->dir) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	const struct lfs_core *core = fs_of(req)->core;
	struct lfs_node *n = node_of(req, ino);
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(0);
	uint64_t pos;
	size_t len;
	ssize_t r;
	char *buf;
	int fd;

	(void)fi;
	if (!n || !S_ISREG(n->mode)) {
		fuse_reply_err(req, n ? EINVAL : ESTALE);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (size > MAX_READ)
		size = MAX_READ;
	/* Uncompressed layer: let the kernel splice straight from the file. */
	if (lfs_core_data_fd(core, n, (uint64_t)off, size, &fd, &pos, &len) == 0) {
		bv.buf[0].size = len;
		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
		bv.buf[0].fd = fd;
		bv.buf[0].pos = (off_t)pos;
		fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
		return;
	}
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = lfs_core_read(core, n, buf, size, (uint64_t)off);
	if (r < 0)
		fuse_reply_err(req, (int)-r);
	else
		fuse_reply_buf(req, buf, (size_t)r);
	free(buf);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct lfs_node *n = node_of(req, ino);

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (!n->dir) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

/* Offsets: 1 after ".", 2 after "..", 3+i after child i. */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
	struct lfs_fs *fs = fs_of(req);
	struct lfs_node *d = node_of(req, ino);
	char *buf, *p;
	size_t rem = size;

	if (!d || !d->dir) {
		fuse_reply_err(req, d ? ENOTDIR : ESTALE);
		return;
	}
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	p = buf;
	for (uint64_t i = (uint64_t)(off < 0 ? 0 : off); i < (uint64_t)d->dir->n + 2; i++) {
		const struct lfs_node *n;
		const char *name;
		size_t need;

		if (i == 0) {
			n = d;
			name = ".";
		} else if (i == 1) {
			n = d->parent ? d->parent : d;
			name = "..";
		} else {
			n = d->dir->ents[i - 2].node;
			name = d->dir->ents[i - 2].name;
		}
		if (plus) {
			struct fuse_entry_param e;

			fill_entry(fs, n, &e);
			need = fuse_add_direntry_plus(req, p, rem, name, &e, (off_t)(i + 1));
		} else {
			struct stat st = {.st_ino = n->ino, .st_mode = n->mode};

			need = fuse_add_direntry(req, p, rem, name, &st, (off_t)(i + 1));
		}
		if (need > rem)
			break;
		p += need;
		rem -= need;
	}
	fuse_reply_buf(req, buf, size - rem);
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

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	const struct lfs_core *c = fs_of(req)->core;
	struct statvfs sv;
	uint64_t bytes = 0;

	(void)ino;
	for (uint32_t i = 0; i < c->nlayers; i++)
		bytes += c->layers[i]->plain_size;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_blocks = (fsblkcnt_t)((bytes + 4095) / 4096);
	sv.f_files = (fsfilcnt_t)c->tree->ninodes;
	sv.f_namemax = 255;
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct lfs_node *n = node_of(req, ino);
	const void *val;
	size_t len;
	int rc;

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	rc = lfs_core_getxattr(n, name, &val, &len);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, len);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct lfs_node *n = node_of(req, ino);
	size_t need;
	char *buf;

	if (!n) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	need = lfs_core_listxattr(n, NULL, 0);
	if (size == 0) {
		fuse_reply_xattr(req, need);
		return;
	}
	if (size < need) {
		fuse_reply_err(req, ERANGE);
		return;
	}
	buf = malloc(need ? need : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	lfs_core_listxattr(n, buf, need);
	fuse_reply_buf(req, buf, need);
	free(buf);
}

/* The read-only mount: everything that would change the tree. */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	fuse_reply_err(req, EROFS);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	fuse_reply_err(req, EROFS);
}

static void op_remove(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	fuse_reply_err(req, EROFS);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	fuse_reply_err(req, EROFS);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	fuse_reply_err(req, EROFS);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, EROFS);
}

const struct fuse_lowlevel_ops lfs_fuse_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .readlink = op_readlink,
    .open = op_open,
    .read = op_read,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .statfs = op_statfs,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .setattr = op_setattr,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_remove,
    .rmdir = op_remove,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .create = op_create,
    .setxattr = op_setxattr,
    .removexattr = op_removexattr,
};
