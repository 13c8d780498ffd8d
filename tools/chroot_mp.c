/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-chroot: the mount points it creates must not stay in a kept upper
 * directory.  /proc, /dev, /sys, /tmp, /etc/resolv.conf and the --bind
 * destinations are created through the writable mount when the image lacks
 * them, so they land in the upper directory.  Before the run the wrapper
 * notes, for every component of those paths, whether it is new: absent from
 * the image (the mounted view) and from the upper directory (no entry, no
 * .wh. whiteout) — then the init is what creates it.  Once layerfs has
 * ended, the new components still there as an empty directory (or, for a
 * file bind, an empty file) are removed from the upper directory, deepest
 * first: the upper is as if the run had not needed them.  Anything else
 * the command put there (a file in the directory, a non-empty file) stays.
 * A parent that the image has but the upper did not (copied up to make a
 * mount point in it: /etc for resolv.conf) goes too when it is still an
 * empty directory with the image's mode and owner, not opaque, and without
 * extended attributes of the command's.
 * Paths are walked from a directory fd without following any symlink.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "chroot.h"
#include "layerfs/lfs.h"

#define MP_MAX_COMPONENTS 64

struct mp_path {
	char *buf;		       /* the path, cut into: */
	char *comp[MP_MAX_COMPONENTS]; /* its components */
	size_t ncomp;
	unsigned long long fresh;	   /* bit i: component i is new */
	unsigned long long copied;	   /* bit i: component i is the image's, not in the upper */
	struct stat st[MP_MAX_COMPONENTS]; /* of the copied ones, in the image */
};

struct lfs_chroot_mp {
	struct mp_path *v;
	size_t n;
};

/* The directory holding component N of P (0: ROOT itself), or -errno. */
static int open_parent(int root, const struct mp_path *p, size_t n)
{
	int fd = fcntl(root, F_DUPFD_CLOEXEC, 3);

	if (fd < 0)
		return -errno;
	for (size_t i = 0; i < n; i++) {
		int next = openat(fd, p->comp[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int err = errno;

		close(fd);
		if (next < 0)
			return -err;
		fd = next;
	}
	return fd;
}

/* Is component N of P absent under ROOT (and so is its .wh. whiteout, if WH)?
 * Else its stat in ST, if not NULL. */
static int absent(int root, const struct mp_path *p, size_t n, int wh, struct stat *stp)
{
	int dfd = open_parent(root, p, n), rc;
	struct stat st;

	if (dfd == -ENOENT)
		return 1;
	if (dfd < 0)
		return 0; /* a symlink or a file on the way: not ours to judge */
	rc = fstatat(dfd, p->comp[n], stp ? stp : &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT;
	if (rc && wh) {
		char *name = lfs_xmalloc(strlen(p->comp[n]) + 5);

		strcpy(name, ".wh.");
		strcat(name, p->comp[n]);
		rc = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT;
		free(name);
	}
	close(dfd);
	return rc;
}

static void add_path(struct lfs_chroot_mp *mp, const char *path, int mnt, int upper)
{
	struct mp_path p = {.buf = lfs_xstrdup(path)};
	char *save = NULL, *c;

	for (c = strtok_r(p.buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..") || p.ncomp == MP_MAX_COMPONENTS) {
			p.ncomp = 0; /* refused when mounting, or too deep to bother */
			break;
		}
		p.comp[p.ncomp++] = c;
	}
	for (size_t i = 0; i < p.ncomp; i++) {
		int in_image = !absent(mnt, &p, i, 0, &p.st[i]);

		if (!absent(upper, &p, i, 1, NULL))
			continue;
		if (!in_image)
			p.fresh |= 1ULL << i;
		else if (i + 1 < p.ncomp && S_ISDIR(p.st[i].st_mode))
			p.copied |= 1ULL << i;
	}
	if (!p.fresh) {
		free(p.buf);
		return;
	}
	mp->v = lfs_xrealloc(mp->v, (mp->n + 1) * sizeof(*mp->v));
	mp->v[mp->n++] = p;
}

struct lfs_chroot_mp *lfs_chroot_mp_scan(const char *mnt, const char *upper,
					 const struct lfs_chroot_opts *o)
{
	/* what chroot_ns.c mounts on, in the order it does */
	static const char *const fixed[] = {"proc", "dev", "sys", "tmp", "etc/resolv.conf"};
	struct lfs_chroot_mp *mp = lfs_xcalloc(1, sizeof(*mp));
	int m = open(mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int u = open(upper, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (m >= 0 && u >= 0) {
		for (size_t i = 0; i < LFS_ARRAY_SIZE(fixed); i++)
			add_path(mp, fixed[i], m, u);
		for (size_t i = 0; i < o->nbinds; i++)
			add_path(mp, o->binds[i].dst, m, u);
	}
	if (m >= 0)
		close(m);
	if (u >= 0)
		close(u);
	return mp;
}

/* Are the xattrs of NAME in DFD only layerfs' own bookkeeping (not opaque)? */
static int plain_xattrs(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), ok = 1;
	char list[4096];
	ssize_t n;

	if (fd < 0)
		return 0;
	n = flistxattr(fd, list, sizeof(list));
	close(fd);
	if (n < 0)
		return errno == ENOTSUP;
	for (char *x = list; ok && x < list + n; x += strlen(x) + 1)
		ok = (!strncmp(x, "trusted.overlay.", 16) || !strncmp(x, "user.overlay.", 13)) &&
		     !strstr(x, ".opaque");
	return ok;
}

/* Remove the new components of P that are still empty, deepest first. */
static void clean_path(int upper, const struct mp_path *p)
{
	for (size_t i = p->ncomp; i-- > 0;) {
		const struct stat *was = &p->st[i];
		struct stat st;
		int dfd, rc = -1;

		if (!((p->fresh | p->copied) & (1ULL << i)))
			break;
		dfd = open_parent(upper, p, i);
		if (dfd < 0)
			continue; /* not there (a bind inside another bind) */
		if (fstatat(dfd, p->comp[i], &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if ((p->copied & (1ULL << i)) &&
			    (!S_ISDIR(st.st_mode) || st.st_mode != was->st_mode ||
			     st.st_uid != was->st_uid || st.st_gid != was->st_gid ||
			     !plain_xattrs(dfd, p->comp[i])))
				rc = -1; /* the command changed it: its copy stays */
			else if (S_ISDIR(st.st_mode))
				rc = unlinkat(dfd, p->comp[i], AT_REMOVEDIR); /* ENOTEMPTY: kept */
			else if (S_ISREG(st.st_mode) && st.st_size == 0 && i + 1 == p->ncomp)
				rc = unlinkat(dfd, p->comp[i], 0);
		}
		close(dfd);
		if (rc < 0)
			break;
	}
}

void lfs_chroot_mp_clean(struct lfs_chroot_mp *mp, const char *upper)
{
	int u = upper ? open(upper, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;

	/* later mounts may sit inside earlier ones: last first */
	for (size_t i = mp->n; i-- > 0;) {
		if (u >= 0)
			clean_path(u, &mp->v[i]);
		free(mp->v[i].buf);
	}
	if (u >= 0)
		close(u);
	free(mp->v);
	free(mp);
}
