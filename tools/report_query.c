/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-report's questions about single paths and trees (--path, --tree,
 * --diff, --packages): their output, in place of the report, as text or as
 * one JSON document ({"tool", "sources", and one key per question}).
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

#include "layerfs/lfs.h"
#include "report.h"

static int text(FILE *f, const struct report *r, const struct report_query *q)
{
	int rc = 0;

	if (q->paths)
		rc = report_paths_text(f, r, q->paths);
	if (!rc && q->tree) {
		if (q->paths)
			fputc('\n', f);
		rc = report_tree_text(f, r, q->tree);
	}
	if (!rc && q->diffs) {
		if (q->paths || q->tree)
			fputc('\n', f);
		rc = report_diff_text(f, r, q->diffs);
	}
	if (!rc && q->packages) {
		if (q->paths || q->tree || q->diffs)
			fputc('\n', f);
		rc = report_packages_text(f, r, q->packages);
	}
	return rc ? rc : ferror(f) ? -EIO : 0;
}

int report_query_write(FILE *f, const struct report *r, const struct report_query *q,
		       char *const *sources, size_t nsources, int json)
{
	json_t *root, *src;
	int rc = 0;

	if (!json)
		return text(f, r, q);
	root = json_object();
	src = json_array();
	for (size_t i = 0; i < nsources; i++)
		json_array_append_new(src, json_string(sources[i]));
	json_object_set_new(root, "tool", json_string("layerfs-report " PACKAGE_VERSION));
	json_object_set_new(root, "sources", src);
	json_object_set_new(root, "layer_count", json_integer(r->nlayers));
	if (q->paths)
		json_object_set_new(root, "paths", report_paths_json(r, q->paths));
	if (q->tree)
		json_object_set_new(root, "tree", report_tree_json(r, q->tree));
	if (q->diffs)
		json_object_set_new(root, "diffs", report_diff_json(r, q->diffs));
	if (q->packages)
		json_object_set_new(root, "packages", report_packages_json(r, q->packages));
	if (json_dumpf(root, f, JSON_INDENT(2)) < 0 || fputc('\n', f) == EOF)
		rc = -EIO;
	json_decref(root);
	return rc;
}

/* Finish PS (--path or --diff, OPT): its globs that matched nothing are said. */
static size_t finish(struct report_paths *ps, const struct report *r, const char *opt)
{
	const char *first = NULL;
	size_t unmatched;

	report_paths_finish(ps, r);
	unmatched = report_paths_unmatched(ps, &first);
	if (unmatched)
		fprintf(stderr, "layerfs-report: %s '%s'%s: no layer has such a path\n", opt, first,
			unmatched > 1 ? " (and others)" : "");
	return unmatched;
}

int report_query_answer(FILE *f, const struct report *r, struct report_paths *ps,
			struct report_paths *diff, struct report_packages *pk,
			struct report_packages *pk_a, const struct report *ra, int tree,
			uint32_t depth, int layer, char *const *sources, size_t nsources, int json)
{
	struct report_query q = {.paths = ps, .packages = pk};
	struct report_diffs ds;
	struct report_tree t;
	size_t unmatched = 0;
	int rc;

	if (ps)
		unmatched += finish(ps, r, "--path");
	if (diff) {
		unmatched += finish(diff, r, "--diff");
		report_diffs_build(&ds, r, diff, layer);
		q.diffs = &ds;
	}
	if (pk)
		report_packages_build(pk, r);
	if (pk && pk_a) {
		report_packages_build(pk_a, ra);
		report_packages_compare(pk, pk_a);
	}
	if (tree) {
		report_tree_build(&t, r, layer, depth);
		q.tree = &t;
	}
	rc = report_query_write(f, r, &q, sources, nsources, json);
	if (tree)
		report_tree_free(&t);
	if (diff)
		report_diffs_free(&ds);
	return rc < 0 ? rc : unmatched ? 1 : 0;
}
