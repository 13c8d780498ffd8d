/*
 * The human side of layerfs-report: the suggestions (which instruction to
 * merge or change, per finding), sizes and paths made readable, and the
 * terminal report itself (coloured only on a TTY, never with NO_COLOR).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "lfs.h"
#include "report.h"

const char *const report_sugg_names[REPORT_NSUGG] = {
    "package-cache", "logs", "copy-up", "deleted-later", "overwritten-later", "shipped-cache",
};

void report_fmt_size(char *buf, size_t n, uint64_t b)
{
	static const char *const units[] = {"kB", "MB", "GB", "TB", "PB"};
	double v = (double)b;
	int u = -1;

	if (b < 1000) {
		snprintf(buf, n, "%llu B", (unsigned long long)b);
		return;
	}
	while (v >= 999.5 && u < 4) {
		v /= 1000;
		u++;
	}
	snprintf(buf, n, v < 9.995 ? "%.2f %s" : v < 99.95 ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* Length of the valid UTF-8 sequence at S (0: not one). */
static int utf8_len(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f))
			return 0;
		return (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
			return 0;
		return (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4
											       : 0;
	}
	return 0;
}

char *report_clean(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = lfs_xmalloc(strlen(s) * 4 + 1), *o = out;

	while (*p) {
		int l = utf8_len(p);

		if (l == 0 || *p < 0x20 || *p == 0x7f) {
			o += sprintf(o, "\\x%02x", *p++);
			continue;
		}
		memcpy(o, p, (size_t)l);
		o += l;
		p += l;
	}
	*o = '\0';
	return out;
}

/* ---------------------------------------------------------------- suggestions */

static const struct culprit {
	const char *glob, *what, *fix;
	int kind;
} culprits[] = {
    {"var/lib/apt/lists", "apt package lists",
     "run `rm -rf /var/lib/apt/lists/*` in the same RUN as `apt-get update`",
     REPORT_SUGG_PKG_CACHE},
    {"var/cache/apt", "the apt cache", "run `apt-get clean` in the same RUN as `apt-get install`",
     REPORT_SUGG_PKG_CACHE},
    {"var/cache/apk", "the apk cache", "use `apk add --no-cache`", REPORT_SUGG_PKG_CACHE},
    {"var/cache/dnf", "the dnf cache", "run `dnf clean all` in the same RUN",
     REPORT_SUGG_PKG_CACHE},
    {"var/cache/yum", "the yum cache", "run `yum clean all` in the same RUN",
     REPORT_SUGG_PKG_CACHE},
    {"**/.cache/pip", "the pip cache", "use `pip install --no-cache-dir`", REPORT_SUGG_PKG_CACHE},
    {"**/.npm", "the npm cache", "run `npm cache clean --force` in the same RUN",
     REPORT_SUGG_PKG_CACHE},
    {"**/.cache/yarn", "the yarn cache", "run `yarn cache clean` in the same RUN",
     REPORT_SUGG_PKG_CACHE},
    {"var/log", "logs", "delete them in the same RUN that writes them", REPORT_SUGG_LOGS},
};

#define SHIPPED_MIN 100000 /* a cache left in the image is worth a word from here on */
#define GENERIC_MAX 5	   /* other findings listed, the biggest ones... */
#define GENERIC_MIN 0.01   /* ...and only when they hold 1% of the waste */

struct group {
	int kind, culprit;
	uint32_t stored, hidden;
	const char *key; /* the directory prefix the group is keyed by */
	size_t keylen;
	char *dir; /* the deepest directory holding all its files (arena) */
	uint64_t bytes, files;
};

/* The findings being gathered, with a hash index over their keys. */
struct groups {
	struct group *g;
	size_t n;
	size_t *slots; /* index + 1, 0: free */
	size_t cap;
};

static int culprit_of(const char *path)
{
	for (size_t i = 0; i < LFS_ARRAY_SIZE(culprits); i++)
		if (report_glob_match(culprits[i].glob, path))
			return (int)i;
	return -1;
}

