/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-report --path: every layer's version of the paths asked for,
 * gathered from what the merge (lib/tree.c, the mount's own) tells its
 * observers.  A layer's entry at a matching path is a version (added, or
 * modified when it took the place of what was there); a name that leaves
 * the view (a whiteout, an opaque directory, or a non-directory replacing
 * a directory above it) is a deletion, with the path whose entry caused it.
 * No overlay rule lives here: what hides what is the merge's word.  After
 * the merge, the final tree says which version is visible and the books'
 * waste rows how many bytes the earlier versions cost.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "layerfs/lfs.h"
#include "report.h"

/* The history of PATH, created when new (hash index on the path). */
static struct report_path *path_get(struct report_paths *ps, const char *path, size_t plen)
{
	uint64_t h = XXH3_64bits(path, plen);
	struct report_path *p;
	size_t i;

	if ((ps->n + 1) * 2 > ps->cap) {
		ps->cap = ps->cap ? 2 * ps->cap : 64;
		free(ps->slots);
		ps->slots = lfs_xcalloc(ps->cap, sizeof(*ps->slots));
		for (size_t j = 0; j < ps->n; j++) {
			p = &ps->p[j];
			for (i = XXH3_64bits(p->path, strlen(p->path)) & (ps->cap - 1);
			     ps->slots[i]; i = (i + 1) & (ps->cap - 1))
				;
			ps->slots[i] = j + 1;
		}
		ps->p = lfs_xrealloc(ps->p, ps->cap * sizeof(*ps->p));
	}
	for (i = h & (ps->cap - 1); ps->slots[i]; i = (i + 1) & (ps->cap - 1)) {
		p = &ps->p[ps->slots[i] - 1];
		if (!strncmp(p->path, path, plen) && !p->path[plen])
			return p;
	}
	p = &ps->p[ps->n++];
	ps->slots[i] = ps->n;
	memset(p, 0, sizeof(*p));
	p->path = lfs_arena_strndup(ps->arena, path, plen);
	p->visible = -1;
	return p;
}

