/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The books of layerfs-report, kept over what the merge (lib/tree.c, the
 * mount's own) tells its observer: every name that leaves the view says which
 * layer removed it and why, and when the last name of a stored file goes,
 * its bytes become waste, attributed to the layer that stored them, the layer
 * that hid them, and the cause.  Files a layer superseded itself (the layer
 * builder lists them) are stored and never visible.  No overlay rule lives
 * here: what is hidden is the merge's word; here only how to count it (and
 * whether a replacement re-stored the same content, which needs the hashes).
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "layerfs/lfs.h"
#include "report.h"

/* Bytes of file data the layer stores for N (sparse files: their extents). */
uint64_t report_node_bytes(const struct lfs_node *n)
{
	uint64_t b = 0;

	if (!S_ISREG(n->mode))
		return 0;
	if (!n->sparse)
		return n->size;
	for (uint32_t i = 0; i < n->sparse->n; i++)
		b += n->sparse->ext[i].len;
	return b;
}

static size_t ptr_hash(const void *p)
{
	return (size_t)XXH3_64bits(&p, sizeof(p));
}

struct report_file *report_acct_file(struct report_acct *x, const struct lfs_node *n, int create)
{
	size_t i;

	if (create && (x->used + 1) * 2 > x->cap) {
		struct report_file *old = x->files;
		size_t ocap = x->cap;

		x->cap = ocap ? ocap * 2 : 1024;
		x->files = lfs_xcalloc(x->cap, sizeof(*x->files));
		for (size_t j = 0; j < ocap; j++) {
			if (!old[j].n)
				continue;
			for (i = ptr_hash(old[j].n) & (x->cap - 1); x->files[i].n;
			     i = (i + 1) & (x->cap - 1))
				;
			x->files[i] = old[j];
		}
		free(old);
	}
	if (!x->cap)
		return NULL;
	for (i = ptr_hash(n) & (x->cap - 1); x->files[i].n; i = (i + 1) & (x->cap - 1))
		if (x->files[i].n == n)
			return &x->files[i];
	if (!create)
		return NULL;
	x->files[i].n = n;
	x->used++;
	return &x->files[i];
}

static size_t path_push(char *buf, size_t plen, const char *name, uint32_t len)
{
	buf[plen] = '/';
	memcpy(buf + plen + 1, name, len);
	buf[plen + 1 + len] = '\0';
	return plen + 1 + len;
}

static const char *path_dup(struct report *r, const char *path, size_t plen)
{
	return plen ? lfs_arena_strndup(r->arena, path, plen) : "/";
}

static void add_change(struct report_acct *x, uint32_t k, size_t plen, int kind, uint64_t bytes,
		       uint32_t mode, uint32_t old_mode, int cause, int marker)
{
	struct report_layer *L = &x->r->layers[k];
	struct report_change *c;

	if (!x->record)
		return;
	if (L->nchanges == L->capchanges) {
		L->capchanges = L->capchanges ? 2 * L->capchanges : 256;
		L->changes = lfs_xrealloc(L->changes, L->capchanges * sizeof(*L->changes));
	}
	c = &L->changes[L->nchanges++];
	c->path = path_dup(x->r, x->path, plen);
	c->bytes = bytes;
	c->hidden = x->freed;
	c->mode = mode;
	c->old_mode = old_mode;
	c->kind = (uint8_t)kind;
	c->cause = (uint8_t)cause;
	c->marker = (uint8_t)marker;
}

/* N's bytes, stored in its layer, are no longer visible: layer K hid them. */
static void add_waste(struct report_acct *x, const struct lfs_node *n, const char *path, uint32_t k,
		      int cause, int marker)
{
	struct report *r = x->r;
	struct report_waste *w;
	uint64_t b = report_node_bytes(n);

	x->freed += b;
	if (!b)
		return;
	if (r->nwaste == r->capwaste) {
		r->capwaste = r->capwaste ? 2 * r->capwaste : 1024;
		r->waste = lfs_xrealloc(r->waste, r->capwaste * sizeof(*r->waste));
	}
	w = &r->waste[r->nwaste++];
	memset(w, 0, sizeof(*w));
	w->path = path;
	w->bytes = b;
	w->stored = n->layer;
	w->hidden_by = k;
	w->cause = (uint8_t)cause;
	w->marker = (uint8_t)marker;
	r->layers[n->layer].hidden_bytes += b;
	if (marker == REPORT_BY_OPAQUE)
		r->dive.opaque_bytes += b;
}

