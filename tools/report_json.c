/*
 * JSON in and out for layerfs-report (jansson): which instruction of the
 * image config's history made each layer (and the config's diff_ids), dive's
 * score computed as dive computes its JSON figures, and the --json report,
 * whose schema is tests/data/report.schema.json and the man page's JSON
 * section.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "lfs.h"
#include "report.h"

#define SCHEMA_VERSION 1

/*
 * "/bin/sh -c #(nop)  ADD file:.. in /" -> "ADD file:.. in /",
 * "|2 A=1 B=2 /bin/sh -c make" -> "RUN make", BuildKit's "RUN /bin/sh -c x
 * # buildkit" -> "RUN x"; runs of white space become one space.
 */
static char *instruction(const char *cb)
{
	const char *s = cb;
	char *out, *o;
	size_t n;
	int run = 0;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '|' && isdigit((unsigned char)s[1])) {
		long args = strtol(s + 1, (char **)&s, 10);

		for (long i = 0; i <= args && *s; i++) {
			while (*s == ' ')
				s++;
			if (i < args)
				while (*s && *s != ' ')
					s++;
		}
	}
	if (!strncmp(s, "RUN /bin/sh -c ", 15))
		s += 4;
	if (!strncmp(s, "/bin/sh -c ", 11)) {
		s += 11;
		while (*s == ' ')
			s++;
		if (!strncmp(s, "#(nop)", 6)) {
			s += 6;
			while (*s == ' ')
				s++;
		} else {
			run = 1;
		}
	}
	n = strlen(s);
	if (n >= 11 && !strcmp(s + n - 11, " # buildkit"))
		n -= 11;
	out = o = lfs_xmalloc(n + 5);
	if (run)
		o = stpcpy(o, "RUN ");
	for (size_t i = 0; i < n; i++) {
		if (isspace((unsigned char)s[i])) {
			if (o > out && o[-1] != ' ')
				*o++ = ' ';
			continue;
		}
		*o++ = s[i];
	}
	while (o > out && o[-1] == ' ')
		o--;
	*o = '\0';
	return out;
}

static char *dup_string(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? lfs_xstrdup(s) : NULL;
}

/*
 * History entries marked empty_layer (ENV, CMD, ...) made no layer; the
 * others match the layers in order, lowest first.
 */
void report_history(struct report *r, const char *config, size_t len)
{
	json_error_t err;
	json_t *root, *hist, *ids;
	uint32_t k = 0;
	size_t i;

	if (!config)
		return;
	root = json_loadb(config, len, 0, &err);
	if (!root) {
		lfs_warn("image config: line %d: %s", err.line, err.text);
		return;
	}
	/* OCI manifests name compressed blobs: the config knows the content. */
	ids = json_object_get(json_object_get(root, "rootfs"), "diff_ids");
	for (i = 0; i < json_array_size(ids) && i < r->nlayers; i++) {
		const char *id = json_string_value(json_array_get(ids, i));

		if (id && !r->layers[i].diff_id) {
			r->layers[i].config_diff_id = lfs_xstrdup(id);
			r->layers[i].diff_id = r->layers[i].config_diff_id;
		}
	}
	hist = json_object_get(root, "history");
	for (i = 0; i < json_array_size(hist); i++) {
		json_t *h = json_array_get(hist, i);
		struct report_layer *L;

		if (json_is_true(json_object_get(h, "empty_layer")))
			continue;
		if (k >= r->nlayers) {
			k++;
			continue;
		}
		L = &r->layers[k++];
		L->history_index = (int)i;
		L->created_by = dup_string(h, "created_by");
		L->comment = dup_string(h, "comment");
		if (L->created_by)
			L->instruction = instruction(L->created_by);
	}
	if (json_array_size(hist) && k != r->nlayers) {
		lfs_warn("the image config's history lists %u layers, the image has %u: "
			 "instructions may be attributed to the wrong layers",
			 k, r->nlayers);
	}
	json_decref(root);
}

/* ---------------------------------------------------------------- dive's score */

/*
 * dive's efficiency, computed the way dive computes it, to print beside
 * ours: every leaf of every layer's tree (files, whiteouts, empty
 * directories) in dive's visiting order, adding its size to its path's
 * total; a whiteout of a directory weighs the directory below it in dive's
 * own stacking (which knows whiteouts, not opaque directories), and a
 * whiteout of a path missing below ends dive's reading of that layer.
 */
struct dpath {
	const char *path;
	uint32_t len, count;
	uint64_t cum, min;
	const struct lfs_node *last; /* the latest copy, NULL after a whiteout */
};

struct dive {
	struct report *r;
	uint32_t k;
	int (*first_name)(void *arg, const struct lfs_node *n);
	void *arg;
	struct dpath *slots;
	size_t cap, used;
	struct lfs_node *view;
	uint64_t visited;
	char path[PATH_MAX * 2];
};

static struct dpath *dpath_get(struct dive *d, size_t len)
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

static size_t push_name(char *buf, size_t plen, const char *name, uint32_t len)
{
	buf[plen] = '/';
	memcpy(buf + plen + 1, name, len);
	buf[plen + 1 + len] = '\0';
	return plen + 1 + len;
}

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

