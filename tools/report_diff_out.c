/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-report --diff, written out: each pair of versions with its
 * unified diff, or sizes and hashes with the reason there is none (text),
 * or the same as JSON.  A writer only: report_diff.c compared them.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "layerfs/lfs.h"
#include "report.h"

static void hash_hex(char *buf, size_t n, const struct report_version *v)
{
	const struct lfs_hash128 *h = v->node ? v->node->hash : NULL;

	if (h)
		snprintf(buf, n, "%016llx%016llx", (unsigned long long)h->hi,
			 (unsigned long long)h->lo);
	else
		snprintf(buf, n, "-");
}

static const char *note(const struct report_diff *d)
{
	return d->note ? d->note : d->text && !*d->text ? "same content" : NULL;
}

int report_diff_text(FILE *f, const struct report *r, const struct report_diffs *ds)
{
	for (size_t i = 0; i < ds->n; i++) {
		const struct report_diff *d = &ds->v[i];
		const char *in = r->layers[d->to->layer].instruction;
		char *path = report_clean(d->path), sa[32], sb[32], ha[40], hb[40];

		report_fmt_size(sa, sizeof(sa), d->from->size);
		report_fmt_size(sb, sizeof(sb), d->to->size);
		hash_hex(ha, sizeof(ha), d->from);
		hash_hex(hb, sizeof(hb), d->to);
		fprintf(f, "%s%s: layer %u (%s, xxh3 %s) -> layer %u (%s, xxh3 %s)%s%s\n",
			i ? "\n" : "", path, d->from->layer + 1, sa, ha, d->to->layer + 1, sb, hb,
			in ? ", by " : "", in ? in : "");
		free(path);
		if (note(d))
			fprintf(f, "  (%s)\n", note(d));
		else
			fputs(d->text, f);
	}
	if (!ds->n)
		fputs("No file was replaced by another version of itself.\n", f);
	return ferror(f) ? -EIO : 0;
}

static json_t *jtext(const char *s)
{
	json_t *j;
	char *c;

	if (!s)
		return json_null();
	j = json_string(s);
	if (j)
		return j;
	/* not UTF-8: the bytes that are not as \xNN (newlines too) */
	c = report_clean(s);
	j = json_string(c);
	free(c);
	return j;
}

void *report_diff_json(const struct report *r, const struct report_diffs *ds)
{
	json_t *a = json_array();

	for (size_t i = 0; i < ds->n; i++) {
		const struct report_diff *d = &ds->v[i];
		char *path = report_clean(d->path), ha[40], hb[40];

		hash_hex(ha, sizeof(ha), d->from);
		hash_hex(hb, sizeof(hb), d->to);
		json_array_append_new(
		    a, json_pack("{s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:o, s:o, s:o}", "path", path,
				 "from_layer", (json_int_t)d->from->layer + 1, "to_layer",
				 (json_int_t)d->to->layer + 1, "from_size",
				 (json_int_t)d->from->size, "to_size", (json_int_t)d->to->size,
				 "from_xxh3_128", ha, "to_xxh3_128", hb, "instruction",
				 r->layers[d->to->layer].instruction
				     ? json_string(r->layers[d->to->layer].instruction)
				     : json_null(),
				 "diff", note(d) ? json_null() : jtext(d->text), "note",
				 note(d) ? json_string(note(d)) : json_null()));
		free(path);
	}
	return a;
}
