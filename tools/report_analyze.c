/*
 * The accounting of layerfs-report.  The layers are merged again here, bottom
 * to top with overlayfs' rules, on a view of our own: every time a name
 * leaves the view we know which layer removed it and why, and when the last
 * name of a stored file goes, its bytes become waste, attributed to the layer
 * that stored them, the layer that hid them, and the cause.  The core's own
 * merge (node->ino != 0 means visible) checks the result.
 */
#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "lfs.h"
#include "report.h"

const char *const report_cause_names[REPORT_NCAUSES] = {"deleted", "overwritten", "identical",
							"type"};
const char *const report_marker_names[3] = {"entry", "whiteout", "opaque"};
const char *const report_kind_names[3] = {"added", "modified", "deleted"};

/* What we know of a stored non-directory (hard links share one). */
struct ninfo {
	const struct lfs_node *n;
	const char *path; /* its first name */
	uint32_t names;	  /* names it has in the merged view now */
	uint8_t counted;  /* bytes counted in its layer's added/modified */
	uint8_t dive_sized;
};

struct nmap {
	struct ninfo *slots;
	size_t cap, used;
};

struct actx {
	struct report *r;
	struct nmap map;
	uint32_t k;		 /* the layer being applied */
	int record;		 /* keep the change list of layer k */
	uint64_t freed;		 /* bytes the current operation made invisible */
	char path[PATH_MAX * 2]; /* of the entry at hand; the core bounds paths to PATH_MAX */
};

const char *report_type_name(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "file";
	case S_IFDIR:
		return "dir";
	case S_IFLNK:
		return "symlink";
	case S_IFCHR:
		return "char";
	case S_IFBLK:
		return "block";
	case S_IFIFO:
		return "fifo";
	case S_IFSOCK:
		return "socket";
	default:
		return "none";
	}
}

/* Bytes of file data the layer stores for N (sparse files: their extents). */
static uint64_t node_bytes(const struct lfs_node *n)
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

static struct ninfo *nmap_get(struct nmap *m, const struct lfs_node *n, int create)
{
	size_t i;

