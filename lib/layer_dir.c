/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The directory front end: a plain directory as a layer, read in place like
 * an overlayfs lowerdir (not tarred, never cached: it may change).  A walk
 * with openat/fdopendir and fstatat hands every entry to the builder, with
 * the meaning the kernel gives a lowerdir: a 0:0 character device is a
 * whiteout, trusted.overlay.opaque (or user.overlay.opaque) "y" makes a
 * directory opaque, ".wh." names are ordinary files, and names with the same
 * inode are one file (hard links).  File data is read from the file at its
 * path, opened below the layer's directory without following any symlink.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#include "layerfs/layer.h"
#include "layer_int.h"
#include "layerfs/lfs.h"

#define SHOWN	   LFS_SHOWN
#define XLIST_MAX  65536 /* XATTR_LIST_MAX */
#define XVALUE_MAX 65536 /* XATTR_SIZE_MAX */

/* What the layer keeps to serve data: a regular file's data_off is its number here. */
struct dirlayer {
	int dfd;	    /* the layer's directory */
	const char **paths; /* relative paths, in the arena */
	size_t npaths, cap;
};

/* A file with several names: the path of the first, for the others to link to. */
struct seen {
	dev_t dev;
	ino_t ino;
	const char *path; /* NULL: free slot */
};

struct walker {
	struct lfs_layer *l;
	struct dirlayer *d;
	struct lfs_builder b;
	const struct lfs_layer_opts *opts;
	char path[PATH_MAX + NAME_MAX + 2]; /* of the entry at hand, relative */
	size_t plen;
	struct seen *seen; /* open addressing over (dev, ino) */
	size_t nseen, capseen;
	char *xlist; /* XLIST_MAX bytes */
	char *vals;  /* the values, one after the other */
	size_t vcap;
	struct lfs_xattr *xv;
	size_t xcap;
};

/* openat2 without following symlinks or leaving DFD: -errno, or the fd. */
static int open_beneath(int dfd, const char *path, int flags)
{
	struct open_how how = {.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
			       .resolve =
				   RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
	char comp[NAME_MAX + 1];
	const char *p = path, *s;
	int fd, cur, e;

	fd = (int)syscall(SYS_openat2, dfd, path, &how, sizeof(how));
	if (fd >= 0 || errno != ENOSYS)
		return fd >= 0 ? fd : -errno;
	/* No openat2: one component at a time, none followed. */
	cur = dfd;
	for (;;) {
		s = p;
		p += strcspn(p, "/");
		if (p - s > NAME_MAX) {
			e = -ENAMETOOLONG;
			break;
		}
		memcpy(comp, s, (size_t)(p - s));
		comp[p - s] = '\0';
		fd = openat(cur, comp,
			    (*p ? O_RDONLY | O_DIRECTORY : flags) | O_NOFOLLOW | O_CLOEXEC);
		e = fd < 0 ? -errno : 0;
		if (cur != dfd)
			close(cur);
		if (fd < 0 || !*p)
			break;
		cur = fd;
		p++;
	}
	return e < 0 ? e : fd;
}

static ssize_t dir_pread(const struct lfs_layer *l, const struct lfs_node *n, void *buf, size_t len,
			 uint64_t off)
{
	const struct dirlayer *d = l->priv;
	char s[SHOWN];
	ssize_t r;
	int fd;

	if (n->data_off >= d->npaths)
		return -EIO;
	fd = open_beneath(d->dfd, d->paths[n->data_off], O_RDONLY | O_NONBLOCK);
	if (fd < 0) {
		lfs_err_set("%s: '%s': %s", l->name, lfs_show(d->paths[n->data_off], s, sizeof(s)),
			    strerror(-fd));
		return fd;
	}
	r = pread(fd, buf, len, (off_t)off);
	if (r < 0)
		r = -errno;
	close(fd);
	return r;
}

/* Xattrs of NAME in DIRFD into E, for the builder (valid until the next call). */
static int get_xattrs(struct walker *w, int dirfd, const char *name, struct lfs_entry *e)
{
	char p[64 + NAME_MAX];
	ssize_t n;
	size_t k = 0, vlen = 0;

	/* No llistxattrat in glibc: the directory's /proc name, NAME itself not followed. */
	snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dirfd, name);
	n = llistxattr(p, w->xlist, XLIST_MAX);
	if (n < 0)
		return errno == ENOTSUP ? 0 : -errno;
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(w->xlist + i) + 1)
		k++;
	if (k > w->xcap) {
		w->xcap = k;
		w->xv = lfs_xrealloc(w->xv, k * sizeof(*w->xv));
	}
	k = 0;
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(w->xlist + i) + 1) {
		ssize_t v;

		if (w->vcap - vlen < XVALUE_MAX) {
			w->vcap = vlen + XVALUE_MAX;
			w->vals = lfs_xrealloc(w->vals, w->vcap);
		}
		v = lgetxattr(p, w->xlist + i, w->vals + vlen, XVALUE_MAX);
		if (v < 0) {
			if (errno == ENODATA) /* gone since the list */
				continue;
			return -errno;
		}
		w->xv[k].name = w->xlist + i;
		w->xv[k].value =
		    (const void *)(uintptr_t)vlen; /* an offset until vals stops moving */
		w->xv[k].len = (size_t)v;
		vlen += (size_t)v;
		k++;
	}
	for (size_t i = 0; i < k; i++)
		w->xv[i].value = w->vals + (uintptr_t)w->xv[i].value;
	e->xattrs = w->xv;
	e->nxattrs = k;
	return 0;
}

