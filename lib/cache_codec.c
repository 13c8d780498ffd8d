/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The index cache's payload: one layer's tree, metadata and blob state
 * written as little-endian records (layout in cache_format.h) and parsed
 * back with every field checked, since the bytes come from disk.
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blobsrc.h"
#include "cache.h"
#include "cache_format.h"
#include "layerfs/lfs.h"

/* ---- little-endian writer and bounds-checked reader */

struct wbuf {
	uint8_t *p;
	size_t n, cap;
};

static void put(struct wbuf *w, const void *p, size_t n)
{
	if (w->n + n > w->cap) {
		w->cap = (w->n + n) * 2 + 4096;
		w->p = lfs_xrealloc(w->p, w->cap);
	}
	memcpy(w->p + w->n, p, n);
	w->n += n;
}

static void put_u8(struct wbuf *w, uint8_t v)
{
	put(w, &v, 1);
}

static void put_u32(struct wbuf *w, uint32_t v)
{
	v = htole32(v);
	put(w, &v, 4);
}

static void put_u64(struct wbuf *w, uint64_t v)
{
	v = htole64(v);
	put(w, &v, 8);
}

static void put_str(struct wbuf *w, const void *s, size_t n)
{
	put_u32(w, (uint32_t)n);
	put(w, s, n);
}

struct rbuf {
	const uint8_t *p;
	size_t n, pos;
	int bad;
};

static const void *get(struct rbuf *r, size_t n)
{
	const void *p;

	if (r->bad || n > r->n - r->pos) {
		r->bad = 1;
		return NULL;
	}
	p = r->p + r->pos;
	r->pos += n;
	return p;
}

static uint8_t get_u8(struct rbuf *r)
{
	const uint8_t *p = get(r, 1);

	return p ? *p : 0;
}

