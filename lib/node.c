/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Arena allocation and directory tables for nodes.  Directories are open
 * addressing hash tables over an array of entries; small directories are
 * scanned linearly, since most image directories hold a handful of names.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "layerfs/lfs.h"
#include "layerfs/node.h"

#define ARENA_CHUNK    (256 * 1024)
#define DIR_LINEAR_MAX 8

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	max_align_t data[];
};

/* A block given back (lfs_arena_put), waiting to be reused. */
struct pooled {
	struct pooled *next;
};

struct lfs_arena {
	struct arena_chunk *head;
	size_t bytes;
	struct lfs_dir **dirs; /* directory tables to free with the arena */
	size_t ndirs, capdirs;
	struct pooled *pool[LFS_ARENA_POOL_MAX / 8 + 1]; /* given back, by size / 8 */
	struct lfs_dir *spare;				 /* tables given back (linked by lower) */
};

struct lfs_arena *lfs_arena_new(void)
{
	return lfs_xcalloc(1, sizeof(struct lfs_arena));
}

/* ALIGN: 8, or 1 for strings (names are most of an arena's small objects). */
static void *arena_alloc(struct lfs_arena *a, size_t n, size_t align)
{
	struct arena_chunk *c = a->head;
	void *p;

	if (c)
		c->used = (c->used + align - 1) & ~(align - 1);
	if (!c || c->used > c->cap || c->cap - c->used < n) {
		size_t cap = n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK;

		c = lfs_xmalloc(sizeof(*c) + cap);
		c->used = 0;
		c->cap = cap;
		/* A big allocation goes behind the current chunk so its free space stays usable. */
		if (a->head && cap != ARENA_CHUNK) {
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = a->head;
			a->head = c;
		}
		a->bytes += sizeof(*c) + cap;
	}
	p = (char *)c->data + c->used;
	c->used += n;
	return p;
}

void *lfs_arena_alloc(struct lfs_arena *a, size_t n)
{
	return arena_alloc(a, n, 8);
}

