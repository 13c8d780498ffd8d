/*
 * The persistent index cache.  A layer's tree, its metadata and the blob
 * reader's restart points are written once, compressed with zstd and
 * checksummed with xxh3; later mounts load them instead of reading the
 * layer.  Files are written to a temporary name and renamed, so a reader
 * sees a whole file or none; a file that fails any check is ignored and
 * rebuilt.  The layout is in cache_format.h.
 */
#include "config.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "cache.h"
#include "cache_format.h"
#include "lfs.h"

#define MAX_RAW (1ULL << 32) /* largest payload we agree to decompress */

struct lfs_cache {
	char *dir;
	int dirfd;
	uint64_t max_bytes;
	pthread_mutex_t evict_lock; /* one eviction scan at a time */
};

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
	uint8_t has = (n->link ? 1 : 0) | (n->xattrs ? 2 : 0) | (n->sparse ? 4 : 0) |
		      (n->hash ? 8 : 0);

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
	/* The numbers were borrowed: the merge assigns the real ones. */
	for (uint32_t i = 0; i < count; i++)
		v[i]->ino = 0;
	free(v);
	*out = w.p;
	*len = w.n;
	return 0;
}

/* ---- decoding: everything is checked, the bytes come from disk */

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
	if (n->mtime_nsec >= 1000000000 || (has & ~15) || (n->dir && (has & 13)))
		return -EBADMSG;
	if (has & 1) {
		s = get_str(r, &len);
		if (!s || memchr(s, 0, len))
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

		if (r->bad || di >= count || !v[di]->dir || seen[di] || n > r->n - r->pos)
			goto out;
		seen[di] = 1;
		d = v[di];
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

int lfs_cache_decode(const void *buf, size_t len, const struct lfs_layer_desc *d, uint32_t index,
		     int scratch_fd, struct lfs_layer **out)
{
	struct rbuf r = {.p = buf, .n = len};
	struct lfs_layer *l = lfs_xcalloc(1, sizeof(*l));
	struct lfs_node **v = NULL;
	uint64_t scratch_len;
	uint32_t count = 0, state_len;
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
	if (r.bad || !state || l->comp > LFS_COMP_ZSTD || l->hashed > 1 || l->stored_size != d->len || !count ||
	    count > (r.n - r.pos) / LFS_CACHE_NODE_FIXED)
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
	if (rc == 0 && r.pos != r.n)
		rc = -EBADMSG;
	if (rc == 0)
		rc = check_data(l, v, count);
	if (rc < 0)
		goto fail;
	l->root = v[0];
	rc = lfs_blob_load(&l->blob, d->fd, d->off, d->len, d->name, state, state_len,
			   scratch_fd, scratch_fd >= 0 ? scratch_len : 0);
	if (rc < 0)
		goto fail;
	if (lfs_blob_size(l->blob) != l->plain_size) {
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

/* ---- files */

int lfs_cache_default_dir(char *buf, size_t n)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int r;

	if (xdg && xdg[0] == '/')
		r = snprintf(buf, n, "%s/layerfs", xdg);
	else if (home && home[0] == '/')
		r = snprintf(buf, n, "%s/.cache/layerfs", home);
	else
		return -ENOENT;
	return r < 0 || (size_t)r >= n ? -ENAMETOOLONG : 0;
}

/* mkdir -p with mode 0700 for the last component (the cache holds file names of images). */
static int make_dirs(const char *dir)
{
	char *p = lfs_xstrdup(dir);
	int rc = 0;

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			rc = -errno;
		*s = '/';
		if (rc)
			break;
	}
	if (!rc && mkdir(p, 0700) < 0 && errno != EEXIST)
		rc = -errno;
	free(p);
	return rc;
}

int lfs_cache_open(struct lfs_cache **out, const char *dir, uint64_t max_bytes)
{
	struct lfs_cache *c;
	int rc = make_dirs(dir), fd = -1;

	if (rc == 0) {
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		rc = fd < 0 ? -errno : 0;
	}
	if (rc < 0) {
		lfs_err_set("%s: cannot use as cache directory: %s", dir, strerror(-rc));
		return rc;
	}
	c = lfs_xcalloc(1, sizeof(*c));
	c->dir = lfs_xstrdup(dir);
	c->dirfd = fd;
	c->max_bytes = max_bytes;
	pthread_mutex_init(&c->evict_lock, NULL);
	*out = c;
	return 0;
}

void lfs_cache_close(struct lfs_cache *c)
{
	if (!c)
		return;
	close(c->dirfd);
	pthread_mutex_destroy(&c->evict_lock);
	free(c->dir);
	free(c);
}

int lfs_cache_key(const struct lfs_layer_desc *d, uint8_t key[16])
{
	XXH3_state_t *st = XXH3_createState();
	struct stat sb;
	uint64_t f[7];
	XXH128_hash_t h;

	if (!st)
		return -ENOMEM;
	if (fstat(d->fd, &sb) < 0) {
		int e = errno;

		XXH3_freeState(st);
		return -e;
	}
	/* A changed file is a different key: the cache never vouches for stale bytes. */
	f[0] = LFS_CACHE_VERSION;
	f[1] = (uint64_t)sb.st_dev;
	f[2] = (uint64_t)sb.st_ino;
	f[3] = (uint64_t)sb.st_size;
	f[4] = (uint64_t)sb.st_mtim.tv_sec * 1000000000ULL + (uint64_t)sb.st_mtim.tv_nsec;
	f[5] = d->off;
	f[6] = d->len;
	XXH3_128bits_reset(st);
	XXH3_128bits_update(st, f, sizeof(f));
	XXH3_128bits_update(st, d->digest ? d->digest : "", d->digest ? strlen(d->digest) + 1 : 1);
	XXH3_128bits_update(st, d->diff_id ? d->diff_id : "",
			    d->diff_id ? strlen(d->diff_id) + 1 : 1);
	h = XXH3_128bits_digest(st);
	XXH3_freeState(st);
	f[0] = htole64(h.low64);
	f[1] = htole64(h.high64);
	memcpy(key, f, 16);
	return 0;
}

static void key_name(const uint8_t key[16], const char *ext, char out[48])
{
	for (int i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02x", key[i]);
	strcpy(out + 32, ext);
}

static int read_all(int fd, void *buf, size_t n, uint64_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EBADMSG;
		done += (size_t)r;
	}
	return 0;
}

static int write_all(int fd, const void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = write(fd, (const char *)buf + done, n - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		done += (size_t)r;
	}
	return 0;
}

/* Read and check the header and payload of FD; returns the decompressed payload. */
static int read_payload(int fd, const uint8_t key[16], int need_hashes, void **out, size_t *len)
{
	struct lfs_cache_header h;
	struct stat sb;
	void *comp = NULL, *raw = NULL;
	size_t got = 0;
	int rc;

	if (fstat(fd, &sb) < 0 || read_all(fd, &h, sizeof(h), 0) < 0)
		return -EBADMSG;
	if (memcmp(h.magic, LFS_CACHE_MAGIC, 8) || le32toh(h.version) != LFS_CACHE_VERSION ||
	    le64toh(h.header_xxh3) != XXH3_64bits(&h, offsetof(struct lfs_cache_header, header_xxh3)) ||
	    memcmp(h.key, key, 16) ||
	    le64toh(h.payload_len) != (uint64_t)sb.st_size - sizeof(h) ||
	    le64toh(h.raw_len) > MAX_RAW)
		return -EBADMSG;
	if (need_hashes && !(le32toh(h.flags) & LFS_CACHE_F_HASHES))
		return -ENOENT;
	comp = lfs_xmalloc(le64toh(h.payload_len));
	raw = lfs_xmalloc(le64toh(h.raw_len));
	rc = read_all(fd, comp, le64toh(h.payload_len), sizeof(h));
	if (rc == 0 && XXH3_64bits(comp, le64toh(h.payload_len)) != le64toh(h.payload_xxh3))
		rc = -EBADMSG;
	if (rc == 0) {
		got = ZSTD_decompress(raw, le64toh(h.raw_len), comp, le64toh(h.payload_len));
		if (ZSTD_isError(got) || got != le64toh(h.raw_len))
			rc = -EBADMSG;
	}
	free(comp);
	if (rc < 0) {
		free(raw);
		return rc;
	}
	*out = raw;
	*len = got;
	return 0;
}

int lfs_cache_load(struct lfs_cache *c, const struct lfs_layer_desc *d, uint32_t index,
		   int need_hashes, struct lfs_layer **out)
{
	uint8_t key[16];
	char name[48];
	void *raw = NULL;
	size_t len;
	int fd, sfd, rc;

	if (lfs_cache_key(d, key) < 0)
		return -ENOENT;
	key_name(key, ".idx", name);
	fd = openat(c->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -ENOENT;
	rc = read_payload(fd, key, need_hashes, &raw, &len);
	if (rc == 0)
		futimens(fd, NULL); /* most recently used: evicted last */
	close(fd);
	if (rc < 0)
		return -ENOENT;
	key_name(key, ".scr", name);
	sfd = openat(c->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	rc = lfs_cache_decode(raw, len, d, index, sfd, out);
	if (sfd >= 0)
		close(sfd);
	free(raw);
	if (rc < 0) {
		lfs_err_clear();
		return -ENOENT;
	}
	return 0;
}

/* Write BUF to a temporary file in the cache and rename it to NAME. */
static int write_file(struct lfs_cache *c, const char *name, const struct lfs_blob *blob,
		      const void *hdr, size_t hlen, const void *buf, size_t len, uint64_t *blen)
{
	char tmp[64];
	int fd, rc;

	snprintf(tmp, sizeof(tmp), ".%s.%ld.%lx", name, (long)getpid(),
		 (unsigned long)pthread_self());
	fd = openat(c->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (blob)
		rc = lfs_blob_save_scratch(blob, fd, blen);
	else
		rc = write_all(fd, hdr, hlen);
	if (rc == 0 && !blob)
		rc = write_all(fd, buf, len);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(c->dirfd, tmp, c->dirfd, name) < 0)
		rc = -errno;
	if (rc < 0)
		unlinkat(c->dirfd, tmp, 0);
	return rc;
}

struct cfile {
	char name[64];
	time_t mtime;
	uint64_t size;
};

static int by_mtime(const void *a, const void *b)
{
	const struct cfile *x = a, *y = b;

	return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

/* Oldest first until the directory fits in max_bytes. */
static void evict(struct lfs_cache *c)
{
	struct cfile *v = NULL;
	size_t n = 0, cap = 0;
	uint64_t total = 0;
	struct dirent *de;
	DIR *dir;
	int fd = openat(c->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir))) {
		struct stat sb;
		size_t l = strlen(de->d_name);

		if (l != 36 || (strcmp(de->d_name + 32, ".idx") && strcmp(de->d_name + 32, ".scr")))
			continue;
		if (fstatat(c->dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = lfs_xrealloc(v, cap * sizeof(*v));
		}
		strcpy(v[n].name, de->d_name);
		v[n].mtime = sb.st_mtime;
		v[n].size = (uint64_t)sb.st_blocks * 512;
		total += v[n].size;
		n++;
	}
	closedir(dir);
	qsort(v, n, sizeof(*v), by_mtime);
	for (size_t i = 0; i < n && total > c->max_bytes; i++) {
		if (unlinkat(c->dirfd, v[i].name, 0) == 0)
			total -= v[i].size;
	}
	free(v);
}

void lfs_cache_store(struct lfs_cache *c, const struct lfs_layer_desc *d, struct lfs_layer *l)
{
	struct lfs_cache_header h;
	uint8_t key[16];
	char name[48];
	void *raw = NULL, *comp = NULL;
	size_t len, clen;
	uint64_t scratch_len = 0;
	int rc;

	rc = lfs_cache_key(d, key);
	if (rc < 0)
		goto fail;
	key_name(key, ".scr", name);
	/* The scratch file first: an index never points at scratch that is not there. */
	rc = write_file(c, name, l->blob, NULL, 0, NULL, 0, &scratch_len);
	if (rc < 0)
		goto fail;
	if (!scratch_len)
		unlinkat(c->dirfd, name, 0);
	rc = lfs_cache_encode(l, scratch_len, &raw, &len);
	if (rc < 0)
		goto fail;
	clen = ZSTD_compressBound(len);
	comp = lfs_xmalloc(clen);
	clen = ZSTD_compress(comp, clen, raw, len, 3);
	if (ZSTD_isError(clen)) {
		rc = -EIO;
		goto fail;
	}
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, LFS_CACHE_MAGIC, 8);
	h.version = htole32(LFS_CACHE_VERSION);
	h.flags = htole32(l->hashed ? LFS_CACHE_F_HASHES : 0);
	memcpy(h.key, key, 16);
	h.payload_len = htole64(clen);
	h.raw_len = htole64(len);
	h.payload_xxh3 = htole64(XXH3_64bits(comp, clen));
	h.header_xxh3 = htole64(XXH3_64bits(&h, offsetof(struct lfs_cache_header, header_xxh3)));
	key_name(key, ".idx", name);
	rc = write_file(c, name, NULL, &h, sizeof(h), comp, clen, NULL);
	if (rc < 0)
		goto fail;
	free(raw);
	free(comp);
	if (c->max_bytes) {
		pthread_mutex_lock(&c->evict_lock);
		evict(c);
		pthread_mutex_unlock(&c->evict_lock);
	}
	return;
fail:
	free(raw);
	free(comp);
	lfs_warn("%s: not cached in %s: %s", d->name, c->dir, strerror(-rc));
}
