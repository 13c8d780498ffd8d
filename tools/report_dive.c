/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dive's efficiency score and wasted bytes, computed the way dive computes
 * them, to print beside the report's own.  dive's model is a tally by path:
 * every leaf of every layer's own tree (files, whiteouts, empty directories)
 * in dive's visiting order adds its size to its path's total; efficiency is
 * the sum of each path's smallest copy over the sum of all copies, and every
 * copy of a path seen twice or more is "wasted".
 *
 * A whiteout weighs what it deletes in dive's view of the layers below: the
 * whiteout events of a merge say what that is, and a whiteout of a path dive
 * sees nothing at ends dive's reading of that layer.  dive reads a layer
 * without its opaque markers, so its view is the mount's merge (tree.c) of
 * the layers with those markers dropped: the same as the mount's own view
 * until an opaque directory hides something.  From then on dive's view is
 * that merge of the layers as dive reads them (copies of the directories on
 * the way to an opaque one, the rest shared); no overlay rule lives here.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "layerfs/lfs.h"
#include "report.h"

/* A path's tally. */
struct dpath {
	const char *path;
	uint32_t len, count;
	uint64_t cum, min;
	const struct lfs_node *last; /* the latest copy, NULL after a whiteout */
};

/* What a whiteout of the layer at hand deletes in dive's view (none listed: nothing). */
struct dwhiteout {
	const struct lfs_node *node;
	uint64_t size;
};

struct report_dive_acct {
	struct report *r;
	struct lfs_layer *const *layers;
	struct lfs_merge_observer obs;	   /* for the mount's merge of the image */
	struct lfs_merge_observer own_obs; /* for the merge of dive's view */
	struct lfs_tree *view;		   /* dive's view, once it differs from the mount's */
	struct lfs_arena *arena;	   /* the layers as dive reads them */
	int hid;			   /* an opaque directory of this layer hid names */
	uint8_t *marked;		   /* per layer: an opaque directory below its root */
	struct dwhiteout *wh;
	size_t nwh, capwh;
	struct dpath *slots;
	size_t cap, used;
	const struct lfs_node **sized; /* hard-linked files already sized at one name */
	size_t scap, sused;
	uint32_t k;
	uint64_t visited;
	char path[PATH_MAX * 2];
};

static uint64_t subtree_size(const struct lfs_node *n)
{
	uint64_t s = 0;

	if (!n->dir)
		return S_ISREG(n->mode) ? n->size : 0;
	for (uint32_t i = 0; i < n->dir->n; i++)
		if (n->dir->ents[i].node)
			s += subtree_size(n->dir->ents[i].node);
	return s;
}

static void note_whiteout(struct report_dive_acct *d, const struct lfs_merge_event *ev)
{
	if (ev->kind != LFS_MERGE_WHITEOUT || !ev->old)
		return;
	if (d->nwh == d->capwh) {
		d->capwh = d->capwh ? 2 * d->capwh : 64;
		d->wh = lfs_xrealloc(d->wh, d->capwh * sizeof(*d->wh));
	}
	/* dive sums every node below a deleted directory; a deleted non-directory weighs 0 */
	d->wh[d->nwh++] = (struct dwhiteout){ev->node, ev->old->dir ? subtree_size(ev->old) : 0};
}

/* The mount's merge: dive's view too, until an opaque directory hides something. */
static void on_merge(void *arg, const struct lfs_merge_event *ev)
{
	struct report_dive_acct *d = arg;

	if (ev->kind == LFS_MERGE_OPAQUE)
		d->hid = 1;
	else if (ev->plen && ev->node->dir && (ev->node->flags & LFS_NF_OPAQUE))
		d->marked[ev->layer] = 1;
	if (!d->view)
		note_whiteout(d, ev);
}

static void on_own_merge(void *arg, const struct lfs_merge_event *ev)
{
	note_whiteout(arg, ev);
}

struct report_dive_acct *report_dive_new(struct report *r, struct lfs_layer *const *layers)
{
	struct report_dive_acct *d = lfs_xcalloc(1, sizeof(*d));

	d->r = r;
	d->layers = layers;
	d->obs = (struct lfs_merge_observer){on_merge, d};
	d->own_obs = (struct lfs_merge_observer){on_own_merge, d};
	d->marked = lfs_xcalloc(r->nlayers ? r->nlayers : 1, 1);
	return d;
}

const struct lfs_merge_observer *report_dive_observer(struct report_dive_acct *d)
{
	return &d->obs;
}

const struct lfs_node *report_dive_view(const struct report_dive_acct *d)
{
	return d->view ? d->view->root : NULL;
}

/* ---------------------------------------------------------------- dive's view */

