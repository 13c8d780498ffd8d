/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The terminal report of layerfs-report (coloured only on a TTY, never with
 * NO_COLOR).  A writer only: it reads struct report and the rows
 * report_select.c chose, and formats.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "layerfs/lfs.h"
#include "report.h"

struct out {
	FILE *f;
	int color;
	int width; /* of the instruction column */
};

enum { C_OFF, C_BOLD, C_DIM, C_RED, C_GREEN, C_YELLOW };

static const char *col(const struct out *o, int c)
{
	static const char *const codes[] = {"\033[0m",	"\033[1m",  "\033[2m",
					    "\033[31m", "\033[32m", "\033[33m"};

	return o->color ? codes[c] : "";
}

static const char *sz(char *buf, uint64_t b)
{
	report_fmt_size(buf, 16, b);
	return buf;
}

/* Short form of a layer digest ("3f2a9c1b44d0"), or the layer file's name. */
static void short_id(char *buf, size_t n, const struct report_layer *L)
{
	const char *d = L->digest ? L->digest : L->diff_id;

	if (d && !strncmp(d, "sha256:", 7))
		snprintf(buf, n, "%.12s", d + 7);
	else
		snprintf(buf, n, "%.12s", L->name);
}

static void pct(char *buf, size_t n, uint64_t part, uint64_t whole)
{
	snprintf(buf, n, "%.1f%%", whole ? 100.0 * (double)part / (double)whole : 0.0);
}

static void print_instr(const struct out *o, const char *s)
{
	char *c = report_clean(s ? s : "-");
	int cut = o->width - 3;

	if ((int)strlen(c) > o->width && cut > 0) {
		/* never in the middle of a UTF-8 sequence */
		while (cut > 0 && (c[cut] & 0xc0) == 0x80)
			cut--;
		fprintf(o->f, "%.*s...", cut, c);
	} else {
		fputs(c, o->f);
	}
	free(c);
}

static void print_path(const struct out *o, const char *p)
{
	char *c = report_clean(p);

	fputs(c, o->f);
	free(c);
}

static void table(const struct out *o, const struct report *r)
{
	const struct report_totals *t = &r->totals;
	char a[16], b[16], c[16], d[16], e[16], f[16], g[16], id[16];

	fprintf(o->f, "%s  #  %-12s %9s %9s %7s %9s %8s %9s %7s %9s %9s %9s  %s%s\n",
		col(o, C_BOLD), "layer", "compr", "plain", "added", "bytes", "modified", "bytes",
		"deleted", "bytes", "visible", "wasted", "instruction", col(o, C_OFF));
	for (uint32_t k = 0; k < r->nlayers; k++) {
		const struct report_layer *L = &r->layers[k];

		if (k == r->opts.base && k)
			fprintf(o->f, "%s  -- layers from here on are yours (--base %u) --%s\n",
				col(o, C_DIM), r->opts.base, col(o, C_OFF));
		short_id(id, sizeof(id), L);
		fprintf(o->f, "%3u  %-12s %9s %9s %7llu %9s %8llu %9s %7llu %9s %9s %s%9s%s  ",
			k + 1, id, sz(a, L->stored_size), sz(b, L->plain_size),
			(unsigned long long)L->added.entries, sz(c, L->added.bytes),
			(unsigned long long)L->modified.entries, sz(d, L->modified.bytes),
			(unsigned long long)L->removed.entries, sz(e, L->removed.bytes),
			sz(f, L->visible_bytes), L->wasted_bytes ? col(o, C_RED) : "",
			sz(g, L->wasted_bytes), L->wasted_bytes ? col(o, C_OFF) : "");
		print_instr(o, L->instruction);
		fputc('\n', o->f);
	}
	fprintf(o->f, "%s  %-15s %9s %9s %7s %9s %8s %9s %7s %9s %9s %9s%s\n", col(o, C_BOLD),
		"total", sz(a, t->stored_size), sz(b, t->plain_size), "", "", "", "", "", "",
		sz(f, t->visible_bytes), sz(g, t->wasted_bytes), col(o, C_OFF));
}

