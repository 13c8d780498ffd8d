/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The overlayfs merge.  Layer k is applied over the merged view of layers
 * 0..k-1, which is exactly what the kernel shows when it looks a path up
 * from the top: a whiteout or an opaque directory stops the search, a
 * non-directory hides everything below it, and directories merge.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "layerfs/lfs.h"
#include "layerfs/tree.h"

struct lfs_tree *lfs_tree_new(void)
{
	struct lfs_tree *t = lfs_xcalloc(1, sizeof(*t));

	t->arena = lfs_arena_new();
	/* A root no layer describes: 0755 root:root, as containerd creates it. */
	t->root = lfs_dir_new(t->arena, NULL);
	t->root->nlink = 2;
	return t;
}

static void copy_dir_meta(struct lfs_node *g, const struct lfs_node *l)
{
	g->mode = l->mode;
	g->uid = l->uid;
	g->gid = l->gid;
	g->mtime_sec = l->mtime_sec;
	g->mtime_nsec = l->mtime_nsec;
	g->xattrs = l->xattrs;
	g->layer = l->layer;
}

static void default_dir_meta(struct lfs_node *g)
{
	g->mode = 0040755;
	g->uid = g->gid = 0;
	g->mtime_sec = 0;
	g->mtime_nsec = 0;
	g->xattrs = NULL;
}

/*
 * Metadata of merged directory G from the layer's directory L at its path:
 * L's own, unless L is only implied by deeper entries; then that of BELOW,
 * the directory the layers below have there, or the default when none.
 */
static void dir_meta(struct lfs_node *g, const struct lfs_node *l, const struct lfs_node *below)
{
	if (!(l->flags & LFS_NF_IMPLIED)) {
		if (g != l)
			copy_dir_meta(g, l);
	} else if (below && below != g) {
		copy_dir_meta(g, below);
	} else if (!below) {
		default_dir_meta(g);
	}
}

/* Move G's entries to a new node, leaving G empty; the old entries stay readable. */
static struct lfs_node *detach_children(struct lfs_tree *t, struct lfs_node *g)
{
	struct lfs_node *old = lfs_dir_new(t->arena, NULL);
	struct lfs_dir *tmp = old->dir;

	old->dir = g->dir;
	g->dir = tmp;
	return old;
}

/*
 * Layer directory D lands where the merged tree has no directory: it becomes
 * the merged one, as apply_dir would have built it into a new node (BELOW as
 * there).  Its whiteouts hide nothing and go; an opaque marker changes
 * nothing; its subdirectories are taken in turn.
 */
static void take_dir(struct lfs_node *d, const struct lfs_node *below)
{
	struct lfs_dir *dd = d->dir;

	dir_meta(d, d, below);
	d->flags = 0;
	d->size = 0;
	d->rdev = 0;
	d->data_off = 0;
	d->nlink = 2 + dd->nsubdirs;
	for (uint32_t i = 0; i < dd->n; i++) {
		struct lfs_dirent *e = &dd->ents[i];
		struct lfs_node *c = e->node;
		const struct lfs_node *cb;

		if (!c)
			continue;
		if (c->flags & LFS_NF_WHITEOUT) {
			lfs_dir_remove(d, e->name, e->len);
			continue;
		}
		if (!c->dir)
			continue;
		cb = below ? lfs_dir_lookup(below, e->name, e->len) : NULL;
		take_dir(c, cb && cb->dir ? cb : NULL);
	}
	/* names a later layer adds go last, as in a directory built afresh */
	lfs_dir_compact(d);
}

/* One application of a layer; PATH and OBS only when observed. */
struct merge {
	struct lfs_tree *t;
	const struct lfs_merge_observer *obs;
	char *path;
};

static void emit(const struct merge *m, enum lfs_merge_kind kind, size_t plen,
		 const struct lfs_node *node, const struct lfs_node *old)
{
	struct lfs_merge_event ev = {kind, m->t->nlayers, m->path, plen, node, old};

	m->obs->event(m->obs->arg, &ev);
}

/* PATH + "/" + NAME; layer paths are shorter than PATH_MAX, the buffer twice that. */
static size_t push(const struct merge *m, size_t plen, const char *name, uint32_t len)
{
	if (!m->obs)
		return 0;
	m->path[plen] = '/';
	memcpy(m->path + plen + 1, name, len);
	m->path[plen + 1 + len] = '\0';
	return plen + 1 + len;
}

/* The names of SRC (the view below an opaque directory) that L does not list go. */
static void hide_unlisted(const struct merge *m, const struct lfs_node *src,
			  const struct lfs_node *l, size_t plen)
{
	for (uint32_t i = 0; i < src->dir->n; i++) {
		const struct lfs_dirent *e = &src->dir->ents[i];

		if (e->node && !lfs_dir_lookup(l, e->name, e->len))
			emit(m, LFS_MERGE_OPAQUE, push(m, plen, e->name, e->len), NULL, e->node);
	}
	m->path[plen] = '\0';
}

/* Tell what layer entry C does to PREV, the view's entry before the layer. */
static void observe(const struct merge *m, size_t plen, const struct lfs_node *c,
		    const struct lfs_node *prev)
{
	if (c->flags & LFS_NF_WHITEOUT)
		emit(m, LFS_MERGE_WHITEOUT, plen, c, prev);
	else if (!prev)
		emit(m, LFS_MERGE_ADDED, plen, c, NULL);
	else
		emit(m, c->dir && prev->dir ? LFS_MERGE_DIR : LFS_MERGE_REPLACED, plen, c, prev);
}