/* The directory of PATH cut to at most DEPTH components ("/usr/lib" for 2). */
static size_t prefix_len(const char *path, int depth)
{
	const char *p = path;

	for (int d = 0; d < depth; d++) {
		const char *q = strchr(p + 1, '/');

		if (!q)
			break;
		p = q;
	}
	return (size_t)(p - path);
}

/* Shorten DIR to the longest directory that holds both DIR's files and PATH. */
static void common_dir(char *dir, const char *path)
{
	size_t n = 0;

	while (dir[n] && dir[n] == path[n])
		n++;
	if (!dir[n] && path[n] == '/')
		return;
	while (n > 0 && dir[n] != '/')
		n--;
	dir[n ? n : 1] = '\0';
}

static uint64_t group_hash(int kind, int culprit, uint32_t stored, uint32_t hidden, const char *key,
			   size_t keylen)
{
	const uint32_t head[4] = {(uint32_t)kind, (uint32_t)culprit, stored, hidden};

	return XXH3_64bits_withSeed(key, keylen, XXH3_64bits(head, sizeof(head)));
}

/* The group of these keys, created (its directory that of PATH) when new. */
static struct group *group_for(struct report *r, struct groups *gs, int kind, int culprit,
			       uint32_t stored, uint32_t hidden, const char *path, size_t keylen)
{
	uint64_t h = group_hash(kind, culprit, stored, hidden, path, keylen);
	struct group *g;
	size_t i;

	if ((gs->n + 1) * 2 > gs->cap) {
		gs->cap = gs->cap ? 2 * gs->cap : 64;
		free(gs->slots);
		gs->slots = lfs_xcalloc(gs->cap, sizeof(*gs->slots));
		for (size_t j = 0; j < gs->n; j++) {
			g = &gs->g[j];
			for (i = group_hash(g->kind, g->culprit, g->stored, g->hidden, g->key,
					    g->keylen) &
				 (gs->cap - 1);
			     gs->slots[i]; i = (i + 1) & (gs->cap - 1))
				;
			gs->slots[i] = j + 1;
		}
	}
	for (i = h & (gs->cap - 1); gs->slots[i]; i = (i + 1) & (gs->cap - 1)) {
		g = &gs->g[gs->slots[i] - 1];
		if (g->kind == kind && g->culprit == culprit && g->stored == stored &&
		    g->hidden == hidden && g->keylen == keylen && !memcmp(g->key, path, keylen))
			return g;
	}
	gs->g = lfs_xrealloc(gs->g, (gs->n + 1) * sizeof(*gs->g));
	g = &gs->g[gs->n++];
	gs->slots[i] = gs->n;
	memset(g, 0, sizeof(*g));
	g->kind = kind;
	g->culprit = culprit;
	g->stored = stored;
	g->hidden = hidden;
	g->key = path;
	g->keylen = keylen;
	g->dir = lfs_arena_strndup(r->arena, path, strlen(path));
	return g;
}

static const char *instr_or(const struct report *r, uint32_t k)
{
	return r->layers[k].instruction ? r->layers[k].instruction : "(no history)";
}

static const char *files(uint64_t n)
{
	return n == 1 ? "file" : "files";
}

/* Does layer K's instruction change metadata (so a copy-up is its whole point)? */
static int metadata_step(const struct report *r, uint32_t k)
{
	static const char *const cmds[] = {"chmod",   "chown",	  "chgrp", "touch",
					   "setfacl", "setfattr", "setcap"};
	const char *i = r->layers[k].instruction;

	for (size_t j = 0; i && j < LFS_ARRAY_SIZE(cmds); j++)
		if (strstr(i, cmds[j]))
			return 1;
	return 0;
}