static struct lfs_node *copy_dir(struct lfs_arena *a, const struct lfs_node *n)
{
	struct lfs_node *cp = lfs_arena_memdup(a, n, sizeof(*n));

	cp->dir = lfs_dir_clone(a, n->dir);
	cp->flags &= ~(uint32_t)LFS_NF_OPAQUE;
	return cp;
}

/* Directory N as dive reads it: no opaque marker below (dive skips ".wh..wh..opq"). */
static const struct lfs_node *unmarked(struct lfs_arena *a, const struct lfs_node *n)
{
	struct lfs_node *cp = NULL;

	for (uint32_t i = 0; i < n->dir->n; i++) {
		const struct lfs_dirent *e = &n->dir->ents[i];
		const struct lfs_node *c = e->node, *u;

		if (!c || !c->dir)
			continue;
		u = unmarked(a, c);
		if (u == c)
			continue;
		if (!cp)
			cp = copy_dir(a, n);
		lfs_dir_set(cp, e->name, e->len, (struct lfs_node *)u);
	}
	if (!cp && (n->flags & LFS_NF_OPAQUE))
		cp = copy_dir(a, n);
	return cp ? cp : n;
}

static const struct lfs_node *as_dive_reads(struct report_dive_acct *d, uint32_t k)
{
	const struct lfs_node *root = d->layers[k]->root;

	return d->marked[k] ? unmarked(d->arena, root) : root;
}

/* ---------------------------------------------------------------- the tally */

static struct dpath *dpath_get(struct report_dive_acct *d, size_t len)
{
	size_t i, mask;

	if ((d->used + 1) * 2 > d->cap) {
		struct dpath *old = d->slots;
		size_t ocap = d->cap;

		d->cap = ocap ? ocap * 2 : 1024;
		d->slots = lfs_xcalloc(d->cap, sizeof(*d->slots));
		for (size_t j = 0; j < ocap; j++) {
			if (!old[j].path)
				continue;
			for (i = XXH3_64bits(old[j].path, old[j].len) & (d->cap - 1);
			     d->slots[i].path; i = (i + 1) & (d->cap - 1))
				;
			d->slots[i] = old[j];
		}
		free(old);
	}
	mask = d->cap - 1;
	for (i = XXH3_64bits(d->path, len) & mask; d->slots[i].path; i = (i + 1) & mask)
		if (d->slots[i].len == len && !memcmp(d->slots[i].path, d->path, len))
			return &d->slots[i];
	d->slots[i].path = lfs_arena_strndup(d->r->arena, d->path, len);
	d->slots[i].len = (uint32_t)len;
	d->used++;
	return &d->slots[i];
}

/* dive sizes a hard-linked file at one of its names only (tar gives the others 0). */
static int first_name(struct report_dive_acct *d, const struct lfs_node *n)
{
	size_t i;

	if (n->nlink == 1)
		return 1;
	if ((d->sused + 1) * 2 > d->scap) {
		const struct lfs_node **old = d->sized;
		size_t ocap = d->scap;

		d->scap = ocap ? ocap * 2 : 64;
		d->sized = lfs_xcalloc(d->scap, sizeof(*d->sized));
		for (size_t j = 0; j < ocap; j++) {
			if (!old[j])
				continue;
			for (i = XXH3_64bits(&old[j], sizeof(old[j])) & (d->scap - 1); d->sized[i];
			     i = (i + 1) & (d->scap - 1))
				;
			d->sized[i] = old[j];
		}
		free(old);
	}
	for (i = XXH3_64bits(&n, sizeof(n)) & (d->scap - 1); d->sized[i];
	     i = (i + 1) & (d->scap - 1))
		if (d->sized[i] == n)
			return 0;
	d->sized[i] = n;
	d->sused++;
	return 1;
}

static int wh_cmp(const void *a, const void *b)
{
	const struct lfs_node *x = ((const struct dwhiteout *)a)->node;
	const struct lfs_node *y = ((const struct dwhiteout *)b)->node;

	return x < y ? -1 : x > y;
}

static size_t push_name(char *buf, size_t plen, const char *name, uint32_t len)
{
	buf[plen] = '/';
	memcpy(buf + plen + 1, name, len);
	buf[plen + 1 + len] = '\0';
	return plen + 1 + len;
}

