/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The nodes of the mounted tree: where each one is - its inode number, its
 * names in the directory tables, the upper directory that holds it - and how
 * the kernel sees them (see cow_int.h): the references it holds (lookups and
 * open handles), orphans - nodes that lost their last name while still
 * referenced - and their pins, and the nodes dropped once the kernel has
 * forgotten them, whose memory and inode numbers the next nodes made reuse.
 * The bottom of the copy-on-write files: it calls none of the others.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cow_int.h"
#include "layerfs/lfs.h"

static void rdlock(struct lfs_cow *w)
{
	pthread_rwlock_rdlock(&w->lock);
}

static void wrlock(struct lfs_cow *w)
{
	pthread_rwlock_wrlock(&w->lock);
}

static void unlock(struct lfs_cow *w)
{
	pthread_rwlock_unlock(&w->lock);
}

/* Where nodes are: inode numbers, names, upper directories. */

void lfs_cow_add_inode(struct lfs_cow *w, struct lfs_node *n)
{
	struct lfs_tree *t = w->tree;

	if (t->ninodes == w->cap) {
		w->cap *= 2;
		t->inodes = lfs_xrealloc(t->inodes, w->cap * sizeof(*t->inodes));
	}
	n->ino = t->ninodes;
	t->inodes[t->ninodes++] = n;
	n->flags |= LFS_NF_OWNED;
	if (++w->nowned > w->peak_owned)
		w->peak_owned = w->nowned;
}

void lfs_cow_dir_to_upper(struct lfs_cow *w, struct lfs_node *d)
{
	struct lfs_dir *low = d->dir, *up = lfs_dir_clone(w->arena, low);

	/* Names come and go in an upper table: it owns them all. */
	for (uint32_t i = 0; i < up->n; i++) {
		struct lfs_dirent *e = &up->ents[i];
		struct lfs_node *c = e->node;
		const char *name = e->name;

		if (!name)
			continue;
		e->name = lfs_arena_name(w->arena, name, e->len);
		if (c && c->parent == d && c->name == name)
			c->name = e->name;
	}
	d->dir = up;
	d->dir->lower = low;
	d->flags |= LFS_NF_UPPER;
}

void lfs_cow_name_node(struct lfs_cow *w, struct lfs_node *p, const char *name, struct lfs_node *n,
		       int primary)
{
	size_t len = strlen(name);
	struct lfs_dirent *e = lfs_dir_find(p, name, len);
	const char *stable = e ? e->name : lfs_arena_name(w->arena, name, len);

	lfs_dir_set(p, stable, len, n);
	if (primary) {
		n->parent = p;
		n->name = stable;
	}
}

size_t lfs_cow_names(struct lfs_cow *w, const struct lfs_node *n, struct lfs_cow_ref **out)
{
	struct lfs_node **queue;
	size_t qn = 0, qcap = 64, found = 0, fcap = 4;
	struct lfs_cow_ref *refs = lfs_xmalloc(fcap * sizeof(*refs));

	queue = lfs_xmalloc(qcap * sizeof(*queue));
	queue[qn++] = w->tree->root;
	for (size_t q = 0; q < qn; q++) {
		struct lfs_dir *d = queue[q]->dir;

		for (uint32_t i = 0; i < d->n; i++) {
			struct lfs_node *c = d->ents[i].node;

			if (!c)
				continue;
			if (c == n) {
				if (found == fcap) {
					fcap *= 2;
					refs = lfs_xrealloc(refs, fcap * sizeof(*refs));
				}
				refs[found].dir = queue[q];
				refs[found++].name = d->ents[i].name;
			}
			if (c->dir) {
				if (qn == qcap) {
					qcap *= 2;
					queue = lfs_xrealloc(queue, qcap * sizeof(*queue));
				}
				queue[qn++] = c;
			}
		}
	}
	free(queue);
	*out = refs;
	return found;
}

int lfs_cow_dirfd(struct lfs_cow *w, const struct lfs_node *d)
{
	const struct lfs_node *x;
	const char **names;
	size_t depth = 0, i;
	int fd;

	if (lfs_cow_orphan(d))
		return -ENOENT;
	for (x = d; x != w->tree->root; x = x->parent)
		depth++;
	names = lfs_xmalloc((depth ? depth : 1) * sizeof(*names));
	i = depth;
	for (x = d; x != w->tree->root; x = x->parent)
		names[--i] = x->name;
	fd = lfs_upper_opendir(&w->up, names, depth);
	free(names);
	return fd;
}

int lfs_cow_fd_times(int fd, const struct timespec ts[2])
{
	char path[64];

	lfs_upper_procpath(path, sizeof(path), fd, NULL);
	return utimensat(AT_FDCWD, path, ts, 0) < 0 ? -errno : 0;
}

/* What the kernel holds: references, orphans and their pins. */