static char *advice(const struct report *r, const struct group *g)
{
	char sz[32], *t = NULL, *s = NULL, *h = NULL;
	int rc, kind = g->kind;

	report_fmt_size(sz, sizeof(sz), g->bytes);
	rc = asprintf(&s, "layer %u (%.70s%s)", g->stored + 1, instr_or(r, g->stored),
		      strlen(instr_or(r, g->stored)) > 70 ? "..." : "");
	if (rc >= 0 && g->kind != REPORT_SUGG_SHIPPED_CACHE)
		rc = asprintf(&h, "layer %u (%.70s%s)", g->hidden + 1, instr_or(r, g->hidden),
			      strlen(instr_or(r, g->hidden)) > 70 ? "..." : "");
	if (rc < 0)
		goto out;
	/* what the base image brings is not the Dockerfile's to clean up */
	if (g->stored < r->opts.base &&
	    (g->kind == REPORT_SUGG_PKG_CACHE || g->kind == REPORT_SUGG_LOGS))
		kind = REPORT_SUGG_DELETED;
	switch (kind) {
	case REPORT_SUGG_PKG_CACHE:
	case REPORT_SUGG_LOGS:
		rc = asprintf(&t,
			      "%s: %llu %s (%s) of %s written by %s and deleted by %s, which "
			      "saves nothing; %s, and drop the later deletion.",
			      g->dir, (unsigned long long)g->files, files(g->files), sz,
			      culprits[g->culprit].what, s, h, culprits[g->culprit].fix);
		break;
	case REPORT_SUGG_COPY_UP:
		if (metadata_step(r, g->hidden))
			rc = asprintf(
			    &t,
			    "%s: %s stores %llu %s (%s) again with unchanged content: a "
			    "metadata-only change (chmod/chown/touch) copies whole files. Do "
			    "it in the same RUN that created them, %s, or set mode and owner "
			    "when copying (COPY --chmod/--chown).",
			    g->dir, h, (unsigned long long)g->files, files(g->files), sz, s);
		else
			rc = asprintf(
			    &t,
			    "%s: %s stores %llu %s (%s) again with unchanged content (rewritten "
			    "as they were, or only their metadata changed); leave them alone "
			    "in that step, or do it in the same RUN as %s.",
			    g->dir, h, (unsigned long long)g->files, files(g->files), sz, s);
		break;
	case REPORT_SUGG_DELETED:
		if (g->stored < r->opts.base) {
			rc = asprintf(
			    &t,
			    "%s: %llu %s (%s) of the base image, %s, deleted by %s: "
			    "deleting base files saves nothing; choose a slimmer base image.",
			    g->dir, (unsigned long long)g->files, files(g->files), sz, s, h);
			break;
		}
		rc = asprintf(
		    &t,
		    "%s: %llu %s (%s) created by %s %s deleted by %s; clean up in the same "
		    "RUN, or build them in a separate stage.",
		    g->dir, (unsigned long long)g->files, files(g->files), sz, s,
		    g->files == 1 ? "is" : "are", h);
		break;
	case REPORT_SUGG_OVERWRITTEN:
		rc = asprintf(&t,
			      "%s: %llu %s (%s) written by %s %s replaced by %s; merge the two "
			      "steps so only the final version is stored.",
			      g->dir, (unsigned long long)g->files, files(g->files), sz, s,
			      g->files == 1 ? "is" : "are", h);
		break;
	default:
		rc = asprintf(&t, "%s: %s of %s still ships in the final image, stored by %s; %s.",
			      g->dir, sz, culprits[g->culprit].what, s, culprits[g->culprit].fix);
		break;
	}
out:
	free(s);
	free(h);
	return rc < 0 ? lfs_xstrdup("") : t;
}

static int group_cmp(const void *pa, const void *pb)
{
	const struct group *a = pa, *b = pb;

	return a->bytes != b->bytes ? (a->bytes < b->bytes ? 1 : -1) : strcmp(a->dir, b->dir);
}

/* Visible bytes of a culprit directory, per layer that stores them. */
static void shipped(const struct lfs_node *n, uint64_t *per_layer)
{
	if (!n->dir) {
		if (S_ISREG(n->mode))
			per_layer[n->layer] += n->size;
		return;
	}
	for (uint32_t i = 0; i < n->dir->n; i++)
		if (n->dir->ents[i].node)
			shipped(n->dir->ents[i].node, per_layer);
}

