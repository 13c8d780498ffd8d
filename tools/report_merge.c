/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The report's merge: the mount's merge (lfs_tree_apply_observed) run over
 * an image's layers with the books (report_events.c) and dive's tally
 * (report_dive.c) both watching it.  layerfs-report and fuzz_merge use this
 * one function, so the fuzzer checks the report's own run of the merge.
 */
#include "config.h"

#include "report.h"

/* The books and dive's tally both watch the one merge. */
struct watchers {
	struct report_acct *books;
	const struct lfs_merge_observer *dive;
	const struct lfs_merge_observer *watch; /* report_opts.watch */
};

static void tee(void *arg, const struct lfs_merge_event *ev)
{
	const struct watchers *w = arg;

	w->books->obs.event(w->books->obs.arg, ev);
	w->dive->event(w->dive->arg, ev);
	if (w->watch)
		w->watch->event(w->watch->arg, ev);
}

struct lfs_tree *report_merge(struct report_acct *x, struct report_dive_acct *dive,
			      struct lfs_layer *const *layers, uint32_t n, int changes_layer)
{
	struct watchers w = {x, report_dive_observer(dive), x->r->opts.watch};
	const struct lfs_merge_observer obs = {tee, &w};
	struct lfs_tree *t = lfs_tree_new();

	for (uint32_t k = 0; k < n; k++) {
		report_acct_layer(x, k, layers[k], changes_layer == -2 || changes_layer == (int)k);
		lfs_tree_apply_observed(t, layers[k]->root, &obs);
		report_dive_layer(dive, k);
	}
	return t;
}
