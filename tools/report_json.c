/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The --json report (jansson), whose schema is tests/data/report.schema.json
 * and the man page's JSON section.  A writer only: it reads struct report and
 * the rows report_select.c chose, and formats.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

#include "layerfs/lfs.h"
#include "report.h"

/* 2: totals.consistency_errors, always 0 since the report uses the mount's merge, is gone */
#define SCHEMA_VERSION 2

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *jpath(const char *p)
{
	char *c = report_clean(p);
	json_t *j = json_string(c);

	free(c);
	return j;
}

static json_t *juint(uint64_t v)
{
	return json_integer((json_int_t)v);
}

static json_t *jcount(const struct report_count *c)
{
	return json_pack("{s:o, s:o}", "entries", juint(c->entries), "bytes", juint(c->bytes));
}

static json_t *jcauses(const uint64_t *v)
{
	json_t *o = json_object();

	for (int c = 0; c < REPORT_NCAUSES; c++)
		json_object_set_new(o, report_cause_names[c], juint(v[c]));
	return o;
}

static const char *instr(const struct report *r, uint32_t k)
{
	return k < r->nlayers ? r->layers[k].instruction : NULL;
}

static json_t *jchange(const struct report_change *c)
{
	json_t *o = json_object();

	json_object_set_new(o, "path", jpath(c->path));
	json_object_set_new(o, "change", json_string(report_kind_names[c->kind]));
	json_object_set_new(o, "type", json_string(c->mode ? report_type_name(c->mode) : "none"));
	json_object_set_new(o, "old_type",
			    c->old_mode ? json_string(report_type_name(c->old_mode)) : json_null());
	json_object_set_new(o, "bytes", juint(c->bytes));
	json_object_set_new(o, "hidden_bytes", juint(c->hidden));
	json_object_set_new(o, "cause",
			    c->kind == REPORT_ADDED ? json_null()
						    : json_string(report_cause_names[c->cause]));
	json_object_set_new(o, "marker",
			    c->kind == REPORT_REMOVED && c->marker
				? json_string(report_marker_names[c->marker])
				: json_null());
	return o;
}

static json_t *jchanges(const struct report_change *ch, const struct report_rows *rows,
			size_t limit)
{
	json_t *a = json_array();

	for (size_t i = 0; i < rows->n && (!limit || i < limit); i++)
		json_array_append_new(a, jchange(&ch[rows->idx[i]]));
	return json_pack("{s:o, s:o}", "count", juint(rows->n), "paths", a);
}

static json_t *jlayer(const struct report *r, uint32_t k, const struct report_view *v)
{
	const struct report_layer *L = &r->layers[k];
	json_t *o = json_object();

	json_object_set_new(o, "number", juint(k + 1));
	json_object_set_new(o, "digest", jstr(L->digest));
	json_object_set_new(o, "diff_id", jstr(L->diff_id));
	json_object_set_new(o, "media_type", jstr(L->media_type));
	json_object_set_new(o, "compression", json_string(L->comp));
	json_object_set_new(o, "created_by", jstr(L->created_by));
	json_object_set_new(o, "instruction", jstr(L->instruction));
	json_object_set_new(o, "comment", jstr(L->comment));
	json_object_set_new(o, "history_index",
			    L->history_index >= 0 ? json_integer(L->history_index) : json_null());
	json_object_set_new(o, "base", json_boolean(k < r->opts.base));
	json_object_set_new(o, "stored_size", juint(L->stored_size));
	json_object_set_new(o, "plain_size", juint(L->plain_size));
	json_object_set_new(o, "tar_entries", juint(L->tar_entries));
	json_object_set_new(o, "entries",
			    json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "files",
				      juint(L->files), "dirs", juint(L->dirs), "symlinks",
				      juint(L->symlinks), "others", juint(L->others), "hardlinks",
				      juint(L->hardlinks), "whiteouts", juint(L->whiteouts),
				      "opaque_dirs", juint(L->opaque_dirs), "dangling_whiteouts",
				      juint(L->dangling_whiteouts)));
	json_object_set_new(o, "added", jcount(&L->added));
	json_object_set_new(o, "modified", jcount(&L->modified));
	json_object_set_new(o, "deleted", jcount(&L->removed));
	json_object_set_new(o, "stored_bytes", juint(L->stored_bytes));
	json_object_set_new(o, "visible_bytes", juint(L->visible_bytes));
	json_object_set_new(o, "hidden_bytes", juint(L->hidden_bytes));
	json_object_set_new(o, "wasted_bytes", juint(L->wasted_bytes));
	json_object_set_new(o, "ignored_bytes", juint(L->ignored_bytes));
	json_object_set_new(o, "wasted_by_cause", jcauses(L->wasted_by_cause));
	json_object_set_new(o, "hides_bytes", juint(L->hides_bytes));
	json_object_set_new(o, "hides_by_cause", jcauses(L->hides_by_cause));
	if (v->layer == (int)k)
		json_object_set_new(o, "changes",
				    jchanges(L->changes, &v->sel->changes[k], v->top_changes));
	return o;
}