/* The first name of a file with several: NULL the first time (then PATH is kept). */
static const char *first_name(struct walker *w, const struct stat *st, const char *path)
{
	size_t mask, i;

	if (w->nseen * 2 >= w->capseen) {
		struct seen *old = w->seen;
		size_t oldcap = w->capseen;

		w->capseen = oldcap ? oldcap * 2 : 256;
		w->seen = lfs_xcalloc(w->capseen, sizeof(*w->seen));
		for (size_t j = 0; j < oldcap; j++) {
			if (!old[j].path)
				continue;
			for (i = (size_t)(old[j].ino * 0x9e3779b97f4a7c15ull) & (w->capseen - 1);
			     w->seen[i].path; i = (i + 1) & (w->capseen - 1))
				;
			w->seen[i] = old[j];
		}
		free(old);
	}
	mask = w->capseen - 1;
	for (i = (size_t)(st->st_ino * 0x9e3779b97f4a7c15ull) & mask; w->seen[i].path;
	     i = (i + 1) & mask)
		if (w->seen[i].ino == st->st_ino && w->seen[i].dev == st->st_dev)
			return w->seen[i].path;
	w->seen[i] = (struct seen){st->st_dev, st->st_ino, path};
	w->nseen++;
	return NULL;
}

/* Give regular file N the number of its path in the table (data read from there). */
static void keep_path(struct walker *w, struct lfs_node *n, const char *path)
{
	struct dirlayer *d = w->d;

	if (d->npaths == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 1024;
		d->paths = lfs_xrealloc(d->paths, d->cap * sizeof(*d->paths));
	}
	d->paths[d->npaths] = path;
	n->data_off = d->npaths++;
	w->l->plain_size += n->size;
}

/* xxh3-128 of N's data, read as a mount would (reports). */
static int hash_file(struct walker *w, struct lfs_node *n)
{
	struct lfs_hash128 *h = lfs_arena_alloc(w->l->arena, sizeof(*h));
	XXH3_state_t *st = XXH3_createState();
	char *buf = lfs_xmalloc(1 << 16);
	uint64_t off = 0;
	XXH128_hash_t r;
	char s[SHOWN];
	int rc = 0;

	XXH3_128bits_reset(st);
	while (off < n->size) {
		ssize_t got = dir_pread(w->l, n, buf, 1 << 16, off);

		if (got <= 0) {
			rc = got < 0 ? (int)got : -EIO;
			if (!got)
				lfs_err_set("%s: '%s' shrank while being read", w->l->name,
					    lfs_show(w->path, s, sizeof(s)));
			break;
		}
		XXH3_128bits_update(st, buf, (size_t)got);
		off += (uint64_t)got;
	}
	r = XXH3_128bits_digest(st);
	XXH3_freeState(st);
	free(buf);
	h->lo = r.low64;
	h->hi = r.high64;
	n->hash = h;
	return rc;
}

/* A system call failed with RC at the entry at hand: say where. */
static int sys_fail(struct walker *w, int rc)
{
	char s[SHOWN];

	lfs_err_set("%s: '%s': %s", w->l->name, lfs_show(w->plen ? w->path : ".", s, sizeof(s)),
		    strerror(-rc));
	return rc;
}