/* One leaf; returns 1 where dive stops reading the layer. */
static int dive_leaf(struct report_dive_acct *d, const struct lfs_node *c, size_t plen)
{
	uint64_t size = 0;
	struct dpath *p;

	if (c->flags & LFS_NF_WHITEOUT) {
		const struct dwhiteout key = {c, 0}, *below;

		below = d->nwh ? bsearch(&key, d->wh, d->nwh, sizeof(*d->wh), wh_cmp) : NULL;
		if (!below) {
			d->r->layers[d->k].dive_stop =
			    lfs_arena_strndup(d->r->arena, d->path, plen);
			d->r->dive.layers_stopped++;
			return 1;
		}
		size = below->size;
	} else if (S_ISREG(c->mode) && first_name(d, c)) {
		size = c->size;
	}
	d->visited++;
	p = dpath_get(d, plen);
	if (!p->count || size < p->min)
		p->min = size;
	p->cum += size;
	p->count++;
	p->last = c->flags & LFS_NF_WHITEOUT ? NULL : c;
	return 0;
}

struct dkey {
	const struct lfs_dirent *e;
	char name[NAME_MAX + 5]; /* as dive sorts it: whiteouts keep ".wh." */
};

static int dkey_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dkey *)a)->name, ((const struct dkey *)b)->name);
}

/* dive's VisitDepthChildFirst, leaves only, children by name. */
static int dive_visit(struct report_dive_acct *d, const struct lfs_node *l, size_t plen)
{
	struct dkey *keys = lfs_xmalloc((l->dir->n ? l->dir->n : 1) * sizeof(*keys));
	uint32_t n = 0;
	int stop = 0;

	for (uint32_t i = 0; i < l->dir->n; i++) {
		const struct lfs_dirent *e = &l->dir->ents[i];

		if (!e->node)
			continue;
		keys[n].e = e;
		snprintf(keys[n++].name, sizeof(keys->name), "%s%.*s",
			 e->node->flags & LFS_NF_WHITEOUT ? ".wh." : "", (int)e->len, e->name);
	}
	qsort(keys, n, sizeof(*keys), dkey_cmp);
	for (uint32_t i = 0; i < n && !stop; i++) {
		const struct lfs_node *c = keys[i].e->node;
		size_t p2 = push_name(d->path, plen, keys[i].e->name, keys[i].e->len);

		stop = c->dir && c->dir->live ? dive_visit(d, c, p2) : dive_leaf(d, c, p2);
		d->path[plen] = '\0';
	}
	free(keys);
	return stop;
}

static uint64_t count_leaves(const struct lfs_node *l)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < l->dir->n; i++) {
		const struct lfs_node *c = l->dir->ents[i].node;

		if (c)
			n += c->dir && c->dir->live ? count_leaves(c) : 1;
	}
	return n;
}

/*
 * Layer K, merged by the mount's merge with report_dive_observer() watching:
 * merged into dive's view when it has one of its own, read in dive's order.
 */
void report_dive_layer(struct report_dive_acct *d, uint32_t k)
{
	const struct lfs_node *root = d->layers[k]->root;

	if (d->view)
		lfs_tree_apply_observed(d->view, as_dive_reads(d, k), &d->own_obs);
	if (d->nwh)
		qsort(d->wh, d->nwh, sizeof(*d->wh), wh_cmp);
	d->k = k;
	d->visited = 0;
	d->path[0] = '\0';
	if (dive_visit(d, root, 0))
		d->r->layers[k].dive_skipped = count_leaves(root) - d->visited;
	d->nwh = 0;
	/* An opaque directory hid names dive still sees: from here on, dive's view is its own. */
	if (!d->view && d->hid) {
		d->arena = lfs_arena_new();
		d->view = lfs_tree_new();
		for (uint32_t j = 0; j <= k; j++)
			lfs_tree_apply(d->view, as_dive_reads(d, j));
	}
	d->hid = 0;
}

/* The score from the tally, FINAL the image's merged root; frees D. */
void report_dive_finish(struct report_dive_acct *d, struct lfs_node *final)
{
	struct report *r = d->r;
	uint64_t sum_min = 0, sum_cum = 0;

	for (size_t i = 0; i < d->cap; i++) {
		const struct dpath *p = &d->slots[i];

		if (!p->path)
			continue;
		sum_min += p->min;
		sum_cum += p->cum;
		if (p->count < 2)
			continue;
		/* dive calls every copy waste, also the one the image shows */
		r->dive.wasted += p->cum;
		if (p->last && S_ISREG(p->last->mode) &&
		    lfs_node_walk(final, p->path + 1) == p->last)
			r->dive.kept_copy_bytes += p->last->size;
	}
	r->dive.efficiency = sum_cum ? (double)sum_min / (double)sum_cum : 1.0;
	lfs_tree_free(d->view);
	if (d->arena)
		lfs_arena_free(d->arena);
	free(d->marked);
	free(d->wh);
	free(d->slots);
	free(d->sized);
	free(d);
}
