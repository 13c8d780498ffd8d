/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the persistent index cache: what is loaded equals what was
 * indexed, and a damaged, truncated, stale or foreign cache file is never
 * trusted.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include <xxhash.h>
#include <zstd.h>

#include "cache.h"
#include "cache_format.h"
#include "layerfs/core.h"
#include "layerfs/lfs.h"
#include "testutil.h"

struct fixture {
	char *path;
	struct lfs_layer_desc d;
	size_t size;
};

static void add(struct archive *a, const char *path, mode_t type, const void *data, size_t len,
		const char *link)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, 0640);
	archive_entry_set_uid(e, 7);
	archive_entry_set_mtime(e, 1700000000, 42);
	if (type == AE_IFLNK)
		archive_entry_set_symlink(e, link);
	else if (link)
		archive_entry_set_hardlink(e, link);
	if (type == AE_IFREG && !link) {
		archive_entry_set_size(e, (la_int64_t)len);
		archive_entry_xattr_add_entry(e, "user.k", "v", 1);
	}
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	if (type == AE_IFREG && !link && len)
		assert_int_equal(archive_write_data(a, data, len), (la_ssize_t)len);
	archive_entry_free(e);
}

/* A layer (gzip: restart points and scratch data to persist) with every kind of entry. */
static void make_fixture(struct fixture *f, const char *name, int gzip)
{
	struct archive *a = archive_write_new();
	size_t big = 3 << 20, used = 0;
	char *data = malloc(big), *buf = malloc(big * 2);
	struct stat st;

	for (size_t i = 0; i < big; i++)
		data[i] = (char)((i * 2654435761u) >> 13);
	archive_write_set_format_pax(a);
	if (gzip)
		archive_write_add_filter_gzip(a);
	assert_int_equal(archive_write_open_memory(a, buf, big * 2, &used), ARCHIVE_OK);
	add(a, "dir/", AE_IFDIR, NULL, 0, NULL);
	add(a, "dir/big", AE_IFREG, data, big, NULL);
	add(a, "dir/small", AE_IFREG, "hello", 5, NULL);
	add(a, "dir/hard", AE_IFREG, NULL, 0, "dir/small");
	add(a, "dir/sym", AE_IFLNK, NULL, 0, "small");
	add(a, "other/.wh.gone", AE_IFREG, NULL, 0, NULL);
	add(a, "deep/a/b/c/.wh..wh..opq", AE_IFREG, NULL, 0, NULL);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	f->path = tu_write(name, buf, used);
	f->size = used;
	memset(&f->d, 0, sizeof(f->d));
	f->d.name = f->path;
	f->d.fd = open(f->path, O_RDONLY);
	assert_true(f->d.fd >= 0);
	assert_int_equal(fstat(f->d.fd, &st), 0);
	f->d.len = (uint64_t)st.st_size;
	free(data);
	free(buf);
}

static void free_fixture(struct fixture *f)
{
	close(f->d.fd);
	free(f->path);
}

/* Load D from the cache under the key of the file as it is now, as a mount does. */
static int load(struct lfs_cache *c, const struct lfs_layer_desc *d, int flags,
		struct lfs_layer **out)
{
	uint8_t key[16];

	if (lfs_cache_key(d, key) < 0)
		return -ENOENT;
	return lfs_cache_load(c, d, key, 0, flags, out);
}

/* Store L under the key of D's file as it is now. */
static void store(struct lfs_cache *c, const struct lfs_layer_desc *d, struct lfs_layer *l)
{
	uint8_t key[16];

	assert_int_equal(lfs_cache_key(d, key), 0);
	lfs_cache_store(c, d, key, l);
}

static char *cache_dir(const char *name)
{
	char *p = malloc(strlen(tu_tmpdir()) + strlen(name) + 2);

	sprintf(p, "%s/%s", tu_tmpdir(), name);
	return p;
}

static void assert_same_node(const struct lfs_node *a, const struct lfs_node *b)
{
	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->uid, b->uid);
	assert_int_equal(a->nlink, b->nlink);
	assert_int_equal(a->flags & ~(uint32_t)LFS_NF_MERGED, b->flags & ~(uint32_t)LFS_NF_MERGED);
	assert_int_equal(a->mtime_sec, b->mtime_sec);
	assert_int_equal(a->mtime_nsec, b->mtime_nsec);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->data_off, b->data_off);
	assert_int_equal(!a->xattrs, !b->xattrs);
	if (a->link)
		assert_string_equal(a->link, b->link);
}

