/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-report --tree: the rows of a tree listing, in pre-order with
 * directories first summed.  The final image's tree is the mount's merged
 * tree as it is (each entry with the layer that stores it); a layer's tree
 * (--tree --layer K) is that layer's change list as the books kept it from
 * the merge's events (added, modified, deleted), with the directories it
 * only passes through.  No overlay rule lives here.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "layerfs/lfs.h"
#include "report.h"

static struct report_tree_row *row_new(struct report_tree *t)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 1024;
		t->rows = lfs_xrealloc(t->rows, t->cap * sizeof(*t->rows));
	}
	memset(&t->rows[t->n], 0, sizeof(t->rows[0]));
	t->rows[t->n].change = -1;
	t->rows[t->n].layer = -1;
	return &t->rows[t->n++];
}

/* ---------------------------------------------------------------- the final image */

/* Hard links: a stored file's bytes count once, under its first name. */
struct seen {
	const struct lfs_node **v;
	size_t n, cap;
};

static int seen_add(struct seen *s, const struct lfs_node *n)
{
	size_t i;

	if ((s->n + 1) * 2 > s->cap) {
		const struct lfs_node **old = s->v;
		size_t ocap = s->cap;

		s->cap = ocap ? 2 * ocap : 256;
		s->v = lfs_xcalloc(s->cap, sizeof(*s->v));
		for (size_t j = 0; j < ocap; j++) {
			if (!old[j])
				continue;
			for (i = XXH3_64bits(&old[j], sizeof(old[j])) & (s->cap - 1); s->v[i];
			     i = (i + 1) & (s->cap - 1))
				;
			s->v[i] = old[j];
		}
		free(old);
	}
	for (i = XXH3_64bits(&n, sizeof(n)) & (s->cap - 1); s->v[i]; i = (i + 1) & (s->cap - 1))
		if (s->v[i] == n)
			return 0;
	s->v[i] = n;
	s->n++;
	return 1;
}

static int dirent_cmp(const void *a, const void *b)
{
	const struct lfs_dirent *x = *(const struct lfs_dirent *const *)a,
				*y = *(const struct lfs_dirent *const *)b;
	uint32_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->name, y->name, n);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

static void walk(struct report_tree *t, struct seen *s, const struct lfs_node *d, uint32_t depth)
{
	size_t me = t->n - 1, nkids = 0;
	const struct lfs_dirent **kids =
	    lfs_xmalloc((d->dir->live ? d->dir->live : 1) * sizeof(*kids));

	for (uint32_t i = 0; i < d->dir->n; i++)
		if (d->dir->ents[i].node && d->dir->ents[i].name && nkids < d->dir->live)
			kids[nkids++] = &d->dir->ents[i];
	qsort(kids, nkids, sizeof(*kids), dirent_cmp);
	for (size_t i = 0; i < nkids; i++) {
		const struct lfs_node *n = kids[i]->node;
		struct report_tree_row *w = row_new(t);
		size_t at = t->n - 1;
		uint64_t add = 0; /* to the directory: a hard-linked file's bytes once */

		w->name = kids[i]->name;
		w->depth = depth;
		w->mode = n->mode;
		w->node = n;
		w->layer = (int32_t)n->layer;
		if (n->dir) {
			walk(t, s, n, depth + 1);
			add = t->rows[at].bytes;
		} else if (S_ISREG(n->mode)) {
			w->files = 1;
			w->bytes = report_node_bytes(n);
			if (n->nlink < 2 || seen_add(s, n))
				add = w->bytes;
		}
		t->rows[me].bytes += add;
		t->rows[me].files += t->rows[at].files;
	}
	free(kids);
}

/* ---------------------------------------------------------------- a layer's changes */

/* Paths in tree order: '/' sorts before every other byte. */
static int tree_cmp(const char *a, const char *b)
{
	for (; *a && *a == *b; a++, b++)
		;
	if (*a == *b)
		return 0;
	if (*a == '/' || !*b)
		return *b == '\0' ? 1 : -1;
	if (*b == '/' || !*a)
		return *a == '\0' ? -1 : 1;
	return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
}

static int change_cmp(const void *a, const void *b)
{
	return tree_cmp((*(const struct report_change *const *)a)->path,
			(*(const struct report_change *const *)b)->path);
}

