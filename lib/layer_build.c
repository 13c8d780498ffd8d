/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The format-neutral half of indexing a layer: entries from a front end
 * (tar stream, directory, ...) become the layer's own tree of nodes.  Paths
 * are normalised, missing parents implied, whiteouts and opaque markers
 * recorded in both forms (".wh." names, 0:0 character devices, the overlay
 * opaque xattr), hard links share one node, and a later entry of the layer
 * replaces an earlier one at its path, the replaced files being listed as
 * superseded.  Entries Linux cannot hold are skipped with a warning, as the
 * kernel could never show them.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "layerfs/layer.h"
#include "layer_int.h"
#include "layerfs/lfs.h"

#define MAX_COMPONENTS (PATH_MAX / 2)
#define LFS_STR_(x)    #x
#define LFS_STR(x)     LFS_STR_(x)
#define SHOWN	       LFS_SHOWN
#define LINK_MAX_LEN   4095  /* a symlink body is at most a page less its NUL */
#define XNAME_MAX      255   /* XATTR_NAME_MAX */
#define XSIZE_MAX      65536 /* XATTR_SIZE_MAX */
#define WH_PREFIX      ".wh."
#define WH_OPAQUE      ".wh..wh..opq"

int lfs_path_split(const char *path, const char **comp, uint32_t *len, int maxc)
{
	const char *p = path;
	int n = 0;

	if (strlen(path) > PATH_MAX)
		return -ENAMETOOLONG;
	while (*p) {
		const char *s;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		s = p;
		while (*p && *p != '/')
			p++;
		if (p - s == 1 && s[0] == '.')
			continue;
		if (p - s == 2 && s[0] == '.' && s[1] == '.')
			return -EINVAL;
		if (n == maxc)
			return -ENAMETOOLONG;
		comp[n] = s;
		len[n] = (uint32_t)(p - s);
		n++;
	}
	return n;
}

void lfs_build_init(struct lfs_builder *b, struct lfs_layer *l, int wh_names)
{
	*b = (struct lfs_builder){.l = l, .wh_names = wh_names};
}

void lfs_build_free(struct lfs_builder *b)
{
	for (size_t i = 0; i < b->nskipped; i++)
		free(b->skipped[i]);
	free(b->skipped);
	b->skipped = NULL;
	b->nskipped = 0;
}

/*
 * Drop one name of N (and of everything below it when it is a directory),
 * at PATH[0..PLEN): a file left with no name is superseded by BY, stored and
 * never shown, which reports count (l->superseded).
 */
static void drop_names(struct lfs_layer *l, struct lfs_node *n, char *path, size_t plen,
		       const struct lfs_node *by, int below)
{
	struct lfs_superseded *s;

	if (!n->dir) {
		if (!n->nlink || --n->nlink || (n->flags & LFS_NF_WHITEOUT))
			return;
		s = lfs_arena_alloc(l->arena, sizeof(*s));
		*s = (struct lfs_superseded){l->superseded, lfs_arena_strndup(l->arena, path, plen),
					     n, by, below};
		l->superseded = s;
		return;
	}
	for (uint32_t i = 0; i < n->dir->n; i++) {
		const struct lfs_dirent *e = &n->dir->ents[i];

		if (!e->node)
			continue;
		path[plen] = '/';
		memcpy(path + plen + 1, e->name, e->len);
		drop_names(l, e->node, path, plen + 1 + e->len, by, 1);
	}
}

/* BY, a later entry of the layer, replaced OLD (may be NULL) at COMP[0..DEPTH)/NAME. */
static void unlink_subtree(struct lfs_layer *l, struct lfs_node *old, const char *const *comp,
			   const uint32_t *clen, int depth, const char *name, uint32_t len,
			   const struct lfs_node *by)
{
	char *path;
	size_t plen = 0;

	if (!old)
		return;
	/* layer paths are shorter than PATH_MAX */
	path = lfs_xmalloc(2 * PATH_MAX + 2);
	for (int i = 0; i < depth; i++) {
		path[plen++] = '/';
		memcpy(path + plen, comp[i], clen[i]);
		plen += clen[i];
	}
	path[plen++] = '/';
	memcpy(path + plen, name, len);
	drop_names(l, old, path, plen + len, by, 0);
	free(path);
}

static struct lfs_node *implied_dir(struct lfs_layer *l, struct lfs_node *parent,
				    const char *const *comp, const uint32_t *clen, int i)
{
	struct lfs_node *d = lfs_dir_new(l->arena, parent);
	/* Names live in the arena: a directory keeps pointers to them. */
	const char *name = lfs_arena_strndup(l->arena, comp[i], clen[i]);

	d->flags = LFS_NF_IMPLIED;
	d->layer = l->index;
	unlink_subtree(l, lfs_dir_set(parent, name, clen[i], d), comp, clen, i, name, clen[i], d);
	return d;
}