static void compare(struct lfs_layer *x, struct lfs_layer *y, const char *const *paths)
{
	for (int i = 0; paths[i]; i++) {
		struct lfs_node *a = lfs_node_walk(x->root, paths[i]);
		struct lfs_node *b = lfs_node_walk(y->root, paths[i]);

		assert_non_null(a);
		assert_non_null(b);
		assert_same_node(a, b);
	}
	assert_int_equal(x->nentries, y->nentries);
	assert_int_equal(x->plain_size, y->plain_size);
	assert_memory_equal(x->stored_sha256, y->stored_sha256, 32);
}

static const char *const paths[] = {"dir",     "dir/big",    "dir/small",  "dir/hard",
				    "dir/sym", "other/gone", "deep/a/b/c", NULL};

static void test_roundtrip(void **state)
{
	struct fixture f;
	struct lfs_layer *l, *m;
	struct lfs_cache *c;
	char *dir = cache_dir("c1");
	char *buf = malloc(1 << 20), *want = malloc(1 << 20);

	(void)state;
	make_fixture(&f, "rt.tar.gz", 1);
	assert_int_equal(lfs_layer_index(&l, &f.d, 0, NULL), 0);
	assert_int_equal(lfs_cache_open(&c, dir, 0), 0);
	assert_int_equal(load(c, &f.d, 0, &m), -ENOENT);
	store(c, &f.d, l);
	assert_int_equal(load(c, &f.d, 0, &m), 0);
	compare(l, m, paths);
	/* hard links still share one node */
	assert_ptr_equal(lfs_node_walk(m->root, "dir/small"), lfs_node_walk(m->root, "dir/hard"));
	assert_true(lfs_node_walk(m->root, "deep/a/b/c")->flags & LFS_NF_OPAQUE);
	/* data read through the loaded blob */
	{
		struct lfs_node *n = lfs_node_walk(m->root, "dir/big");
		struct lfs_node *o = lfs_node_walk(l->root, "dir/big");

		assert_int_equal(lfs_blob_pread(m->blob, buf, 1 << 20, n->data_off + 1234567),
				 1 << 20);
		assert_int_equal(lfs_blob_pread(l->blob, want, 1 << 20, o->data_off + 1234567),
				 1 << 20);
		assert_memory_equal(buf, want, 1 << 20);
	}
	/* a cache without content hashes does not serve a request for them */
	assert_int_equal(load(c, &f.d, 1, &m), -ENOENT);
	lfs_layer_free(m);
	lfs_layer_free(l);
	lfs_cache_close(c);
	free_fixture(&f);
	free(dir);
	free(buf);
	free(want);
}