/* The length of the first LEVELS components of PATH ("/a/b/c", 2: 4). */
static size_t prefix(const char *path, uint32_t levels)
{
	const char *p = path;

	for (uint32_t i = 0; i < levels && *p; i++) {
		const char *q = strchr(p + 1, '/');

		p = q ? q : p + strlen(p);
	}
	return (size_t)(p - path);
}

static uint32_t components(const char *path)
{
	uint32_t n = 0;

	for (; *path; path++)
		n += *path == '/';
	return n;
}

static void layer_rows(struct report_tree *t, const struct report *r, uint32_t k)
{
	const struct report_layer *L = &r->layers[k];
	const struct report_change **v = lfs_xmalloc((L->nchanges ? L->nchanges : 1) * sizeof(*v));
	size_t *open = lfs_xmalloc((PATH_MAX / 2 + 2) * sizeof(*open)); /* row of each depth */
	uint32_t nopen = 1;						/* the root's */

	for (size_t i = 0; i < L->nchanges; i++)
		v[i] = &L->changes[i];
	qsort(v, L->nchanges, sizeof(*v), change_cmp);
	open[0] = 0;
	for (size_t i = 0; i < L->nchanges; i++) {
		const struct report_change *c = v[i];
		uint32_t depth = components(c->path), d;
		struct report_tree_row *w;

		if (depth > PATH_MAX / 2)
			continue;
		/* keep the open directories that are C's ancestors */
		for (d = 1; d < nopen && d < depth; d++) {
			size_t len = prefix(c->path, d);
			const struct report_tree_row *o = &t->rows[open[d]];

			if (strlen(o->path) != len || strncmp(o->path, c->path, len))
				break;
		}
		nopen = d;
		/* the directories the layer only passes through */
		for (; d < depth; d++) {
			size_t len = prefix(c->path, d);

			w = row_new(t);
			w->path = lfs_arena_strndup(t->arena, c->path, len);
			w->name = strrchr(w->path, '/') + 1;
			w->depth = d;
			w->mode = 0040755;
			w->implied = 1;
			open[nopen++] = t->n - 1;
		}
		w = row_new(t);
		w->path = c->path;
		w->name = strrchr(c->path, '/') + 1;
		w->depth = depth;
		w->mode = c->kind == REPORT_REMOVED ? c->old_mode : c->mode;
		w->change = (int8_t)c->kind;
		w->layer = (int32_t)k;
		w->bytes = c->bytes;
		w->files = c->kind != REPORT_REMOVED && S_ISREG(c->mode);
		w->hidden = c->hidden;
		if (S_ISDIR(w->mode) && c->kind != REPORT_REMOVED)
			open[nopen++] = t->n - 1;
	}
	/* directories sum what is below them: children come after their parent */
	{
		size_t *parent = lfs_xmalloc(t->n * sizeof(*parent));

		nopen = 1;
		open[0] = 0;
		for (size_t i = 1; i < t->n; i++) {
			nopen = t->rows[i].depth < nopen ? t->rows[i].depth : nopen;
			parent[i] = open[nopen - 1];
			if (S_ISDIR(t->rows[i].mode) && t->rows[i].change != REPORT_REMOVED)
				open[nopen++] = i;
		}
		for (size_t i = t->n; i-- > 1;) {
			t->rows[parent[i]].bytes += t->rows[i].bytes;
			t->rows[parent[i]].files += t->rows[i].files;
			t->rows[parent[i]].hidden += t->rows[i].hidden;
		}
		free(parent);
	}
	free(open);
	free(v);
}

void report_tree_build(struct report_tree *t, const struct report *r, int layer, uint32_t depth)
{
	struct report_tree_row *root;

	memset(t, 0, sizeof(*t));
	t->layer = layer;
	t->depth = depth;
	t->arena = lfs_arena_new();
	root = row_new(t);
	root->name = "";
	root->mode = 0040755;
	if (layer < 0) {
		struct seen s = {0};

		root->node = r->core->tree->root;
		root->mode = root->node->mode;
		root->layer = (int32_t)root->node->layer;
		walk(t, &s, root->node, 1);
		free(s.v);
	} else {
		root->implied = 1;
		layer_rows(t, r, (uint32_t)layer);
	}
}

void report_tree_free(struct report_tree *t)
{
	free(t->rows);
	lfs_arena_free(t->arena);
	memset(t, 0, sizeof(*t));
}
