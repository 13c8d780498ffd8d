/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Setting up the mounted tree: the upper and work directories, the root
 * (always merged with the upper directory, as in the kernel's overlayfs),
 * and an existing upper directory read back as the top layer, so that a
 * later mount continues where an earlier one (or the kernel) stopped.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cow_int.h"
#include "layerfs/lfs.h"

/* Upper files with several links seen so far (st_ino -> node). */
struct linkent {
	ino_t ino;
	struct lfs_node *node;
};

struct linkmap {
	struct linkent *v;
	size_t n, cap;
};

static struct lfs_node *linkmap_get(const struct linkmap *m, ino_t ino)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].ino == ino)
			return m->v[i].node;
	return NULL;
}

static void linkmap_put(struct linkmap *m, ino_t ino, struct lfs_node *n)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 16;
		m->v = lfs_xrealloc(m->v, m->cap * sizeof(*m->v));
	}
	m->v[m->n].ino = ino;
	m->v[m->n++].node = n;
}

/* Reading an upper directory back: what is carried down the walk. */
struct load {
	struct lfs_cow *w;
	struct linkmap links;
	int redirects;	     /* directories with a redirect xattr */
	bool refused;	     /* the upper cannot be served: the message is set */
	char path[PATH_MAX]; /* of the directory being read, below the upper root */
	size_t plen;
};

static int load_dir(struct load *l, struct lfs_node *d, int fd);

static bool has_xattr(const char *path, const char *name)
{
	return lgetxattr(path, name, NULL, 0) >= 0;
}

/*
 * A regular file that the kernel's metacopy=on copied up for its metadata
 * only: the upper file is a sparse placeholder, its data is in a lower
 * layer.  Serving it would show NUL bytes; refuse the upper directory, with
 * the first such file named.
 */
static int check_metacopy(struct load *l, int fd, const char *name, const struct stat *st)
{
	char path[64 + NAME_MAX], sb[256], list[1024];
	ssize_t n;

	if (!S_ISREG(st->st_mode) || st->st_size == 0)
		return 0;
	lfs_upper_procpath(path, sizeof(path), fd, name);
	/* One call per file: most have no xattr at all, and an upper may hold many files. */
	n = llistxattr(path, list, sizeof(list));
	if (n == 0 || (n < 0 && errno != ERANGE))
		return 0;
	if (n > 0) {
		bool found = false;

		for (const char *x = list; x < list + n; x += strlen(x) + 1)
			found = found || !strcmp(x, "trusted.overlay.metacopy") ||
				!strcmp(x, "user.overlay.metacopy");
		if (!found)
			return 0;
	} else if (!has_xattr(path, "trusted.overlay.metacopy") &&
		   !has_xattr(path, "user.overlay.metacopy")) {
		return 0;
	}
	snprintf(path, sizeof(path), "%.*s%s%s", (int)l->plen, l->path, l->plen ? "/" : "", name);
	l->refused = true;
	return lfs_error(-ENOTSUP,
			 "the upper directory was written by overlayfs with metacopy=on (%s "
			 "holds only metadata; its data is in a lower layer), which layerfs "
			 "cannot read",
			 lfs_show(path, sb, sizeof(sb)));
}

/* Entry NAME of the upper directory FD, which is merged node D. */
static int load_entry(struct load *l, struct lfs_node *d, int fd, const char *name)
{
	struct lfs_node *old = lfs_dir_lookup(d, name, strlen(name)), *n;
	struct lfs_cow *w = l->w;
	struct stat st;
	size_t plen = l->plen;
	int cfd, rc, opq;

	if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
		lfs_dir_remove(d, name, strlen(name));
		return 0;
	}
	if (!strncmp(name, ".wh.", 4)) {
		if (strcmp(name, ".wh..wh..opq") != 0)
			lfs_dir_remove(d, name + 4, strlen(name + 4));
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		rc = check_metacopy(l, fd, name, &st);
		if (rc < 0)
			return rc;
		n = st.st_nlink > 1 ? linkmap_get(&l->links, st.st_ino) : NULL;
		if (!n) {
			n = lfs_node_new(w->arena, st.st_mode);
			n->flags = LFS_NF_UPPER;
			lfs_cow_add_inode(w, n);
			if (st.st_nlink > 1)
				linkmap_put(&l->links, st.st_ino, n);
			lfs_cow_name_node(w, d, name, n, 1);
		} else {
			lfs_cow_name_node(w, d, name, n, 0);
		}
		return 0;
	}
	opq = lfs_upper_is_opaque(&w->up, fd, name);
	if (opq < 0)
		return opq;
	{
		char path[64 + NAME_MAX];

		lfs_upper_procpath(path, sizeof(path), fd, name);
		if (has_xattr(path, "trusted.overlay.redirect") ||
		    has_xattr(path, "user.overlay.redirect"))
			l->redirects++;
	}
	if (old && old->dir && !opq && !lfs_cow_is_upper(old)) {
		lfs_cow_dir_to_upper(w, old);
		n = old;
	} else {
		n = lfs_dir_new(w->arena, d);
		n->flags = LFS_NF_UPPER;
		lfs_cow_add_inode(w, n);
		lfs_cow_name_node(w, d, name, n, 1);
	}
	n->mode = st.st_mode;
	cfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cfd < 0)
		return -errno;
	/* The path is only for messages: a deeper one is cut short. */
	if (plen + 1 + strlen(name) < sizeof(l->path))
		l->plen += (size_t)snprintf(l->path + plen, sizeof(l->path) - plen, "%s%s",
					    plen ? "/" : "", name);
	rc = load_dir(l, n, cfd);
	l->plen = plen;
	close(cfd);
	return rc;
}