/* The directory for components [0, n), created as implied directories where missing. */
static struct lfs_node *walk_parents(struct lfs_layer *l, const char **comp, const uint32_t *len,
				     int n)
{
	struct lfs_node *cur = l->root;

	for (int i = 0; i < n; i++) {
		struct lfs_node *c = lfs_dir_lookup(cur, comp[i], len[i]);

		if (!c || !c->dir)
			c = implied_dir(l, cur, comp, len, i);
		cur = c;
	}
	return cur;
}

static const struct lfs_xattrs *read_xattrs(struct lfs_layer *l, const struct lfs_entry *e,
					    int *opaque)
{
	char s1[SHOWN], s2[64];
	size_t i = 0, j;
	struct lfs_xattrs *xs;

	if (!e->nxattrs)
		return NULL;
	xs = lfs_arena_alloc(l->arena, sizeof(*xs) + e->nxattrs * sizeof(xs->x[0]));
	for (size_t k = 0; k < e->nxattrs; k++) {
		const char *name = e->xattrs[k].name;
		const void *val = e->xattrs[k].value;
		size_t size = e->xattrs[k].len;

		/* Overlay's own xattrs are consumed by the merge, never shown. */
		if (!strncmp(name, "trusted.overlay.", 16) || !strncmp(name, "user.overlay.", 13)) {
			if ((!strcmp(name, "trusted.overlay.opaque") ||
			     !strcmp(name, "user.overlay.opaque")) &&
			    size == 1 && *(const char *)val == 'y')
				*opaque = 1;
			continue;
		}
		/* What setxattr(2) cannot hold is left out, as a '..' entry is. */
		if (!name[0] || strlen(name) > XNAME_MAX || size > XSIZE_MAX) {
			lfs_warn("%s: '%s': skipping xattr '%s' (%zu-byte name, %zu-byte value): "
				 "Linux holds names of 1 to %d bytes and values up to %d",
				 l->name, lfs_show(e->path, s1, sizeof(s1)),
				 lfs_show(name, s2, sizeof(s2)), strlen(name), size, XNAME_MAX,
				 XSIZE_MAX);
			continue;
		}
		/*
		 * libarchive's pax writer stores each xattr twice (LIBARCHIVE.xattr
		 * and SCHILY.xattr) and its reader returns both: the later wins.
		 */
		for (j = 0; j < i && strcmp(xs->x[j].name, name); j++)
			;
		if (j == i) {
			xs->x[i].name = lfs_arena_strndup(l->arena, name, strlen(name));
			i++;
		}
		xs->x[j].value = lfs_arena_memdup(l->arena, val, size);
		xs->x[j].len = size;
	}
	xs->n = (uint32_t)i;
	return i ? xs : NULL;
}

static void fill_meta(struct lfs_node *n, const struct lfs_entry *e)
{
	/* Linux shows every symlink as 0777, whatever the layer says. */
	n->mode = (e->mode & S_IFMT) | (S_ISLNK(e->mode) ? 0777 : e->mode & 07777);
	n->uid = e->uid;
	n->gid = e->gid;
	n->mtime_sec = e->mtime_sec;
	n->mtime_nsec = e->mtime_nsec;
}

/* "a/b/c" from components (malloc'ed). */
static char *join(const char *const *comp, const uint32_t *len, int n)
{
	size_t total = 1;
	char *s, *p;

	for (int i = 0; i < n; i++)
		total += len[i] + 1;
	p = s = lfs_xmalloc(total);
	for (int i = 0; i < n; i++) {
		if (i)
			*p++ = '/';
		memcpy(p, comp[i], len[i]);
		p += len[i];
	}
	*p = '\0';
	return s;
}

/*
 * An entry Linux cannot hold (a name past NAME_MAX, a symlink target past
 * a page) is skipped with a warning, as a '..' entry is; a hard link to it
 * later is skipped too.
 */
static int skip_entry(struct lfs_builder *b, const char *const *comp, const uint32_t *len, int n,
		      const char *path, const char *why)
{
	char s[SHOWN];

	lfs_warn("%s: skipping '%s': %s", b->l->name, lfs_show(path, s, sizeof(s)), why);
	b->skipped = lfs_xrealloc(b->skipped, (b->nskipped + 1) * sizeof(*b->skipped));
	b->skipped[b->nskipped++] = join(comp, len, n);
	return 0;
}

