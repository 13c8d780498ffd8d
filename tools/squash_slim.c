/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-squash --slim: one layer's entries, less what the final image
 * never shows.  A file is kept when the final merged tree shows this very
 * node at its path; a directory when the final tree has a directory
 * there; a whiteout or an opaque marker when a slimmed layer below still
 * has something it hides.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "layerfs/lfs.h"
#include "write_tool.h"

struct slim {
	struct lfs_wentries *w;
	const struct lfs_wsource *src;
	size_t k, keep;
	size_t dropped;
	char path[2 * PATH_MAX];
	const struct lfs_node *final_root;
};

/* The entry at S->path's first PLEN bytes. */
static void add(struct slim *s, size_t plen, const struct lfs_node *n, int opaque)
{
	lfs_wentries_add(s->w, s->path, plen, n, opaque);
}

/* Is entry N of layer J at the path kept by the slimming (FIN: the final tree's node there)? */
static int kept(const struct slim *s, size_t j, const struct lfs_node *n,
		const struct lfs_node *fin)
{
	if (n->flags & LFS_NF_WHITEOUT)
		return 0; /* hides, shows nothing */
	if (j < s->keep)
		return 1;
	if (lfs_node_is_dir(n))
		return fin && lfs_node_is_dir(fin);
	return n == fin;
}

/* Does a slimmed layer below K have something at the path (or below it, for a directory)? */
static int below_has(const struct slim *s, size_t plen, const struct lfs_node *fin)
{
	char tmp[2 * PATH_MAX];

	memcpy(tmp, s->path, plen);
	tmp[plen] = '\0';
	for (size_t j = 0; j < s->k; j++) {
		struct lfs_node *n = lfs_node_walk(s->src->layers[j]->root, tmp);

		if (n && kept(s, j, n, fin))
			return 1;
	}
	return 0;
}

static void walk(struct slim *s, const struct lfs_node *d, const struct lfs_node *fin, size_t plen)
{
	for (uint32_t i = 0; i < d->dir->n; i++) {
		const struct lfs_dirent *e = &d->dir->ents[i];
		const struct lfs_node *c = e->node, *fc;
		size_t p2 = plen + (plen ? 1 : 0) + e->len;

		if (!c || p2 >= sizeof(s->path))
			continue;
		if (plen)
			s->path[plen] = '/';
		memcpy(s->path + p2 - e->len, e->name, e->len);
		s->path[p2] = '\0';
		fc = fin && fin->dir ? lfs_dir_lookup(fin, e->name, e->len) : NULL;
		if (c->flags & LFS_NF_WHITEOUT) {
			if (below_has(s, p2, fc))
				add(s, p2, c, 0);
			else
				s->dropped++;
		} else if (c->dir) {
			int opq = 0;

			if (!fc || !fc->dir) {
				s->dropped++;
				continue;
			}
			if (c->flags & LFS_NF_OPAQUE) {
				opq = below_has(s, p2, fc);
				s->dropped += !opq;
			}
			if (!(c->flags & LFS_NF_IMPLIED) || opq)
				add(s, p2, c, opq);
			walk(s, c, fc, p2);
		} else if (c == fc) {
			add(s, p2, c, 0);
		} else {
			s->dropped++;
		}
	}
}

size_t squash_slim_layer(struct lfs_wentries *w, const struct lfs_wsource *src, size_t k,
			 size_t keep, const struct lfs_tree *final)
{
	struct slim *s = lfs_xcalloc(1, sizeof(*s));
	size_t dropped;

	s->w = w;
	s->src = src;
	s->k = k;
	s->keep = keep;
	walk(s, src->layers[k]->root, final->root, 0);
	dropped = s->dropped;
	free(s);
	return dropped;
}
