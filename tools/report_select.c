/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which rows each listing of layerfs-report shows and in what order: the
 * waste rows not --ignore'd, duplicates, each layer's changes and the
 * comparison's paths, kept by --filter and ordered by --sort.  Computed once
 * for the view, before any writer runs; the writers only walk the rows.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "layerfs/lfs.h"
#include "report.h"

/* --filter: a path is listed when it matches one of the globs (all, without any). */
static int filter_match(const struct report_view *v, const char *path)
{
	if (!v->nfilter)
		return 1;
	for (size_t i = 0; i < v->nfilter; i++)
		if (report_glob_match(v->filter[i], path))
			return 1;
	return 0;
}

/* What qsort_r's comparators see: the order asked for and the rows. */
struct order {
	int sort;
	const void *rows;
};

static int by_size_path(uint64_t a, uint64_t b, const char *pa, const char *pb)
{
	if (a != b)
		return a < b ? 1 : -1;
	return strcmp(pa, pb);
}

static int waste_cmp(const void *pa, const void *pb, void *arg)
{
	const struct order *o = arg;
	const struct report_waste *a = (const struct report_waste *)o->rows + *(const size_t *)pa;
	const struct report_waste *b = (const struct report_waste *)o->rows + *(const size_t *)pb;

	switch (o->sort) {
	case REPORT_SORT_PATH:
		return strcmp(a->path, b->path);
	case REPORT_SORT_LAYER:
		if (a->stored != b->stored)
			return a->stored < b->stored ? -1 : 1;
		break;
	case REPORT_SORT_CAUSE:
		if (a->cause != b->cause)
			return a->cause < b->cause ? -1 : 1;
		break;
	}
	return by_size_path(a->bytes, b->bytes, a->path, b->path);
}

/* Waste rows to list: filtered by --filter, not ignored, sorted. */
static void select_waste(struct report_rows *out, const struct report *r,
			 const struct report_view *v)
{
	size_t *idx = lfs_xmalloc((r->nwaste ? r->nwaste : 1) * sizeof(*idx)), n = 0;
	struct order o = {v->sort, r->waste};

	for (size_t i = 0; i < r->nwaste; i++)
		if (!r->waste[i].ignored && filter_match(v, r->waste[i].path))
			idx[n++] = i;
	qsort_r(idx, n, sizeof(*idx), waste_cmp, &o);
	out->idx = idx;
	out->n = n;
}

/* A change weighs what it stores or what it hides, whichever is more. */
static uint64_t change_size(const struct report_change *c)
{
	return c->bytes > c->hidden ? c->bytes : c->hidden;
}

static int change_cmp(const void *pa, const void *pb, void *arg)
{
	const struct order *o = arg;
	const struct report_change *a = (const struct report_change *)o->rows + *(const size_t *)pa;
	const struct report_change *b = (const struct report_change *)o->rows + *(const size_t *)pb;

	switch (o->sort) {
	case REPORT_SORT_PATH:
		return strcmp(a->path, b->path);
	case REPORT_SORT_CAUSE:
	case REPORT_SORT_LAYER:
		if (a->kind != b->kind)
			return a->kind < b->kind ? -1 : 1;
		break;
	}
	return by_size_path(change_size(a), change_size(b), a->path, b->path);
}

static void select_changes(struct report_rows *out, const struct report_change *ch, size_t nch,
			   const struct report_view *v)
{
	size_t *idx = lfs_xmalloc((nch ? nch : 1) * sizeof(*idx)), n = 0;
	struct order o = {v->sort, ch};

	for (size_t i = 0; i < nch; i++)
		if (filter_match(v, ch[i].path))
			idx[n++] = i;
	qsort_r(idx, n, sizeof(*idx), change_cmp, &o);
	out->idx = idx;
	out->n = n;
}

/* Duplicate groups with a copy --filter keeps, in the analysis' order (biggest first). */
static void select_dups(struct report_rows *out, const struct report *r,
			const struct report_view *v)
{
	size_t *idx = lfs_xmalloc((r->ndups ? r->ndups : 1) * sizeof(*idx)), n = 0;

	for (size_t i = 0; i < r->ndups; i++) {
		const struct report_dup *d = &r->dups[i];
		int match = 0;

		for (uint32_t j = 0; j < d->ncopies && !match; j++)
			match = filter_match(v, d->copies[j].path);
		if (match)
			idx[n++] = i;
	}
	out->idx = idx;
	out->n = n;
}

void report_select(struct report_selection *s, const struct report *r, const struct report_view *v)
{
	memset(s, 0, sizeof(*s));
	select_waste(&s->waste, r, v);
	select_dups(&s->dups, r, v);
	s->nlayers = r->nlayers;
	s->changes = lfs_xcalloc(r->nlayers ? r->nlayers : 1, sizeof(*s->changes));
	for (uint32_t k = 0; k < r->nlayers; k++)
		select_changes(&s->changes[k], r->layers[k].changes, r->layers[k].nchanges, v);
	if (v->cmp)
		select_changes(&s->cmp_files, v->cmp->files, v->cmp->nfiles, v);
}

void report_selection_free(struct report_selection *s)
{
	for (uint32_t k = 0; s->changes && k < s->nlayers; k++)
		free(s->changes[k].idx);
	free(s->changes);
	free(s->waste.idx);
	free(s->dups.idx);
	free(s->cmp_files.idx);
	memset(s, 0, sizeof(*s));
}