static void summary(const struct out *o, const struct report *r)
{
	const struct report_totals *t = &r->totals;
	char a[16], b[16], c[16], d[16], e[16], p[16];
	int good = t->efficiency >= 0.95;

	pct(p, sizeof(p), t->wasted_bytes, t->stored_bytes);
	fprintf(o->f,
		"\n%sWaste%s: %s of %s stored in files (%s), about %s compressed; "
		"efficiency %s%.4f%s\n",
		col(o, C_BOLD), col(o, C_OFF), sz(a, t->wasted_bytes), sz(b, t->stored_bytes), p,
		sz(c, (uint64_t)(t->est_wasted_compressed + 0.5)), col(o, good ? C_GREEN : C_RED),
		t->efficiency, col(o, C_OFF));
	fprintf(o->f,
		"  by cause: deleted %s (whiteouts %s, opaque dirs %s), overwritten %s, "
		"re-stored identical %s, type changed %s\n",
		sz(a, t->wasted_by_cause[REPORT_DELETED]),
		sz(b, t->wasted_by_marker[REPORT_BY_WHITEOUT]),
		sz(c, t->wasted_by_marker[REPORT_BY_OPAQUE]),
		sz(d, t->wasted_by_cause[REPORT_OVERWRITTEN]),
		sz(e, t->wasted_by_cause[REPORT_IDENTICAL]),
		sz(p, t->wasted_by_cause[REPORT_TYPE]));
	if (t->ignored_bytes)
		fprintf(o->f, "  left out by --ignore: %s\n", sz(a, t->ignored_bytes));
	if (r->opts.base)
		fprintf(o->f,
			"  your layers (%u-%u): wasted %s of %s, efficiency %.4f; base bytes "
			"they hide (not reclaimable without changing the base): %s\n",
			r->opts.base + 1, r->nlayers, sz(a, t->user_wasted_bytes),
			sz(b, t->user_stored_bytes), t->user_efficiency,
			sz(c, t->base_hidden_by_user));
	fprintf(o->f,
		"  dive's score for comparison: efficiency %.4f, wasted %s. dive counts "
		"the kept copy as waste (%s here)",
		r->dive.efficiency, sz(a, r->dive.wasted), sz(b, r->dive.kept_copy_bytes));
	if (r->dive.dir_whiteout_bytes)
		fprintf(o->f, ", ignores directories deleted by one whiteout (%s)",
			sz(a, r->dive.dir_whiteout_bytes));
	if (r->dive.opaque_bytes)
		fprintf(o->f, ", drops opaque directories (%s)", sz(a, r->dive.opaque_bytes));
	for (uint32_t k = 0; k < r->nlayers; k++) {
		char *c2;

		if (!r->layers[k].dive_stop)
			continue;
		c2 = report_clean(r->layers[k].dive_stop);
		fprintf(o->f,
			", stops reading layer %u at the whiteout of %s, absent below "
			"(%llu entries unread)",
			k + 1, c2, (unsigned long long)r->layers[k].dive_skipped);
		free(c2);
	}
	fprintf(o->f, ".\n");
	if (t->dup_groups)
		fprintf(o->f,
			"%sDuplicates%s: %llu contents stored more than once: %s redundant "
			"in the final image, %s across all layers\n",
			col(o, C_BOLD), col(o, C_OFF), (unsigned long long)t->dup_groups,
			sz(a, t->dup_visible_redundant), sz(b, t->dup_stored_redundant));
}

static const char *cause_label(int cause, int marker)
{
	if (cause == REPORT_DELETED)
		return marker == REPORT_BY_OPAQUE ? "deleted (opaque dir)" : "deleted (whiteout)";
	return cause == REPORT_OVERWRITTEN ? "overwritten"
	       : cause == REPORT_IDENTICAL ? "identical (metadata)"
					   : "type changed";
}

static void wasted(const struct out *o, const struct report *r, const struct report_view *v)
{
	const struct report_rows *rows = &v->sel->waste;
	size_t n = rows->n, show = v->top && v->top < n ? v->top : n;
	char a[16];

	if (!n)
		return;
	fprintf(o->f, "\n%sBiggest wasted paths%s (%zu of %zu):\n", col(o, C_BOLD), col(o, C_OFF),
		show, n);
	fprintf(o->f, "%s  %9s  %-20s  %6s  %6s  %s%s\n", col(o, C_DIM), "bytes", "cause", "stored",
		"hidden", "path", col(o, C_OFF));
	for (size_t i = 0; i < show; i++) {
		const struct report_waste *w = &r->waste[rows->idx[i]];

		fprintf(o->f, "  %9s  %-20s  %6u  %6u  ", sz(a, w->bytes),
			cause_label(w->cause, w->marker), w->stored + 1, w->hidden_by + 1);
		print_path(o, w->path);
		fputc('\n', o->f);
	}
}

