/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What goes in a new layer, taken from the merge and nowhere else: for a
 * commit, the merge's events as the upper directory is applied over the
 * source's merged tree (every entry it adds, replaces or merges; a
 * whiteout only where it hides something; an opaque marker only on a
 * directory that hides names of the view); for a squash, the difference
 * between two merged trees (what the top layers show, and a whiteout for
 * each name the lower view had that the whole one does not).
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "layerfs/lfs.h"
#include "layerfs/write.h"

void lfs_wentries_add(struct lfs_wentries *w, const char *path, size_t len,
		      const struct lfs_node *node, int opaque)
{
	char *p = lfs_xmalloc(len + 1);

	memcpy(p, path, len);
	p[len] = '\0';
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 256;
		w->v = lfs_xrealloc(w->v, w->cap * sizeof(*w->v));
		w->paths = lfs_xrealloc(w->paths, w->cap * sizeof(*w->paths));
	}
	w->paths[w->n] = p;
	w->v[w->n].path = p;
	w->v[w->n].node = node;
	w->v[w->n].opaque = opaque;
	w->n++;
	w->npaths = w->n;
}

/* A whiteout node owned by W, with the time of MT. */
static const struct lfs_node *whiteout_node(struct lfs_wentries *w, const struct lfs_node *mt)
{
	struct lfs_node *n = lfs_xcalloc(1, sizeof(*n));

	n->mode = S_IFCHR;
	n->flags = LFS_NF_WHITEOUT;
	n->mtime_sec = mt ? mt->mtime_sec : 0;
	w->nodes = lfs_xrealloc(w->nodes, (w->nnodes + 1) * sizeof(*w->nodes));
	w->nodes[w->nnodes++] = n;
	return n;
}

/* Commit: the observer of the top layer's merge. */
struct commit_obs {
	struct lfs_wentries *w;
	char **opq; /* directories that hide names (paths without '/') */
	size_t nopq;
};

/* Whether directory L, applied over OLD, changes what the view shows of it. */
static int dir_meta_differs(const struct lfs_node *l, const struct lfs_node *old)
{
	const struct lfs_xattrs *a = l->xattrs, *b = old->xattrs;

	if (l->mode != old->mode || l->uid != old->uid || l->gid != old->gid ||
	    l->mtime_sec != old->mtime_sec || l->mtime_nsec != old->mtime_nsec ||
	    (a ? a->n : 0) != (b ? b->n : 0))
		return 1;
	for (uint32_t i = 0; a && i < a->n; i++)
		if (strcmp(a->x[i].name, b->x[i].name) || a->x[i].len != b->x[i].len ||
		    memcmp(a->x[i].value, b->x[i].value, a->x[i].len))
			return 1;
	return 0;
}