static json_t *jtotals(const struct report *r)
{
	const struct report_totals *t = &r->totals;
	json_t *o = json_object();

	json_object_set_new(o, "stored_size", juint(t->stored_size));
	json_object_set_new(o, "plain_size", juint(t->plain_size));
	json_object_set_new(o, "tar_entries", juint(t->tar_entries));
	json_object_set_new(o, "stored_bytes", juint(t->stored_bytes));
	json_object_set_new(o, "visible_bytes", juint(t->visible_bytes));
	json_object_set_new(o, "visible_files", juint(t->visible_files));
	json_object_set_new(o, "hidden_bytes", juint(t->hidden_bytes));
	json_object_set_new(o, "wasted_bytes", juint(t->wasted_bytes));
	json_object_set_new(o, "ignored_bytes", juint(t->ignored_bytes));
	json_object_set_new(o, "wasted_by_cause", jcauses(t->wasted_by_cause));
	json_object_set_new(o, "wasted_by_marker",
			    json_pack("{s:o, s:o}", "whiteout",
				      juint(t->wasted_by_marker[REPORT_BY_WHITEOUT]), "opaque",
				      juint(t->wasted_by_marker[REPORT_BY_OPAQUE])));
	json_object_set_new(o, "efficiency", json_real(t->efficiency));
	json_object_set_new(o, "estimated_wasted_compressed",
			    juint((uint64_t)(t->est_wasted_compressed + 0.5)));
	json_object_set_new(o, "user",
			    json_pack("{s:I, s:o, s:o, s:f, s:o}", "base_layers",
				      (json_int_t)r->opts.base, "stored_bytes",
				      juint(t->user_stored_bytes), "wasted_bytes",
				      juint(t->user_wasted_bytes), "efficiency", t->user_efficiency,
				      "base_bytes_hidden", juint(t->base_hidden_by_user)));
	return o;
}

static json_t *jdive(const struct report *r)
{
	json_t *stops = json_array();

	for (uint32_t k = 0; k < r->nlayers; k++)
		if (r->layers[k].dive_stop)
			json_array_append_new(
			    stops, json_pack("{s:I, s:o, s:o}", "layer", (json_int_t)k + 1, "path",
					     jpath(r->layers[k].dive_stop), "skipped_entries",
					     juint(r->layers[k].dive_skipped)));
	return json_pack("{s:f, s:o, s:{s:o, s:o, s:o, s:o}}", "efficiency", r->dive.efficiency,
			 "wasted_bytes", juint(r->dive.wasted), "differences", "kept_copy_bytes",
			 juint(r->dive.kept_copy_bytes), "directory_whiteout_bytes",
			 juint(r->dive.dir_whiteout_bytes), "opaque_bytes",
			 juint(r->dive.opaque_bytes), "stopped_layers", stops);
}

static json_t *jwasted(const struct report *r, const struct report_view *v)
{
	const struct report_rows *rows = &v->sel->waste;
	json_t *a = json_array();

	for (size_t i = 0; i < rows->n && (!v->top || i < v->top); i++) {
		const struct report_waste *w = &r->waste[rows->idx[i]];

		json_array_append_new(
		    a, json_pack(
			   "{s:o, s:o, s:s, s:o, s:I, s:I, s:o, s:o}", "path", jpath(w->path),
			   "bytes", juint(w->bytes), "cause", report_cause_names[w->cause],
			   "marker", w->marker ? jstr(report_marker_names[w->marker]) : json_null(),
			   "stored_layer", (json_int_t)w->stored + 1, "hidden_by_layer",
			   (json_int_t)w->hidden_by + 1, "created_by", jstr(instr(r, w->stored)),
			   "hidden_by", jstr(instr(r, w->hidden_by))));
	}
	return json_pack("{s:o, s:o}", "count", juint(rows->n), "paths", a);
}