static void dups(const struct out *o, const struct report *r, const struct report_view *v)
{
	size_t lim = v->top && v->top < 5 ? v->top : 5;
	char a[16];

	if (!r->ndups)
		return;
	fprintf(o->f, "\n%sLargest duplicates%s:\n", col(o, C_BOLD), col(o, C_OFF));
	for (size_t i = 0; i < v->sel->dups.n && i < lim; i++) {
		const struct report_dup *d = &r->dups[v->sel->dups.idx[i]];

		fprintf(o->f, "  %9s x%u:", sz(a, d->size), d->ncopies);
		for (uint32_t j = 0; j < d->ncopies && j < 4; j++) {
			fputc(' ', o->f);
			print_path(o, d->copies[j].path);
			fprintf(o->f, " (layer %u%s)", d->copies[j].layer + 1,
				d->copies[j].visible ? "" : ", hidden");
		}
		fprintf(o->f, "%s\n", d->ncopies > 4 ? " ..." : "");
	}
}

static void suggestions(const struct out *o, const struct report *r)
{
	if (!r->nsugg)
		return;
	fprintf(o->f, "\n%sSuggestions%s:\n", col(o, C_BOLD), col(o, C_OFF));
	for (size_t i = 0; i < r->nsugg; i++) {
		char *c = report_clean(r->sugg[i].text);

		fprintf(o->f, "  %s*%s %s\n", col(o, C_YELLOW), col(o, C_OFF), c);
		free(c);
	}
}

static void gates(const struct out *o, const struct report_view *v)
{
	char mw[32];

	if (!v->ngates)
		return;
	report_fmt_size(mw, sizeof(mw), v->min_waste);
	fprintf(o->f, "\n%sGates%s (--min-waste %s):\n", col(o, C_BOLD), col(o, C_OFF), mw);
	for (size_t i = 0; i < v->ngates; i++) {
		const struct report_gate *g = &v->gates[i];
		char a[48];

		fprintf(o->f, "  %-28s %s%-8s%s %s = ", g->expr,
			col(o, g->violated ? C_RED : C_GREEN),
			g->violated  ? "FAILED"
			: g->applies ? "ok"
				     : "skipped",
			col(o, C_OFF), g->metric);
		report_fmt_value(a, sizeof(a), g->unit, g->actual);
		if (g->unit == REPORT_UNIT_BYTES)
			fprintf(o->f, "%s (%.0f)\n", a, g->actual);
		else
			fprintf(o->f, "%s\n", a);
	}
}

static void layer_listing(const struct out *o, const struct report *r, const struct report_view *v)
{
	static const int kind_color[] = {C_GREEN, C_YELLOW, C_RED};
	const struct report_layer *L = &r->layers[v->layer];
	const struct report_rows *rows = &v->sel->changes[v->layer];
	char a[16], b[16], c[16], d[16], e[16];
	char *instr = report_clean(L->instruction ? L->instruction : "(no history)");

	fprintf(o->f, "%sLayer %d%s of %u: %s\n", col(o, C_BOLD), v->layer + 1, col(o, C_OFF),
		r->nlayers, instr);
	free(instr);
	fprintf(o->f, "  %s, %s compressed (%s), %s uncompressed\n",
		L->digest    ? L->digest
		: L->diff_id ? L->diff_id
			     : L->name,
		sz(a, L->stored_size), L->comp, sz(b, L->plain_size));
	fprintf(o->f,
		"  added %llu (%s), modified %llu (%s), deleted %llu (%s); "
		"%s still visible, %s hidden by later layers\n\n",
		(unsigned long long)L->added.entries, sz(a, L->added.bytes),
		(unsigned long long)L->modified.entries, sz(b, L->modified.bytes),
		(unsigned long long)L->removed.entries, sz(c, L->removed.bytes),
		sz(d, L->visible_bytes), sz(e, L->hidden_bytes));
	fprintf(o->f, "%s  %-8s  %-7s  %9s  %9s  %-20s  %s%s\n", col(o, C_DIM), "change", "type",
		"bytes", "hides", "how", "path", col(o, C_OFF));
	for (size_t i = 0; i < rows->n && (!v->top_changes || i < v->top_changes); i++) {
		const struct report_change *ch = &L->changes[rows->idx[i]];

		fprintf(o->f, "  %s%-8s%s  %-7s  %9s  %9s  %-20s  ", col(o, kind_color[ch->kind]),
			report_kind_names[ch->kind], col(o, C_OFF),
			report_type_name(ch->kind == REPORT_REMOVED ? ch->old_mode : ch->mode),
			sz(a, ch->bytes), sz(b, ch->hidden),
			ch->kind == REPORT_ADDED ? "" : cause_label(ch->cause, ch->marker));
		print_path(o, ch->path);
		fputc('\n', o->f);
	}
}

