/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The analysis of layerfs-report: the layers are merged by the mount's own
 * merge (tree.c) with the books of report_events.c and dive's tally
 * (report_dive.c) observing it, then the figures are summed, --ignore
 * applied and duplicates found; two images are compared on their merged
 * trees.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "layerfs/lfs.h"
#include "report.h"

static size_t path_push(char *buf, size_t plen, const char *name, uint32_t len)
{
	buf[plen] = '/';
	memcpy(buf + plen + 1, name, len);
	buf[plen + 1 + len] = '\0';
	return plen + 1 + len;
}

static int ignored(const struct report *r, const char *path)
{
	for (size_t i = 0; i < r->opts.nignore; i++)
		if (report_glob_match(r->opts.ignore[i], path))
			return 1;
	return 0;
}

/* ---------------------------------------------------------------- duplicates */

/* Same content: xxh3-128 and size. */
static int file_hash_cmp_key(const struct report_file *a, const struct report_file *b)
{
	if (a->n->hash->hi != b->n->hash->hi)
		return a->n->hash->hi < b->n->hash->hi ? -1 : 1;
	if (a->n->hash->lo != b->n->hash->lo)
		return a->n->hash->lo < b->n->hash->lo ? -1 : 1;
	if (a->n->size != b->n->size)
		return a->n->size < b->n->size ? -1 : 1;
	return 0;
}

static int file_hash_cmp(const void *pa, const void *pb)
{
	const struct report_file *a = *(struct report_file *const *)pa,
				 *b = *(struct report_file *const *)pb;
	int r = file_hash_cmp_key(a, b);

	if (r)
		return r;
	return a->n->layer != b->n->layer ? (a->n->layer < b->n->layer ? -1 : 1)
					  : strcmp(a->path, b->path);
}

static int dup_cmp(const void *pa, const void *pb)
{
	const struct report_dup *a = pa, *b = pb;

	if (a->stored_redundant != b->stored_redundant)
		return a->stored_redundant < b->stored_redundant ? 1 : -1;
	return strcmp(a->copies[0].path, b->copies[0].path);
}

static void find_duplicates(struct report_acct *x)
{
	struct report *r = x->r;
	struct report_file **v = lfs_xmalloc((x->used ? x->used : 1) * sizeof(*v));
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < x->cap; i++) {
		struct report_file *ni = &x->files[i];

		if (ni->n && S_ISREG(ni->n->mode) && ni->n->size && ni->n->hash &&
		    !ignored(r, ni->path))
			v[n++] = ni;
	}
	qsort(v, n, sizeof(*v), file_hash_cmp);
	for (size_t i = 0, j; i < n; i = j) {
		struct report_dup g = {0};

		for (j = i + 1; j < n && !file_hash_cmp_key(v[i], v[j]); j++)
			;
		if (j - i < 2)
			continue;
		g.size = v[i]->n->size;
		g.hash_hi = v[i]->n->hash->hi;
		g.hash_lo = v[i]->n->hash->lo;
		g.ncopies = (uint32_t)(j - i);
		for (size_t m = i; m < j; m++) {
			g.nvisible += v[m]->names > 0;
			g.nlayers += m == i || v[m]->n->layer != v[m - 1]->n->layer;
		}
		if (g.nvisible < 2 && g.nlayers < 2)
			continue;
		g.redundant = g.nvisible > 1 ? (g.nvisible - 1) * g.size : 0;
		g.stored_redundant = (g.ncopies - 1) * g.size;
		g.copies = lfs_xmalloc(g.ncopies * sizeof(*g.copies));
		for (size_t m = i; m < j; m++)
			g.copies[m - i] =
			    (struct report_dup_copy){v[m]->path, v[m]->n->layer, v[m]->names > 0};
		if (r->ndups == cap) {
			cap = cap ? 2 * cap : 64;
			r->dups = lfs_xrealloc(r->dups, cap * sizeof(*r->dups));
		}
		r->dups[r->ndups++] = g;
		r->totals.dup_visible_redundant += g.redundant;
		r->totals.dup_stored_redundant += g.stored_redundant;
	}
	r->totals.dup_groups = r->ndups;
	if (r->ndups)
		qsort(r->dups, r->ndups, sizeof(*r->dups), dup_cmp);
	free(v);
}

/* ---------------------------------------------------------------- totals */