/* One name (a whole view subtree for a directory) left the view. */
static void hide(struct report_acct *x, const struct lfs_node *o, size_t plen, uint32_t k,
		 int cause, int marker)
{
	struct report_file *f;

	if (o->dir) {
		for (uint32_t i = 0; i < o->dir->n; i++) {
			const struct lfs_dirent *e = &o->dir->ents[i];

			if (e->node)
				hide(x, e->node, path_push(x->path, plen, e->name, e->len), k,
				     cause, marker);
		}
		x->path[plen] = '\0';
		return;
	}
	f = report_acct_file(x, o, 0);
	if (f && f->names && --f->names == 0)
		add_waste(x, o, path_dup(x->r, x->path, plen), k, cause, marker);
}

static int xattrs_equal(const struct lfs_xattrs *a, const struct lfs_xattrs *b)
{
	if (a == b)
		return 1;
	if (!a || !b || a->n != b->n)
		return 0;
	for (uint32_t i = 0; i < a->n; i++) {
		uint32_t j;

		for (j = 0; j < b->n; j++)
			if (!strcmp(a->x[i].name, b->x[j].name))
				break;
		if (j == b->n || a->x[i].len != b->x[j].len ||
		    memcmp(a->x[i].value, b->x[j].value, a->x[i].len))
			return 0;
	}
	return 1;
}

static int meta_differs(const struct lfs_node *g, const struct lfs_node *l)
{
	return g->mode != l->mode || g->uid != l->uid || g->gid != l->gid ||
	       g->mtime_sec != l->mtime_sec || g->mtime_nsec != l->mtime_nsec ||
	       !xattrs_equal(g->xattrs, l->xattrs);
}

/* How LOWER went when UPPER, a non-directory, took its name (the hashes tell "identical"). */
int report_replace_cause(const struct lfs_node *lower, const struct lfs_node *upper)
{
	if ((lower->mode & S_IFMT) != (upper->mode & S_IFMT))
		return REPORT_TYPE;
	switch (upper->mode & S_IFMT) {
	case S_IFREG:
		if (lower->size == upper->size && lower->hash && upper->hash &&
		    lower->hash->lo == upper->hash->lo && lower->hash->hi == upper->hash->hi)
			return REPORT_IDENTICAL;
		return REPORT_OVERWRITTEN;
	case S_IFLNK:
		return strcmp(lower->link, upper->link) ? REPORT_OVERWRITTEN : REPORT_IDENTICAL;
	case S_IFCHR:
	case S_IFBLK:
		return lower->rdev == upper->rdev ? REPORT_IDENTICAL : REPORT_OVERWRITTEN;
	default:
		return REPORT_IDENTICAL;
	}
}

/* Layer K puts non-directory C at the path: count it (hard links once). */
static void count_stored(struct report_acct *x, uint32_t k, const struct lfs_node *c, size_t plen,
			 int kind, uint32_t old_mode, int cause)
{
	struct report_layer *L = &x->r->layers[k];
	struct report_file *f = report_acct_file(x, c, 1);
	struct report_count *cnt = kind == REPORT_ADDED ? &L->added : &L->modified;
	uint64_t b = report_node_bytes(c);

	cnt->entries++;
	f->names++;
	if (f->counted) {
		L->hardlinks++;
		add_change(x, k, plen, kind, 0, c->mode, old_mode, cause, 0);
		return;
	}
	f->counted = 1;
	f->path = path_dup(x->r, x->path, plen);
	cnt->bytes += b;
	L->stored_bytes += b;
	if (S_ISREG(c->mode))
		L->files++;
	else if (S_ISLNK(c->mode))
		L->symlinks++;
	else
		L->others++;
	add_change(x, k, plen, kind, b, c->mode, old_mode, cause, 0);
}

/* OLD left the view: removed by a whiteout or an opaque directory of layer K. */
static void removed(struct report_acct *x, uint32_t k, const struct lfs_node *old, size_t plen,
		    int marker)
{
	struct report_layer *L = &x->r->layers[k];

	hide(x, old, plen, k, REPORT_DELETED, marker);
	add_change(x, k, plen, REPORT_REMOVED, 0, 0, old->mode, REPORT_DELETED, marker);
	L->removed.entries++;
	L->removed.bytes += x->freed;
	if (marker == REPORT_BY_WHITEOUT && old->dir)
		x->r->dive.dir_whiteout_bytes += x->freed;
}

/* Layer K's directory C lands at the path, over OLD (NULL, or a non-directory). */
static void new_dir(struct report_acct *x, uint32_t k, const struct lfs_node *c,
		    const struct lfs_node *old, size_t plen)
{
	struct report_layer *L = &x->r->layers[k];
	/* containerd's default for a parent no layer describes */
	uint32_t mode = c->flags & LFS_NF_IMPLIED ? 0040755 : c->mode;

	if (old)
		hide(x, old, plen, k, REPORT_TYPE, REPORT_BY_ENTRY);
	add_change(x, k, plen, old ? REPORT_MODIFIED : REPORT_ADDED, 0, mode, old ? old->mode : 0,
		   REPORT_TYPE, 0);
	if (old)
		L->modified.entries++;
	else
		L->added.entries++;
}

