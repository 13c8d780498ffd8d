/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The decompressed-data cache (lib/datacache.c): reads through it give the
 * stream's bytes (checked against zlib's own inflation of the same data);
 * a second opening serves them from the file without reading the layer;
 * damaged blocks and damaged headers are read from the layer again; the
 * size bound keeps data out, and trims the least recently used files.
 */
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

#include "blobsrc.h"
#include "datacache.h"
#include "layerfs/blob.h"
#include "testutil.h"

#define PLAIN_LEN (300 * 1024 + 123) /* 4 full blocks and a short one */

static uint8_t *plain;

static void make_plain(void)
{
	uint64_t s = 42;

	plain = malloc(PLAIN_LEN);
	for (size_t i = 0; i < PLAIN_LEN; i++) {
		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		/* compressible, not constant */
		plain[i] = (uint8_t)((s >> 60) + 'a');
	}
}

/* PLAIN gzip-compressed into a file; a finished (scanned) blob of it. */
static struct lfs_blob *gzip_blob(const char *name)
{
	uLongf clen = compressBound(PLAIN_LEN) + 64;
	uint8_t *c = malloc(clen);
	z_stream z = {0};
	struct lfs_blobsrc *src;
	struct lfs_scan *scan;
	struct lfs_blob *b;
	const struct lfs_scan_opts so = {0};
	const void *chunk;
	char *path;
	int fd;

	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = plain;
	z.avail_in = PLAIN_LEN;
	z.next_out = c;
	z.avail_out = (uInt)clen;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	path = tu_write(name, c, z.total_out);
	deflateEnd(&z);
	free(c);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(lfs_blobsrc_fd_new(&src, fd, 0, (uint64_t)lseek(fd, 0, SEEK_END), name),
			 0);
	assert_int_equal(lfs_scan_open(&scan, src, &so), 0);
	lfs_blobsrc_unref(src);
	while (lfs_scan_read(scan, &chunk) > 0)
		;
	assert_int_equal(lfs_scan_finish(scan, &b, NULL, NULL), 0);
	close(fd);
	free(path);
	return b;
}

static char *cache_dir(const char *name)
{
	char *d = malloc(4096);

	snprintf(d, 4096, "%s/%s", tu_tmpdir(), name);
	return d;
}

static void check_reads(struct lfs_dlayer *dl)
{
	static const struct {
		uint64_t off;
		size_t len;
	} r[] = {{0, 10}, {65530, 20}, {1000, 200000}, {PLAIN_LEN - 5, 100}, {0, PLAIN_LEN}};
	uint8_t *buf = malloc(PLAIN_LEN);

	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		size_t want = r[i].off + r[i].len > PLAIN_LEN ? PLAIN_LEN - r[i].off : r[i].len;

		assert_int_equal(lfs_dlayer_pread(dl, buf, r[i].len, r[i].off), (ssize_t)want);
		assert_memory_equal(buf, plain + r[i].off, want);
	}
	assert_int_equal(lfs_dlayer_pread(dl, buf, 10, PLAIN_LEN), 0);
	free(buf);
}

static const uint8_t key1[16] = {1, 2, 3};
static const uint8_t key2[16] = {4, 5, 6};

static char *lfd_path(const char *dir, const uint8_t key[16])
{
	char *p = malloc(4200);
	int n = snprintf(p, 4200, "%s/", dir);

	for (int i = 0; i < 16; i++)
		n += snprintf(p + n, 4200 - (size_t)n, "%02x", key[i]);
	snprintf(p + n, 4200 - (size_t)n, ".lfd");
	return p;
}

static void test_fill_then_hit(void **state)
{
	struct lfs_blob *b = gzip_blob("a.gz");
	char *dir = cache_dir("dc1");
	struct lfs_dcache *dc = lfs_dcache_open(dir, 0);
	struct lfs_dlayer *dl;
	uint64_t hits, fills, base;
	uint8_t buf[100];
	int fd;

	(void)state;
	assert_non_null(dc);
	dl = lfs_dcache_layer(dc, key1, b, 0);
	assert_non_null(dl);
	check_reads(dl);
	lfs_dcache_counts(dc, &hits, &fills);
	assert_int_equal(hits, 0);
	assert_int_equal(fills, 5); /* each block inflated once */
	/* The file serves the stream at BASE + offset. */
	assert_int_equal(lfs_dlayer_fd(dl, 70000, 100, &fd, &base), 0);
	assert_int_equal(pread(fd, buf, 100, (off_t)(base + 70000)), 100);
	assert_memory_equal(buf, plain + 70000, 100);
	lfs_dcache_close(dc);

	/* Later: every block from the file, checked, none inflated. */
	dc = lfs_dcache_open(dir, 0);
	dl = lfs_dcache_layer(dc, key1, b, 0);
	check_reads(dl);
	lfs_dcache_counts(dc, &hits, &fills);
	assert_int_equal(hits, 5);
	assert_int_equal(fills, 0);
	lfs_dcache_close(dc);
	lfs_blob_free(b);
	free(dir);
}