void lfs_cow_ref(struct lfs_node *n)
{
	uint32_t cur = __atomic_load_n(&n->refs, __ATOMIC_RELAXED);

	/* Saturated: kept for good rather than wrapped. */
	while (cur != UINT32_MAX &&
	       !__atomic_compare_exchange_n(&n->refs, &cur, cur + 1, 1, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
}

/* Drop K references of N; returns whether that left none. */
static int unref(struct lfs_node *n, uint64_t k)
{
	uint32_t cur = __atomic_load_n(&n->refs, __ATOMIC_RELAXED), next;

	do {
		if (cur == UINT32_MAX || cur == 0)
			return 0;
		/* More than counted (a kernel bug): none left, never below. */
		next = k >= cur ? 0 : cur - (uint32_t)k;
	} while (!__atomic_compare_exchange_n(&n->refs, &cur, next, 1, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	return next == 0;
}

static uint32_t refs_of(struct lfs_node *n)
{
	return __atomic_load_n(&n->refs, __ATOMIC_RELAXED);
}

/* open_lock held.  The orphan record of inode INO, or where it would go (*AT). */
static struct lfs_cow_open *find_orphan(struct lfs_cow *w, uint64_t ino, size_t *at)
{
	size_t lo = 0, hi = w->nopens;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (w->opens[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (at)
		*at = lo;
	return lo < w->nopens && w->opens[lo].ino == ino ? &w->opens[lo] : NULL;
}

/* open_lock held.  Close O's pin and take it out. */
static void remove_orphan(struct lfs_cow *w, struct lfs_cow_open *o)
{
	if (o->keep >= 0)
		close(o->keep);
	if (o->count == LFS_ORPHAN_FORGOTTEN)
		__atomic_fetch_sub(&w->nforgotten, 1, __ATOMIC_RELAXED);
	memmove(o, o + 1, (size_t)(&w->opens[w->nopens] - (o + 1)) * sizeof(*o));
	w->nopens--;
}

int lfs_cow_pin(struct lfs_cow *w, const struct lfs_node *n)
{
	struct lfs_cow_open *o;
	int fd;

	pthread_mutex_lock(&w->open_lock);
	o = find_orphan(w, n->ino, NULL);
	fd = o ? o->keep : -1;
	pthread_mutex_unlock(&w->open_lock);
	return fd;
}

int lfs_cow_pin_open(const struct lfs_node *n, int pfd, const char *name)
{
	if (!lfs_cow_is_upper(n))
		return -1;
	return openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
}

/*
 * Lock held for writing.  Orphan N has no reference left and no record:
 * when the copy-on-write tree made it, its memory and inode number go to
 * the next node made.
 */
static void recycle(struct lfs_cow *w, struct lfs_node *n)
{
	uint64_t ino = n->ino;

	if (!(n->flags & LFS_NF_OWNED) || n == w->tree->root)
		return;
	if (n->dir) {
		for (uint32_t i = 0; i < n->dir->n; i++)
			if (n->dir->ents[i].name)
				lfs_arena_name_free(w->arena, n->dir->ents[i].name);
		lfs_dir_release(w->arena, n->dir);
	}
	w->tree->inodes[ino] = NULL;
	memset(n, 0, sizeof(*n));
	n->ino = ino;
	n->parent = w->dead;
	w->dead = n;
	w->nowned--;
}

/* Lock held for writing.  Recycle the orphans forgotten since (see put_node). */
static void drain(struct lfs_cow *w)
{
	uint64_t inos[64];
	size_t k;

	do {
		k = 0;
		pthread_mutex_lock(&w->open_lock);
		for (size_t i = 0; k < LFS_ARRAY_SIZE(inos) && i < w->nopens;) {
			if (w->opens[i].count == LFS_ORPHAN_FORGOTTEN) {
				inos[k++] = w->opens[i].ino;
				remove_orphan(w, &w->opens[i]);
			} else {
				i++;
			}
		}
		pthread_mutex_unlock(&w->open_lock);
		for (size_t i = 0; i < k; i++) {
			struct lfs_node *n = lfs_tree_node(w->tree, inos[i]);

			if (n)
				recycle(w, n);
		}
	} while (k == LFS_ARRAY_SIZE(inos));
}

struct lfs_node *lfs_cow_new_node(struct lfs_cow *w, uint32_t mode, struct lfs_node *p)
{
	struct lfs_node *n;

	if (__atomic_load_n(&w->nforgotten, __ATOMIC_RELAXED))
		drain(w);
	n = w->dead;
	if (n) {
		uint64_t ino = n->ino;

		w->dead = n->parent;
		memset(n, 0, sizeof(*n));
		n->ino = ino;
		n->nlink = 1;
		w->tree->inodes[ino] = n;
		if (++w->nowned > w->peak_owned)
			w->peak_owned = w->nowned;
	} else {
		n = lfs_node_new(w->arena, mode);
		lfs_cow_add_inode(w, n);
	}
	n->mode = mode;
	n->flags = LFS_NF_UPPER | LFS_NF_OWNED;
	if (S_ISDIR(mode)) {
		n->dir = lfs_dir_table_new(w->arena);
		n->parent = p;
	}
	return n;
}

/* Lock held for writing.  N lost its last name; PIN: its upper copy, or -1. */
static void make_orphan(struct lfs_cow *w, struct lfs_node *n, int pin)
{
	struct lfs_cow_open *o;
	size_t at;

	n->parent = NULL;
	n->name = NULL;
	if (refs_of(n) == 0) {
		if (pin >= 0)
			close(pin);
		recycle(w, n);
		return;
	}
	pthread_mutex_lock(&w->open_lock);
	o = find_orphan(w, n->ino, &at);
	if (o) { /* cannot happen: an orphan has no name to lose */
		if (o->keep >= 0)
			close(o->keep);
		o->keep = pin;
	} else {
		if (w->nopens == w->capopens) {
			w->capopens = w->capopens ? w->capopens * 2 : 16;
			w->opens = lfs_xrealloc(w->opens, w->capopens * sizeof(*w->opens));
		}
		memmove(&w->opens[at + 1], &w->opens[at], (w->nopens - at) * sizeof(*w->opens));
		w->nopens++;
		w->opens[at] = (struct lfs_cow_open){.ino = n->ino, .count = 0, .keep = pin};
	}
	pthread_mutex_unlock(&w->open_lock);
}

void lfs_cow_replaced(struct lfs_cow *w, struct lfs_node *n, int was_primary, int multi, int pin)
{
	struct lfs_cow_ref *refs;
	size_t k;

	if (multi && !was_primary) {
		/* It is still known by its name elsewhere. */
		if (pin >= 0)
			close(pin);
		return;
	}
	if (multi || !was_primary) {
		k = lfs_cow_names(w, n, &refs);
		if (k) {
			n->parent = refs[0].dir;
			n->name = refs[0].name;
			free(refs);
			if (pin >= 0)
				close(pin);
			return;
		}
		free(refs);
	}
	make_orphan(w, n, pin);
}

void lfs_cow_unname(struct lfs_cow *w, struct lfs_node *p, const char *name, struct lfs_node *n,
		    int multi, int pin)
{
	struct lfs_dirent *e = lfs_dir_find(p, name, strlen(name));
	const char *old;
	int primary;

	if (!e || e->node != n) {
		if (pin >= 0)
			close(pin);
		return;
	}
	primary = n->parent == p && n->name == e->name;
	old = lfs_dir_drop(p, e);
	if (primary)
		n->name = NULL;
	lfs_cow_replaced(w, n, primary, multi, pin);
	lfs_arena_name_free(w->arena, old);
}

/*
 * Drop K references of N (FORGET, RELEASE).  An orphan left with none is
 * done with: its pin is closed at once (an unlinked file's space goes back
 * to the filesystem), and its memory is recycled by whoever holds the lock
 * for writing next, so that a FORGET never waits for it.
 */
static void put_node(struct lfs_cow *w, struct lfs_node *n, uint64_t k)
{
	struct lfs_cow_open *o;

	if (!unref(n, k) || !lfs_cow_orphan(n))
		return;
	pthread_mutex_lock(&w->open_lock);
	o = find_orphan(w, n->ino, NULL);
	if (o && !(n->flags & LFS_NF_OWNED)) {
		remove_orphan(w, o);
	} else if (o) {
		if (o->keep >= 0)
			close(o->keep);
		o->keep = -1;
		o->count = LFS_ORPHAN_FORGOTTEN;
		__atomic_fetch_add(&w->nforgotten, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&w->open_lock);
}

/* After put_node, lock not held: recycle now if nobody holds the lock. */
static void drain_if_free(struct lfs_cow *w)
{
	if (!__atomic_load_n(&w->nforgotten, __ATOMIC_RELAXED) ||
	    pthread_rwlock_trywrlock(&w->lock) != 0)
		return;
	drain(w);
	unlock(w);
}

void lfs_cow_forget(struct lfs_cow *w, uint64_t ino, uint64_t nlookup)
{
	struct lfs_node *n;

	rdlock(w);
	n = lfs_tree_node(w->tree, ino);
	if (n && n != w->tree->root)
		put_node(w, n, nlookup);
	unlock(w);
	drain_if_free(w);
}

void lfs_cow_release(struct lfs_cow *w, struct lfs_node *n, int fd)
{
	if (fd >= 0)
		close(fd);
	rdlock(w);
	put_node(w, n, 1);
	unlock(w);
	drain_if_free(w);
}

void lfs_cow_set_notify(struct lfs_cow *w, void (*fn)(void *ctx, uint64_t ino), void *ctx)
{
	w->notify = fn;
	w->notify_ctx = ctx;
}

void lfs_cow_stats(struct lfs_cow *w, struct lfs_cow_stats *s)
{
	wrlock(w);
	drain(w);
	s->nodes = w->nowned;
	s->peak = w->peak_owned;
	s->orphans = w->nopens;
	s->inodes = w->tree->ninodes;
	unlock(w);
}