static char *xstrndup(const char *s, size_t n)
{
	char *d = lfs_xmalloc(n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/*
 * The literal end of glob G, after its last wildcard ("/package.json" for
 * "**" "/package.json"): a path G matches ends with it.  "" when G ends in
 * a wildcard or has an escape (no such test).
 */
static char *literal_tail(const char *g)
{
	const char *t = g;
	size_t n;

	for (const char *p = g; *p; p++)
		if (*p == '*' || *p == '?' || *p == ']')
			t = p + 1;
	n = strlen(t);
	while (n && t[n - 1] == '/')
		n--;
	if (memchr(t, '\\', n) || memchr(t, '[', n))
		n = 0;
	return xstrndup(t, n);
}

static int ends_with(const char *s, size_t len, const char *tail)
{
	size_t n = strlen(tail);

	return n <= len && !memcmp(s + len - n, tail, n);
}

static int wanted(const struct report_paths *ps, const char *path)
{
	size_t len = strlen(path);

	for (size_t i = 0; i < ps->nglobs; i++)
		if (ends_with(path, len, ps->tails[i]) &&
		    report_glob_match_exact(ps->globs[i], path))
			return 1;
	return 0;
}

/* Could a path below DIR match?  Literal patterns only below their own path. */
static int wanted_below(const struct report_paths *ps, const char *dir, size_t dlen)
{
	for (size_t i = 0; i < ps->nglobs; i++) {
		const char *g = ps->globs[i];

		while (*g == '/')
			g++;
		if (strpbrk(g, "*?[\\") || !strchr(g, '/'))
			return 1;
		/* DIR is "/a/b": G must be "a/b/..." */
		if (dlen == 0 || (!strncmp(g, dir + 1, dlen - 1) && g[dlen - 1] == '/'))
			return 1;
	}
	return 0;
}

static void add_version(struct report_paths *ps, const char *path, size_t plen,
			const struct report_version *v)
{
	struct report_path *p = path_get(ps, path, plen);

	if (p->n == p->capv) {
		p->capv = p->capv ? 2 * p->capv : 4;
		p->v = lfs_xrealloc(p->v, p->capv * sizeof(*p->v));
	}
	p->v[p->n++] = *v;
}

static void set_node(struct report_version *v, const struct lfs_node *n)
{
	v->node = n;
	v->mode = n->flags & LFS_NF_IMPLIED ? 0040755 : n->mode;
	v->uid = n->uid;
	v->gid = n->gid;
	v->size = S_ISREG(n->mode) || S_ISLNK(n->mode) ? n->size : 0;
	v->bytes = report_node_bytes(n);
}

/* OLD's names below BUF[0..PLEN) left the view in layer K because of BY. */
static void gone_below(struct report_paths *ps, const struct lfs_node *old, char *buf, size_t plen,
		       uint32_t k, int how, const char *by)
{
	if (!old->dir || !wanted_below(ps, buf, plen))
		return;
	for (uint32_t i = 0; i < old->dir->n; i++) {
		const struct lfs_dirent *e = &old->dir->ents[i];
		size_t len;

		if (!e->node || !e->name || plen + 1 + e->len >= sizeof(ps->buf))
			continue;
		buf[plen] = '/';
		memcpy(buf + plen + 1, e->name, e->len);
		len = plen + 1 + e->len;
		buf[len] = '\0';
		if (wanted(ps, buf)) {
			struct report_version v = {
			    .layer = k, .change = REPORT_REMOVED, .how = how};

			v.by = by;
			v.old_mode = e->node->mode;
			add_version(ps, buf, len, &v);
		}
		gone_below(ps, e->node, buf, len, k, how, by);
	}
	buf[plen] = '\0';
}

/* One event: a version of a matching path, or deletions of some. */
static void gather(void *arg, const struct lfs_merge_event *ev)
{
	struct report_paths *ps = arg;
	struct report_version v = {.layer = ev->layer};
	const char *by = NULL;
	int how = REPORT_BY_ENTRY;

	if (!ev->plen || ev->plen >= sizeof(ps->buf))
		return;
	memcpy(ps->buf, ev->path, ev->plen + 1);
	switch (ev->kind) {
	case LFS_MERGE_WHITEOUT:
	case LFS_MERGE_OPAQUE:
		if (!ev->old)
			return;
		how = ev->kind == LFS_MERGE_WHITEOUT ? REPORT_BY_WHITEOUT : REPORT_BY_OPAQUE;
		if (how == REPORT_BY_OPAQUE) /* the opaque directory is the parent */
			v.by = lfs_arena_strndup(ps->arena, ev->path,
						 (size_t)(strrchr(ev->path, '/') - ev->path));
		v.change = REPORT_REMOVED;
		v.how = (uint8_t)how;
		v.old_mode = ev->old->mode;
		break;
	case LFS_MERGE_DIR:
		/* a directory the layer only implies, or lists unchanged, is no version */
		if ((ev->node->flags & LFS_NF_IMPLIED) ||
		    (ev->old && ev->old->mode == ev->node->mode && ev->old->uid == ev->node->uid &&
		     ev->old->gid == ev->node->gid && ev->old->mtime_sec == ev->node->mtime_sec))
			return;
		/* fall through */
	case LFS_MERGE_ADDED:
	case LFS_MERGE_REPLACED:
		v.change = ev->old ? REPORT_MODIFIED : REPORT_ADDED;
		v.old_mode = ev->old ? ev->old->mode : 0;
		set_node(&v, ev->node);
		break;
	}
	if (wanted(ps, ps->buf))
		add_version(ps, ps->buf, ev->plen, &v);
	/* what was below the path goes too, unless a directory merges into a directory */
	if (ev->old && ev->old->dir && !(ev->node && ev->node->dir && ev->kind == LFS_MERGE_DIR) &&
	    wanted_below(ps, ps->buf, ev->plen)) {
		/* below a name an opaque directory hid: that directory did it */
		by = how == REPORT_BY_OPAQUE ? v.by
					     : lfs_arena_strndup(ps->arena, ev->path, ev->plen);
		gone_below(ps, ev->old, ps->buf, ev->plen, ev->layer,
			   ev->node && ev->kind != LFS_MERGE_WHITEOUT ? REPORT_BY_ENTRY : how, by);
	}
}

static void on_event(void *arg, const struct lfs_merge_event *ev)
{
	const struct report_paths *ps = arg;

	gather(arg, ev);
	if (ps->next)
		ps->next->event(ps->next->arg, ev);
}

void report_paths_init(struct report_paths *ps, char *const *globs, size_t nglobs)
{
	memset(ps, 0, sizeof(*ps));
	ps->globs = globs;
	ps->nglobs = nglobs;
	ps->tails = lfs_xmalloc((nglobs ? nglobs : 1) * sizeof(*ps->tails));
	for (size_t i = 0; i < nglobs; i++)
		ps->tails[i] = literal_tail(globs[i]);
	ps->arena = lfs_arena_new();
	ps->obs.event = on_event;
	ps->obs.arg = ps;
}

static int path_cmp(const void *a, const void *b)
{
	return strcmp(((const struct report_path *)a)->path, ((const struct report_path *)b)->path);
}

/* After the merge: which version is visible, what earlier ones waste. */
void report_paths_finish(struct report_paths *ps, const struct report *r)
{
	free(ps->slots);
	ps->slots = NULL;
	if (ps->n)
		qsort(ps->p, ps->n, sizeof(*ps->p), path_cmp);
	for (size_t i = 0; i < ps->n; i++) {
		struct report_path *p = &ps->p[i];
		const struct lfs_node *n = lfs_node_walk(r->core->tree->root, p->path + 1);

		/* the merge's last word on the path is what the final tree shows */
		if (n && p->n && p->v[p->n - 1].change != REPORT_REMOVED)
			p->visible = (int)p->n - 1;
	}
	for (size_t w = 0; w < r->nwaste; w++) {
		const struct report_waste *x = &r->waste[w];
		struct report_path key = {.path = x->path}, *p;

		if (x->ignored)
			continue;
		p = ps->n ? bsearch(&key, ps->p, ps->n, sizeof(*ps->p), path_cmp) : NULL;
		if (p)
			p->wasted += x->bytes;
	}
}

/* Globs that matched no path of any layer: their count, the first in *FIRST. */
size_t report_paths_unmatched(const struct report_paths *ps, const char **first)
{
	size_t n = 0;

	for (size_t g = 0; g < ps->nglobs; g++) {
		size_t i;

		for (i = 0; i < ps->n && !report_glob_match_exact(ps->globs[g], ps->p[i].path); i++)
			;
		if (i == ps->n && !n++)
			*first = ps->globs[g];
	}
	return n;
}

void report_paths_free(struct report_paths *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		free(ps->p[i].v);
	free(ps->p);
	free(ps->slots);
	for (size_t i = 0; ps->tails && i < ps->nglobs; i++)
		free(ps->tails[i]);
	free(ps->tails);
	lfs_arena_free(ps->arena);
	memset(ps, 0, sizeof(*ps));
}
