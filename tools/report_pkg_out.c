/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-report --packages, written out: per layer, each package it
 * installed, removed, upgraded or stored again, with the bytes of its files
 * there (text), or the same as JSON.  A writer only: report_pkg.c found
 * them.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

#include "layerfs/lfs.h"
#include "report.h"

int report_packages_text(FILE *f, const struct report *r, const struct report_packages *pk)
{
	fputs("Packages in the final image:", f);
	for (int m = 0; m < REPORT_PKG_NMGR; m++) {
		if (pk->found[m])
			fprintf(f, " %s %zu", report_pkg_managers[m], pk->final_count[m]);
	}
	fputs(pk->found[0] || pk->found[1] || pk->found[2] || pk->found[3] ? "\n"
									   : " no database found\n",
	      f);
	for (uint32_t k = 0; k < pk->nlayers; k++) {
		const struct report_pkg_layer *L = &pk->layers[k];

		if (!L->n)
			continue;
		fprintf(f, "\nLayer %u: %s\n", k + 1,
			r->layers[k].instruction ? r->layers[k].instruction : "");
		for (size_t i = 0; i < L->n; i++) {
			const struct report_pkg_change *c = &L->v[i];
			char b[32], w[32], *name = report_clean(c->name);

			report_fmt_size(b, sizeof(b), c->bytes);
			report_fmt_size(w, sizeof(w), c->wasted);
			fprintf(f, "  %-6s  %-9s  %s %s%s%s  %s (%llu files)",
				report_pkg_managers[c->manager], report_pkg_changes[c->change],
				name, c->change == REPORT_PKG_UPGRADED ? c->old_version : "",
				c->change == REPORT_PKG_UPGRADED ? " -> " : "",
				c->version	 ? c->version
				: c->old_version ? c->old_version
						 : "",
				b, (unsigned long long)c->files);
			if (c->change == REPORT_PKG_UNCHANGED)
				fputs(", stored again", f);
			if (c->wasted)
				fprintf(f, ", %s not in the final image", w);
			fputc('\n', f);
			free(name);
		}
	}
	if (pk->compared) {
		fprintf(f, "\nCompared with the first image (final trees): %zu changes\n",
			pk->cmp.n);
		for (size_t i = 0; i < pk->cmp.n; i++) {
			const struct report_pkg_change *c = &pk->cmp.v[i];
			char *name = report_clean(c->name);

			fprintf(f, "  %-6s  %-9s  %s %s%s%s\n", report_pkg_managers[c->manager],
				report_pkg_changes[c->change], name,
				c->change == REPORT_PKG_UPGRADED ? c->old_version : "",
				c->change == REPORT_PKG_UPGRADED ? " -> " : "",
				c->version ? c->version : c->old_version);
			free(name);
		}
	}
	for (size_t i = 0; i < pk->nnotes; i++) {
		char *c = report_clean(pk->notes[i]);

		fprintf(f, "%s%s\n", i ? "" : "\nNot read:\n  ", c);
		free(c);
	}
	return ferror(f) ? -EIO : 0;
}

static json_t *jstr(const char *s)
{
	char *c;
	json_t *j;

	if (!s)
		return json_null();
	c = report_clean(s);
	j = json_string(c);
	free(c);
	return j;
}

void *report_packages_json(const struct report *r, const struct report_packages *pk)
{
	json_t *o = json_object(), *mg = json_object(), *ls = json_array(), *notes = json_array();

	for (int m = 0; m < REPORT_PKG_NMGR; m++)
		json_object_set_new(mg, report_pkg_managers[m],
				    json_pack("{s:b, s:I}", "found", pk->found[m], "final_count",
					      (json_int_t)pk->final_count[m]));
	for (uint32_t k = 0; k < pk->nlayers; k++) {
		const struct report_pkg_layer *L = &pk->layers[k];
		json_t *a = json_array();

		for (size_t i = 0; i < L->n; i++) {
			const struct report_pkg_change *c = &L->v[i];

			json_array_append_new(
			    a,
			    json_pack("{s:s, s:o, s:s, s:o, s:o, s:I, s:I, s:I}", "manager",
				      report_pkg_managers[c->manager], "name", jstr(c->name),
				      "change", report_pkg_changes[c->change], "version",
				      jstr(c->version), "old_version", jstr(c->old_version),
				      "bytes", (json_int_t)c->bytes, "files", (json_int_t)c->files,
				      "wasted_bytes", (json_int_t)c->wasted));
		}
		json_array_append_new(ls, json_pack("{s:I, s:o, s:o}", "layer", (json_int_t)k + 1,
						    "instruction", jstr(r->layers[k].instruction),
						    "packages", a));
	}
	for (size_t i = 0; i < pk->nnotes; i++)
		json_array_append_new(notes, jstr(pk->notes[i]));
	json_object_set_new(o, "managers", mg);
	json_object_set_new(o, "layers", ls);
	json_object_set_new(o, "not_read", notes);
	if (pk->compared) {
		json_t *a = json_array();

		for (size_t i = 0; i < pk->cmp.n; i++) {
			const struct report_pkg_change *c = &pk->cmp.v[i];

			json_array_append_new(
			    a, json_pack("{s:s, s:o, s:s, s:o, s:o}", "manager",
					 report_pkg_managers[c->manager], "name", jstr(c->name),
					 "change", report_pkg_changes[c->change], "version",
					 jstr(c->version), "old_version", jstr(c->old_version)));
		}
		json_object_set_new(o, "compare", a);
	}
	return o;
}