static json_t *jdups(const struct report *r, const struct report_view *v)
{
	json_t *a = json_array();

	for (size_t i = 0; i < v->sel->dups.n && (!v->top || i < v->top); i++) {
		const struct report_dup *d = &r->dups[v->sel->dups.idx[i]];
		json_t *copies = json_array();
		char hex[40];

		for (uint32_t j = 0; j < d->ncopies; j++)
			json_array_append_new(copies, json_pack("{s:o, s:I, s:b}", "path",
								jpath(d->copies[j].path), "layer",
								(json_int_t)d->copies[j].layer + 1,
								"visible", d->copies[j].visible));
		snprintf(hex, sizeof(hex), "%016llx%016llx", (unsigned long long)d->hash_hi,
			 (unsigned long long)d->hash_lo);
		json_array_append_new(
		    a, json_pack("{s:o, s:s, s:I, s:I, s:o, s:o, s:o}", "size", juint(d->size),
				 "xxh3_128", hex, "visible_copies", (json_int_t)d->nvisible,
				 "layers", (json_int_t)d->nlayers, "redundant_bytes",
				 juint(d->redundant), "stored_redundant_bytes",
				 juint(d->stored_redundant), "copies", copies));
	}
	return json_pack("{s:o, s:o, s:o, s:o}", "groups", juint(r->totals.dup_groups),
			 "visible_redundant_bytes", juint(r->totals.dup_visible_redundant),
			 "stored_redundant_bytes", juint(r->totals.dup_stored_redundant), "top", a);
}

static json_t *jsuggestions(const struct report *r)
{
	json_t *a = json_array();

	for (size_t i = 0; i < r->nsugg; i++) {
		const struct report_suggestion *s = &r->sugg[i];

		json_array_append_new(
		    a, json_pack("{s:s, s:o, s:o, s:o, s:I, s:o, s:o, s:o, s:s}", "kind",
				 report_sugg_names[s->kind], "path", jpath(s->path), "bytes",
				 juint(s->bytes), "files", juint(s->files), "stored_layer",
				 (json_int_t)s->stored + 1, "hidden_by_layer",
				 s->hidden_by >= 0 ? json_integer(s->hidden_by + 1) : json_null(),
				 "created_by", jstr(instr(r, s->stored)), "hidden_by",
				 s->hidden_by >= 0 ? jstr(instr(r, (uint32_t)s->hidden_by))
						   : json_null(),
				 "advice", s->text));
	}
	return a;
}

static json_t *jgates(const struct report_view *v)
{
	json_t *a = json_array();
	static const char *const ops[] = {
	    ['<'] = "<", ['l'] = "<=", ['>'] = ">", ['g'] = ">=", ['='] = "==", ['!'] = "!="};

	for (size_t i = 0; i < v->ngates; i++) {
		const struct report_gate *g = &v->gates[i];

		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:f, s:f, s:b, s:b}", "expr",
						   g->expr, "metric", g->metric, "op", ops[g->op],
						   "threshold", g->value, "actual", g->actual,
						   "applies", g->applies, "violated", g->violated));
	}
	return a;
}

static json_t *jsources(char *const *src, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, jpath(src[i]));
	return a;
}

static json_t *jimage(const struct report *r, char *const *src, size_t n)
{
	const struct lfs_image *img = r->core->img;

	static const char *const kinds[] = {[LFS_IMAGE_LAYERS] = "layers",
					    [LFS_IMAGE_DOCKER] = "docker",
					    [LFS_IMAGE_OCI_DIR] = "oci-dir",
					    [LFS_IMAGE_OCI_ARCHIVE] = "oci-archive",
					    [LFS_IMAGE_REGISTRY] = "registry"};

	return json_pack("{s:o, s:s, s:o, s:o, s:I}", "sources", jsources(src, n), "kind",
			 kinds[img->kind], "ref", jstr(img->ref), "manifest_digest",
			 jstr(img->manifest_digest), "layer_count", (json_int_t)r->nlayers);
}

