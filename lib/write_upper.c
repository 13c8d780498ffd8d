/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An overlayfs upper directory read as a layer, for layerfs-commit: a walk
 * of the directory hands every entry to the layer builder (layer_build.c)
 * with ".wh." names taken as whiteouts, so both whiteout forms (0:0
 * character devices as the kernel and layerfs write them, ".wh." files
 * where mknod is refused) and the opaque markers (the overlay xattr or
 * ".wh..wh..opq") become the layer's whiteouts and opaque directories; the
 * rules of what they hide stay in the merge.  File data is read from the
 * file at its path.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "layer_int.h"
#include "layerfs/layer.h"
#include "layerfs/lfs.h"
#include "layerfs/write.h"

#define XLIST_MAX  65536
#define XVALUE_MAX 65536

struct upriv {
	int dfd;
	char **paths;
	size_t n, cap;
	int cur_fd; /* the file last read, kept open */
	size_t cur;
};

struct seen {
	dev_t dev;
	ino_t ino;
	char *path;
};

struct uwalk {
	struct lfs_layer *l;
	struct upriv *p;
	struct lfs_builder b;
	char path[PATH_MAX + NAME_MAX + 2];
	size_t plen;
	struct seen *seen;
	size_t nseen, capseen;
	char *xlist, *vals;
	struct lfs_xattr *xv;
	size_t xcap;
};

static int fail(struct uwalk *w, int rc, const char *what)
{
	char shown[256];

	return lfs_error(rc, "%s/%s: %s%s", w->l->name, lfs_show(w->path, shown, sizeof(shown)),
			 what ? what : "", what ? "" : strerror(-rc));
}

static int get_xattrs(struct uwalk *w, int dirfd, const char *name, struct lfs_entry *e)
{
	char p[64 + NAME_MAX];
	ssize_t n;
	size_t k = 0;

	/* NAME itself not followed (a symlink's own xattrs) */
	snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dirfd, name);
	n = llistxattr(p, w->xlist, XLIST_MAX);
	if (n < 0)
		return errno == ENOTSUP || errno == ENODATA ? 0 : -errno;
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(w->xlist + i) + 1) {
		const char *x = w->xlist + i;
		ssize_t v;

		if (!strcmp(x, "trusted.overlay.metacopy") || !strcmp(x, "user.overlay.metacopy") ||
		    !strcmp(x, "trusted.overlay.redirect") || !strcmp(x, "user.overlay.redirect"))
			return fail(w, -ENOTSUP,
				    "written by overlayfs with metacopy or redirect_dir, which "
				    "cannot be committed");
		if (!w->vals)
			w->vals = lfs_xmalloc(XVALUE_MAX);
		v = lgetxattr(p, x, w->vals, XVALUE_MAX);
		if (v < 0)
			continue;
		if (k == w->xcap) {
			w->xcap = w->xcap ? 2 * w->xcap : 16;
			w->xv = lfs_xrealloc(w->xv, w->xcap * sizeof(*w->xv));
		}
		w->xv[k].name = lfs_arena_strndup(w->l->arena, x, strlen(x));
		w->xv[k].value = lfs_arena_memdup(w->l->arena, w->vals, (size_t)v);
		w->xv[k].len = (size_t)v;
		k++;
	}
	e->xattrs = w->xv;
	e->nxattrs = k;
	return 0;
}

/* The first path of a file with several names (NULL: this is the first). */
static const char *first_name(struct uwalk *w, const struct stat *st)
{
	for (size_t i = 0; i < w->nseen; i++)
		if (w->seen[i].dev == st->st_dev && w->seen[i].ino == st->st_ino)
			return w->seen[i].path;
	if (w->nseen == w->capseen) {
		w->capseen = w->capseen ? 2 * w->capseen : 16;
		w->seen = lfs_xrealloc(w->seen, w->capseen * sizeof(*w->seen));
	}
	w->seen[w->nseen].dev = st->st_dev;
	w->seen[w->nseen].ino = st->st_ino;
	w->seen[w->nseen++].path = lfs_xstrdup(w->path);
	return NULL;
}

