/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-report --tree, written out: one line per entry, indented by
 * depth, with the bytes below each directory and the layer of each entry
 * (or its mark in a layer's tree), or the same rows as JSON.  A writer
 * only: report_tree.c made the rows.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "layerfs/lfs.h"
#include "report.h"

/* The full paths of the rows, rebuilt from names and depths as they go by. */
struct pathbuf {
	char buf[2 * PATH_MAX + 2];
	size_t len[PATH_MAX / 2 + 2]; /* length of the path at each depth */
};

static const char *row_path(struct pathbuf *pb, const struct report_tree_row *w)
{
	size_t at, n;

	if (w->depth == 0 || w->depth > PATH_MAX / 2) {
		pb->len[0] = 0;
		return "/";
	}
	at = pb->len[w->depth - 1];
	n = strlen(w->name);
	if (at + 1 + n >= sizeof(pb->buf))
		n = sizeof(pb->buf) - at - 2;
	pb->buf[at] = '/';
	memcpy(pb->buf + at + 1, w->name, n);
	pb->len[w->depth] = at + 1 + n;
	pb->buf[at + 1 + n] = '\0';
	return pb->buf;
}

static int shown(const struct report_tree *t, const struct report_tree_row *w)
{
	return !t->depth || w->depth <= t->depth;
}

int report_tree_text(FILE *f, const struct report *r, const struct report_tree *t)
{
	static const char *const marks[3] = {"added", "modified", "deleted"};

	if (t->layer >= 0)
		fprintf(f, "Layer %d: %s\n%9s  %-8s  %s\n", t->layer + 1,
			r->layers[t->layer].instruction ? r->layers[t->layer].instruction : "",
			"SIZE", "CHANGE", "PATH");
	else
		fprintf(f, "%9s  %5s  %s\n", "SIZE", "LAYER", "PATH");
	for (size_t i = 0; i < t->n; i++) {
		const struct report_tree_row *w = &t->rows[i];
		char sz[32], ly[16], *name;
		int dir = S_ISDIR(w->mode);

		if (!shown(t, w))
			continue;
		name = report_clean(w->depth ? w->name : "/");
		report_fmt_size(sz, sizeof(sz), w->bytes);
		if (t->layer >= 0)
			fprintf(f, "%9s  %-8s  ", sz, w->change >= 0 ? marks[w->change] : "");
		else
			fprintf(f, "%9s  %5s  ", sz,
				w->layer >= 0 ? (snprintf(ly, sizeof(ly), "%d", w->layer + 1), ly)
					      : "-");
		fprintf(f, "%*s%s%s", (int)(w->depth ? 2 * (w->depth - 1) : 0), "", name,
			dir && w->depth ? "/" : "");
		free(name);
		if (w->node && S_ISLNK(w->node->mode) && w->node->link) {
			char *l = report_clean(w->node->link);

			fprintf(f, " -> %s", l);
			free(l);
		}
		fputc('\n', f);
	}
	return ferror(f) ? -EIO : 0;
}

void *report_tree_json(const struct report *r, const struct report_tree *t)
{
	json_t *o = json_object(), *a = json_array();
	struct pathbuf *pb = lfs_xmalloc(sizeof(*pb));

	(void)r;
	json_object_set_new(o, "layer", t->layer >= 0 ? json_integer(t->layer + 1) : json_null());
	json_object_set_new(o, "depth", t->depth ? json_integer(t->depth) : json_null());
	for (size_t i = 0; i < t->n; i++) {
		const struct report_tree_row *w = &t->rows[i];
		const char *p = w->path ? w->path : row_path(pb, w);
		char *c;
		json_t *e;

		if (!shown(t, w))
			continue;
		c = report_clean(w->depth ? p : "/");
		e = json_pack("{s:s, s:s, s:I, s:I, s:I}", "path", c, "type",
			      report_type_name(w->mode), "depth", (json_int_t)w->depth, "bytes",
			      (json_int_t)w->bytes, "files", (json_int_t)w->files);
		free(c);
		json_object_set_new(e, "layer",
				    w->layer >= 0 ? json_integer(w->layer + 1) : json_null());
		if (t->layer >= 0) {
			json_object_set_new(e, "change",
					    w->change >= 0
						? json_string(report_kind_names[w->change])
						: json_null());
			json_object_set_new(e, "hidden_bytes", json_integer((json_int_t)w->hidden));
		}
		json_array_append_new(a, e);
	}
	free(pb);
	json_object_set_new(o, "entries", a);
	return o;
}
