/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the merge of 2-4 fuzzed layers.  The input is the layers
 * (raw tar, gzip or zstd each) separated by the 8 bytes "LFSLAYER"; they are
 * indexed as byte ranges of one memfd (as layers of an image archive are),
 * merged with lfs_tree_apply/freeze, and the merged tree is checked:
 *   - every entry's node has ino != 0 and lfs_tree_node(ino) is that node,
 *     every numbered inode is reachable, directories are not shared;
 *   - no whiteout is visible (neither a whiteout node nor a ".wh." name);
 *   - each directory holds exactly what an independent overlayfs lookup
 *     over the layer trees shows (whiteouts, opaque directories,
 *     non-directories hiding lower subtrees), the very node for files;
 *   - st_nlink of files as the layers count it, every visible file readable;
 *   - merged again as a mount does (lfs_tree_apply_take, which takes the
 *     layers' directories over), it is the same tree, inode numbers included;
 *   - the merge is observed by layerfs-report's books (report_events.c): the
 *     files they see visible are exactly the tree's, with as many names, and
 *     for every layer stored = visible + wasted, stored being the distinct
 *     files of the layer's tree and those it superseded itself;
 *   - and by dive's tally (report_dive.c): dive's own view, built once an
 *     opaque directory hid something, is what the lookup above shows with
 *     the opaque markers ignored (dive does not read them); its efficiency
 *     is a ratio.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layerfs/core.h"
#include "fuzzutil.h"
#include "layerfs/layer.h"
#include "layerfs/lfs.h"
#include "report.h"
#include "layerfs/tree.h"

#define SEP	    "LFSLAYER"
#define SEP_LEN	    8
#define MAX_LAYERS  4
#define MAX_PLAIN   (4u << 20)
#define READ_BUDGET (8u << 20)

/* A merged directory and its parts in the layers, topmost first. */
struct part {
	struct lfs_node *g;
	uint32_t nd;
	const struct lfs_node *d[MAX_LAYERS];
};

struct queue {
	struct part *v;
	size_t n, cap, head;
};

static void push(struct queue *q, const struct part *p)
{
	if (q->n == q->cap) {
		q->cap = q->cap ? 2 * q->cap : 64;
		q->v = lfs_xrealloc(q->v, q->cap * sizeof(*q->v));
	}
	q->v[q->n++] = *p;
}

/*
 * What overlayfs shows for NAME in directory P: a non-directory (returned),
 * a directory (NULL, with its parts in SUB), or nothing (NULL, SUB empty).
 * The lookup goes down the layers: a whiteout ends it, a non-directory ends
 * it (shown only if no directory was found above it), an opaque directory
 * is the last part (unless OPAQUE is false: dive reads no opaque markers).
 */
static const struct lfs_node *resolve_as(const struct part *p, const char *name, uint32_t len,
					 struct part *sub, bool opaque)
{
	sub->nd = 0;
	for (uint32_t j = 0; j < p->nd; j++) {
		const struct lfs_node *e = lfs_dir_lookup(p->d[j], name, len);

		if (!e)
			continue;
		if (e->flags & LFS_NF_WHITEOUT)
			break;
		if (!e->dir)
			return sub->nd ? NULL : e;
		sub->d[sub->nd++] = e;
		if (opaque && (e->flags & LFS_NF_OPAQUE))
			break;
	}
	return NULL;
}

static const struct lfs_node *resolve(const struct part *p, const char *name, uint32_t len,
				      struct part *sub)
{
	return resolve_as(p, name, len, sub, true);
}

/* Whether every part of a directory is one its layer only implies. */
static bool implied_only(const struct part *p)
{
	if (!p->nd)
		return false;
	for (uint32_t j = 0; j < p->nd; j++)
		if (!(p->d[j]->flags & LFS_NF_IMPLIED))
			return false;
	return true;
}

/* Whether NAME has a live entry in a part of P above part J. */
static bool seen_above(const struct part *p, uint32_t j, const char *name, uint32_t len)
{
	for (uint32_t i = 0; i < j; i++)
		if (lfs_dir_lookup(p->d[i], name, len))
			return true;
	return false;
}

static void check_dir(struct lfs_tree *t, struct queue *q, const struct part *p, uint8_t *seen,
		      const struct lfs_core *c, uint64_t *budget, uint64_t *nentries)
{
	const struct lfs_dir *gd = p->g->dir;
	uint32_t expected = 0;
	struct part sub;

	if (!gd || !lfs_node_is_dir(p->g))
		fuzz_fail("merged directory without a table, or with mode 0%o", p->g->mode);
	if (gd->live != gd->n)
		fuzz_fail("frozen directory with deleted entries (%u of %u live)", gd->live, gd->n);
	*nentries += gd->n;
	/* Every entry is what the layers show, and numbered. */
	for (uint32_t i = 0; i < gd->n; i++) {
		const struct lfs_dirent *e = &gd->ents[i];
		struct lfs_node *n = e->node;
		const struct lfs_node *want;
		int len = (int)e->len;

		if (!n)
			fuzz_fail("'%.*s': deleted entry in a frozen directory", len, e->name);
		if (!n->ino || lfs_tree_node(t, n->ino) != n)
			fuzz_fail("'%.*s': ino %llu does not lead back to its node", len, e->name,
				  (unsigned long long)n->ino);
		if (n->flags & LFS_NF_WHITEOUT)
			fuzz_fail("'%.*s': a whiteout is visible", len, e->name);
		if (lfs_dir_lookup(p->g, e->name, e->len) != n)
			fuzz_fail("'%.*s': lookup in the merged directory finds another node", len,
				  e->name);
		want = resolve(p, e->name, e->len, &sub);
		if (want && n != want)
			fuzz_fail("'%.*s': shows another node than the topmost layer's (layer %u, "
				  "want layer %u)",
				  len, e->name, n->layer, want->layer);
		if (!want && !sub.nd)
			fuzz_fail("'%.*s' (layer %u) is visible, but the layers hide it", len,
				  e->name, n->layer);
		/*
		 * A ".wh." name shows only as a directory that layers imply as the
		 * parent of a deeper entry (containerd creates those too).
		 */
		if (e->len >= 4 && !memcmp(e->name, ".wh.", 4) && !implied_only(&sub))
			fuzz_fail("'%.*s': a whiteout name is visible", len, e->name);
		if (!want) {
			if (!n->dir)
				fuzz_fail(
				    "'%.*s': a directory in the layers, a non-directory (layer "
				    "%u) in the merge",
				    len, e->name, n->layer);
			if (n->parent != p->g)
				fuzz_fail("'%.*s': wrong parent", len, e->name);
			if (seen[n->ino])
				fuzz_fail("'%.*s': directory reachable twice", len, e->name);
			sub.g = n;
			push(q, &sub);
		} else {
			if (n->layer >= c->nlayers || !n->nlink)
				fuzz_fail("'%.*s': layer %u, st_nlink %u", len, e->name, n->layer,
					  n->nlink);
			if (S_ISREG(n->mode) && *budget)
				fuzz_read_file(c, n, e->name, NULL, 1u << 18, budget);
		}
		seen[n->ino] = 1;
	}
	/* Every name the layers show is there. */
	for (uint32_t j = 0; j < p->nd; j++) {
		const struct lfs_dir *ld = p->d[j]->dir;

		for (uint32_t i = 0; i < ld->n; i++) {
			const struct lfs_dirent *e = &ld->ents[i];

			if (!e->node || seen_above(p, j, e->name, e->len))
				continue;
			if (!resolve(p, e->name, e->len, &sub) && !sub.nd)
				continue;
			expected++;
			if (!lfs_dir_lookup(p->g, e->name, e->len))
				fuzz_fail("'%.*s' (layer %u) is missing from the merge",
					  (int)e->len, e->name, e->node->layer);
		}
	}
	if (expected != gd->n)
		fuzz_fail("merged directory has %u entries, the layers show %u", gd->n, expected);
}

static void check_tree(struct lfs_tree *t, struct lfs_layer **layers, uint32_t n)
{
	struct lfs_core c = {.nlayers = n, .layers = layers};
	uint64_t budget = READ_BUDGET, nentries = 0, reached = 1;
	uint8_t *seen = lfs_xcalloc(t->ninodes + 1, 1);
	struct queue q = {0};
	struct part root = {.g = t->root};

	if (t->root->ino != 1 || lfs_tree_node(t, 1) != t->root || t->root->parent != t->root)
		fuzz_fail("the root is not inode 1, or not its own parent");
	if (t->nlayers != n)
		fuzz_fail("tree says %u layers, %u were applied", t->nlayers, n);
	/* The kernel builds the root from every layer: an opaque root hides nothing. */
	for (uint32_t i = n; i-- > 0;)
		root.d[root.nd++] = layers[i]->root;
	seen[1] = 1;
	push(&q, &root);
	while (q.head < q.n) {
		struct part p = q.v[q.head++];

		check_dir(t, &q, &p, seen, &c, &budget, &nentries);
	}
	for (uint64_t i = 1; i < t->ninodes; i++) {
		if (!t->inodes[i] || t->inodes[i]->ino != i)
			fuzz_fail("inode %llu: lfs_tree_node(ino)->ino != ino",
				  (unsigned long long)i);
		reached += i > 1 && seen[i];
	}
	if (reached != t->ninodes - 1)
		fuzz_fail("%llu inodes numbered, %llu reachable",
			  (unsigned long long)t->ninodes - 1, (unsigned long long)reached);
	if (nentries != t->nentries)
		fuzz_fail("tree counts %llu names, its directories hold %llu",
			  (unsigned long long)t->nentries, (unsigned long long)nentries);
	free(q.v);
	free(seen);
}

/* Bytes of the distinct files below layer directory D not yet in SEEN. */
static uint64_t layer_bytes(struct report_acct *seen, const struct lfs_node *d)
{
	uint64_t b = 0;

	for (uint32_t i = 0; i < d->dir->n; i++) {
		const struct lfs_node *c = d->dir->ents[i].node;
		struct report_file *f;

		if (!c || (c->flags & LFS_NF_WHITEOUT))
			continue;
		if (c->dir) {
			b += layer_bytes(seen, c);
			continue;
		}
		f = report_acct_file(seen, c, 1);
		if (!f->counted)
			b += report_node_bytes(c);
		f->counted = 1;
	}
	return b;
}

/* The report's books over the merge of T agree with T and add up. */
static void check_report(struct lfs_tree *t, struct report_acct *x, struct lfs_layer **layers,
			 uint32_t n)
{
	struct report *r = x->r;
	uint32_t *names = lfs_xcalloc(t->ninodes, sizeof(*names));
	struct report_acct *seen = lfs_xmalloc(sizeof(*seen));

	report_acct_visible(x);
	report_acct_sum_waste(r);
	for (uint64_t i = 1; i < t->ninodes; i++) {
		const struct lfs_dir *d = t->inodes[i]->dir;

		for (uint32_t j = 0; d && j < d->n; j++)
			if (!d->ents[j].node->dir)
				names[d->ents[j].node->ino]++;
	}
	for (uint64_t i = 1; i < t->ninodes; i++) {
		const struct report_file *f;

		if (t->inodes[i]->dir)
			continue;
		f = report_acct_file(x, t->inodes[i], 0);
		if (!f || f->names != names[i])
			fuzz_fail(
			    "report: '%s' (ino %llu) has %u names in the tree, %u in the books",
			    t->inodes[i]->name, (unsigned long long)i, names[i], f ? f->names : 0);
	}
	for (size_t i = 0; i < x->cap; i++) {
		const struct report_file *f = &x->files[i];

		if (f->n && f->names && (!f->n->ino || t->inodes[f->n->ino] != f->n))
			fuzz_fail(
			    "report: '%s' of layer %u is visible in the books, not in the tree",
			    f->path, f->n->layer);
	}
	report_acct_init(seen, r);
	for (uint32_t k = 0; k < n; k++) {
		const struct report_layer *L = &r->layers[k];
		uint64_t stored = layer_bytes(seen, layers[k]->root);

		for (const struct lfs_superseded *s = layers[k]->superseded; s; s = s->next) {
			if (s->node->nlink || s->node->layer != k)
				fuzz_fail("report: superseded '%s' has %u names, layer %u", s->path,
					  s->node->nlink, s->node->layer);
			stored += report_node_bytes(s->node);
		}
		if (L->stored_bytes != stored || L->visible_bytes + L->wasted_bytes != stored ||
		    L->ignored_bytes || L->hidden_bytes != L->wasted_bytes)
			fuzz_fail("report: layer %u stores %llu bytes, books: stored %llu, visible "
				  "%llu, wasted %llu, hidden %llu",
				  k, (unsigned long long)stored,
				  (unsigned long long)L->stored_bytes,
				  (unsigned long long)L->visible_bytes,
				  (unsigned long long)L->wasted_bytes,
				  (unsigned long long)L->hidden_bytes);
	}
	report_acct_free(seen);
	free(seen);
	free(names);
}

/*
 * Directory V of dive's view shows what the layers' parts P show when their
 * opaque markers are read as dive reads them (not at all): each name the
 * lookup finds, the very node for non-directories, and nothing else.
 */
static void check_dive_dir(const struct lfs_node *v, const struct part *p)
{
	struct part sub;

	for (uint32_t i = 0; i < v->dir->n; i++) {
		const struct lfs_dirent *e = &v->dir->ents[i];
		const struct lfs_node *want;

		if (!e->node)
			continue;
		want = resolve_as(p, e->name, e->len, &sub, false);
		if (want ? e->node != want : !sub.nd || !e->node->dir)
			fuzz_fail("dive's view: '%.*s' is not what the layers show without their "
				  "opaque markers",
				  (int)e->len, e->name);
		if (!want)
			check_dive_dir(e->node, &sub);
	}
	for (uint32_t j = 0; j < p->nd; j++) {
		const struct lfs_dir *d = p->d[j]->dir;

		for (uint32_t i = 0; i < d->n; i++) {
			const struct lfs_dirent *e = &d->ents[i];

			if (!e->node || lfs_dir_lookup(v, e->name, e->len))
				continue;
			if (resolve_as(p, e->name, e->len, &sub, false) || sub.nd)
				fuzz_fail("dive's view: '%.*s' is missing", (int)e->len, e->name);
		}
	}
}

/* A (copied merge) and B (taken merge) show the same names, nodes and metadata. */
static void same_dir(const struct lfs_node *a, const struct lfs_node *b)
{
	if (!b->dir || a->mode != b->mode || a->uid != b->uid || a->gid != b->gid ||
	    a->mtime_sec != b->mtime_sec || a->mtime_nsec != b->mtime_nsec ||
	    a->nlink != b->nlink || a->flags != b->flags || a->size != b->size ||
	    a->ino != b->ino || a->xattrs != b->xattrs || a->dir->n != b->dir->n)
		fuzz_fail("merge by taking: directory ino %llu differs from the copied merge",
			  (unsigned long long)a->ino);
	for (uint32_t i = 0; i < a->dir->n; i++) {
		const struct lfs_dirent *ea = &a->dir->ents[i], *eb = &b->dir->ents[i];

		/* a file's parent is one of its names: a hard link's may be elsewhere */
		if (ea->len != eb->len || memcmp(ea->name, eb->name, ea->len) ||
		    (eb->node->dir && eb->node->parent != b))
			fuzz_fail("merge by taking: entry %u of ino %llu differs", i,
				  (unsigned long long)a->ino);
		if (ea->node->dir)
			same_dir(ea->node, eb->node);
		else if (ea->node != eb->node)
			fuzz_fail("merge by taking: '%.*s' is another node", (int)ea->len,
				  ea->name);
	}
}

/*
 * Merge again as a mount does, taking the layers' directories (which
 * consumes the layer trees): the same tree as T, down to the inode numbers.
 */
static void check_take(struct lfs_tree *t, struct lfs_layer **layers, uint32_t n)
{
	struct lfs_tree *k = lfs_tree_new();

	for (uint64_t i = 1; i < t->ninodes; i++)
		t->inodes[i]->ino = 0;
	for (uint32_t i = 0; i < n; i++)
		lfs_tree_apply_take(k, layers[i]->root);
	lfs_tree_freeze(k);
	for (uint64_t i = 1; i < t->ninodes; i++)
		t->inodes[i]->ino = i;
	if (k->ninodes != t->ninodes || k->nentries != t->nentries)
		fuzz_fail("merge by taking: %llu inodes / %llu names, copied: %llu / %llu",
			  (unsigned long long)k->ninodes, (unsigned long long)k->nentries,
			  (unsigned long long)t->ninodes, (unsigned long long)t->nentries);
	same_dir(t->root, k->root);
	lfs_tree_free(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lfs_layer_opts o = {.max_plain = MAX_PLAIN};
	struct lfs_layer *layers[MAX_LAYERS] = {0};
	struct lfs_layer_desc d[MAX_LAYERS] = {0};
	uint32_t n = 0, indexed = 0;
	int lowest = fuzz_fd_lowest(), fd;
	size_t start = 0;
	struct lfs_tree *t;

	/* Split at the separator; the last layer takes the rest. */
	for (size_t i = 0; n < MAX_LAYERS - 1 && i + SEP_LEN <= size; i++) {
		if (memcmp(data + i, SEP, SEP_LEN))
			continue;
		d[n].off = start;
		d[n].len = i - start;
		n++;
		start = i + SEP_LEN;
		i += SEP_LEN - 1;
	}
	d[n].off = start;
	d[n].len = size - start;
	n++;
	if (n < 2)
		return 0;
	fd = fuzz_memfd(data, size);
	for (uint32_t i = 0; i < n; i++) {
		char name[32];
		int rc;

		snprintf(name, sizeof(name), "fuzz-layer%u", i);
		d[i].name = name;
		d[i].fd = fd;
		lfs_err_clear();
		rc = lfs_layer_index(&layers[i], &d[i], i, &o);
		if (rc) {
			fuzz_check_err(rc, name, "lfs_layer_index");
			break;
		}
		fuzz_check_nlink(layers[i]);
		indexed++;
	}
	close(fd);
	if (indexed == n) {
		struct report r = {.nlayers = n, .arena = lfs_arena_new()};
		struct report_acct *x = lfs_xmalloc(sizeof(*x));
		struct report_dive_acct *dive;

		r.layers = lfs_xcalloc(n, sizeof(*r.layers));
		report_acct_init(x, &r);
		dive = report_dive_new(&r, layers);
		/* layerfs-report's own merge, every layer's changes kept */
		t = report_merge(x, dive, layers, n, -2);
		lfs_tree_freeze(t);
		check_tree(t, layers, n);
		check_report(t, x, layers, n);
		if (report_dive_view(dive)) {
			struct part root = {0};

			for (uint32_t i = n; i-- > 0;)
				root.d[root.nd++] = layers[i]->root;
			check_dive_dir(report_dive_view(dive), &root);
		}
		report_dive_finish(dive, t->root);
		if (!(r.dive.efficiency >= 0 && r.dive.efficiency <= 1))
			fuzz_fail("dive's efficiency %g", r.dive.efficiency);
		for (uint32_t i = 0; i < n; i++)
			free(r.layers[i].changes);
		free(r.layers);
		free(r.waste);
		lfs_arena_free(r.arena);
		report_acct_free(x);
		free(x);
		fuzz_note("%u layers merged: %llu inodes, %llu names", n,
			  (unsigned long long)t->ninodes - 1, (unsigned long long)t->nentries);
		check_take(t, layers, n);
		lfs_tree_free(t);
	}
	for (uint32_t i = 0; i < indexed; i++)
		lfs_layer_free(layers[i]);
	fuzz_fd_check(lowest);
	return 0;
}