static void flip(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	uint8_t c;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x5a;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static void test_damage(void **state)
{
	struct lfs_blob *b = gzip_blob("b.gz");
	char *dir = cache_dir("dc2"), *path = lfd_path(dir, key1);
	struct lfs_dcache *dc = lfs_dcache_open(dir, 0);
	struct lfs_dlayer *dl = lfs_dcache_layer(dc, key1, b, 0);
	uint64_t hits, fills;
	uint8_t hdr[64];
	int fd;

	(void)state;
	check_reads(dl);
	lfs_dcache_close(dc);
	fd = open(path, O_RDONLY);
	assert_int_equal(pread(fd, hdr, 64, 0), 64);
	close(fd);
	/* A damaged byte of block 2's data, and of block 3's sum. */
	{
		uint64_t data_off = 0;

		for (int i = 7; i >= 0; i--)
			data_off = data_off << 8 | hdr[40 + i];
		flip(path, (off_t)(data_off + 2 * 65536 + 17));
		flip(path, 64 + 3 * 16 + 5);
	}
	dc = lfs_dcache_open(dir, 0);
	dl = lfs_dcache_layer(dc, key1, b, 0);
	check_reads(dl);
	lfs_dcache_counts(dc, &hits, &fills);
	assert_int_equal(hits, 3);
	assert_int_equal(fills, 2);
	lfs_dcache_close(dc);

	/* A damaged header: the file is made anew, every block inflated again. */
	flip(path, 20);
	dc = lfs_dcache_open(dir, 0);
	dl = lfs_dcache_layer(dc, key1, b, 0);
	check_reads(dl);
	lfs_dcache_counts(dc, &hits, &fills);
	assert_int_equal(hits, 0);
	assert_int_equal(fills, 5);
	lfs_dcache_close(dc);
	lfs_blob_free(b);
	free(path);
	free(dir);
}

static void test_bound(void **state)
{
	struct lfs_blob *b = gzip_blob("c.gz");
	char *dir = cache_dir("dc3"), *p1 = lfd_path(dir, key1), *p2 = lfd_path(dir, key2);
	struct lfs_dcache *dc = lfs_dcache_open(dir, 100 * 1024); /* room for one block */
	struct lfs_dlayer *dl = lfs_dcache_layer(dc, key1, b, 0);
	struct timespec old[2] = {{1000000, 0}, {1000000, 0}};
	uint64_t hits, fills, base;
	struct stat st;
	int fd;

	(void)state;
	check_reads(dl);
	/* Past the bound the data is served, not kept: no descriptor to splice from. */
	assert_int_equal(lfs_dlayer_fd(dl, 4 * 65536, 10, &fd, &base), -ENOSPC);
	lfs_dcache_close(dc);
	dc = lfs_dcache_open(dir, 100 * 1024);
	dl = lfs_dcache_layer(dc, key1, b, 0);
	check_reads(dl);
	lfs_dcache_counts(dc, &hits, &fills);
	assert_int_equal(hits, 1); /* the one block kept */
	lfs_dcache_close(dc);

	/* Two layers' files over the bound: the least recently used goes. */
	dc = lfs_dcache_open(dir, 0);
	dl = lfs_dcache_layer(dc, key2, b, 0);
	check_reads(dl);
	lfs_dcache_close(dc);
	assert_int_equal(utimensat(AT_FDCWD, p1, old, 0), 0);
	dc = lfs_dcache_open(dir, 350 * 1024);
	assert_int_equal(stat(p1, &st), -1);
	assert_int_equal(stat(p2, &st), 0);
	lfs_dcache_close(dc);
	lfs_blob_free(b);
	free(p1);
	free(p2);
	free(dir);
}

/* Past a tenth of the layer (and 4 blocks), the rest is inflated by a thread. */
static void test_read_ahead(void **state)
{
	struct lfs_blob *b = gzip_blob("d.gz");
	char *dir = cache_dir("dc4");
	struct lfs_dcache *dc = lfs_dcache_open(dir, 0);
	struct lfs_dlayer *dl = lfs_dcache_layer(dc, key1, b, 1);
	uint8_t *buf = malloc(4 * 65536);
	uint64_t hits, fills;

	(void)state;
	assert_int_equal(lfs_dlayer_pread(dl, buf, 3 * 65536, 0), 3 * 65536);
	usleep(200 * 1000);
	lfs_dcache_counts(dc, &hits, &fills);
	assert_int_equal(fills, 3); /* not yet */
	assert_int_equal(lfs_dlayer_pread(dl, buf, 10, 3 * 65536), 10);
	for (int i = 0; i < 500; i++) {
		lfs_dcache_counts(dc, &hits, &fills);
		if (fills == 5)
			break;
		usleep(10 * 1000);
	}
	assert_int_equal(fills, 5);
	check_reads(dl);
	lfs_dcache_counts(dc, &hits, &fills);
	assert_int_equal(fills, 5); /* the last block came from the thread's work */
	lfs_dcache_close(dc);
	lfs_blob_free(b);
	free(buf);
	free(dir);
}

static int teardown(void **state)
{
	(void)state;
	tu_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fill_then_hit),
	    cmocka_unit_test(test_damage),
	    cmocka_unit_test(test_bound),
	    cmocka_unit_test(test_read_ahead),
	};

	make_plain();
	return cmocka_run_group_tests(tests, NULL, teardown);
}