static json_t *jcompare(const struct report *b, const struct report_view *v)
{
	const struct report_compare *cmp = v->cmp;
	const struct report *a = cmp->a;
	json_t *shared = json_array(), *o;
	struct report_count own_size = {0};
	uint64_t own_plain = 0, own_stored = 0, own_wasted = 0;

	for (uint32_t j = 0; j < b->nlayers; j++) {
		const struct report_layer *L = &b->layers[j];

		if (cmp->b_in_a[j] >= 0) {
			json_array_append_new(shared, json_pack("{s:I, s:I}", "a",
								(json_int_t)cmp->b_in_a[j] + 1, "b",
								(json_int_t)j + 1));
			continue;
		}
		own_size.entries++;
		own_size.bytes += L->stored_size;
		own_plain += L->plain_size;
		own_stored += L->stored_bytes;
		own_wasted += L->wasted_bytes;
	}
	o = json_pack("{s:{s:o, s:I, s:o}, s:I, s:o}", "a", "sources", jsources(v->sources, 1),
		      "layer_count", (json_int_t)a->nlayers, "totals", jtotals(a), "shared_prefix",
		      (json_int_t)cmp->shared_prefix, "shared_layers", shared);
	json_object_set_new(o, "b_own_layers",
			    json_pack("{s:o, s:o, s:o, s:o, s:o}", "count", juint(own_size.entries),
				      "stored_size", juint(own_size.bytes), "plain_size",
				      juint(own_plain), "stored_bytes", juint(own_stored),
				      "wasted_bytes", juint(own_wasted)));
	json_object_set_new(
	    o, "delta",
	    json_pack("{s:I, s:I, s:I, s:f}", "stored_size",
		      (json_int_t)b->totals.stored_size - (json_int_t)a->totals.stored_size,
		      "visible_bytes",
		      (json_int_t)b->totals.visible_bytes - (json_int_t)a->totals.visible_bytes,
		      "wasted_bytes",
		      (json_int_t)b->totals.wasted_bytes - (json_int_t)a->totals.wasted_bytes,
		      "efficiency", b->totals.efficiency - a->totals.efficiency));
	{
		json_t *files = jchanges(cmp->files, &v->sel->cmp_files, v->top);

		json_object_set_new(files, "added", jcount(&cmp->added));
		json_object_set_new(files, "deleted", jcount(&cmp->removed));
		json_object_set_new(files, "modified", jcount(&cmp->changed));
		json_object_set_new(o, "files", files);
	}
	return o;
}

int report_json(FILE *f, const struct report *r, const struct report_view *v)
{
	json_t *root, *layers = json_array(), *ign = json_array(), *flt = json_array();
	static const char *const sorts[] = {"size", "path", "layer", "cause"};
	int rc = 0;

	for (uint32_t k = 0; k < r->nlayers; k++)
		json_array_append_new(layers, jlayer(r, k, v));
	for (size_t i = 0; i < r->opts.nignore; i++)
		json_array_append_new(ign, json_string(r->opts.ignore[i]));
	for (size_t i = 0; i < v->nfilter; i++)
		json_array_append_new(flt, json_string(v->filter[i]));
	root = json_pack("{s:I, s:{s:s, s:s}}", "schema_version", (json_int_t)SCHEMA_VERSION,
			 "tool", "name", "layerfs-report", "version", PACKAGE_VERSION);
	json_object_set_new(
	    root, "image",
	    jimage(r, v->cmp ? v->sources + 1 : v->sources, v->cmp ? 1 : v->nsources));
	json_object_set_new(root, "options",
			    json_pack("{s:I, s:o, s:o, s:o, s:s, s:o}", "base",
				      (json_int_t)r->opts.base, "ignore", ign, "min_waste",
				      juint(v->min_waste), "filter", flt, "sort", sorts[v->sort],
				      "top", juint(v->top)));
	json_object_set_new(root, "layers", layers);
	json_object_set_new(root, "totals", jtotals(r));
	json_object_set_new(root, "dive", jdive(r));
	json_object_set_new(root, "wasted", jwasted(r, v));
	json_object_set_new(root, "duplicates", jdups(r, v));
	json_object_set_new(root, "suggestions", jsuggestions(r));
	json_object_set_new(root, "gates", jgates(v));
	if (v->cmp)
		json_object_set_new(root, "compare", jcompare(r, v));
	if (json_dumpf(root, f, JSON_INDENT(2)) < 0 || fputc('\n', f) == EOF)
		rc = -EIO;
	json_decref(root);
	return rc;
}
