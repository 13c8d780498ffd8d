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

#include "cache.h"
#include "lfs.h"
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
	assert_int_equal(lfs_cache_load(c, &f.d, 0, 0, &m), -ENOENT);
	lfs_cache_store(c, &f.d, l);
	assert_int_equal(lfs_cache_load(c, &f.d, 0, 0, &m), 0);
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
	assert_int_equal(lfs_cache_load(c, &f.d, 0, 1, &m), -ENOENT);
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
	lfs_cache_store(c, &f.d, l);
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
		assert_int_equal(lfs_cache_load(c, &f.d, 0, 0, &m), -ENOENT);
		free(bad);
	}
	for (size_t n = 0; n < len; n += 13) {
		FILE *w = fopen(idx, "wb");

		fwrite(orig, 1, n, w);
		fclose(w);
		assert_int_equal(lfs_cache_load(c, &f.d, 0, 0, &m), -ENOENT);
	}
	/* restored, it loads again */
	{
		FILE *w = fopen(idx, "wb");

		fwrite(orig, 1, len, w);
		fclose(w);
		assert_int_equal(lfs_cache_load(c, &f.d, 0, 0, &m), 0);
		lfs_layer_free(m);
	}
	/* a touched layer file is another key: stale entries are not used */
	{
		struct timespec ts[2] = {{0, UTIME_NOW}, {12345, 0}};

		assert_int_equal(futimens(f.d.fd, ts), 0);
		assert_int_equal(lfs_cache_load(c, &f.d, 0, 0, &m), -ENOENT);
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
	assert_int_equal(lfs_cache_decode(raw, len, &f.d, 0, -1, &m), 0);
	lfs_layer_free(m);
	for (size_t i = 0; i < len; i++) {
		unsigned char *bad = malloc(len);

		memcpy(bad, raw, len);
		bad[i] ^= 0xff;
		/* either rejected or still a well-formed tree: never a crash */
		if (lfs_cache_decode(bad, len, &f.d, 0, -1, &m) == 0)
			lfs_layer_free(m);
		assert_int_equal(lfs_cache_decode(bad, i, &f.d, 0, -1, &m), -EBADMSG);
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
		lfs_cache_store(c, &f[i].d, l);
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
	lfs_cache_store(c, &d, l);
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
	if (lfs_cache_load(c, &d, 0, 0, &m) < 0)
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),	       cmocka_unit_test(test_corruption),
	    cmocka_unit_test(test_decode_hostile),     cmocka_unit_test(test_eviction),
	    cmocka_unit_test(test_rewritten_in_place),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	tu_cleanup();
	return rc;
}