static uint32_t get_u32(struct rbuf *r)
{
	const void *p = get(r, 4);
	uint32_t v = 0;

	if (p)
		memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t get_u64(struct rbuf *r)
{
	const void *p = get(r, 8);
	uint64_t v = 0;

	if (p)
		memcpy(&v, p, 8);
	return le64toh(v);
}

static const char *get_str(struct rbuf *r, uint32_t *len)
{
	*len = get_u32(r);
	return get(r, *len);
}

/* ---- encoding */

/* Number the nodes breadth first (a directory's children after it); ino holds index + 1. */
static struct lfs_node **number_nodes(struct lfs_node *root, uint32_t *count)
{
	size_t cap = 1024, n = 0;
	struct lfs_node **v = lfs_xmalloc(cap * sizeof(*v));

	v[n++] = root;
	root->ino = 1;
	for (size_t i = 0; i < n; i++) {
		const struct lfs_dir *d = v[i]->dir;

		for (uint32_t j = 0; d && j < d->n; j++) {
			struct lfs_node *c = d->ents[j].node;

			if (!c || c->ino)
				continue;
			if (n == cap) {
				cap *= 2;
				v = lfs_xrealloc(v, cap * sizeof(*v));
			}
			c->ino = ++n;
			v[n - 1] = c;
		}
	}
	*count = (uint32_t)n;
	return v;
}

static void encode_node(struct wbuf *w, const struct lfs_node *n)
{
	uint8_t has =
	    (n->link ? 1 : 0) | (n->xattrs ? 2 : 0) | (n->sparse ? 4 : 0) | (n->hash ? 8 : 0);

	put_u32(w, n->mode);
	put_u32(w, n->uid);
	put_u32(w, n->gid);
	put_u32(w, n->nlink);
	put_u32(w, n->flags);
	put_u32(w, n->mtime_nsec);
	put_u64(w, (uint64_t)n->mtime_sec);
	put_u64(w, n->size);
	put_u64(w, n->data_off);
	put_u64(w, n->rdev);
	put_u8(w, has);
	if (n->link)
		put_str(w, n->link, strlen(n->link));
	if (n->xattrs) {
		put_u32(w, n->xattrs->n);
		for (uint32_t i = 0; i < n->xattrs->n; i++) {
			put_str(w, n->xattrs->x[i].name, strlen(n->xattrs->x[i].name));
			put_str(w, n->xattrs->x[i].value, n->xattrs->x[i].len);
		}
	}
	if (n->sparse) {
		put_u32(w, n->sparse->n);
		for (uint32_t i = 0; i < n->sparse->n; i++) {
			put_u64(w, n->sparse->ext[i].off);
			put_u64(w, n->sparse->ext[i].len);
		}
	}
	if (n->hash) {
		put_u64(w, n->hash->lo);
		put_u64(w, n->hash->hi);
	}
}

/* Number N after the nodes of V (*COUNT of them) when it has no number yet. */
static void number_orphan(struct lfs_node *n, struct lfs_node **v, uint32_t *count)
{
	if (n->ino)
		return;
	v[*count] = n;
	n->ino = ++*count;
}

/*
 * The superseded list, after the tree: its files have no name, and what
 * replaced them may have gone too, so such nodes are written here, after
 * the tree's nodes *V, which they join (their numbers are reset with them).
 * The record's length first, for the mount, which skips it.
 */
static void encode_superseded(struct wbuf *w, struct lfs_layer *l, struct lfs_node ***v,
			      uint32_t *count)
{
	const uint32_t first = *count;
	uint32_t n = 0, nodes;
	size_t at, start;
	uint64_t len;

	put_u64(w, 0);
	at = w->n - 8;
	start = w->n;
	for (const struct lfs_superseded *s = l->superseded; s; s = s->next)
		n++;
	/* at most two new nodes per entry */
	*v = lfs_xrealloc(*v, ((size_t)first + 2 * (size_t)n) * sizeof(**v));
	for (const struct lfs_superseded *s = l->superseded; s; s = s->next) {
		number_orphan((struct lfs_node *)s->node, *v, count);
		number_orphan((struct lfs_node *)s->by, *v, count);
	}
	nodes = *count - first;
	put_u32(w, nodes);
	for (uint32_t i = first; i < *count; i++)
		encode_node(w, (*v)[i]);
	put_u32(w, n);
	for (const struct lfs_superseded *s = l->superseded; s; s = s->next) {
		put_str(w, s->path, strlen(s->path));
		put_u32(w, (uint32_t)(s->node->ino - 1));
		put_u32(w, (uint32_t)(s->by->ino - 1));
		put_u8(w, (uint8_t) !!s->below);
	}
	len = htole64((uint64_t)(w->n - start));
	memcpy(w->p + at, &len, 8);
}

int lfs_cache_encode(struct lfs_layer *l, uint64_t scratch_len, void **out, size_t *len)
{
	struct wbuf w = {0};
	struct lfs_node **v;
	uint32_t count, ndirs = 0;
	void *state = NULL;
	size_t state_len = 0;
	int rc;

	rc = lfs_blob_state(l->blob, &state, &state_len);
	if (rc < 0)
		return rc;
	put_u8(&w, (uint8_t)l->comp);
	put_u8(&w, (uint8_t)l->hashed);
	put_u64(&w, l->nentries);
	put_u64(&w, l->stored_size);
	put_u64(&w, l->plain_size);
	put(&w, l->stored_sha256, 32);
	put(&w, l->plain_sha256, 32);
	put_u64(&w, scratch_len);
	put_str(&w, state, state_len);
	free(state);

	v = number_nodes(l->root, &count);
	put_u32(&w, count);
	for (uint32_t i = 0; i < count; i++) {
		encode_node(&w, v[i]);
		ndirs += v[i]->dir != NULL;
	}
	put_u32(&w, ndirs);
	for (uint32_t i = 0; i < count; i++) {
		const struct lfs_dir *d = v[i]->dir;

		if (!d)
			continue;
		put_u32(&w, i);
		put_u32(&w, d->live);
		for (uint32_t j = 0; j < d->n; j++) {
			if (!d->ents[j].node)
				continue;
			put_str(&w, d->ents[j].name, d->ents[j].len);
			put_u32(&w, (uint32_t)(d->ents[j].node->ino - 1));
		}
	}
	encode_superseded(&w, l, &v, &count);
	/* The numbers were borrowed: the merge assigns the real ones. */
	for (uint32_t i = 0; i < count; i++)
		v[i]->ino = 0;
	free(v);
	*out = w.p;
	*len = w.n;
	return 0;
}

/* ---- decoding: everything is checked, the bytes come from disk */

/*
 * Only what the indexer makes: the merge and the FUSE operations rely on
 * it (a symlink has its target, flags and file types they know).
 */
static int node_ok(const struct lfs_node *n, uint8_t has)
{
	const uint32_t type = n->mode & 0170000;

	if (n->mode & ~(uint32_t)(0170000 | 07777))
		return 0;
	if (type != 0100000 && type != 0040000 && type != 0120000 && type != 0020000 &&
	    type != 0060000 && type != 0010000)
		return 0;
	if (n->flags & ~(uint32_t)(n->dir ? LFS_NF_IMPLIED | LFS_NF_OPAQUE : LFS_NF_WHITEOUT))
		return 0;
	return !(has & 1) == (type != 0120000);
}

static int decode_node(struct rbuf *r, struct lfs_layer *l, struct lfs_node **out)
{
	struct lfs_arena *a = l->arena;
	uint32_t mode = get_u32(r), len;
	struct lfs_node *n;
	const char *s;
	uint8_t has;

	n = (mode & 0170000) == 0040000 ? lfs_dir_new(a, NULL) : lfs_node_new(a, 0);
	n->mode = mode;
	n->uid = get_u32(r);
	n->gid = get_u32(r);
	n->nlink = get_u32(r);
	n->flags = get_u32(r);
	n->mtime_nsec = get_u32(r);
	n->mtime_sec = (int64_t)get_u64(r);
	n->size = get_u64(r);
	n->data_off = get_u64(r);
	n->rdev = get_u64(r);
	n->layer = l->index;
	has = get_u8(r);
	if (n->mtime_nsec >= 1000000000 || (has & ~15) || (n->dir && (has & 13)) ||
	    !node_ok(n, has))
		return -EBADMSG;
	if (has & 1) {
		s = get_str(r, &len);
		if (!s || memchr(s, 0, len) || len != n->size)
			return -EBADMSG;
		n->link = lfs_arena_strndup(a, s, len);
	}
	if (has & 2) {
		uint32_t cnt = get_u32(r);
		struct lfs_xattrs *xs;

		if (cnt > 4096 || r->bad)
			return -EBADMSG;
		xs = lfs_arena_alloc(a, sizeof(*xs) + cnt * sizeof(xs->x[0]));
		xs->n = cnt;
		for (uint32_t i = 0; i < cnt; i++) {
			s = get_str(r, &len);
			if (!s || !len || memchr(s, 0, len))
				return -EBADMSG;
			xs->x[i].name = lfs_arena_strndup(a, s, len);
			s = get_str(r, &len);
			if (!s)
				return -EBADMSG;
			xs->x[i].value = lfs_arena_memdup(a, s, len);
			xs->x[i].len = len;
		}
		n->xattrs = xs;
	}
	if (has & 4) {
		uint32_t cnt = get_u32(r);
		uint64_t stored = 0, end = 0;
		struct lfs_sparse *sp;

		if (cnt > (r->n - r->pos) / 16 || r->bad)
			return -EBADMSG;
		sp = lfs_arena_alloc(a, sizeof(*sp) + cnt * sizeof(sp->ext[0]));
		sp->n = cnt;
		for (uint32_t i = 0; i < cnt; i++) {
			sp->ext[i].off = get_u64(r);
			sp->ext[i].len = get_u64(r);
			sp->ext[i].stored = stored;
			/* extents in order, inside the file, no overflow */
			if (sp->ext[i].off < end || sp->ext[i].len > n->size ||
			    sp->ext[i].off > n->size - sp->ext[i].len)
				return -EBADMSG;
			end = sp->ext[i].off + sp->ext[i].len;
			stored += sp->ext[i].len;
		}
		n->sparse = sp;
	}
	if (has & 8) {
		struct lfs_hash128 *h = lfs_arena_alloc(a, sizeof(*h));

		h->lo = get_u64(r);
		h->hi = get_u64(r);
		n->hash = h;
	}
	*out = n;
	return r->bad ? -EBADMSG : 0;
}

static int valid_name(const char *s, uint32_t len)
{
	return s && len && len <= 4096 && !memchr(s, '/', len) && !memchr(s, 0, len) &&
	       !(len == 1 && s[0] == '.') && !(len == 2 && s[0] == '.' && s[1] == '.');
}

static int decode_dirs(struct rbuf *r, struct lfs_layer *l, struct lfs_node **v, uint32_t count)
{
	uint32_t ndirs = get_u32(r);
	uint8_t *seen = lfs_xcalloc(count, 1);
	int rc = -EBADMSG;

	for (uint32_t k = 0; k < ndirs && !r->bad; k++) {
		uint32_t di = get_u32(r), n = get_u32(r);
		struct lfs_node *d;

		/* each entry takes at least 8 bytes (name length, child): N is bounded */
		if (r->bad || di >= count || !v[di]->dir || seen[di] || n > (r->n - r->pos) / 8)
			goto out;
		seen[di] = 1;
		d = v[di];
		lfs_dir_reserve(d, n);
		for (uint32_t j = 0; j < n; j++) {
			uint32_t len, ci;
			const char *s = get_str(r, &len);
			struct lfs_node *c;

			ci = get_u32(r);
			if (r->bad || !valid_name(s, len) || ci >= count)
				goto out;
			c = v[ci];
			/* A directory has one parent, listed before it: no cycles. */
			if (c->dir && (ci <= di || c->parent))
				goto out;
			if (c->dir)
				c->parent = d;
			if (lfs_dir_set(d, lfs_arena_strndup(l->arena, s, len), len, c))
				goto out; /* a name twice */
		}
	}
	rc = r->bad ? -EBADMSG : 0;
out:
	free(seen);
	return rc;
}

static int check_data(const struct lfs_layer *l, struct lfs_node **v, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++) {
		const struct lfs_node *n = v[i];
		uint64_t stored = n->size;

		if ((n->mode & 0170000) != 0100000 || (n->flags & LFS_NF_WHITEOUT))
			continue;
		if (l->hashed && !n->hash)
			return -EBADMSG; /* a hashed layer hashes every file */
		if (n->sparse) {
			stored = 0;
			for (uint32_t j = 0; j < n->sparse->n; j++)
				stored += n->sparse->ext[j].len;
		}
		if (n->data_off > l->plain_size || stored > l->plain_size - n->data_off)
			return -EBADMSG;
	}
	return 0;
}