static int was_skipped(const struct lfs_builder *b, const char *const *comp, const uint32_t *len,
		       int n)
{
	char *p;
	int hit = 0;

	for (int i = 0; i < n; i++)
		if (len[i] > NAME_MAX)
			return 1;
	if (!b->nskipped || n <= 0)
		return 0;
	p = join(comp, len, n);
	for (size_t i = 0; i < b->nskipped && !hit; i++)
		hit = !strcmp(b->skipped[i], p);
	free(p);
	return hit;
}

static int add_hardlink(struct lfs_builder *b, const char *target, struct lfs_node *dir,
			const char *name, uint32_t len, const char *path)
{
	const char *comp[MAX_COMPONENTS];
	uint32_t clen[MAX_COMPONENTS];
	struct lfs_node *cur = b->l->root, *old;
	int n = lfs_path_split(target, comp, clen, MAX_COMPONENTS);
	char s1[SHOWN], s2[SHOWN];

	if (n == -EINVAL) {
		lfs_warn("%s: skipping hard link '%s' to '%s' outside the root", b->l->name,
			 lfs_show(path, s1, sizeof(s1)), lfs_show(target, s2, sizeof(s2)));
		return 0;
	}
	for (int i = 0; i < n && cur; i++)
		cur = cur->dir ? lfs_dir_lookup(cur, comp[i], clen[i]) : NULL;
	if ((n <= 0 || !cur) && was_skipped(b, comp, clen, n)) {
		lfs_warn("%s: skipping hard link '%s' to '%s', which was skipped", b->l->name,
			 lfs_show(path, s1, sizeof(s1)), lfs_show(target, s2, sizeof(s2)));
		return 0;
	}
	if (cur && (cur->flags & LFS_NF_WHITEOUT)) {
		/*
		 * A link to a 0:0 character device is one too: extracted, both
		 * names are whiteouts for the kernel (GNU tar and the kernel
		 * accept it).
		 */
		struct lfs_node *w = lfs_node_new(b->l->arena, 0);

		w->layer = b->l->index;
		w->mode = S_IFCHR;
		w->flags = LFS_NF_WHITEOUT;
		unlink_subtree(b->l, lfs_dir_set(dir, name, len, w), b->comp, b->clen, b->nc - 1,
			       name, len, w);
		return 0;
	}
	if (n <= 0 || !cur || cur->dir) {
		lfs_err_set("%s: hard link '%s' points to '%s', which is not an earlier file of "
			    "this layer",
			    b->l->name, lfs_show(path, s1, sizeof(s1)),
			    lfs_show(target, s2, sizeof(s2)));
		return -EINVAL;
	}
	old = lfs_dir_set(dir, name, len, cur);
	if (old == cur)
		return 0;
	cur->nlink++;
	unlink_subtree(b->l, old, b->comp, b->clen, b->nc - 1, name, len, cur);
	return 0;
}

/* The layer's root directory itself ("./"). */
static void set_root(struct lfs_builder *b, const struct lfs_entry *e)
{
	struct lfs_layer *l = b->l;
	int opaque = 0;

	if (!S_ISDIR(e->mode)) {
		lfs_warn("%s: skipping non-directory entry for the root", l->name);
		return;
	}
	fill_meta(l->root, e);
	l->root->xattrs = read_xattrs(l, e, &opaque);
	l->root->flags &= ~(uint32_t)LFS_NF_IMPLIED;
	if (opaque)
		l->root->flags |= LFS_NF_OPAQUE;
}

/* A directory over a directory of the same layer keeps its children. */
static void add_dir(struct lfs_builder *b, const struct lfs_entry *e, struct lfs_node *dir,
		    const char *name, uint32_t len)
{
	struct lfs_layer *l = b->l;
	struct lfs_node *n = lfs_dir_lookup(dir, name, len);
	int opaque = 0;

	if (!n || !n->dir) {
		n = lfs_dir_new(l->arena, dir);
		unlink_subtree(l, lfs_dir_set(dir, name, len, n), b->comp, b->clen, b->nc - 1, name,
			       len, n);
	}
	fill_meta(n, e);
	n->layer = l->index;
	n->xattrs = read_xattrs(l, e, &opaque);
	n->flags &= ~(uint32_t)LFS_NF_IMPLIED;
	if (opaque)
		n->flags |= LFS_NF_OPAQUE;
}