static int load_dir(struct load *l, struct lfs_node *d, int fd)
{
	struct dirent *de;
	DIR *dir;
	int dfd = dup(fd), rc = 0;

	if (dfd < 0)
		return -errno;
	dir = fdopendir(dfd);
	if (!dir) {
		rc = -errno;
		close(dfd);
		return rc;
	}
	while (rc == 0 && (de = readdir(dir)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		rc = load_entry(l, d, fd, de->d_name);
	}
	closedir(dir);
	return rc;
}

int lfs_cow_load_upper(struct lfs_cow *w)
{
	struct load *l = lfs_xcalloc(1, sizeof(*l));
	int fd, rc;

	l->w = w;
	fd = openat(w->up.root, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		rc = lfs_error(-errno, "cannot read the upper directory: %s", strerror(errno));
		goto out;
	}
	rc = load_dir(l, w->tree->root, fd);
	close(fd);
	if (rc < 0 && !l->refused)
		rc = lfs_error(rc, "cannot read the upper directory: %s", strerror(-rc));
	if (rc == 0 && l->redirects)
		lfs_warn("the upper directory has %d redirected directories (redirect_dir=on); "
			 "they show their own contents only",
			 l->redirects);
out:
	free(l->links.v);
	free(l);
	return rc;
}

/* A fresh private upper root takes the image root's metadata (what a chroot expects). */
static void init_root(struct lfs_cow *w, const struct lfs_node *r)
{
	char path[64];
	struct timespec ts[2];

	lfs_upper_procpath(path, sizeof(path), w->up.root, NULL);
	if (w->chown_new && chown(path, r->uid, r->gid) < 0)
		lfs_warn("cannot set the owner of the upper directory: %s", strerror(errno));
	for (uint32_t i = 0; r->xattrs && i < r->xattrs->n; i++)
		if (!lfs_upper_private_xattr(r->xattrs->x[i].name))
			setxattr(path, r->xattrs->x[i].name, r->xattrs->x[i].value,
				 r->xattrs->x[i].len, 0);
	chmod(path, r->mode & 07777);
	ts[0].tv_sec = ts[1].tv_sec = r->mtime_sec;
	ts[0].tv_nsec = ts[1].tv_nsec = r->mtime_nsec;
	utimensat(AT_FDCWD, path, ts, 0);
}

int lfs_cow_open(struct lfs_cow **out, struct lfs_core *core, const struct lfs_cow_opts *o)
{
	struct lfs_cow *w = lfs_xcalloc(1, sizeof(*w));
	pthread_rwlockattr_t ra;
	struct lfs_node *root;
	int rc;

	w->core = core;
	w->tree = core->tree;
	w->up.root = w->up.work = -1;
	w->writable = !o->read_only;
	w->arena = lfs_arena_new();
	w->cap = w->tree->ninodes;
	/* Writers first: a steady stream of lookups must not starve a change. */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&w->lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	for (int i = 0; i < LFS_COW_STRIPES; i++)
		pthread_mutex_init(&w->stripe[i], NULL);
	pthread_mutex_init(&w->open_lock, NULL);
	*out = w;
	if (!w->writable)
		return 0;
	w->chown_new = geteuid() == 0;
	rc = lfs_upper_open(&w->up, o->upper, o->work, o->tmpdir);
	if (rc < 0)
		goto fail;
	root = w->tree->root;
	if (w->up.ephemeral)
		init_root(w, root);
	lfs_cow_dir_to_upper(w, root);
	if (!w->up.ephemeral) {
		rc = lfs_cow_load_upper(w);
		if (rc < 0)
			goto fail;
	}
	return 0;
fail:
	lfs_cow_close(w);
	*out = NULL;
	return rc;
}

void lfs_cow_close(struct lfs_cow *w)
{
	if (!w)
		return;
	if (w->up.root >= 0 || w->up.ephemeral)
		lfs_upper_close(&w->up);
	lfs_core_free(w->core);
	lfs_arena_free(w->arena);
	pthread_rwlock_destroy(&w->lock);
	for (int i = 0; i < LFS_COW_STRIPES; i++)
		pthread_mutex_destroy(&w->stripe[i]);
	pthread_mutex_destroy(&w->open_lock);
	for (size_t i = 0; i < w->nopens; i++)
		if (w->opens[i].keep >= 0)
			close(w->opens[i].keep);
	free(w->opens);
	free(w);
}