/* "/a/b": absolute, components as valid_name has them, shorter than the indexer's paths. */
static int valid_path(const char *s, uint32_t len)
{
	uint32_t i = 0;

	if (!s || len < 2 || len >= 2 * 4096 || s[0] != '/')
		return 0;
	while (i < len) {
		const char *c = s + i + 1, *e = memchr(c, '/', len - i - 1);
		uint32_t clen = e ? (uint32_t)(e - c) : len - i - 1;

		if (!valid_name(c, clen))
			return 0;
		i += 1 + clen;
	}
	return 1;
}

/*
 * The superseded record (cache_format.h).  Its nodes join *V after the
 * tree's COUNT; *TOTAL is then their number.  Without LFS_CACHE_SUPERSEDED
 * (a mount) it is stepped over: its length must still be the rest.
 */
static int decode_superseded(struct rbuf *r, struct lfs_layer *l, struct lfs_node ***v,
			     uint32_t count, uint32_t *total, int flags)
{
	const uint64_t len = get_u64(r);
	const size_t start = r->pos;
	struct lfs_superseded **tail = &l->superseded;
	uint8_t *used = NULL;
	uint32_t norph, n;
	int rc = -EBADMSG;

	*total = count;
	if (r->bad || len != r->n - r->pos)
		return -EBADMSG;
	if (!(flags & LFS_CACHE_SUPERSEDED)) {
		r->pos = r->n;
		return 0;
	}
	norph = get_u32(r);
	if (r->bad || norph > (r->n - r->pos) / LFS_CACHE_NODE_FIXED)
		return -EBADMSG;
	*v = lfs_xrealloc(*v, ((size_t)count + norph) * sizeof(**v));
	for (uint32_t i = 0; i < norph; i++) {
		rc = decode_node(r, l, &(*v)[count + i]);
		if (rc < 0)
			return rc;
		++*total;
	}
	rc = -EBADMSG;
	n = get_u32(r);
	if (r->bad || n > (r->n - r->pos) / LFS_CACHE_SUPERSEDED_FIXED)
		return -EBADMSG;
	/* 1: listed as superseded, 2: replaced one: each orphan is one or both, a file once */
	used = lfs_xcalloc(norph ? norph : 1, 1);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t plen, ni, bi;
		const char *path = get_str(r, &plen);
		struct lfs_superseded *s;
		const struct lfs_node *node;
		uint8_t below;

		ni = get_u32(r);
		bi = get_u32(r);
		below = get_u8(r);
		if (r->bad || !valid_path(path, plen) || ni < count || ni >= *total ||
		    bi >= *total || bi == ni || below > 1 || (used[ni - count] & 1))
			goto out;
		node = (*v)[ni];
		/* the indexer lists files that lost their last name, never whiteouts */
		if (node->dir || (node->flags & LFS_NF_WHITEOUT))
			goto out;
		used[ni - count] |= 1;
		if (bi >= count)
			used[bi - count] |= 2;
		s = lfs_arena_alloc(l->arena, sizeof(*s));
		*s = (struct lfs_superseded){NULL, lfs_arena_strndup(l->arena, path, plen), node,
					     (*v)[bi], below};
		*tail = s;
		tail = &s->next;
	}
	for (uint32_t i = 0; i < norph; i++)
		if (!used[i])
			goto out; /* a node nothing refers to: not what the encoder writes */
	rc = r->bad || r->pos - start != len ? -EBADMSG : 0;