static void on_event(void *arg, const struct lfs_merge_event *ev)
{
	struct report_acct *x = arg;
	uint32_t k = ev->layer;
	struct report_layer *L = &x->r->layers[k];
	const struct lfs_node *c = ev->node, *old = ev->old;
	size_t plen = ev->plen;
	int cause = REPORT_TYPE;

	memcpy(x->path, ev->path, plen + 1);
	x->freed = 0;
	switch (ev->kind) {
	case LFS_MERGE_OPAQUE:
		removed(x, k, old, plen, REPORT_BY_OPAQUE);
		return;
	case LFS_MERGE_WHITEOUT:
		L->whiteouts++;
		if (old)
			removed(x, k, old, plen, REPORT_BY_WHITEOUT);
		else
			L->dangling_whiteouts++;
		return;
	case LFS_MERGE_DIR:
	case LFS_MERGE_ADDED:
	case LFS_MERGE_REPLACED:
		break;
	}
	if (c->dir) {
		int implied = !!(c->flags & LFS_NF_IMPLIED);

		/* the root is not an entry of its layer, its opaque marker is */
		if (!implied && plen)
			L->dirs++;
		if (c->flags & LFS_NF_OPAQUE)
			L->opaque_dirs++;
		if (ev->kind != LFS_MERGE_DIR) {
			new_dir(x, k, c, old, plen);
		} else if (!implied && old && meta_differs(old, c)) {
			add_change(x, k, plen, REPORT_MODIFIED, 0, c->mode, old->mode,
				   REPORT_IDENTICAL, 0);
			L->modified.entries++;
		}
		return;
	}
	if (old) {
		cause = old->dir ? REPORT_TYPE : report_replace_cause(old, c);
		hide(x, old, plen, k, cause, REPORT_BY_ENTRY);
	}
	count_stored(x, k, c, plen, old ? REPORT_MODIFIED : REPORT_ADDED, old ? old->mode : 0,
		     cause);
}

void report_acct_init(struct report_acct *x, struct report *r)
{
	memset(x, 0, offsetof(struct report_acct, path));
	x->path[0] = '\0';
	x->r = r;
	x->obs.event = on_event;
	x->obs.arg = x;
}

/*
 * Files layer K stored and replaced itself, later in its tarball: stored,
 * never visible, hidden by K.  How they went is told as for a replacement
 * across layers.
 */
void report_acct_layer(struct report_acct *x, uint32_t k, const struct lfs_layer *l, int record)
{
	struct report_layer *L = &x->r->layers[k];

	x->record = record;
	for (const struct lfs_superseded *s = l->superseded; s; s = s->next) {
		struct report_file *f = report_acct_file(x, s->node, 1);
		int cause = REPORT_TYPE, marker = REPORT_BY_ENTRY;

		if (f->counted)
			continue;
		f->counted = 1;
		f->path = s->path;
		L->stored_bytes += report_node_bytes(s->node);
		if (s->by->flags & LFS_NF_WHITEOUT) {
			cause = REPORT_DELETED;
			marker = REPORT_BY_WHITEOUT;
		} else if (!s->below && !s->by->dir) {
			cause = report_replace_cause(s->node, s->by);
		}
		add_waste(x, s->node, s->path, k, cause, marker);
	}
}

/* What stays visible: every file with a name left in the view. */
void report_acct_visible(struct report_acct *x)
{
	struct report *r = x->r;

	for (size_t i = 0; i < x->cap; i++) {
		const struct report_file *f = &x->files[i];

		if (!f->n || !f->names)
			continue;
		r->layers[f->n->layer].visible_bytes += report_node_bytes(f->n);
		r->totals.visible_files += S_ISREG(f->n->mode);
	}
}

/* The waste rows' sums, once --ignore has marked the rows it matches. */
void report_acct_sum_waste(struct report *r)
{
	for (size_t i = 0; i < r->nwaste; i++) {
		const struct report_waste *w = &r->waste[i];
		struct report_layer *S = &r->layers[w->stored], *H = &r->layers[w->hidden_by];

		if (w->ignored) {
			S->ignored_bytes += w->bytes;
			continue;
		}
		S->wasted_bytes += w->bytes;
		S->wasted_by_cause[w->cause] += w->bytes;
		H->hides_bytes += w->bytes;
		H->hides_by_cause[w->cause] += w->bytes;
		r->totals.wasted_by_marker[w->marker] += w->bytes;
	}
}

void report_acct_free(struct report_acct *x)
{
	free(x->files);
	x->files = NULL;
	x->cap = x->used = 0;
}