static char *idx_path(const char *dir)
{
	char cmd[512], *out = malloc(512);
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls %s/*.idx", dir);
	p = popen(cmd, "r");
	assert_non_null(fgets(out, 512, p));
	pclose(p);
	out[strcspn(out, "\n")] = 0;
	return out;
}

/* Every flipped byte and every truncation of the index is caught (-ENOENT), never trusted. */
static void test_corruption(void **state)
{
	struct fixture f;
	struct lfs_layer *l, *m;
	struct lfs_cache *c;
	char *dir = cache_dir("c2"), *idx;
	size_t len;
	unsigned char *orig;

	(void)state;
	lfs_quiet = 1;
	make_fixture(&f, "corrupt.tar.gz", 1);
	assert_int_equal(lfs_layer_index(&l, &f.d, 0, NULL), 0);
	assert_int_equal(lfs_cache_open(&c, dir, 0), 0);
	store(c, &f.d, l);
	idx = idx_path(dir);
	orig = tu_read(idx, &len);
	for (size_t i = 0; i < len; i += (i < 200 ? 1 : 7)) {
		unsigned char *bad = malloc(len);
		FILE *w;

		memcpy(bad, orig, len);
		bad[i] ^= 0x20;
		w = fopen(idx, "wb");
		fwrite(bad, 1, len, w);
		fclose(w);
		assert_int_equal(load(c, &f.d, 0, &m), -ENOENT);
		free(bad);
	}
	for (size_t n = 0; n < len; n += 13) {
		FILE *w = fopen(idx, "wb");

		fwrite(orig, 1, n, w);
		fclose(w);
		assert_int_equal(load(c, &f.d, 0, &m), -ENOENT);
	}
	/* restored, it loads again */
	{
		FILE *w = fopen(idx, "wb");

		fwrite(orig, 1, len, w);
		fclose(w);
		assert_int_equal(load(c, &f.d, 0, &m), 0);
		lfs_layer_free(m);
	}
	/* a touched layer file is another key: stale entries are not used */
	{
		struct timespec ts[2] = {{0, UTIME_NOW}, {12345, 0}};

		assert_int_equal(futimens(f.d.fd, ts), 0);
		assert_int_equal(load(c, &f.d, 0, &m), -ENOENT);
	}
	free(orig);
	free(idx);
	lfs_layer_free(l);
	lfs_cache_close(c);
	free_fixture(&f);
	free(dir);
}

/* The decoder on its own: hostile payloads fail cleanly. */
static void test_decode_hostile(void **state)
{
	struct fixture f;
	struct lfs_layer *l, *m;
	void *raw;
	size_t len;

	(void)state;
	make_fixture(&f, "hostile.tar", 0);
	assert_int_equal(lfs_layer_index(&l, &f.d, 0, NULL), 0);
	assert_int_equal(lfs_cache_encode(l, 0, &raw, &len), 0);
	assert_int_equal(lfs_cache_decode(raw, len, &f.d, 0, -1, LFS_CACHE_SUPERSEDED, &m), 0);
	lfs_layer_free(m);
	for (size_t i = 0; i < len; i++) {
		unsigned char *bad = malloc(len);

		memcpy(bad, raw, len);
		bad[i] ^= 0xff;
		/* either rejected or still a well-formed tree: never a crash */
		if (lfs_cache_decode(bad, len, &f.d, 0, -1, LFS_CACHE_SUPERSEDED, &m) == 0)
			lfs_layer_free(m);
		assert_int_equal(lfs_cache_decode(bad, i, &f.d, 0, -1, LFS_CACHE_SUPERSEDED, &m),
				 -EBADMSG);
		free(bad);
	}
	free(raw);
	lfs_layer_free(l);
	free_fixture(&f);
}

static void test_eviction(void **state)
{
	struct fixture f[3];
	struct lfs_layer *l;
	struct lfs_cache *c;
	char *dir = cache_dir("c3"), cmd[512];
	FILE *p;
	int n = 0;

	(void)state;
	assert_int_equal(lfs_cache_open(&c, dir, 4096), 0);
	for (int i = 0; i < 3; i++) {
		char name[32];

		snprintf(name, sizeof(name), "ev%d.tar", i);
		make_fixture(&f[i], name, 0);
		assert_int_equal(lfs_layer_index(&l, &f[i].d, 0, NULL), 0);
		store(c, &f[i].d, l);
		lfs_layer_free(l);
	}
	snprintf(cmd, sizeof(cmd), "ls %s | wc -l", dir);
	p = popen(cmd, "r");
	assert_int_equal(fscanf(p, "%d", &n), 1);
	pclose(p);
	/* a 4 KiB budget keeps at most one index */
	assert_true(n <= 1);
	for (int i = 0; i < 3; i++)
		free_fixture(&f[i]);
	lfs_cache_close(c);
	free(dir);
}

/* A one-file tar layer: NAME holding DATA. */
static size_t small_tar(char *buf, size_t cap, const char *name, const char *data)
{
	struct archive *a = archive_write_new();
	size_t used = 0;

	archive_write_set_format_pax(a);
	assert_int_equal(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
	add(a, name, AE_IFREG, data, strlen(data), NULL);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return used;
}

/*
 * A layer rewritten in place with the same size and its mtime put back by
 * utimensat is indexed again: the index of the old bytes is never served
 * (it would show the old tree, reading the new bytes at the old offsets).
 */
static void test_rewritten_in_place(void **state)
{
	char *dir = cache_dir("c4"), a[16384], b[16384];
	size_t la = small_tar(a, sizeof(a), "old-name", "old content\n");
	size_t lb = small_tar(b, sizeof(b), "new-name", "NEW CONTENT\n");
	char *path = tu_write("rw.tar", a, la);
	struct lfs_layer_desc d = {0};
	struct lfs_layer *l, *m = NULL;
	struct lfs_cache *c;
	struct stat st0, st1;
	struct timespec ts[2];
	uint8_t k0[16], k1[16];
	int fd;

	(void)state;
	assert_int_equal(la, lb);
	d.name = path;
	d.fd = open(path, O_RDONLY);
	assert_true(d.fd >= 0);
	d.len = la;
	assert_int_equal(fstat(d.fd, &st0), 0);
	assert_int_equal(lfs_cache_open(&c, dir, 0), 0);
	assert_int_equal(lfs_layer_index(&l, &d, 0, NULL), 0);
	store(c, &d, l);
	lfs_layer_free(l);
	assert_int_equal(lfs_cache_key(&d, k0), 0);

	/* rewrite in place, same size, and put the mtime back */
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, b, lb, 0), (ssize_t)lb);
	assert_int_equal(close(fd), 0);
	ts[0] = st0.st_atim;
	ts[1] = st0.st_mtim;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	assert_int_equal(fstat(d.fd, &st1), 0);
	assert_int_equal(st1.st_size, st0.st_size);
	assert_int_equal(st1.st_mtim.tv_sec, st0.st_mtim.tv_sec);
	assert_int_equal(st1.st_mtim.tv_nsec, st0.st_mtim.tv_nsec);

	/* what a mount does: the cache, else a new pass */
	if (load(c, &d, 0, &m) < 0)
		assert_int_equal(lfs_layer_index(&m, &d, 0, NULL), 0);
	assert_null(lfs_node_walk(m->root, "old-name"));
	assert_non_null(lfs_node_walk(m->root, "new-name"));
	lfs_layer_free(m);

	/*
	 * The content sample alone: with the identity of the file as it was
	 * before (as for a new file that got the same inode number and times),
	 * the key still changes with the bytes.
	 */
	assert_int_equal(lfs_cache_key_stat(&d, &st0, k1), 0);
	assert_memory_not_equal(k0, k1, 16);
	fd = open(path, O_WRONLY);
	assert_int_equal(pwrite(fd, a, la, 0), (ssize_t)la);
	assert_int_equal(close(fd), 0);
	assert_int_equal(lfs_cache_key_stat(&d, &st0, k1), 0);
	assert_memory_equal(k0, k1, 16);
	{
		uint8_t k2[16];
		char last = 'x'; /* in the end-of-archive blocks: only the tail sample sees it */

		fd = open(path, O_WRONLY);
		assert_int_equal(pwrite(fd, &last, 1, (off_t)la - 1), 1);
		assert_int_equal(close(fd), 0);
		assert_int_equal(lfs_cache_key_stat(&d, &st0, k2), 0);
		assert_memory_not_equal(k1, k2, 16);
	}
	close(d.fd);
	lfs_cache_close(c);
	free(path);
	free(dir);
}