/* Everything but a directory: N's fields, 1 when the entry is to be skipped. */
static int fill_file(struct lfs_builder *b, const struct lfs_entry *e, struct lfs_node *n)
{
	struct lfs_layer *l = b->l;
	char shown[SHOWN];
	int opaque = 0;

	fill_meta(n, e);
	n->xattrs = read_xattrs(l, e, &opaque);
	switch (e->mode & S_IFMT) {
	case S_IFREG:
		n->size = e->size;
		n->data_off = e->data_off;
		return 0;
	case S_IFLNK:
		if (!e->link || !*e->link || strlen(e->link) > LINK_MAX_LEN) {
			skip_entry(b, b->comp, b->clen, b->nc, e->path,
				   "a symlink target that is empty or longer than " LFS_STR(
				       LINK_MAX_LEN) " bytes");
			return 1;
		}
		n->size = strlen(e->link);
		n->link = lfs_arena_strndup(l->arena, e->link, n->size);
		return 0;
	case S_IFCHR:
	case S_IFBLK:
		n->rdev = e->rdev;
		return 0;
	case S_IFIFO:
	case S_IFSOCK: /* a directory layer may hold one; tar cannot */
		return 0;
	default:
		lfs_warn("%s: skipping '%s' of unsupported type 0%o", l->name,
			 lfs_show(e->path, shown, sizeof(shown)), (unsigned)(e->mode & S_IFMT));
		return 1;
	}
}

/* Split E's path into b->comp: 0 to go on, 1 to skip the entry (warned). */
static int split(struct lfs_builder *b, const struct lfs_entry *e, const char **comp,
		 uint32_t *clen)
{
	struct lfs_layer *l = b->l;
	char shown[SHOWN];
	int nc = lfs_path_split(e->path, comp, clen, MAX_COMPONENTS);

	b->comp = comp;
	b->clen = clen;
	b->nc = nc;
	if (nc == -EINVAL) {
		lfs_warn("%s: skipping '%s': it would land outside the root", l->name,
			 lfs_show(e->path, shown, sizeof(shown)));
		return 1;
	}
	if (nc == -ENAMETOOLONG) {
		lfs_warn("%s: skipping an entry whose path is longer than %d bytes or %d "
			 "components",
			 l->name, PATH_MAX, MAX_COMPONENTS);
		return 1;
	}
	if (e->path[0] == '/' && !b->warned_abs) {
		b->warned_abs = 1;
		lfs_warn("%s: removing leading '/' from entry names", l->name);
	}
	return 0;
}

int lfs_build_add(struct lfs_builder *b, const struct lfs_entry *e, struct lfs_node **file)
{
	struct lfs_layer *l = b->l;
	const char *comp[MAX_COMPONENTS];
	uint32_t clen[MAX_COMPONENTS];
	const char *name;
	struct lfs_node *dir, *n;
	uint32_t len;
	int nc, whiteout = 0;
	char shown[SHOWN];

	*file = NULL;
	if (split(b, e, comp, clen))
		return 0;
	nc = b->nc;
	if (nc == 0) {
		set_root(b, e);
		return 0;
	}
	for (int i = 0; i < nc; i++) {
		/* a whiteout's own name may be longer: it stands for NAME */
		uint32_t max = NAME_MAX + (b->wh_names && i == nc - 1 && clen[i] >= 4 &&
						   !memcmp(comp[i], WH_PREFIX, 4)
					       ? 4
					       : 0);

		if (clen[i] > max)
			return skip_entry(b, comp, clen, nc, e->path,
					  "a name longer than " LFS_STR(NAME_MAX) " bytes");
	}
	dir = walk_parents(l, comp, clen, nc - 1);
	name = comp[nc - 1];
	len = clen[nc - 1];

	if (b->wh_names && len >= 4 && !memcmp(name, WH_PREFIX, 4)) {
		if (len == sizeof(WH_OPAQUE) - 1 && !memcmp(name, WH_OPAQUE, len)) {
			dir->flags |= LFS_NF_OPAQUE;
			return 0;
		}
		name += 4;
		len -= 4;
		if (len == 0 || (len == 1 && name[0] == '.') ||
		    (len == 2 && name[0] == '.' && name[1] == '.')) {
			lfs_warn("%s: skipping meaningless whiteout '%s'", l->name,
				 lfs_show(e->path, shown, sizeof(shown)));
			return 0;
		}
		whiteout = 1;
	}
	name = lfs_arena_strndup(l->arena, name, len);

	/* A ".wh." name is a whiteout whatever its type, a hard link included. */
	if (!whiteout && e->hardlink)
		return add_hardlink(b, e->hardlink, dir, name, len, e->path);
	if (!whiteout && S_ISDIR(e->mode)) {
		add_dir(b, e, dir, name, len);
		return 0;
	}

	n = lfs_node_new(l->arena, 0);
	n->layer = l->index;
	if (whiteout || (S_ISCHR(e->mode) && e->rdev == 0)) {
		n->mode = S_IFCHR;
		n->flags = LFS_NF_WHITEOUT;
	} else if (fill_file(b, e, n)) {
		return 0;
	} else if (S_ISREG(e->mode)) {
		*file = n;
	}
	unlink_subtree(l, lfs_dir_set(dir, name, len, n), comp, clen, nc - 1, name, len, n);
	return 0;
}