char *lfs_arena_strndup(struct lfs_arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1, 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void *lfs_arena_memdup(struct lfs_arena *a, const void *p, size_t n)
{
	void *q = lfs_arena_alloc(a, n ? n : 1);

	memcpy(q, p, n);
	return q;
}

void *lfs_arena_get(struct lfs_arena *a, size_t n)
{
	size_t k = (n + 7) / 8;
	struct pooled *p;

	if (k == 0)
		k = 1;
	p = a->pool[k];
	if (!p)
		return arena_alloc(a, k * 8, 8);
	a->pool[k] = p->next;
	return p;
}

void lfs_arena_put(struct lfs_arena *a, void *p, size_t n)
{
	size_t k = (n + 7) / 8;
	struct pooled *b = p;

	if (k == 0)
		k = 1;
	b->next = a->pool[k];
	a->pool[k] = b;
}

char *lfs_arena_name(struct lfs_arena *a, const char *s, size_t n)
{
	char *p;

	if (n + 1 > LFS_ARENA_POOL_MAX)
		return lfs_arena_strndup(a, s, n);
	p = lfs_arena_get(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void lfs_arena_name_free(struct lfs_arena *a, const char *name)
{
	size_t n = strlen(name) + 1;

	/* A long one came from the arena itself: it stays until the arena goes. */
	if (n <= LFS_ARENA_POOL_MAX)
		lfs_arena_put(a, (void *)name, n);
}

size_t lfs_arena_bytes(const struct lfs_arena *a)
{
	size_t n = a->bytes;

	for (size_t i = 0; i < a->ndirs; i++)
		n += a->dirs[i]->cap * sizeof(struct lfs_dirent) +
		     a->dirs[i]->nslots * sizeof(uint32_t);
	return n;
}

void lfs_arena_free(struct lfs_arena *a)
{
	struct arena_chunk *c, *next;

	if (!a)
		return;
	for (size_t i = 0; i < a->ndirs; i++) {
		free(a->dirs[i]->ents);
		free(a->dirs[i]->slots);
	}
	free(a->dirs);
	for (c = a->head; c; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
}

struct lfs_node *lfs_node_new(struct lfs_arena *a, uint32_t mode)
{
	struct lfs_node *n = lfs_arena_alloc(a, sizeof(*n));

	memset(n, 0, sizeof(*n));
	n->mode = mode;
	n->nlink = 1;
	return n;
}

static void arena_own_dir(struct lfs_arena *a, struct lfs_dir *d)
{
	if (a->ndirs == a->capdirs) {
		a->capdirs = a->capdirs ? a->capdirs * 2 : 64;
		a->dirs = lfs_xrealloc(a->dirs, a->capdirs * sizeof(*a->dirs));
	}
	a->dirs[a->ndirs++] = d;
}

struct lfs_dir *lfs_dir_table_new(struct lfs_arena *a)
{
	struct lfs_dir *d = a->spare;

	if (d) {
		a->spare = d->lower;
		d->lower = NULL;
		return d;
	}
	d = lfs_arena_alloc(a, sizeof(*d));
	memset(d, 0, sizeof(*d));
	arena_own_dir(a, d);
	return d;
}

void lfs_dir_release(struct lfs_arena *a, struct lfs_dir *d)
{
	free(d->ents);
	free(d->slots);
	memset(d, 0, sizeof(*d));
	d->lower = a->spare;
	a->spare = d;
}

struct lfs_dir *lfs_dir_clone(struct lfs_arena *a, const struct lfs_dir *src)
{
	struct lfs_dir *d = lfs_dir_table_new(a);

	*d = *src;
	d->lower = NULL;
	d->ents = d->cap ? lfs_xmalloc(d->cap * sizeof(*d->ents)) : NULL;
	if (d->n)
		memcpy(d->ents, src->ents, d->n * sizeof(*d->ents));
	d->slots = d->nslots ? lfs_xmalloc(d->nslots * sizeof(*d->slots)) : NULL;
	if (d->nslots)
		memcpy(d->slots, src->slots, d->nslots * sizeof(*d->slots));
	return d;
}

struct lfs_node *lfs_dir_new(struct lfs_arena *a, struct lfs_node *parent)
{
	struct lfs_node *n = lfs_node_new(a, 0040755);

	n->dir = lfs_dir_table_new(a);
	n->parent = parent;
	return n;
}

uint32_t lfs_name_hash(const char *name, size_t len)
{
	return (uint32_t)XXH3_64bits(name, len);
}

static void dir_rehash(struct lfs_dir *d, uint32_t nslots)
{
	free(d->slots);
	d->slots = lfs_xcalloc(nslots, sizeof(uint32_t));
	d->nslots = nslots;
	for (uint32_t i = 0; i < d->n; i++) {
		uint32_t s = d->ents[i].hash & (nslots - 1);

		if (d->ents[i].len == LFS_DIRENT_HOLE)
			continue;
		while (d->slots[s])
			s = (s + 1) & (nslots - 1);
		d->slots[s] = i + 1;
	}
}

static struct lfs_dirent *dir_find_hashed(const struct lfs_dir *d, const char *name, size_t len,
					  uint32_t h)
{
	if (!d->nslots) {
		for (uint32_t i = 0; i < d->n; i++) {
			const struct lfs_dirent *e = &d->ents[i];

			if (e->hash == h && e->len == len && !memcmp(e->name, name, len))
				return (struct lfs_dirent *)e;
		}
		return NULL;
	}
	for (uint32_t s = h & (d->nslots - 1);; s = (s + 1) & (d->nslots - 1)) {
		uint32_t i = d->slots[s];
		const struct lfs_dirent *e;

		if (!i)
			return NULL;
		e = &d->ents[i - 1];
		if (e->hash == h && e->len == len && !memcmp(e->name, name, len))
			return (struct lfs_dirent *)e;
	}
}

struct lfs_dirent *lfs_dir_find(const struct lfs_node *d, const char *name, size_t len)
{
	return dir_find_hashed(d->dir, name, len, lfs_name_hash(name, len));
}

struct lfs_node *lfs_dir_lookup(const struct lfs_node *d, const char *name, size_t len)
{
	const struct lfs_dirent *e = lfs_dir_find(d, name, len);

	return e ? e->node : NULL;
}

struct lfs_node *lfs_node_walk(struct lfs_node *root, const char *path)
{
	struct lfs_node *cur = root;
	const char *p = path;

	while (cur && *p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (!cur->dir)
			return NULL;
		cur = lfs_dir_lookup(cur, p, len);
		p += len + (slash ? 1 : 0);
	}
	return cur;
}

static void count_subdir(struct lfs_dir *d, const struct lfs_node *n, int delta)
{
	if (n && lfs_node_is_dir(n))
		d->nsubdirs += delta;
}

struct lfs_node *lfs_dir_set(struct lfs_node *dn, const char *name, size_t len,
			     struct lfs_node *node)
{
	struct lfs_dir *d = dn->dir;
	uint32_t h = lfs_name_hash(name, len);
	struct lfs_dirent *e = dir_find_hashed(d, name, len, h);
	struct lfs_node *old;

	if (e) {
		old = e->node;
		if (!old)
			d->live++;
		count_subdir(d, old, -1);
		count_subdir(d, node, 1);
		e->node = node;
		return old;
	}
	if (d->holes) {
		/* A hole of lfs_dir_drop: same load, no rehash. */
		e = &d->ents[d->holes - 1];
		d->holes = e->hash;
		e->name = name;
		e->len = (uint32_t)len;
		e->hash = h;
		e->node = node;
		d->live++;
		count_subdir(d, node, 1);
		if (d->nslots) {
			uint32_t s = h & (d->nslots - 1);

			while (d->slots[s])
				s = (s + 1) & (d->nslots - 1);
			d->slots[s] = (uint32_t)(e - d->ents) + 1;
		}
		return NULL;
	}
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 4;
		d->ents = lfs_xrealloc(d->ents, d->cap * sizeof(*d->ents));
	}
	e = &d->ents[d->n++];
	e->name = name;
	e->len = (uint32_t)len;
	e->hash = h;
	e->node = node;
	d->live++;
	count_subdir(d, node, 1);
	if (d->n > DIR_LINEAR_MAX && d->n * 4 > d->nslots * 3) {
		uint32_t ns = 16;

		while (ns < d->n * 2)
			ns *= 2;
		dir_rehash(d, ns);
	} else if (d->nslots) {
		uint32_t s = h & (d->nslots - 1);

		while (d->slots[s])
			s = (s + 1) & (d->nslots - 1);
		d->slots[s] = d->n;
	}
	return NULL;
}

struct lfs_node *lfs_dir_remove(struct lfs_node *dn, const char *name, size_t len)
{
	struct lfs_dirent *e = lfs_dir_find(dn, name, len);
	struct lfs_node *old;

	if (!e || !e->node)
		return NULL;
	old = e->node;
	count_subdir(dn->dir, old, -1);
	e->node = NULL;
	dn->dir->live--;
	return old;
}

const char *lfs_dir_drop(struct lfs_node *dn, struct lfs_dirent *e)
{
	struct lfs_dir *d = dn->dir;
	uint32_t idx = (uint32_t)(e - d->ents);
	const char *name = e->name;

	if (d->nslots) {
		/* Linear probing: delete by shifting the rest of the cluster back. */
		uint32_t mask = d->nslots - 1, i = e->hash & mask, j;

		while (d->slots[i] != idx + 1)
			i = (i + 1) & mask;
		d->slots[i] = 0;
		for (j = (i + 1) & mask; d->slots[j]; j = (j + 1) & mask) {
			uint32_t home = d->ents[d->slots[j] - 1].hash & mask;

			/* Stays if its home lies cyclically in (i, j]. */
			if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
				continue;
			d->slots[i] = d->slots[j];
			d->slots[j] = 0;
			i = j;
		}
	}
	if (e->node) {
		count_subdir(d, e->node, -1);
		d->live--;
	}
	e->node = NULL;
	e->name = NULL;
	e->len = LFS_DIRENT_HOLE;
	e->hash = d->holes;
	d->holes = idx + 1;
	return name;
}

void lfs_dir_clear(struct lfs_node *dn)
{
	struct lfs_dir *d = dn->dir;

	d->n = d->live = d->nsubdirs = d->holes = 0;
	if (d->nslots)
		memset(d->slots, 0, d->nslots * sizeof(uint32_t));
}

void lfs_dir_reserve(struct lfs_node *dn, uint32_t n)
{
	struct lfs_dir *d = dn->dir;
	uint32_t ns = 16;

	if (n > d->cap) {
		d->cap = n;
		d->ents = lfs_xrealloc(d->ents, (size_t)n * sizeof(*d->ents));
	}
	if (n <= DIR_LINEAR_MAX)
		return;
	/* the fullest lfs_dir_set allows (3/4), so no rehash until N */
	while ((uint64_t)ns * 3 < (uint64_t)n * 4)
		ns *= 2;
	if (ns > d->nslots)
		dir_rehash(d, ns);
}

void lfs_dir_compact(struct lfs_node *dn)
{
	struct lfs_dir *d = dn->dir;
	uint32_t j = 0;

	if (d->live != d->n) {
		for (uint32_t i = 0; i < d->n; i++)
			if (d->ents[i].node)
				d->ents[j++] = d->ents[i];
		d->n = j;
		d->holes = 0;
		if (d->nslots)
			dir_rehash(d, d->nslots);
	}
	/* A table grown by doubling gives its spare half back (most never grow again). */
	if (d->cap > d->n + d->n / 8 + 4) {
		d->cap = d->n;
		if (d->n) {
			d->ents = lfs_xrealloc(d->ents, (size_t)d->n * sizeof(*d->ents));
		} else {
			free(d->ents);
			d->ents = NULL;
		}
	}
}