static void finish(struct report_acct *x)
{
	struct report *r = x->r;
	struct report_totals *t = &r->totals;

	report_acct_visible(x);
	for (size_t i = 0; i < r->nwaste; i++)
		r->waste[i].ignored = (uint8_t)ignored(r, r->waste[i].path);
	report_acct_sum_waste(r);
	for (uint32_t k = 0; k < r->nlayers; k++) {
		const struct report_layer *L = &r->layers[k];

		t->stored_size += L->stored_size;
		t->plain_size += L->plain_size;
		t->tar_entries += L->tar_entries;
		t->stored_bytes += L->stored_bytes;
		t->visible_bytes += L->visible_bytes;
		t->hidden_bytes += L->hidden_bytes;
		t->wasted_bytes += L->wasted_bytes;
		t->ignored_bytes += L->ignored_bytes;
		for (int c = 0; c < REPORT_NCAUSES; c++)
			t->wasted_by_cause[c] += L->wasted_by_cause[c];
		if (L->plain_size)
			t->est_wasted_compressed += (double)L->wasted_bytes *
						    (double)L->stored_size / (double)L->plain_size;
	}
	t->efficiency =
	    t->stored_bytes ? 1.0 - (double)t->wasted_bytes / (double)t->stored_bytes : 1.0;
	report_set_base(r, r->opts.base);
}

/* The first BASE layers are the base image: "your" figures leave them out. */
void report_set_base(struct report *r, uint32_t base)
{
	struct report_totals *t = &r->totals;

	r->opts.base = base;
	t->user_stored_bytes = t->user_wasted_bytes = t->base_hidden_by_user = 0;
	for (uint32_t k = base; k < r->nlayers; k++)
		t->user_stored_bytes += r->layers[k].stored_bytes;
	for (size_t i = 0; i < r->nwaste; i++) {
		const struct report_waste *w = &r->waste[i];

		if (w->ignored)
			continue;
		if (w->stored >= base)
			t->user_wasted_bytes += w->bytes;
		else if (w->hidden_by >= base)
			t->base_hidden_by_user += w->bytes;
	}
	t->user_efficiency = t->user_stored_bytes
				 ? 1.0 - (double)t->user_wasted_bytes / (double)t->user_stored_bytes
				 : 1.0;
}

int report_analyze(struct report *r, const struct lfs_core *c, const struct report_opts *o)
{
	struct report_acct *x = lfs_xmalloc(sizeof(*x));
	struct report_dive_acct *dive;
	struct lfs_tree *t;

	memset(r, 0, sizeof(*r));
	r->core = c;
	r->opts = *o;
	r->arena = lfs_arena_new();
	r->nlayers = c->nlayers;
	r->layers = lfs_xcalloc(r->nlayers ? r->nlayers : 1, sizeof(*r->layers));
	report_acct_init(x, r);
	for (uint32_t k = 0; k < r->nlayers; k++) {
		const struct lfs_layer_desc *d = &c->img->layers[k];
		const struct lfs_layer *l = c->layers[k];
		struct report_layer *L = &r->layers[k];

		L->digest = d->digest;
		L->diff_id = d->diff_id;
		L->media_type = d->media_type;
		L->history_index = -1;
		L->comp = lfs_comp_name(l->comp);
		L->stored_size = l->stored_size;
		L->plain_size = l->plain_size;
		L->tar_entries = l->nentries;
		snprintf(L->name, sizeof(L->name), "%s",
			 strrchr(d->name, '/') ? strrchr(d->name, '/') + 1 : d->name);
	}
	report_history(r, lfs_core_config(c));

	/* The core merged without an observer; this merge is the same code, watched. */
	dive = report_dive_new(r, c->layers);
	t = report_merge(x, dive, c->layers, r->nlayers, o->changes_layer);
	lfs_tree_free(t);
	finish(x);
	report_dive_finish(dive, c->tree->root);
	find_duplicates(x);
	report_acct_free(x);
	free(x);
	return 0;
}

void report_free(struct report *r)
{
	if (!r)
		return;
	for (uint32_t k = 0; r->layers && k < r->nlayers; k++) {
		free(r->layers[k].created_by);
		free(r->layers[k].instruction);
		free(r->layers[k].comment);
		free(r->layers[k].config_diff_id);
		free(r->layers[k].changes);
	}
	for (size_t i = 0; i < r->ndups; i++)
		free(r->dups[i].copies);
	for (size_t i = 0; i < r->nsugg; i++)
		free(r->sugg[i].text);
	free(r->sugg);
	free(r->dups);
	free(r->waste);
	free(r->layers);
	if (r->arena)
		lfs_arena_free(r->arena);
	memset(r, 0, sizeof(*r));
}

/* ---------------------------------------------------------------- two images */

static void subtree(const struct lfs_node *n, struct report_count *cnt)
{
	cnt->entries++;
	if (!n->dir) {
		cnt->bytes += report_node_bytes(n);
		return;
	}
	for (uint32_t i = 0; i < n->dir->n; i++)
		if (n->dir->ents[i].node)
			subtree(n->dir->ents[i].node, cnt);
}