static int add_one(struct uwalk *w, int dirfd, const char *name, const struct stat *st)
{
	char link[PATH_MAX + 1];
	struct lfs_entry e = {0};
	struct lfs_node *n;
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
			return fail(w, -errno, NULL);
		link[r] = '\0';
		e.link = link;
	}
	if (!S_ISDIR(st->st_mode) && st->st_nlink > 1)
		e.hardlink = first_name(w, st);
	rc = get_xattrs(w, dirfd, name, &e);
	if (rc < 0)
		return rc;
	w->l->nentries++;
	rc = lfs_build_add(&w->b, &e, &n);
	if (rc < 0 || !n)
		return rc;
	if (w->p->n == w->p->cap) {
		w->p->cap = w->p->cap ? 2 * w->p->cap : 64;
		w->p->paths = lfs_xrealloc(w->p->paths, w->p->cap * sizeof(char *));
	}
	n->data_off = w->p->n;
	w->p->paths[w->p->n++] = lfs_xstrdup(w->path);
	return 0;
}

static int walk(struct uwalk *w, int dfd)
{
	DIR *dir = fdopendir(dfd);
	size_t base = w->plen;
	struct dirent *de;
	int rc = 0;

	if (!dir) {
		close(dfd);
		return fail(w, -errno, NULL);
	}
	while (rc == 0 && (de = readdir(dir)) != NULL) {
		struct stat st;
		size_t len = strlen(de->d_name);

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (base + 1 + len >= sizeof(w->path)) {
			rc = fail(w, -ENAMETOOLONG, NULL);
			break;
		}
		w->plen = (size_t)snprintf(w->path + base, sizeof(w->path) - base, "%s%s",
					   base ? "/" : "", de->d_name) +
			  base;
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = fail(w, -errno, NULL);
			break;
		}
		rc = add_one(w, dirfd(dir), de->d_name, &st);
		if (rc == 0 && S_ISDIR(st.st_mode)) {
			int cfd = openat(dirfd(dir), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			rc = cfd < 0 ? fail(w, -errno, NULL) : walk(w, cfd);
		}
		w->plen = base;
		w->path[base] = '\0';
	}
	closedir(dir);
	return rc;
}

static ssize_t upper_pread(const struct lfs_layer *l, const struct lfs_node *n, void *buf,
			   size_t len, uint64_t off)
{
	struct upriv *p = l->priv;
	ssize_t r;

	if (n->data_off >= p->n)
		return -EINVAL;
	if (p->cur_fd < 0 || p->cur != n->data_off) {
		if (p->cur_fd >= 0)
			close(p->cur_fd);
		p->cur = n->data_off;
		p->cur_fd = openat(p->dfd, p->paths[p->cur], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (p->cur_fd < 0) {
			r = -errno;
			return lfs_error((int)r, "%s/%s: %s", l->name, p->paths[p->cur],
					 strerror(errno));
		}
	}
	do
		r = pread(p->cur_fd, buf, len, (off_t)off);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static void upper_free(struct lfs_layer *l)
{
	struct upriv *p = l->priv;

	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->paths[i]);
	free(p->paths);
	if (p->cur_fd >= 0)
		close(p->cur_fd);
	if (p->dfd >= 0)
		close(p->dfd);
	free(p);
}

static const struct lfs_layer_ops upper_ops = {
    .name = "upper",
    .pread = upper_pread,
    .free = upper_free,
};

int lfs_upper_layer(struct lfs_layer **out, const char *dir, uint32_t index)
{
	struct lfs_layer *l = lfs_xcalloc(1, sizeof(*l));
	struct upriv *p = lfs_xcalloc(1, sizeof(*p));
	struct uwalk w = {.l = l, .p = p};
	struct stat st;
	int rc, fd;

	l->index = index;
	l->name = lfs_xstrdup(dir);
	l->arena = lfs_arena_new();
	l->root = lfs_dir_new(l->arena, NULL);
	l->root->flags = LFS_NF_IMPLIED;
	l->root->layer = index;
	l->ops = &upper_ops;
	l->priv = p;
	p->cur_fd = -1;
	p->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p->dfd < 0 || fstat(p->dfd, &st) < 0) {
		rc = lfs_error(-errno, "%s: %s", dir, strerror(errno));
		lfs_layer_free(l);
		return rc;
	}
	lfs_build_init(&w.b, l, 1);
	w.xlist = lfs_xmalloc(XLIST_MAX);
	strcpy(w.path, ".");
	rc = add_one(&w, p->dfd, ".", &st);
	w.path[0] = '\0';
	fd = rc < 0 ? -1 : openat(p->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rc == 0)
		rc = fd < 0 ? -errno : walk(&w, fd);
	lfs_build_free(&w.b);
	free(w.xlist);
	free(w.vals);
	free(w.xv);
	for (size_t i = 0; i < w.nseen; i++)
		free(w.seen[i].path);
	free(w.seen);
	if (rc < 0) {
		lfs_layer_free(l);
		return rc;
	}
	*out = l;
	return 0;
}