/*
 * A layer that supersedes entries of its own in every way the indexer lists:
 * a file written twice and three times (what replaced the first went too),
 * a file under a directory that a file replaced, a file replaced by an
 * implied directory itself replaced (by a gone directory), a file under a
 * whiteout itself replaced (by a gone whiteout), a symlink, a hard link's
 * last name.
 */
static char *superseded_layer(const char *name, struct lfs_layer_desc *d)
{
	struct archive *a = archive_write_new();
	size_t cap = 1 << 20, used = 0;
	char *buf = malloc(cap), *path;
	struct stat st;

	archive_write_set_format_pax(a);
	assert_int_equal(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
	add(a, "p", AE_IFREG, "one", 3, NULL);
	add(a, "p", AE_IFREG, "two", 3, NULL);
	add(a, "a", AE_IFREG, "1", 1, NULL);
	add(a, "a", AE_IFREG, "22", 2, NULL);
	add(a, "a", AE_IFREG, "333", 3, NULL);
	add(a, "x", AE_IFREG, "file", 4, NULL);
	add(a, "x/y", AE_IFREG, "child", 5, NULL);
	add(a, "x", AE_IFREG, "again", 5, NULL);
	add(a, "w/f", AE_IFREG, "f", 1, NULL);
	add(a, ".wh.w", AE_IFREG, NULL, 0, NULL);
	add(a, "w", AE_IFREG, "back", 4, NULL);
	add(a, "s", AE_IFLNK, NULL, 0, "p");
	add(a, "s", AE_IFREG, "s", 1, NULL);
	add(a, "h", AE_IFREG, "hl", 2, NULL);
	add(a, "h2", AE_IFREG, NULL, 0, "h");
	add(a, "h", AE_IFREG, "new", 3, NULL);
	add(a, "h2", AE_IFREG, "new2", 4, NULL);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	path = tu_write(name, buf, used);
	free(buf);
	memset(d, 0, sizeof(*d));
	d->name = path;
	d->fd = open(path, O_RDONLY);
	assert_true(d->fd >= 0);
	assert_int_equal(fstat(d->fd, &st), 0);
	d->len = (uint64_t)st.st_size;
	return path;
}

#define SUPERSEDED_N 8 /* p, a twice, x, x/y, w/f, s, h2 */

static size_t count_superseded(const struct lfs_layer *l)
{
	size_t n = 0;

	for (const struct lfs_superseded *s = l->superseded; s; s = s->next)
		n++;
	return n;
}

/* Depth of the prefix of PATH at which ROOT's tree has N (-1: nowhere): where BY lives. */
static int found_at(struct lfs_node *root, const char *path, const struct lfs_node *n)
{
	char buf[4096];
	int depth = 0;

	snprintf(buf, sizeof(buf), "%s", path + 1);
	for (char *p = buf;; depth++) {
		char *sl = strchr(p, '/'), save = 0;

		if (sl) {
			save = *sl;
			*sl = '\0';
		}
		if (lfs_node_walk(root, buf) == n)
			return depth;
		if (!sl)
			return -1;
		*sl = save;
		p = sl + 1;
	}
}

static void assert_same_hash(const struct lfs_node *a, const struct lfs_node *b)
{
	assert_int_equal(!a->hash, !b->hash);
	if (a->hash) {
		assert_int_equal(a->hash->lo, b->hash->lo);
		assert_int_equal(a->hash->hi, b->hash->hi);
	}
	assert_int_equal(!a->dir, !b->dir);
}

/* X's and Y's lists: same entries in the same order, nodes shared alike, BY where it was. */
static void compare_superseded(const struct lfs_layer *x, const struct lfs_layer *y)
{
	const struct lfs_superseded *a = x->superseded, *b = y->superseded;
	const struct lfs_node *vx[2 * 64], *vy[2 * 64];
	size_t n = 0;

	for (; a && b; a = a->next, b = b->next) {
		assert_true(n < 64);
		assert_string_equal(a->path, b->path);
		assert_int_equal(a->below, b->below);
		assert_same_node(a->node, b->node);
		assert_same_hash(a->node, b->node);
		assert_same_node(a->by, b->by);
		assert_same_hash(a->by, b->by);
		assert_int_equal(found_at(x->root, a->path, a->by),
				 found_at(y->root, b->path, b->by));
		assert_int_equal(a->by->layer, b->by->layer);
		vx[2 * n] = a->node;
		vx[2 * n + 1] = a->by;
		vy[2 * n] = b->node;
		vy[2 * n + 1] = b->by;
		n++;
	}
	assert_null(a);
	assert_null(b);
	for (size_t i = 0; i < 2 * n; i++)
		for (size_t j = 0; j < 2 * n; j++)
			assert_int_equal(vx[i] == vx[j], vy[i] == vy[j]);
}

/* The superseded list goes through the cache whole; a mount's load leaves it out. */
static void test_superseded_roundtrip(void **state)
{
	struct lfs_layer_opts o = {.hash_content = 1};
	struct lfs_layer_desc d;
	struct lfs_layer *l, *m;
	struct lfs_cache *c;
	char *dir = cache_dir("c5"), *path = superseded_layer("sup.tar", &d);

	(void)state;
	assert_int_equal(lfs_layer_index(&l, &d, 0, &o), 0);
	assert_int_equal(count_superseded(l), SUPERSEDED_N);
	assert_int_equal(lfs_cache_open(&c, dir, 0), 0);
	store(c, &d, l);
	assert_int_equal(load(c, &d, LFS_CACHE_HASHES | LFS_CACHE_SUPERSEDED, &m), 0);
	compare_superseded(l, m);
	lfs_layer_free(m);
	/* as a mount: the same tree, no list */
	assert_int_equal(load(c, &d, 0, &m), 0);
	assert_null(m->superseded);
	assert_non_null(lfs_node_walk(m->root, "h2"));
	lfs_layer_free(m);
	lfs_layer_free(l);
	lfs_cache_close(c);
	close(d.fd);
	free(path);
	free(dir);
}

/* Write RAW as the cache file of KEY, header and checksums as lfs_cache_store makes them. */
static void write_idx(const char *dir, const uint8_t key[16], const void *raw, size_t len,
		      uint32_t version, int hashed)
{
	struct lfs_cache_header h;
	size_t clen = ZSTD_compressBound(len);
	void *comp = malloc(clen);
	char path[512];
	FILE *w;

	clen = ZSTD_compress(comp, clen, raw, len, 1);
	assert_false(ZSTD_isError(clen));
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, LFS_CACHE_MAGIC, 8);
	h.version = htole32(version);
	h.flags = htole32(hashed ? LFS_CACHE_F_HASHES : 0);
	memcpy(h.key, key, 16);
	h.payload_len = htole64(clen);
	h.raw_len = htole64(len);
	h.payload_xxh3 = htole64(XXH3_64bits(comp, clen));
	h.header_xxh3 = htole64(XXH3_64bits(&h, offsetof(struct lfs_cache_header, header_xxh3)));
	snprintf(path, sizeof(path), "%s/", dir);
	for (int i = 0; i < 16; i++)
		snprintf(path + strlen(path), 3, "%02x", key[i]);
	strcat(path, ".idx");
	w = fopen(path, "wb");
	assert_non_null(w);
	assert_int_equal(fwrite(&h, 1, sizeof(h), w), sizeof(h));
	assert_int_equal(fwrite(comp, 1, clen, w), clen);
	assert_int_equal(fclose(w), 0);
	free(comp);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

/* Where, in RAW, the node numbers of the entry of L that a whiteout replaced lie. */
static size_t whiteout_entry(const struct lfs_layer *l, size_t first)
{
	size_t off = first;

	for (const struct lfs_superseded *t = l->superseded; t; t = t->next) {
		off += 4 + strlen(t->path);
		if (t->by->flags & LFS_NF_WHITEOUT)
			return off;
		off += 9;
	}
	fail_msg("no entry replaced by a whiteout");
	return 0;
}

/*
 * A damaged superseded record: the decoder rejects it (a report's load
 * finds no entry, and the layer is indexed and stored again), and never
 * crashes on it.  The record is found from its end, entry sizes being
 * known from the layer's list.
 */
static void test_superseded_corrupt(void **state)
{
	struct lfs_layer_opts o = {.hash_content = 1};
	const int rep = LFS_CACHE_HASHES | LFS_CACHE_SUPERSEDED;
	struct lfs_layer_desc d;
	struct lfs_layer *l, *m;
	struct lfs_cache *c;
	char *dir = cache_dir("c6"), *path = superseded_layer("supc.tar", &d);
	const struct lfs_superseded *s, *oldest = NULL;
	uint8_t *raw, *bad, key[16];
	size_t len, ents = 0, last, first, sec;
	uint32_t count_at, ntree;

	(void)state;
	lfs_quiet = 1;
	assert_int_equal(lfs_layer_index(&l, &d, 0, &o), 0);
	assert_int_equal(lfs_cache_encode(l, 0, (void **)&raw, &len), 0);
	for (s = l->superseded; s; s = s->next) {
		ents += 4 + strlen(s->path) + 9;
		oldest = s;
	}
	last = len - (4 + strlen(oldest->path) + 9); /* the oldest entry, written last */
	first = len - ents;			     /* the newest */
	count_at = (uint32_t)(first - 4);
	assert_int_equal(get32(raw + count_at), SUPERSEDED_N);
	/* the tree's node count: the record's first entry names an orphan at or past it */
	ntree = get32(raw + first + 4 + strlen(l->superseded->path));
	assert_true(ntree > 0);
	{
		/* without a list, the same bytes up to the record: u64 length, 0 nodes, 0 entries
		 */
		struct lfs_superseded *keep = l->superseded;
		void *e;
		size_t elen;

		l->superseded = NULL;
		assert_int_equal(lfs_cache_encode(l, 0, &e, &elen), 0);
		l->superseded = keep;
		sec = elen - 16;
		assert_memory_equal(e, raw, sec);
		free(e);
		assert_true(sec < count_at);
	}
	assert_int_equal(lfs_cache_decode(raw, len, &d, 0, -1, rep, &m), 0);
	lfs_layer_free(m);

	bad = malloc(len);
	for (int k = 0; k < 11; k++) {
		const size_t at = last + 4 + strlen(oldest->path);
		size_t n = len;

		memcpy(bad, raw, len);
		switch (k) {
		case 0: /* the node: the root, which has a name */
			put32(bad + at, 0);
			break;
		case 1: /* the node: past the table */
			put32(bad + at, UINT32_MAX);
			break;
		case 2: /* what replaced it: past the table */
			put32(bad + at + 4, get32(raw + at) + 1000);
			break;
		case 3: /* replaced by itself */
			put32(bad + at + 4, get32(raw + at));
			break;
		case 4: /* below is a flag */
			bad[at + 8] = 2;
			break;
		case 5: /* a relative path */
			bad[last + 4] = 'x';
			break;
		case 6: /* an empty component */
			bad[last + 5] = '/';
			break;
		case 7: /* the newest entry's file listed again */
			put32(bad + at, get32(raw + first + 4 + strlen(l->superseded->path)));
			break;
		case 8: /* one entry more than there are */
			put32(bad + count_at, SUPERSEDED_N + 1);
			break;
		case 9: /* a record shorter than it says */
			n = len - 1;
			break;
		case 10: { /* w/f superseded the whiteout that replaced it: a whiteout listed */
			const size_t we = whiteout_entry(l, first);

			put32(bad + we, get32(raw + we + 4));
			put32(bad + we + 4, get32(raw + we));
			break;
		}
		}
		assert_int_equal(lfs_cache_decode(bad, n, &d, 0, -1, rep, &m), -EBADMSG);
		/* through the cache: no entry for a report, which indexes and stores again */
		assert_int_equal(lfs_cache_open(&c, dir, 0), 0);
		assert_int_equal(lfs_cache_key(&d, key), 0);
		write_idx(dir, key, bad, n, LFS_CACHE_VERSION, 1);
		assert_int_equal(lfs_cache_load(c, &d, key, 0, rep, &m), -ENOENT);
		lfs_cache_store(c, &d, key, l);
		assert_int_equal(lfs_cache_load(c, &d, key, 0, rep, &m), 0);
		compare_superseded(l, m);
		lfs_layer_free(m);
		lfs_cache_close(c);
	}
	/* the record's length: wrong, it fails a mount's load too */
	memcpy(bad, raw, len);
	bad[sec] ^= 1;
	assert_int_equal(lfs_cache_decode(bad, len, &d, 0, -1, rep, &m), -EBADMSG);
	assert_int_equal(lfs_cache_decode(bad, len, &d, 0, -1, 0, &m), -EBADMSG);
	/* every byte of the record flipped, every truncation: rejected or whole, never a crash */
	for (size_t i = sec; i < len; i++) {
		memcpy(bad, raw, len);
		bad[i] ^= 0xff;
		if (lfs_cache_decode(bad, len, &d, 0, -1, rep, &m) == 0) {
			assert_true(count_superseded(m) <= SUPERSEDED_N);
			lfs_layer_free(m);
		}
		assert_int_equal(lfs_cache_decode(raw, i, &d, 0, -1, rep, &m), -EBADMSG);
		assert_int_equal(lfs_cache_decode(raw, i, &d, 0, -1, 0, &m), -EBADMSG);
	}
	/* a file of the previous format (no such record) is stale, not misread */
	assert_int_equal(lfs_cache_open(&c, dir, 0), 0);
	write_idx(dir, key, raw, sec, 1, 1);
	assert_int_equal(lfs_cache_load(c, &d, key, 0, 0, &m), -ENOENT);
	write_idx(dir, key, raw, len, 1, 1);
	assert_int_equal(lfs_cache_load(c, &d, key, 0, 0, &m), -ENOENT);
	lfs_cache_close(c);
	free(bad);
	free(raw);
	lfs_layer_free(l);
	close(d.fd);
	free(path);
	free(dir);
}

/*
 * The index is filed under the key the layer had before the pass: a layer
 * rewritten meanwhile has another key, under which the old bytes' index is
 * not found.
 */
static void test_key_before_pass(void **state)
{
	char *dir = cache_dir("c7"), a[16384], b[16384];
	size_t la = small_tar(a, sizeof(a), "old-name", "old content\n");
	size_t lb = small_tar(b, sizeof(b), "new-name", "NEW CONTENT\n");
	char *path = tu_write("race.tar", a, la);
	struct lfs_layer_desc d = {0};
	struct lfs_layer *l, *m = NULL;
	struct lfs_cache *c;
	uint8_t k0[16], k1[16];
	int fd;

	(void)state;
	assert_int_equal(la, lb);
	d.name = path;
	d.fd = open(path, O_RDONLY);
	assert_true(d.fd >= 0);
	d.len = la;
	assert_int_equal(lfs_cache_open(&c, dir, 0), 0);
	assert_int_equal(lfs_cache_key(&d, k0), 0);
	assert_int_equal(lfs_layer_index(&l, &d, 0, NULL), 0);
	/* rewritten after the pass read it, before the index is stored */
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, b, lb, 0), (ssize_t)lb);
	assert_int_equal(close(fd), 0);
	lfs_cache_store(c, &d, k0, l);
	lfs_layer_free(l);
	assert_int_equal(lfs_cache_key(&d, k1), 0);
	assert_memory_not_equal(k0, k1, 16);
	assert_int_equal(lfs_cache_load(c, &d, k1, 0, 0, &m), -ENOENT);
	/* filed under the key it was made for */
	assert_int_equal(lfs_cache_load(c, &d, k0, 0, 0, &m), 0);
	assert_non_null(lfs_node_walk(m->root, "old-name"));
	lfs_layer_free(m);
	close(d.fd);
	lfs_cache_close(c);
	free(path);
	free(dir);
}