/* One entry NAME of DIRFD (its path is w->path), with ST its lstat. */
static int add_one(struct walker *w, int dirfd, const char *name, const struct stat *st)
{
	char link[PATH_MAX + 1];
	struct lfs_entry e = {0};
	struct lfs_node *n;
	const char *path = NULL;
	int rc;

	e.path = w->path;
	e.mode = st->st_mode;
	e.uid = st->st_uid;
	e.gid = st->st_gid;
	e.mtime_sec = st->st_mtim.tv_sec;
	e.mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	e.size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
	e.rdev = st->st_rdev;
	if (S_ISLNK(st->st_mode)) {
		ssize_t r = readlinkat(dirfd, name, link, sizeof(link) - 1);

		if (r < 0)
			return sys_fail(w, -errno);
		link[r] = '\0';
		e.link = link;
	}
	if (!S_ISDIR(st->st_mode) && st->st_nlink > 1 && w->plen) {
		path = lfs_arena_strndup(w->l->arena, w->path, w->plen);
		e.hardlink = first_name(w, st, path);
	}
	rc = get_xattrs(w, dirfd, name, &e);
	if (rc < 0)
		return sys_fail(w, rc);
	w->l->nentries++;
	rc = lfs_build_add(&w->b, &e, &n);
	if (rc < 0 || !n)
		return rc;
	if (!path)
		path = lfs_arena_strndup(w->l->arena, w->path, w->plen);
	keep_path(w, n, path);
	return w->l->hashed ? hash_file(w, n) : 0;
}

/* The entries of directory DFD (at w->path), and below. */
static int walk(struct walker *w, int dfd)
{
	DIR *dir = fdopendir(dfd);
	size_t base = w->plen;
	struct dirent *de;
	struct stat st;
	int rc = 0;

	if (!dir) {
		rc = sys_fail(w, -errno);
		close(dfd);
		return rc;
	}
	while (rc == 0) {
		size_t len;

		if (w->opts && w->opts->cancel && *w->opts->cancel) {
			rc = -ECANCELED;
			break;
		}
		errno = 0;
		de = readdir(dir);
		if (!de) {
			rc = errno ? sys_fail(w, -errno) : 0;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		len = strlen(de->d_name);
		if (base + 1 + len >= sizeof(w->path)) {
			char s[SHOWN];

			lfs_warn("%s: skipping '%s/...': a path longer than %d bytes", w->l->name,
				 lfs_show(w->path, s, sizeof(s)), PATH_MAX);
			continue;
		}
		w->plen = base;
		if (base)
			w->path[w->plen++] = '/';
		memcpy(w->path + w->plen, de->d_name, len + 1);
		w->plen += len;
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = sys_fail(w, -errno);
			break;
		}
		rc = add_one(w, dirfd(dir), de->d_name, &st);
		if (rc == 0 && S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd(dir), de->d_name,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			rc = fd < 0 ? sys_fail(w, -errno) : walk(w, fd);
		}
	}
	w->plen = base;
	w->path[base] = '\0';
	closedir(dir);
	return rc;
}

static int dir_index(struct lfs_layer *l, const struct lfs_layer_desc *desc,
		     const struct lfs_layer_opts *opts)
{
	struct walker w = {.l = l, .opts = opts};
	struct dirlayer *d = lfs_xcalloc(1, sizeof(*d));
	struct stat st;
	int rc, fd;

	l->priv = d;
	l->hashed = opts && opts->hash_content;
	d->dfd = fcntl(desc->fd, F_DUPFD_CLOEXEC, 0);
	if (d->dfd < 0 || fstat(d->dfd, &st) < 0) {
		rc = -errno;
		lfs_err_set("%s: %s", l->name, strerror(-rc));
		return rc;
	}
	lfs_build_init(&w.b, l, 0);
	w.d = d;
	w.xlist = lfs_xmalloc(XLIST_MAX);
	/* The root: its own metadata and xattrs ("." of the layer). */
	rc = add_one(&w, d->dfd, ".", &st);
	fd = rc < 0 ? -1 : openat(d->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rc == 0)
		rc = fd < 0 ? sys_fail(&w, -errno) : walk(&w, fd);
	l->stored_size = l->plain_size;
	lfs_build_free(&w.b);
	free(w.xlist);
	free(w.vals);
	free(w.xv);
	free(w.seen);
	return rc;
}

static void dir_free(struct lfs_layer *l)
{
	struct dirlayer *d = l->priv;

	if (!d)
		return;
	if (d->dfd >= 0)
		close(d->dfd);
	free(d->paths);
	free(d);
	l->priv = NULL;
}

static int dir_probe(const struct lfs_layer_desc *desc, const struct stat *st)
{
	(void)desc;
	return S_ISDIR(st->st_mode);
}

const struct lfs_layer_ops lfs_layer_dir = {
    .name = "dir",
    .probe = dir_probe,
    .cacheable = 0,
    .index = dir_index,
    .pread = dir_pread,
    .free = dir_free,
};