/* One leaf; returns 1 where dive stops reading the layer. */
static int dive_leaf(struct dive *d, const struct lfs_node *c, size_t plen)
{
	uint64_t size = 0;
	struct dpath *p;

	if (c->flags & LFS_NF_WHITEOUT) {
		const struct lfs_node *below = lfs_node_walk(d->view, d->path + 1);

		if (!below) {
			d->r->layers[d->k].dive_stop =
			    lfs_arena_strndup(d->r->arena, d->path, plen);
			d->r->dive.layers_stopped++;
			return 1;
		}
		size = below->dir ? subtree_size(below) : 0;
	} else if (S_ISREG(c->mode) && d->first_name(d->arg, c)) {
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
static int dive_visit(struct dive *d, const struct lfs_node *l, size_t plen)
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

/* dive stacks layers with whiteouts only: opaque markers are dropped. */
static void dive_apply(struct dive *d, struct lfs_node *g, const struct lfs_node *l)
{
	for (uint32_t i = 0; i < l->dir->n; i++) {
		const struct lfs_dirent *e = &l->dir->ents[i];
		const struct lfs_node *c = e->node;
		struct lfs_node *old;

		if (!c)
			continue;
		if (c->flags & LFS_NF_WHITEOUT) {
			lfs_dir_remove(g, e->name, e->len);
		} else if (!c->dir) {
			lfs_dir_set(g, e->name, e->len, (struct lfs_node *)c);
		} else {
			old = lfs_dir_lookup(g, e->name, e->len);
			if (!old || !old->dir) {
				old = lfs_dir_new(d->r->arena, g);
				lfs_dir_set(g, e->name, e->len, old);
			}
			dive_apply(d, old, c);
		}
	}
}

void report_dive(struct report *r, int (*first_name)(void *arg, const struct lfs_node *n),
		 void *arg)
{
	struct dive *d = lfs_xcalloc(1, sizeof(*d));
	uint64_t sum_min = 0, sum_cum = 0;

	d->r = r;
	d->first_name = first_name;
	d->arg = arg;
	d->view = lfs_dir_new(r->arena, NULL);
	for (uint32_t k = 0; k < r->nlayers; k++) {
		const struct lfs_node *root = r->core->layers[k]->root;

		d->k = k;
		d->visited = 0;
		d->path[0] = '\0';
		if (dive_visit(d, root, 0))
			r->layers[k].dive_skipped = count_leaves(root) - d->visited;
		dive_apply(d, d->view, root);
	}
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
		    lfs_node_walk(r->core->tree->root, p->path + 1) == p->last)
			r->dive.kept_copy_bytes += p->last->size;
	}
	r->dive.efficiency = sum_cum ? (double)sum_min / (double)sum_cum : 1.0;
	free(d->slots);
	free(d);
}

/* ---------------------------------------------------------------- writing */

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

static json_t *jchanges(const struct report_change *ch, size_t n, const struct report_view *v,
			size_t limit)
{
	size_t *idx, m = report_select_changes(ch, n, v, &idx);
	json_t *a = json_array();

	for (size_t i = 0; i < m && (!limit || i < limit); i++)
		json_array_append_new(a, jchange(&ch[idx[i]]));
	free(idx);
	return json_pack("{s:o, s:o}", "count", juint(m), "paths", a);
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
				    jchanges(L->changes, L->nchanges, v, v->top_changes));
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
	/* The figures come from the mount's own merge: nothing left to disagree (kept for readers).
	 */
	json_object_set_new(o, "consistency_errors", juint(0));
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
	size_t *idx, n = report_select_waste(r, v, &idx);
	json_t *a = json_array();

	for (size_t i = 0; i < n && (!v->top || i < v->top); i++) {
		const struct report_waste *w = &r->waste[idx[i]];

		json_array_append_new(
		    a, json_pack(
			   "{s:o, s:o, s:s, s:o, s:I, s:I, s:o, s:o}", "path", jpath(w->path),
			   "bytes", juint(w->bytes), "cause", report_cause_names[w->cause],
			   "marker", w->marker ? jstr(report_marker_names[w->marker]) : json_null(),
			   "stored_layer", (json_int_t)w->stored + 1, "hidden_by_layer",
			   (json_int_t)w->hidden_by + 1, "created_by", jstr(instr(r, w->stored)),
			   "hidden_by", jstr(instr(r, w->hidden_by))));
	}
	free(idx);
	return json_pack("{s:o, s:o}", "count", juint(n), "paths", a);
}

static json_t *jdups(const struct report *r, const struct report_view *v)
{
	json_t *a = json_array();
	size_t shown = 0;

	for (size_t i = 0; i < r->ndups && (!v->top || shown < v->top); i++) {
		const struct report_dup *d = &r->dups[i];
		json_t *copies = json_array();
		char hex[40];
		int match = 0;

		for (uint32_t j = 0; j < d->ncopies; j++)
			match |= report_filter_match(v, d->copies[j].path);
		if (!match) {
			json_decref(copies);
			continue;
		}
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
		shown++;
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
					    [LFS_IMAGE_OCI_ARCHIVE] = "oci-archive"};

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
		json_t *files = jchanges(cmp->files, cmp->nfiles, v, v->top);

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