	if (create && (m->used + 1) * 2 > m->cap) {
		struct ninfo *old = m->slots;
		size_t ocap = m->cap;

		m->cap = ocap ? ocap * 2 : 1024;
		m->slots = lfs_xcalloc(m->cap, sizeof(*m->slots));
		for (size_t j = 0; j < ocap; j++) {
			if (!old[j].n)
				continue;
			for (i = ptr_hash(old[j].n) & (m->cap - 1); m->slots[i].n;
			     i = (i + 1) & (m->cap - 1))
				;
			m->slots[i] = old[j];
		}
		free(old);
	}
	if (!m->cap)
		return NULL;
	for (i = ptr_hash(n) & (m->cap - 1); m->slots[i].n; i = (i + 1) & (m->cap - 1))
		if (m->slots[i].n == n)
			return &m->slots[i];
	if (!create)
		return NULL;
	m->slots[i].n = n;
	m->used++;
	return &m->slots[i];
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

static int ignored(const struct report *r, const char *path)
{
	for (size_t i = 0; i < r->opts.nignore; i++)
		if (report_glob_match(r->opts.ignore[i], path))
			return 1;
	return 0;
}

/* ---------------------------------------------------------------- the merge */

static void add_change(struct actx *x, size_t plen, int kind, uint64_t bytes, uint32_t mode,
		       uint32_t old_mode, int cause, int marker)
{
	struct report_layer *L = &x->r->layers[x->k];
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

static void add_waste(struct actx *x, const struct lfs_node *n, size_t plen, int cause, int marker)
{
	struct report *r = x->r;
	struct report_layer *S = &r->layers[n->layer], *H = &r->layers[x->k];
	struct report_waste *w;
	uint64_t b = node_bytes(n);

	x->freed += b;
	if (!b)
		return;
	if (r->nwaste == r->capwaste) {
		r->capwaste = r->capwaste ? 2 * r->capwaste : 1024;
		r->waste = lfs_xrealloc(r->waste, r->capwaste * sizeof(*r->waste));
	}
	w = &r->waste[r->nwaste++];
	w->path = path_dup(r, x->path, plen);
	w->bytes = b;
	w->stored = n->layer;
	w->hidden_by = x->k;
	w->cause = (uint8_t)cause;
	w->marker = (uint8_t)marker;
	w->ignored = (uint8_t)ignored(r, w->path);
	S->hidden_bytes += b;
	if (marker == REPORT_BY_OPAQUE)
		r->dive.opaque_bytes += b;
	if (w->ignored) {
		S->ignored_bytes += b;
		return;
	}
	S->wasted_bytes += b;
	S->wasted_by_cause[cause] += b;
	H->hides_bytes += b;
	H->hides_by_cause[cause] += b;
	r->totals.wasted_by_marker[marker] += b;
}

/* Remove one name (a whole view subtree for a directory) from the view. */
static void hide(struct actx *x, const struct lfs_node *o, size_t plen, int cause, int marker)
{
	struct ninfo *ni;

	if (o->dir) {
		for (uint32_t i = 0; i < o->dir->n; i++) {
			const struct lfs_dirent *e = &o->dir->ents[i];

			if (e->node)
				hide(x, e->node, path_push(x->path, plen, e->name, e->len), cause,
				     marker);
		}
		x->path[plen] = '\0';
		return;
	}
	ni = nmap_get(&x->map, o, 0);
	if (ni && ni->names && --ni->names == 0)
		add_waste(x, o, plen, cause, marker);
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

static void copy_meta(struct lfs_node *g, const struct lfs_node *l, int implied_new)
{
	if (implied_new) {
		/* containerd's default for a parent no layer describes */
		g->mode = 0040755;
		return;
	}
	g->mode = l->mode;
	g->uid = l->uid;
	g->gid = l->gid;
	g->mtime_sec = l->mtime_sec;
	g->mtime_nsec = l->mtime_nsec;
	g->xattrs = l->xattrs;
}

static int meta_differs(const struct lfs_node *g, const struct lfs_node *l)
{
	return g->mode != l->mode || g->uid != l->uid || g->gid != l->gid ||
	       g->mtime_sec != l->mtime_sec || g->mtime_nsec != l->mtime_nsec ||
	       !xattrs_equal(g->xattrs, l->xattrs);
}

/* How LOWER goes when UPPER (a non-directory) takes its name. */
static int replace_cause(const struct lfs_node *lower, const struct lfs_node *upper)
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

/*
 * An opaque directory L hides every name of G it does not list itself (a
 * whiteout it lists does the hiding, and says so).
 */
static void hide_unlisted(struct actx *x, struct lfs_node *g, const struct lfs_node *l, size_t plen)
{
	struct report_layer *L = &x->r->layers[x->k];

	for (uint32_t i = 0; i < g->dir->n; i++) {
		const struct lfs_dirent *e = &g->dir->ents[i];
		size_t p2;

		if (!e->node || lfs_dir_lookup(l, e->name, e->len))
			continue;
		p2 = path_push(x->path, plen, e->name, e->len);
		x->freed = 0;
		hide(x, e->node, p2, REPORT_DELETED, REPORT_BY_OPAQUE);
		add_change(x, p2, REPORT_REMOVED, 0, 0, e->node->mode, REPORT_DELETED,
			   REPORT_BY_OPAQUE);
		L->removed.entries++;
		L->removed.bytes += x->freed;
		lfs_dir_remove(g, e->name, e->len);
	}
	x->path[plen] = '\0';
}

/* Layer k puts non-directory C at the path: count it (hard links once). */
static void count_stored(struct actx *x, const struct lfs_node *c, size_t plen, int kind,
			 uint32_t old_mode, int cause)
{
	struct report_layer *L = &x->r->layers[x->k];
	struct ninfo *ni = nmap_get(&x->map, c, 1);
	struct report_count *cnt = kind == REPORT_ADDED ? &L->added : &L->modified;
	uint64_t b = node_bytes(c);

	cnt->entries++;
	ni->names++;
	if (ni->counted) {
		L->hardlinks++;
		add_change(x, plen, kind, 0, c->mode, old_mode, cause, 0);
		return;
	}
	ni->counted = 1;
	ni->path = path_dup(x->r, x->path, plen);
	cnt->bytes += b;
	L->stored_bytes += b;
	if (S_ISREG(c->mode))
		L->files++;
	else if (S_ISLNK(c->mode))
		L->symlinks++;
	else
		L->others++;
	add_change(x, plen, kind, b, c->mode, old_mode, cause, 0);
}

static void apply_dir(struct actx *x, struct lfs_node *g, const struct lfs_node *l, int opaque,
		      size_t plen);

static void apply_entry(struct actx *x, struct lfs_node *g, const struct lfs_dirent *e, int opaque,
			size_t plen)
{
	struct report_layer *L = &x->r->layers[x->k];
	const struct lfs_node *c = e->node;
	struct lfs_node *old = lfs_dir_lookup(g, e->name, e->len), *nd;
	size_t p2 = path_push(x->path, plen, e->name, e->len);
	uint32_t old_mode = old ? old->mode : 0;
	int cause = REPORT_TYPE;

	x->freed = 0;
	if (c->flags & LFS_NF_WHITEOUT) {
		L->whiteouts++;
		if (!old) {
			L->dangling_whiteouts++;
			return;
		}
		hide(x, old, p2, REPORT_DELETED, REPORT_BY_WHITEOUT);
		lfs_dir_remove(g, e->name, e->len);
		add_change(x, p2, REPORT_REMOVED, 0, 0, old_mode, REPORT_DELETED,
			   REPORT_BY_WHITEOUT);
		L->removed.entries++;
		L->removed.bytes += x->freed;
		if (old->dir)
			x->r->dive.dir_whiteout_bytes += x->freed;
		return;
	}
	if (c->dir) {
		int implied = !!(c->flags & LFS_NF_IMPLIED);

		if (!implied)
			L->dirs++;
		if (c->flags & LFS_NF_OPAQUE)
			L->opaque_dirs++;
		if (old && old->dir) {
			if (!implied && meta_differs(old, c)) {
				add_change(x, p2, REPORT_MODIFIED, 0, c->mode, old_mode,
					   REPORT_IDENTICAL, 0);
				L->modified.entries++;
			}
			if (!implied)
				copy_meta(old, c, 0);
			apply_dir(x, old, c, opaque, p2);
			return;
		}
		if (old)
			hide(x, old, p2, REPORT_TYPE, REPORT_BY_ENTRY);
		nd = lfs_dir_new(x->r->arena, g);
		copy_meta(nd, c, implied);
		lfs_dir_set(g, e->name, e->len, nd);
		add_change(x, p2, old ? REPORT_MODIFIED : REPORT_ADDED, 0, nd->mode, old_mode,
			   REPORT_TYPE, 0);
		if (old)
			L->modified.entries++;
		else
			L->added.entries++;
		apply_dir(x, nd, c, 0, p2);
		return;
	}
	if (old) {
		cause = old->dir ? REPORT_TYPE : replace_cause(old, c);
		hide(x, old, p2, cause, REPORT_BY_ENTRY);
	}
	lfs_dir_set(g, e->name, e->len, (struct lfs_node *)c);
	count_stored(x, c, p2, old ? REPORT_MODIFIED : REPORT_ADDED, old_mode, cause);
}

/*
 * Apply layer directory L over view directory G.  OPAQUE: L or one of its
 * ancestors is opaque, so nothing of G survives that L does not provide.
 */
static void apply_dir(struct actx *x, struct lfs_node *g, const struct lfs_node *l, int opaque,
		      size_t plen)
{
	const struct lfs_dir *ld = l->dir;

	opaque |= !!(l->flags & LFS_NF_OPAQUE);
	if (opaque)
		hide_unlisted(x, g, l, plen);
	for (uint32_t i = 0; i < ld->n; i++) {
		if (!ld->ents[i].node)
			continue;
		apply_entry(x, g, &ld->ents[i], opaque, plen);
		x->path[plen] = '\0';
	}
}

/* ---------------------------------------------------------------- duplicates */

/* Same content: xxh3-128 and size. */
static int ninfo_hash_cmp_key(const struct ninfo *a, const struct ninfo *b)
{
	if (a->n->hash->hi != b->n->hash->hi)
		return a->n->hash->hi < b->n->hash->hi ? -1 : 1;
	if (a->n->hash->lo != b->n->hash->lo)
		return a->n->hash->lo < b->n->hash->lo ? -1 : 1;
	if (a->n->size != b->n->size)
		return a->n->size < b->n->size ? -1 : 1;
	return 0;
}

static int ninfo_hash_cmp(const void *pa, const void *pb)
{
	const struct ninfo *a = *(struct ninfo *const *)pa, *b = *(struct ninfo *const *)pb;
	int r = ninfo_hash_cmp_key(a, b);

	if (r)
		return r;
	return a->n->layer != b->n->layer ? (a->n->layer < b->n->layer ? -1 : 1)
					  : strcmp(a->path, b->path);
}

static int dup_cmp(const void *pa, const void *pb)
{
	const struct report_dup *a = pa, *b = pb;

	if (a->stored_redundant != b->stored_redundant)
		return a->stored_redundant < b->stored_redundant ? 1 : -1;
	return strcmp(a->copies[0].path, b->copies[0].path);
}

static void find_duplicates(struct actx *x)
{
	struct report *r = x->r;
	struct ninfo **v = lfs_xmalloc((x->map.used ? x->map.used : 1) * sizeof(*v));
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < x->map.cap; i++) {
		struct ninfo *ni = &x->map.slots[i];

		if (ni->n && S_ISREG(ni->n->mode) && ni->n->size && ni->n->hash &&
		    !ignored(r, ni->path))
			v[n++] = ni;
	}
	qsort(v, n, sizeof(*v), ninfo_hash_cmp);
	for (size_t i = 0, j; i < n; i = j) {
		struct report_dup g = {0};

		for (j = i + 1; j < n && !ninfo_hash_cmp_key(v[i], v[j]); j++)
			;
		if (j - i < 2)
			continue;
		g.size = v[i]->n->size;
		g.hash_hi = v[i]->n->hash->hi;
		g.hash_lo = v[i]->n->hash->lo;
		g.ncopies = (uint32_t)(j - i);
		for (size_t m = i; m < j; m++) {
			g.nvisible += v[m]->names > 0;
			g.nlayers += m == i || v[m]->n->layer != v[m - 1]->n->layer;
		}
		if (g.nvisible < 2 && g.nlayers < 2)
			continue;
		g.redundant = g.nvisible > 1 ? (g.nvisible - 1) * g.size : 0;
		g.stored_redundant = (g.ncopies - 1) * g.size;
		g.copies = lfs_xmalloc(g.ncopies * sizeof(*g.copies));
		for (size_t m = i; m < j; m++)
			g.copies[m - i] =
			    (struct report_dup_copy){v[m]->path, v[m]->n->layer, v[m]->names > 0};
		if (r->ndups == cap) {
			cap = cap ? 2 * cap : 64;
			r->dups = lfs_xrealloc(r->dups, cap * sizeof(*r->dups));
		}
		r->dups[r->ndups++] = g;
		r->totals.dup_visible_redundant += g.redundant;
		r->totals.dup_stored_redundant += g.stored_redundant;
	}
	r->totals.dup_groups = r->ndups;
	if (r->ndups)
		qsort(r->dups, r->ndups, sizeof(*r->dups), dup_cmp);
	free(v);
}

/* ---------------------------------------------------------------- totals */

static void finish(struct actx *x)
{
	struct report *r = x->r;
	struct report_totals *t = &r->totals;

	for (size_t i = 0; i < x->map.cap; i++) {
		const struct ninfo *ni = &x->map.slots[i];
		int visible;

		if (!ni->n)
			continue;
		visible = ni->names > 0;
		/* The core's merge numbers exactly the visible nodes. */
		if (visible != (ni->n->ino != 0))
			t->inconsistent++;
		if (!visible)
			continue;
		r->layers[ni->n->layer].visible_bytes += node_bytes(ni->n);
		t->visible_files += S_ISREG(ni->n->mode);
	}
	for (uint32_t k = 0; k < r->nlayers; k++) {
		const struct report_layer *L = &r->layers[k];

		t->stored_size += L->stored_size;
		t->plain_size += L->plain_size;
		t->tar_entries += L->tar_entries;
		t->stored_bytes += L->stored_bytes;
		t->visible_bytes += L->visible_bytes;
		t->hidden_bytes += L->hidden_bytes;
		t->wasted_bytes += L->wasted_bytes;
		t->ignored_bytes += L->ignored_bytes;
		for (int c = 0; c < REPORT_NCAUSES; c++)
			t->wasted_by_cause[c] += L->wasted_by_cause[c];
		if (L->plain_size)
			t->est_wasted_compressed += (double)L->wasted_bytes *
						    (double)L->stored_size / (double)L->plain_size;
	}
	t->efficiency =
	    t->stored_bytes ? 1.0 - (double)t->wasted_bytes / (double)t->stored_bytes : 1.0;
	report_set_base(r, r->opts.base);
}

/* The first BASE layers are the base image: "your" figures leave them out. */
void report_set_base(struct report *r, uint32_t base)
{
	struct report_totals *t = &r->totals;

	r->opts.base = base;
	t->user_stored_bytes = t->user_wasted_bytes = t->base_hidden_by_user = 0;
	for (uint32_t k = base; k < r->nlayers; k++)
		t->user_stored_bytes += r->layers[k].stored_bytes;
	for (size_t i = 0; i < r->nwaste; i++) {
		const struct report_waste *w = &r->waste[i];

		if (w->ignored)
			continue;
		if (w->stored >= base)
			t->user_wasted_bytes += w->bytes;
		else if (w->hidden_by >= base)
			t->base_hidden_by_user += w->bytes;
	}
	t->user_efficiency = t->user_stored_bytes
				 ? 1.0 - (double)t->user_wasted_bytes / (double)t->user_stored_bytes
				 : 1.0;
}

/* dive sizes a hard-linked file on one of its names only (tar gives the others 0). */
static int first_name(void *arg, const struct lfs_node *n)
{
	struct ninfo *ni = nmap_get(&((struct actx *)arg)->map, n, 0);

	if (!ni || ni->dive_sized)
		return 0;
	ni->dive_sized = 1;
	return 1;
}

int report_analyze(struct report *r, const struct lfs_core *c, const struct report_opts *o)
{
	struct actx *x = lfs_xcalloc(1, sizeof(*x));
	struct lfs_node *view;

	memset(r, 0, sizeof(*r));
	r->core = c;
	r->opts = *o;
	r->arena = lfs_arena_new();
	r->nlayers = c->nlayers;
	r->layers = lfs_xcalloc(r->nlayers ? r->nlayers : 1, sizeof(*r->layers));
	x->r = r;
	for (uint32_t k = 0; k < r->nlayers; k++) {
		const struct lfs_layer_desc *d = &c->img->layers[k];
		const struct lfs_layer *l = c->layers[k];
		struct report_layer *L = &r->layers[k];

		L->digest = d->digest;
		L->diff_id = d->diff_id;
		L->media_type = d->media_type;
		L->history_index = -1;
		L->comp = lfs_comp_name(l->comp);
		L->stored_size = l->stored_size;
		L->plain_size = l->plain_size;
		L->tar_entries = l->nentries;
		snprintf(L->name, sizeof(L->name), "%s",
			 strrchr(d->name, '/') ? strrchr(d->name, '/') + 1 : d->name);
	}
	report_history(r, c->img->config, c->img->config_len);

	view = lfs_dir_new(r->arena, NULL);
	view->mode = 0040755;
	for (uint32_t k = 0; k < r->nlayers; k++) {
		const struct lfs_node *root = c->layers[k]->root;

		x->k = k;
		x->record = o->changes_layer == -2 || o->changes_layer == (int)k;
		x->path[0] = '\0';
		if (root->flags & LFS_NF_OPAQUE)
			r->layers[k].opaque_dirs++;
		if (!(root->flags & LFS_NF_IMPLIED)) {
			if (k > 0 && meta_differs(view, root)) {
				x->freed = 0;
				add_change(x, 0, REPORT_MODIFIED, 0, root->mode, view->mode,
					   REPORT_IDENTICAL, 0);
				r->layers[k].modified.entries++;
			}
			copy_meta(view, root, 0);
		}
		apply_dir(x, view, root, 0, 0);
	}
	finish(x);
	report_dive(r, first_name, x);
	find_duplicates(x);
	free(x->map.slots);
	free(x);
	return 0;
}

void report_free(struct report *r)
{
	if (!r)
		return;
	for (uint32_t k = 0; r->layers && k < r->nlayers; k++) {
		free(r->layers[k].created_by);
		free(r->layers[k].instruction);
		free(r->layers[k].comment);
		free(r->layers[k].config_diff_id);
		free(r->layers[k].changes);
	}
	for (size_t i = 0; i < r->ndups; i++)
		free(r->dups[i].copies);
	for (size_t i = 0; i < r->nsugg; i++)
		free(r->sugg[i].text);
	free(r->sugg);
	free(r->dups);
	free(r->waste);
	free(r->layers);
	if (r->arena)
		lfs_arena_free(r->arena);
	memset(r, 0, sizeof(*r));
}

/* ---------------------------------------------------------------- two images */

static void subtree(const struct lfs_node *n, struct report_count *cnt)
{
	cnt->entries++;
	if (!n->dir) {
		cnt->bytes += node_bytes(n);
		return;
	}
	for (uint32_t i = 0; i < n->dir->n; i++)
		if (n->dir->ents[i].node)
			subtree(n->dir->ents[i].node, cnt);
}

static void cmp_record(struct report_compare *cmp, const char *path, size_t plen, int kind,
		       const struct lfs_node *na, const struct lfs_node *nb)
{
	struct report_count a = {0}, b = {0};
	struct report_change *c;
	struct report_count *tot = kind == REPORT_ADDED	    ? &cmp->added
				   : kind == REPORT_REMOVED ? &cmp->removed
							    : &cmp->changed;

	if (na)
		subtree(na, &a);
	if (nb)
		subtree(nb, &b);
	tot->entries += kind == REPORT_ADDED ? b.entries : kind == REPORT_REMOVED ? a.entries : 1;
	tot->bytes += kind == REPORT_REMOVED ? a.bytes : b.bytes;
	if (cmp->nfiles == cmp->capfiles) {
		cmp->capfiles = cmp->capfiles ? 2 * cmp->capfiles : 256;
		cmp->files = lfs_xrealloc(cmp->files, cmp->capfiles * sizeof(*cmp->files));
	}
	c = &cmp->files[cmp->nfiles++];
	memset(c, 0, sizeof(*c));
	c->path = plen ? lfs_arena_strndup(cmp->arena, path, plen) : "/";
	c->kind = (uint8_t)kind;
	c->bytes = b.bytes;
	c->hidden = a.bytes;
	c->mode = nb ? nb->mode : 0;
	c->old_mode = na ? na->mode : 0;
	c->cause = na && nb ? (uint8_t)(((na->mode ^ nb->mode) & S_IFMT) ? REPORT_TYPE
									 : REPORT_OVERWRITTEN)
			    : REPORT_DELETED;
}

static void diff_dir(struct report_compare *cmp, const struct lfs_node *ga,
		     const struct lfs_node *gb, char *path, size_t plen)
{
	for (uint32_t i = 0; i < gb->dir->n; i++) {
		const struct lfs_dirent *e = &gb->dir->ents[i];
		const struct lfs_node *nb = e->node, *na;
		size_t p2;

		if (!nb)
			continue;
		na = lfs_dir_lookup(ga, e->name, e->len);
		p2 = path_push(path, plen, e->name, e->len);
		if (!na)
			cmp_record(cmp, path, p2, REPORT_ADDED, NULL, nb);
		else if (na->dir && nb->dir)
			diff_dir(cmp, na, nb, path, p2);
		else if (na->dir || nb->dir || replace_cause(na, nb) != REPORT_IDENTICAL)
			cmp_record(cmp, path, p2, REPORT_MODIFIED, na, nb);
		path[plen] = '\0';
	}
	for (uint32_t i = 0; i < ga->dir->n; i++) {
		const struct lfs_dirent *e = &ga->dir->ents[i];

		if (!e->node || lfs_dir_lookup(gb, e->name, e->len))
			continue;
		cmp_record(cmp, path, path_push(path, plen, e->name, e->len), REPORT_REMOVED,
			   e->node, NULL);
		path[plen] = '\0';
	}
}

/* The same layer: same diff_id (uncompressed content), else same digest. */
static int same_layer(const struct report_layer *a, const struct report_layer *b)
{
	if (a->diff_id && b->diff_id)
		return !strcmp(a->diff_id, b->diff_id);
	return a->digest && b->digest && !strcmp(a->digest, b->digest);
}

int report_compare(struct report_compare *cmp, const struct report *a, const struct report *b)
{
	char *path = lfs_xmalloc(PATH_MAX * 2);

	cmp->a = a;
	cmp->arena = lfs_arena_new();
	cmp->b_in_a = lfs_xcalloc(b->nlayers ? b->nlayers : 1, sizeof(*cmp->b_in_a));
	for (uint32_t j = 0; j < b->nlayers; j++) {
		cmp->b_in_a[j] = -1;
		for (uint32_t i = 0; i < a->nlayers && cmp->b_in_a[j] < 0; i++)
			if (same_layer(&a->layers[i], &b->layers[j]))
				cmp->b_in_a[j] = (int32_t)i;
	}
	while (cmp->shared_prefix < b->nlayers &&
	       cmp->b_in_a[cmp->shared_prefix] == (int32_t)cmp->shared_prefix)
		cmp->shared_prefix++;
	path[0] = '\0';
	diff_dir(cmp, a->core->tree->root, b->core->tree->root, path, 0);
	free(path);
	return 0;
}

void report_compare_free(struct report_compare *cmp)
{
	free(cmp->b_in_a);
	free(cmp->files);
	if (cmp->arena)
		lfs_arena_free(cmp->arena);
}
