/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The suggestions of layerfs-report: the usual culprits in the waste
 * (package caches, logs, copy-ups, files deleted or rewritten by a later
 * step) grouped by directory and by the layers that stored and hid them,
 * with which instruction to change; part of the analysis, filling
 * struct report's suggestions.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "layerfs/lfs.h"
#include "report.h"

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
	/* shipped caches: bytes and files per layer that stores them (arena) */
	uint64_t *share_bytes, *share_files;
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

/* "31.9 MB in layer 1 (90 files; ADD ...), 89.0 MB in layer 2 (...)": every layer's share. */
static char *shares(const struct report *r, const struct group *g)
{
	char *out = NULL, *prev;
	size_t len = 0;

	for (uint32_t k = 0; k < r->nlayers; k++) {
		char sz[32], *one = NULL;
		const char *in = instr_or(r, k);

		if (!g->share_files[k])
			continue;
		report_fmt_size(sz, sizeof(sz), g->share_bytes[k]);
		if (asprintf(&one, "%s%s in layer %u (%llu %s; %.50s%s)", len ? ", " : "", sz,
			     k + 1, (unsigned long long)g->share_files[k], files(g->share_files[k]),
			     in, strlen(in) > 50 ? "..." : "") < 0)
			break;
		prev = out;
		out = lfs_xrealloc(prev, len + strlen(one) + 1);
		memcpy(out + len, one, strlen(one) + 1);
		len += strlen(one);
		free(one);
	}
	return out;
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
		free(s);
		s = shares(r, g);
		rc = asprintf(&t, "%s: %s (%llu %s) of %s still ships in the final image: %s; %s.",
			      g->dir, sz, (unsigned long long)g->files, files(g->files),
			      culprits[g->culprit].what, s ? s : "", culprits[g->culprit].fix);
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

/* Visible files of a culprit directory and their bytes, per layer that stores them. */
static void shipped(const struct lfs_node *n, uint64_t *bytes, uint64_t *nfiles)
{
	if (!n->dir) {
		if (S_ISREG(n->mode)) {
			bytes[n->layer] += n->size;
			nfiles[n->layer]++;
		}
		return;
	}
	for (uint32_t i = 0; i < n->dir->n; i++)
		if (n->dir->ents[i].node)
			shipped(n->dir->ents[i].node, bytes, nfiles);
}

static void add_shipped(struct report *r, struct groups *gs)
{
	size_t sz = (r->nlayers ? r->nlayers : 1) * sizeof(uint64_t);
	uint64_t *per = lfs_xmalloc(sz), *nf = lfs_xmalloc(sz);

	for (size_t c = 0; c < LFS_ARRAY_SIZE(culprits); c++) {
		const struct lfs_node *d;
		uint32_t top = 0;
		uint64_t tot = 0, ntot = 0;
		struct group *g;
		char path[64];

		if (strchr(culprits[c].glob, '*'))
			continue;
		d = lfs_node_walk(r->core->tree->root, culprits[c].glob);
		if (!d || !d->dir)
			continue;
		memset(per, 0, sz);
		memset(nf, 0, sz);
		shipped(d, per, nf);
		for (uint32_t k = 0; k < r->nlayers; k++) {
			tot += per[k];
			ntot += nf[k];
			if (per[k] > per[top])
				top = k;
		}
		if (tot < SHIPPED_MIN)
			continue;
		snprintf(path, sizeof(path), "/%s", culprits[c].glob);
		g = group_for(r, gs, REPORT_SUGG_SHIPPED_CACHE, (int)c, top, top,
			      lfs_arena_strndup(r->arena, path, strlen(path)), 0);
		g->bytes = tot;
		g->files = ntot;
		g->share_bytes = lfs_arena_memdup(r->arena, per, sz);
		g->share_files = lfs_arena_memdup(r->arena, nf, sz);
	}
	free(nf);
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