static void add_shipped(struct report *r, struct groups *gs)
{
	uint64_t *per = lfs_xmalloc((r->nlayers ? r->nlayers : 1) * sizeof(*per));

	for (size_t c = 0; c < LFS_ARRAY_SIZE(culprits); c++) {
		const struct lfs_node *d;
		uint32_t top = 0;
		uint64_t tot = 0;
		struct group *g;
		char path[64];

		if (strchr(culprits[c].glob, '*'))
			continue;
		d = lfs_node_walk(r->core->tree->root, culprits[c].glob);
		if (!d || !d->dir)
			continue;
		memset(per, 0, (r->nlayers ? r->nlayers : 1) * sizeof(*per));
		shipped(d, per);
		for (uint32_t k = 0; k < r->nlayers; k++) {
			tot += per[k];
			if (per[k] > per[top])
				top = k;
		}
		if (tot < SHIPPED_MIN)
			continue;
		snprintf(path, sizeof(path), "/%s", culprits[c].glob);
		g = group_for(r, gs, REPORT_SUGG_SHIPPED_CACHE, (int)c, top, top,
			      lfs_arena_strndup(r->arena, path, strlen(path)), 0);
		g->bytes = tot;
	}
	free(per);
}

void report_suggest(struct report *r)
{
	struct groups gs = {0};
	size_t ngeneric = 0;

	for (size_t i = 0; i < r->nwaste; i++) {
		const struct report_waste *w = &r->waste[i];
		int c = culprit_of(w->path), kind;
		size_t keylen = 0;
		struct group *g;

		if (w->ignored)
			continue;
		if (c >= 0 && w->cause == REPORT_DELETED) {
			kind = culprits[c].kind;
		} else {
			/* copy-ups are whole trees: group them wider */
			kind = w->cause == REPORT_IDENTICAL ? REPORT_SUGG_COPY_UP
			       : w->cause == REPORT_DELETED ? REPORT_SUGG_DELETED
							    : REPORT_SUGG_OVERWRITTEN;
			keylen = prefix_len(w->path, kind == REPORT_SUGG_COPY_UP ? 2 : 3);
			c = -1;
		}
		g = group_for(r, &gs, kind, c, w->stored, w->hidden_by, w->path, keylen);
		common_dir(g->dir, w->path);
		g->bytes += w->bytes;
		g->files++;
	}
	add_shipped(r, &gs);
	if (gs.n)
		qsort(gs.g, gs.n, sizeof(*gs.g), group_cmp);
	r->sugg = lfs_xcalloc(gs.n ? gs.n : 1, sizeof(*r->sugg));
	for (size_t i = 0; i < gs.n; i++) {
		const struct group *g = &gs.g[i];
		int generic = g->kind == REPORT_SUGG_DELETED ||
			      g->kind == REPORT_SUGG_OVERWRITTEN ||
			      (g->kind == REPORT_SUGG_COPY_UP && !metadata_step(r, g->hidden));
		struct report_suggestion *s;

		/* The known culprits always; other findings only when they weigh. */
		if (generic && (ngeneric++ >= GENERIC_MAX ||
				(double)g->bytes < GENERIC_MIN * (double)r->totals.wasted_bytes))
			continue;
		s = &r->sugg[r->nsugg++];
		s->kind = (uint8_t)g->kind;
		s->path = g->dir;
		s->bytes = g->bytes;
		s->files = g->files;
		s->stored = g->stored;
		s->hidden_by = g->kind == REPORT_SUGG_SHIPPED_CACHE ? -1 : (int64_t)g->hidden;
		s->text = advice(r, g);
	}
	free(gs.slots);
	free(gs.g);
}

/* ---------------------------------------------------------------- the report */

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
	size_t *idx, n = report_select_waste(r, v, &idx), show = v->top && v->top < n ? v->top : n;
	char a[16];

	if (!n) {
		free(idx);
		return;
	}
	fprintf(o->f, "\n%sBiggest wasted paths%s (%zu of %zu):\n", col(o, C_BOLD), col(o, C_OFF),
		show, n);
	fprintf(o->f, "%s  %9s  %-20s  %6s  %6s  %s%s\n", col(o, C_DIM), "bytes", "cause", "stored",
		"hidden", "path", col(o, C_OFF));
	for (size_t i = 0; i < show; i++) {
		const struct report_waste *w = &r->waste[idx[i]];

		fprintf(o->f, "  %9s  %-20s  %6u  %6u  ", sz(a, w->bytes),
			cause_label(w->cause, w->marker), w->stored + 1, w->hidden_by + 1);
		print_path(o, w->path);
		fputc('\n', o->f);
	}
	free(idx);
}