out:
	free(used);
	return rc;
}

int lfs_cache_decode(const void *buf, size_t len, const struct lfs_layer_desc *d, uint32_t index,
		     int scratch_fd, int flags, struct lfs_layer **out)
{
	struct rbuf r = {.p = buf, .n = len};
	struct lfs_layer *l = lfs_xcalloc(1, sizeof(*l));
	struct lfs_node **v = NULL;
	struct lfs_blobsrc *src = NULL;
	uint64_t scratch_len;
	uint32_t count = 0, total = 0, state_len;
	const void *state;
	int rc = -EBADMSG;

	l->index = index;
	l->name = lfs_xstrdup(d->name);
	l->arena = lfs_arena_new();
	l->comp = (enum lfs_comp)get_u8(&r);
	l->hashed = get_u8(&r);
	l->nentries = get_u64(&r);
	l->stored_size = get_u64(&r);
	l->plain_size = get_u64(&r);
	if (!get(&r, 0) || r.n - r.pos < 64)
		goto fail;
	memcpy(l->stored_sha256, get(&r, 32), 32);
	memcpy(l->plain_sha256, get(&r, 32), 32);
	scratch_len = get_u64(&r);
	state = get_str(&r, &state_len);
	count = get_u32(&r);
	if (r.bad || !state || l->comp > LFS_COMP_ZSTD || l->hashed > 1 ||
	    l->stored_size != d->len || !count || count > (r.n - r.pos) / LFS_CACHE_NODE_FIXED)
		goto fail;
	v = lfs_xmalloc(count * sizeof(*v));
	for (uint32_t i = 0; i < count; i++) {
		rc = decode_node(&r, l, &v[i]);
		if (rc < 0)
			goto fail;
	}
	rc = -EBADMSG;
	if (!v[0]->dir)
		goto fail;
	rc = decode_dirs(&r, l, v, count);
	if (rc == 0)
		rc = decode_superseded(&r, l, &v, count, &total, flags);
	if (rc == 0 && r.pos != r.n)
		rc = -EBADMSG;
	if (rc == 0)
		rc = check_data(l, v, total);
	if (rc < 0)
		goto fail;
	l->root = v[0];
	rc = lfs_layer_desc_src(d, &src);
	if (rc == 0)
		rc = lfs_blob_load(&l->blob, src, state, state_len, scratch_fd,
				   scratch_fd >= 0 ? scratch_len : 0);
	lfs_blobsrc_unref(src);
	if (rc < 0)
		goto fail;
	if (lfs_blob_size(l->blob) != l->plain_size || lfs_blob_comp(l->blob) != l->comp) {
		rc = -EBADMSG;
		goto fail;
	}
	free(v);
	*out = l;
	return 0;
fail:
	if (rc == -EBADMSG)
		lfs_err_set("%s: cached index is damaged", d->name);
	free(v);
	lfs_layer_free(l);
	return rc;
}