static void cmp_record(struct report_compare *cmp, const char *path, size_t plen, int kind,
		       const struct lfs_node *na, const struct lfs_node *nb)
{
	struct report_count a = {0}, b = {0};
	struct report_change *c;
	struct report_count *tot = kind == REPORT_ADDED	    ? &cmp->added
				   : kind == REPORT_REMOVED ? &cmp->removed
							    : &cmp->changed;

	if (na)
		subtree(na, &a);
	if (nb)
		subtree(nb, &b);
	tot->entries += kind == REPORT_ADDED ? b.entries : kind == REPORT_REMOVED ? a.entries : 1;
	tot->bytes += kind == REPORT_REMOVED ? a.bytes : b.bytes;
	if (cmp->nfiles == cmp->capfiles) {
		cmp->capfiles = cmp->capfiles ? 2 * cmp->capfiles : 256;
		cmp->files = lfs_xrealloc(cmp->files, cmp->capfiles * sizeof(*cmp->files));
	}
	c = &cmp->files[cmp->nfiles++];
	memset(c, 0, sizeof(*c));
	c->path = plen ? lfs_arena_strndup(cmp->arena, path, plen) : "/";
	c->kind = (uint8_t)kind;
	c->bytes = b.bytes;
	c->hidden = a.bytes;
	c->mode = nb ? nb->mode : 0;
	c->old_mode = na ? na->mode : 0;
	c->cause = na && nb ? (uint8_t)(((na->mode ^ nb->mode) & S_IFMT) ? REPORT_TYPE
									 : REPORT_OVERWRITTEN)
			    : REPORT_DELETED;
}

static void diff_dir(struct report_compare *cmp, const struct lfs_node *ga,
		     const struct lfs_node *gb, char *path, size_t plen)
{
	for (uint32_t i = 0; i < gb->dir->n; i++) {
		const struct lfs_dirent *e = &gb->dir->ents[i];
		const struct lfs_node *nb = e->node, *na;
		size_t p2;

		if (!nb)
			continue;
		na = lfs_dir_lookup(ga, e->name, e->len);
		p2 = path_push(path, plen, e->name, e->len);
		if (!na)
			cmp_record(cmp, path, p2, REPORT_ADDED, NULL, nb);
		else if (na->dir && nb->dir)
			diff_dir(cmp, na, nb, path, p2);
		else if (na->dir || nb->dir || report_replace_cause(na, nb) != REPORT_IDENTICAL)
			cmp_record(cmp, path, p2, REPORT_MODIFIED, na, nb);
		path[plen] = '\0';
	}
	for (uint32_t i = 0; i < ga->dir->n; i++) {
		const struct lfs_dirent *e = &ga->dir->ents[i];

		if (!e->node || lfs_dir_lookup(gb, e->name, e->len))
			continue;
		cmp_record(cmp, path, path_push(path, plen, e->name, e->len), REPORT_REMOVED,
			   e->node, NULL);
		path[plen] = '\0';
	}
}

/* The same layer: same diff_id (uncompressed content), else same digest. */
static int same_layer(const struct report_layer *a, const struct report_layer *b)
{
	if (a->diff_id && b->diff_id)
		return !strcmp(a->diff_id, b->diff_id);
	return a->digest && b->digest && !strcmp(a->digest, b->digest);
}

int report_compare(struct report_compare *cmp, const struct report *a, const struct report *b)
{
	char *path = lfs_xmalloc(PATH_MAX * 2);

	cmp->a = a;
	cmp->arena = lfs_arena_new();
	cmp->b_in_a = lfs_xcalloc(b->nlayers ? b->nlayers : 1, sizeof(*cmp->b_in_a));
	for (uint32_t j = 0; j < b->nlayers; j++) {
		cmp->b_in_a[j] = -1;
		for (uint32_t i = 0; i < a->nlayers && cmp->b_in_a[j] < 0; i++)
			if (same_layer(&a->layers[i], &b->layers[j]))
				cmp->b_in_a[j] = (int32_t)i;
	}
	while (cmp->shared_prefix < b->nlayers &&
	       cmp->b_in_a[cmp->shared_prefix] == (int32_t)cmp->shared_prefix)
		cmp->shared_prefix++;
	path[0] = '\0';
	diff_dir(cmp, a->core->tree->root, b->core->tree->root, path, 0);
	free(path);
	return 0;
}

void report_compare_free(struct report_compare *cmp)
{
	free(cmp->b_in_a);
	free(cmp->files);
	if (cmp->arena)
		lfs_arena_free(cmp->arena);
}