static void on_event(void *arg, const struct lfs_merge_event *ev)
{
	struct commit_obs *c = arg;
	const char *slash;

	/*
	 * The root: the kernel shows the upper root's attributes, so a commit
	 * keeps them ("./") when they are not what the image's root had.
	 */
	if (ev->plen == 0) {
		if (ev->old && !(ev->node->flags & LFS_NF_IMPLIED) &&
		    dir_meta_differs(ev->node, ev->old))
			lfs_wentries_add(c->w, ".", 1, ev->node, 0);
		return;
	}
	switch (ev->kind) {
	case LFS_MERGE_ADDED:
	case LFS_MERGE_REPLACED:
	case LFS_MERGE_DIR:
		lfs_wentries_add(c->w, ev->path + 1, ev->plen - 1, ev->node, 0);
		break;
	case LFS_MERGE_WHITEOUT:
		if (ev->old)
			lfs_wentries_add(c->w, ev->path + 1, ev->plen - 1, ev->node, 0);
		break;
	case LFS_MERGE_OPAQUE:
		slash = memrchr(ev->path, '/', ev->plen);
		if (!slash || slash == ev->path)
			break; /* the root is never opaque */
		if (c->nopq && strlen(c->opq[c->nopq - 1]) == (size_t)(slash - ev->path - 1) &&
		    !memcmp(c->opq[c->nopq - 1], ev->path + 1, (size_t)(slash - ev->path - 1)))
			break; /* the same directory as the last one */
		c->opq = lfs_xrealloc(c->opq, (c->nopq + 1) * sizeof(*c->opq));
		c->opq[c->nopq] = lfs_xmalloc((size_t)(slash - ev->path));
		memcpy(c->opq[c->nopq], ev->path + 1, (size_t)(slash - ev->path - 1));
		c->opq[c->nopq][slash - ev->path - 1] = '\0';
		c->nopq++;
		break;
	}
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void lfs_wentries_commit(struct lfs_wentries *w, struct lfs_tree *t, const struct lfs_node *top)
{
	struct commit_obs c = {.w = w};
	struct lfs_merge_observer obs = {on_event, &c};

	lfs_tree_apply_observed(t, top, &obs);
	if (c.nopq)
		qsort(c.opq, c.nopq, sizeof(*c.opq), str_cmp);
	for (size_t i = 0; i < w->n; i++) {
		const char *p = w->v[i].path;

		if (lfs_node_is_dir(w->v[i].node) && c.nopq &&
		    bsearch(&p, c.opq, c.nopq, sizeof(*c.opq), str_cmp))
			w->v[i].opaque = 1;
	}
	for (size_t i = 0; i < c.nopq; i++)
		free(c.opq[i]);
	free(c.opq);
}

struct diff {
	struct lfs_wentries *w;
	uint32_t first;
	char path[2 * PATH_MAX];
};

static void diff_dir(struct diff *d, const struct lfs_node *low, const struct lfs_node *high,
		     size_t plen)
{
	const struct lfs_dir *hd = high->dir, *ld = low ? low->dir : NULL;

	for (uint32_t i = 0; i < hd->n; i++) {
		const struct lfs_dirent *e = &hd->ents[i];
		const struct lfs_node *c = e->node, *lc;
		size_t p2;

		if (!c || plen + 1 + e->len >= sizeof(d->path))
			continue;
		lc = low ? lfs_dir_lookup(low, e->name, e->len) : NULL;
		p2 = plen + (plen ? 1 : 0) + e->len;
		if (plen)
			d->path[plen] = '/';
		memcpy(d->path + p2 - e->len, e->name, e->len);
		if (c->dir) {
			int low_dir = lc && lc->dir;

			if (!low_dir || c->layer >= d->first)
				lfs_wentries_add(d->w, d->path, p2, c, 0);
			diff_dir(d, low_dir ? lc : NULL, c, p2);
		} else if (c != lc) {
			lfs_wentries_add(d->w, d->path, p2, c, 0);
		}
	}
	for (uint32_t i = 0; ld && i < ld->n; i++) {
		const struct lfs_dirent *e = &ld->ents[i];
		size_t p2;

		if (!e->node || lfs_dir_lookup(high, e->name, e->len) ||
		    plen + 1 + e->len >= sizeof(d->path))
			continue;
		p2 = plen + (plen ? 1 : 0) + e->len;
		if (plen)
			d->path[plen] = '/';
		memcpy(d->path + p2 - e->len, e->name, e->len);
		lfs_wentries_add(d->w, d->path, p2, whiteout_node(d->w, high), 0);
	}
}

void lfs_wentries_diff(struct lfs_wentries *w, const struct lfs_node *low,
		       const struct lfs_node *high, uint32_t first)
{
	struct diff *d = lfs_xmalloc(sizeof(*d));

	d->w = w;
	d->first = first;
	diff_dir(d, low, high, 0);
	free(d);
}

void lfs_wentries_free(struct lfs_wentries *w)
{
	for (size_t i = 0; i < w->npaths; i++)
		free(w->paths[i]);
	free(w->paths);
	free(w->v);
	for (size_t i = 0; i < w->nnodes; i++)
		free(w->nodes[i]);
	free(w->nodes);
	memset(w, 0, sizeof(*w));
}