static void compare(const struct out *o, const struct report *b, const struct report_view *v)
{
	const struct report_compare *cmp = v->cmp;
	uint64_t own = 0, own_plain = 0;
	uint32_t nown = 0;
	const struct report_rows *rows = &v->sel->cmp_files;
	char x[16], y[16], z[16];

	for (uint32_t j = 0; j < b->nlayers; j++) {
		if (cmp->b_in_a[j] >= 0)
			continue;
		nown++;
		own += b->layers[j].stored_size;
		own_plain += b->layers[j].plain_size;
	}
	fprintf(o->f, "%sA%s: ", col(o, C_BOLD), col(o, C_OFF));
	print_path(o, v->sources[0]);
	fprintf(o->f, " (%u layers)\n%sB%s: ", cmp->a->nlayers, col(o, C_BOLD), col(o, C_OFF));
	print_path(o, v->sources[1]);
	fprintf(o->f, " (%u layers)\n", b->nlayers);
	fprintf(o->f,
		"Shared: B's first %u layers are A's; B has %u layers of its own: %s "
		"compressed, %s uncompressed\n",
		cmp->shared_prefix, nown, sz(x, own), sz(y, own_plain));
	fprintf(o->f,
		"Final image, B against A: %llu added (%s), %llu deleted (%s), %llu "
		"changed (%s)\n",
		(unsigned long long)cmp->added.entries, sz(x, cmp->added.bytes),
		(unsigned long long)cmp->removed.entries, sz(y, cmp->removed.bytes),
		(unsigned long long)cmp->changed.entries, sz(z, cmp->changed.bytes));
	fprintf(o->f,
		"Waste: A %s (efficiency %.4f), B %s (efficiency %.4f); in B's own layers "
		"%s\n",
		sz(x, cmp->a->totals.wasted_bytes), cmp->a->totals.efficiency,
		sz(y, b->totals.wasted_bytes), b->totals.efficiency,
		sz(z, b->totals.user_wasted_bytes));
	for (size_t i = 0; i < rows->n && (!v->top || i < v->top); i++) {
		const struct report_change *ch = &cmp->files[rows->idx[i]];

		fprintf(o->f, "  %-8s  %9s  %9s  ", report_kind_names[ch->kind], sz(x, ch->bytes),
			sz(y, ch->hidden));
		print_path(o, ch->path);
		fputc('\n', o->f);
	}
	fputc('\n', o->f);
}

int report_text(FILE *f, const struct report *r, const struct report_view *v)
{
	struct out o = {f, v->color, 48};
	const struct lfs_image *img = r->core->img;
	struct winsize ws;
	char a[16], b[16];

	if (isatty(fileno(f)) && ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 140)
		o.width = ws.ws_col - 124;
	if (v->layer >= 0) {
		layer_listing(&o, r, v);
		gates(&o, v);
		return ferror(f) ? -EIO : 0;
	}
	if (v->cmp)
		compare(&o, r, v);
	fprintf(f, "%sImage%s: ", col(&o, C_BOLD), col(&o, C_OFF));
	print_path(&o, v->cmp ? v->sources[1] : v->sources[0]);
	fprintf(f, "%s (%s%s%s), %u layers, %s compressed, %s uncompressed\n\n",
		!v->cmp && v->nsources > 1 ? " ..." : "", lfs_image_kind_name(img->kind),
		img->ref ? " " : "", img->ref ? img->ref : "", r->nlayers,
		sz(a, r->totals.stored_size), sz(b, r->totals.plain_size));
	table(&o, r);
	summary(&o, r);
	wasted(&o, r, v);
	dups(&o, r, v);
	suggestions(&o, r);
	gates(&o, v);
	return ferror(f) ? -EIO : 0;
}