static void dups(const struct out *o, const struct report *r, const struct report_view *v)
{
	size_t shown = 0, lim = v->top && v->top < 5 ? v->top : 5;
	char a[16];

	if (!r->ndups)
		return;
	fprintf(o->f, "\n%sLargest duplicates%s:\n", col(o, C_BOLD), col(o, C_OFF));
	for (size_t i = 0; i < r->ndups && shown < lim; i++) {
		const struct report_dup *d = &r->dups[i];
		int match = 0;

		for (uint32_t j = 0; j < d->ncopies; j++)
			match |= report_filter_match(v, d->copies[j].path);
		if (!match)
			continue;
		fprintf(o->f, "  %9s x%u:", sz(a, d->size), d->ncopies);
		for (uint32_t j = 0; j < d->ncopies && j < 4; j++) {
			fputc(' ', o->f);
			print_path(o, d->copies[j].path);
			fprintf(o->f, " (layer %u%s)", d->copies[j].layer + 1,
				d->copies[j].visible ? "" : ", hidden");
		}
		fprintf(o->f, "%s\n", d->ncopies > 4 ? " ..." : "");
		shown++;
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
	if (!v->ngates)
		return;
	fprintf(o->f, "\n%sGates%s (--min-waste %llu):\n", col(o, C_BOLD), col(o, C_OFF),
		(unsigned long long)v->min_waste);
	for (size_t i = 0; i < v->ngates; i++) {
		const struct report_gate *g = &v->gates[i];
		char a[16];

		fprintf(o->f, "  %-28s %s%-8s%s %s = ", g->expr,
			col(o, g->violated ? C_RED : C_GREEN),
			g->violated  ? "FAILED"
			: g->applies ? "ok"
				     : "skipped",
			col(o, C_OFF), g->metric);
		if (g->unit == REPORT_UNIT_BYTES)
			fprintf(o->f, "%s (%.0f)\n", sz(a, (uint64_t)g->actual), g->actual);
		else
			fprintf(o->f, "%.*f\n", g->unit == REPORT_UNIT_RATIO ? 4 : 0, g->actual);
	}
}

static void layer_listing(const struct out *o, const struct report *r, const struct report_view *v)
{
	static const int kind_color[] = {C_GREEN, C_YELLOW, C_RED};
	const struct report_layer *L = &r->layers[v->layer];
	size_t *idx, n = report_select_changes(L->changes, L->nchanges, v, &idx);
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
	for (size_t i = 0; i < n && (!v->top_changes || i < v->top_changes); i++) {
		const struct report_change *ch = &L->changes[idx[i]];

		fprintf(o->f, "  %s%-8s%s  %-7s  %9s  %9s  %-20s  ", col(o, kind_color[ch->kind]),
			report_kind_names[ch->kind], col(o, C_OFF),
			report_type_name(ch->kind == REPORT_REMOVED ? ch->old_mode : ch->mode),
			sz(a, ch->bytes), sz(b, ch->hidden),
			ch->kind == REPORT_ADDED ? "" : cause_label(ch->cause, ch->marker));
		print_path(o, ch->path);
		fputc('\n', o->f);
	}
	free(idx);
}

static void compare(const struct out *o, const struct report *b, const struct report_view *v)
{
	const struct report_compare *cmp = v->cmp;
	uint64_t own = 0, own_plain = 0;
	uint32_t nown = 0;
	char x[16], y[16], z[16];
	size_t *idx, n;

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
	n = report_select_changes(cmp->files, cmp->nfiles, v, &idx);
	for (size_t i = 0; i < n && (!v->top || i < v->top); i++) {
		const struct report_change *ch = &cmp->files[idx[i]];

		fprintf(o->f, "  %-8s  %9s  %9s  ", report_kind_names[ch->kind], sz(x, ch->bytes),
			sz(y, ch->hidden));
		print_path(o, ch->path);
		fputc('\n', o->f);
	}
	free(idx);
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