/*
 * G is the merged directory and L the layer's directory at the same path.
 * LOWER: G's entries are the visible lower ones, to merge with.  BELOW: the
 * directory at this path in the view of the layers below (NULL if none),
 * which an implied directory copies its metadata from even where an opaque
 * marker of this layer hides it (containerd extracts into that view).
 * TAKE: L's subdirectories that G lacks become merged ones (take_dir).
 * Observed, PLEN is the length of G's path in M's buffer.
 */
static void apply_dir(const struct merge *m, struct lfs_node *g, const struct lfs_node *l,
		      int lower, const struct lfs_node *below, int take, size_t plen)
{
	struct lfs_tree *t = m->t;
	const struct lfs_dir *ld = l->dir;
	const struct lfs_node *src = lower ? g : below;

	dir_meta(g, l, below);
	/* The kernel builds the root from every layer: an opaque root hides nothing. */
	if ((l->flags & LFS_NF_OPAQUE) && g != t->root) {
		if (lower)
			src = detach_children(t, g);
		lower = 0;
	}
	/* Without a lower part here, what the view had (SRC) is hidden by an opaque marker. */
	if (m->obs && !lower && src)
		hide_unlisted(m, src, l, plen);
	/* st_nlink as the kernel reports it: 1 when merged, else the layer dir's. */
	g->flags = lower ? LFS_NF_MERGED : 0;
	g->nlink = 2 + ld->nsubdirs;

	for (uint32_t i = 0; i < ld->n; i++) {
		const struct lfs_dirent *e = &ld->ents[i];
		struct lfs_node *c = e->node, *old;
		const struct lfs_node *cb;
		size_t p2;

		if (!c)
			continue;
		p2 = push(m, plen, e->name, e->len);
		if (m->obs)
			observe(m, p2, c, src ? lfs_dir_lookup(src, e->name, e->len) : NULL);
		if (c->flags & LFS_NF_WHITEOUT) {
			lfs_dir_remove(g, e->name, e->len);
			continue;
		}
		old = lfs_dir_lookup(g, e->name, e->len);
		if (c->dir) {
			int had = old && old->dir;

			cb = src ? lfs_dir_lookup(src, e->name, e->len) : NULL;
			if (cb && !cb->dir)
				cb = NULL;
			if (!had && take) {
				lfs_dir_set(g, e->name, e->len, c);
				take_dir(c, cb);
				continue;
			}
			if (!had) {
				old = lfs_dir_new(t->arena, g);
				lfs_dir_set(g, e->name, e->len, old);
			}
			apply_dir(m, old, c, had, cb, take, p2);
		} else {
			lfs_dir_set(g, e->name, e->len, c);
		}
	}
	if (m->obs)
		m->path[plen] = '\0';
}

static void apply(struct lfs_tree *t, const struct lfs_node *layer_root, int take,
		  const struct lfs_merge_observer *obs)
{
	struct merge m = {t, obs, NULL};
	/* Above the first layer the root always has a lower part. */
	struct lfs_node *below = t->nlayers > 0 ? t->root : NULL;

	if (obs) {
		m.path = lfs_xmalloc(2 * PATH_MAX + 2);
		m.path[0] = '\0';
		emit(&m, LFS_MERGE_DIR, 0, layer_root, below);
	}
	apply_dir(&m, t->root, layer_root, below != NULL, below, take, 0);
	free(m.path);
	t->nlayers++;
}

void lfs_tree_apply(struct lfs_tree *t, const struct lfs_node *layer_root)
{
	apply(t, layer_root, 0, NULL);
}

void lfs_tree_apply_observed(struct lfs_tree *t, const struct lfs_node *layer_root,
			     const struct lfs_merge_observer *obs)
{
	apply(t, layer_root, 0, obs);
}

void lfs_tree_apply_take(struct lfs_tree *t, struct lfs_node *layer_root)
{
	apply(t, layer_root, 1, NULL);
}

static void add_inode(struct lfs_tree *t, struct lfs_node *n, uint64_t *cap)
{
	if (t->ninodes == *cap) {
		*cap *= 2;
		t->inodes = lfs_xrealloc(t->inodes, *cap * sizeof(*t->inodes));
	}
	n->ino = t->ninodes;
	t->inodes[t->ninodes++] = n;
}

/* Number the tree breadth first (no recursion: paths can be thousands deep). */
void lfs_tree_freeze(struct lfs_tree *t)
{
	uint64_t cap = 1024, next = 1;

	t->inodes = lfs_xmalloc(cap * sizeof(*t->inodes));
	t->inodes[0] = NULL;
	t->ninodes = 1;
	t->nentries = 0;
	add_inode(t, t->root, &cap);
	t->root->parent = t->root;
	while (next < t->ninodes) {
		struct lfs_node *d = t->inodes[next++];

		if (!d->dir)
			continue;
		lfs_dir_compact(d);
		if (d->flags & LFS_NF_MERGED)
			d->nlink = 1;
		t->nentries += d->dir->n;
		for (uint32_t i = 0; i < d->dir->n; i++) {
			struct lfs_node *c = d->dir->ents[i].node;

			c->parent = d;
			c->name = d->dir->ents[i].name;
			if (!c->ino)
				add_inode(t, c, &cap);
		}
	}
}

void lfs_tree_free(struct lfs_tree *t)
{
	if (!t)
		return;
	free(t->inodes);
	lfs_arena_free(t->arena);
	free(t);
}