/* Two reports' opens of the same layers: the second from the cache, with the same lists. */
static void test_core_superseded_cached(void **state)
{
	struct lfs_core_opts o = {
	    .hash_content = 1, .sequential = 1, .keep_layers = 1, .superseded = 1, .jobs = 1};
	struct lfs_layer_desc d0, d1;
	char *p0 = superseded_layer("core0.tar", &d0), *p1 = superseded_layer("core1.tar", &d1);
	char *src[2] = {p0, p1}, *dir = cache_dir("c8");
	struct lfs_core *x, *y;

	(void)state;
	close(d0.fd);
	close(d1.fd);
	o.cache_dir = dir;
	assert_int_equal(lfs_core_open(&x, src, 2, &o), 0);
	assert_int_equal(x->cached, 0);
	assert_int_equal(lfs_core_open(&y, src, 2, &o), 0);
	assert_int_equal(y->cached, 2);
	for (uint32_t i = 0; i < 2; i++) {
		assert_int_equal(count_superseded(y->layers[i]), SUPERSEDED_N);
		compare_superseded(x->layers[i], y->layers[i]);
	}
	lfs_core_free(y);
	lfs_core_free(x);
	free(p0);
	free(p1);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_corruption),
	    cmocka_unit_test(test_decode_hostile),
	    cmocka_unit_test(test_eviction),
	    cmocka_unit_test(test_rewritten_in_place),
	    cmocka_unit_test(test_superseded_roundtrip),
	    cmocka_unit_test(test_superseded_corrupt),
	    cmocka_unit_test(test_key_before_pass),
	    cmocka_unit_test(test_core_superseded_cached),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	tu_cleanup();
	return rc;
}
