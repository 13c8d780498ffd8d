/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the chunk cache (chunkcache.c) and of the chunk sums it
 * checks against (taken by the scan, kept in the blob state): every byte
 * served equals the blob, whatever the fetches return; a fetch that gives
 * wrong bytes fails the read with EIO and never leaks them; a later read
 * recovers; adjacent chunks come in one request, and readers of one chunk
 * share one fetch; the disk copy survives a new cache, is checked, and is
 * bounded.  The "network" is a function over an in-memory blob that counts
 * its calls and can corrupt or fail them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nettle/sha2.h>
#include <zlib.h>

#include "blob_int.h"
#include "blobsrc.h"
#include "chunkcache.h"
#include "layerfs/blob.h"
#include "layerfs/lfs.h"
#include "testutil.h"

#define CH	 LFS_CHUNK_SIZE
#define BLOB_LEN (10 * CH + 12345) /* 11 chunks, the last one short */

static uint8_t *blob;
static struct lfs_chunk_sums sums;
static const uint8_t id[32] = {0xab, 0xcd};

/* The network. */
struct net {
	atomic_int calls;
	atomic_int corrupt; /* this many more calls flip a byte */
	atomic_int fail;    /* this many more calls fail with -EIO */
	int delay_ms;
	size_t last_len;
};

static int fetch(void *arg, void *buf, size_t len, uint64_t off)
{
	struct net *n = arg;

	atomic_fetch_add(&n->calls, 1);
	n->last_len = len;
	if (n->delay_ms) {
		struct timespec ts = {0, n->delay_ms * 1000000L};

		nanosleep(&ts, NULL);
	}
	assert_true(off + len <= BLOB_LEN);
	if (atomic_fetch_sub(&n->fail, 1) > 0)
		return lfs_error(-EIO, "the network is down");
	memcpy(buf, blob + off, len);
	if (atomic_fetch_sub(&n->corrupt, 1) > 0)
		((uint8_t *)buf)[len / 2] ^= 0x40;
	return 0;
}

static void pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void sha(const void *p, size_t n, uint8_t out[32])
{
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, n, p);
	sha256_digest(&c, 32, out);
}

static int setup(void **state)
{
	uint32_t x = 12345;

	(void)state;
	blob = malloc(BLOB_LEN);
	for (size_t i = 0; i < BLOB_LEN; i++) {
		x = x * 1103515245u + 12345u;
		blob[i] = (uint8_t)(x >> 16);
	}
	sums.n = lfs_chunk_count(BLOB_LEN);
	sums.sha = calloc(sums.n, 32);
	for (uint64_t i = 0; i < sums.n; i++) {
		size_t len = i + 1 < sums.n ? CH : BLOB_LEN - i * CH;

		sha(blob + i * CH, len, sums.sha[i]);
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(blob);
	free(sums.sha);
	tu_cleanup();
	return 0;
}

static void open_cc(struct lfs_chunkcache **cc, const char *dir, uint64_t max_disk)
{
	struct lfs_chunkcache_opts o = {.dir = dir, .max_disk = max_disk};

	assert_int_equal(lfs_chunkcache_open(cc, &o), 0);
}

static void open_blob(struct lfs_chunked **c, struct lfs_chunkcache *cc, struct net *n)
{
	assert_int_equal(lfs_chunked_new(c, cc, id, "test blob", BLOB_LEN, &sums, fetch, n), 0);
}

/* Read LEN at OFF and compare with the blob: 0, or the read's -errno. */
static int read_check(struct lfs_chunked *c, size_t len, uint64_t off)
{
	uint8_t *buf = malloc(len);
	ssize_t r = lfs_chunked_pread(c, buf, len, off);

	if (r >= 0) {
		size_t want = off >= BLOB_LEN ? 0 : (BLOB_LEN - off < len ? BLOB_LEN - off : len);

		assert_int_equal(r, want);
		assert_memory_equal(buf, blob + off, want);
	}
	free(buf);
	return r < 0 ? (int)r : 0;
}

static void test_reads(void **state)
{
	struct lfs_chunkcache *cc;
	struct lfs_chunked *c;
	struct net n = {0};
	uint32_t x = 7;

	(void)state;
	open_cc(&cc, NULL, 0);
	open_blob(&c, cc, &n);
	/* Three chunks in one read: one request, for exactly those three. */
	assert_int_equal(read_check(c, 2 * CH + 10, CH + 5), 0);
	assert_int_equal(n.calls, 1);
	assert_int_equal(n.last_len, 3 * CH);
	/* Again: from memory. */
	assert_int_equal(read_check(c, 2 * CH + 10, CH + 5), 0);
	assert_int_equal(n.calls, 1);
	/* The short last chunk, reads past the end, random reads. */
	assert_int_equal(read_check(c, 100000, BLOB_LEN - 50), 0);
	assert_int_equal(read_check(c, 10, BLOB_LEN), 0);
	for (int i = 0; i < 300; i++) {
		x = x * 1103515245u + 12345u;
		assert_int_equal(read_check(c, 1 + x % 70000, (x >> 7) % BLOB_LEN), 0);
	}
	lfs_chunked_free(c);
	lfs_chunkcache_unref(cc);
}

/* A reader going on sequentially gets more chunks per request: 1, 1, 2, 4, 8. */
static void test_read_ahead(void **state)
{
	struct lfs_chunkcache *cc;
	struct lfs_chunked *c;
	struct net n = {0};

	(void)state;
	open_cc(&cc, NULL, 0);
	open_blob(&c, cc, &n);
	assert_int_equal(read_check(c, 32768, 0), 0);
	assert_int_equal(n.calls, 1);
	assert_int_equal(n.last_len, CH);
	for (uint64_t off = 32768; off < 4 * CH; off += 32768)
		assert_int_equal(read_check(c, 32768, off), 0);
	/* Chunk 1 alone, then chunks 2 and 3 in one request. */
	assert_int_equal(n.calls, 3);
	assert_int_equal(n.last_len, 2 * CH);
	for (uint64_t off = 4 * CH; off < BLOB_LEN; off += 32768)
		assert_int_equal(read_check(c, 32768, off), 0);
	/* Chunks 4-7, then the last three: five requests for eleven chunks. */
	assert_int_equal(n.calls, 5);
	assert_int_equal(n.last_len, BLOB_LEN - 8 * CH);
	/* A random read again starts with no read-ahead. */
	lfs_chunked_free(c);
	open_blob(&c, cc, &n);
	assert_int_equal(read_check(c, 100, 5 * CH), 0);
	assert_int_equal(n.last_len, CH);
	lfs_chunked_free(c);
	lfs_chunkcache_unref(cc);
}

static void test_bad_bytes(void **state)
{
	struct lfs_chunkcache *cc;
	struct lfs_chunked *c;
	struct lfs_chunkcache_stats st;
	struct net n = {0};

	(void)state;
	lfs_quiet = 1;
	open_cc(&cc, NULL, 0);
	open_blob(&c, cc, &n);
	/* One bad answer: fetched again, the read succeeds. */
	n.corrupt = 1;
	assert_int_equal(read_check(c, 100, 3 * CH + 7), 0);
	assert_int_equal(n.calls, 2);
	/* Bad every time: EIO, with a message naming the blob and the bytes. */
	n.calls = 0;
	n.corrupt = 1000;
	assert_int_equal(read_check(c, 100, 5 * CH + 7), -EIO);
	assert_non_null(strstr(lfs_err_get(), "test blob"));
	assert_non_null(strstr(lfs_err_get(), "do not match"));
	assert_int_equal(n.calls, 3);
	/* Asked again at once (the kernel does): the same error, no request. */
	n.corrupt = 0;
	lfs_err_clear();
	assert_int_equal(read_check(c, 100, 5 * CH + 7), -EIO);
	assert_non_null(strstr(lfs_err_get(), "do not match"));
	assert_int_equal(n.calls, 3);
	/* ... and nothing of it was kept: a read a moment later fetches and recovers. */
	pause_ms(1100);
	assert_int_equal(read_check(c, 100, 5 * CH + 7), 0);
	assert_int_equal(n.calls, 4);
	/* A failed request fails the read only; the next one recovers. */
	n.fail = 1;
	assert_int_equal(read_check(c, 100, 7 * CH), -EIO);
	assert_non_null(strstr(lfs_err_get(), "the network is down"));
	pause_ms(1100);
	assert_int_equal(read_check(c, 100, 7 * CH), 0);
	lfs_chunkcache_stats(cc, &st);
	assert_true(st.bad >= 4);
	lfs_chunked_free(c);
	lfs_chunkcache_unref(cc);
	lfs_quiet = 0;
}

struct reader {
	struct lfs_chunked *c;
	int rc;
};

static void *reader(void *arg)
{
	struct reader *r = arg;

	r->rc = read_check(r->c, 4096, 6 * CH + 100);
	return NULL;
}

/* Eight readers of one chunk: one fetch. */
static void test_shared_fetch(void **state)
{
	struct lfs_chunkcache *cc;
	struct lfs_chunked *c;
	struct net n = {.delay_ms = 100};
	struct reader r[8];
	pthread_t t[8];

	(void)state;
	open_cc(&cc, NULL, 0);
	open_blob(&c, cc, &n);
	for (int i = 0; i < 8; i++) {
		r[i].c = c;
		assert_int_equal(pthread_create(&t[i], NULL, reader, &r[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].rc, 0);
	}
	assert_int_equal(n.calls, 1);
	lfs_chunked_free(c);
	lfs_chunkcache_unref(cc);
}

static char *chunk_file(const char *dir, uint64_t idx)
{
	char *p = malloc(strlen(dir) + 100);

	sprintf(p, "%s/abcd", dir);
	for (int i = 2; i < 32; i++)
		strcat(p, "00");
	sprintf(p + strlen(p), "/%016llx", (unsigned long long)idx);
	return p;
}

/* On disk: survives the cache, is checked, and a bad copy is replaced. */
static void test_disk(void **state)
{
	char dir[4096], *f;
	struct lfs_chunkcache *cc;
	struct lfs_chunked *c;
	struct net n = {0};
	size_t len;
	uint8_t *got;
	int fd;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/chunks", tu_tmpdir());
	open_cc(&cc, dir, 0);
	open_blob(&c, cc, &n);
	assert_int_equal(read_check(c, 5000, 2 * CH + 1), 0);
	assert_int_equal(n.calls, 1);
	lfs_chunked_free(c);
	lfs_chunkcache_unref(cc);
	f = chunk_file(dir, 2);
	got = tu_read(f, &len);
	assert_int_equal(len, CH);
	assert_memory_equal(got, blob + 2 * CH, CH);
	free(got);

	/* A new cache (a later mount): from disk, no request. */
	n.calls = 0;
	open_cc(&cc, dir, 0);
	open_blob(&c, cc, &n);
	assert_int_equal(read_check(c, 5000, 2 * CH + 1), 0);
	assert_int_equal(n.calls, 0);
	lfs_chunked_free(c);
	lfs_chunkcache_unref(cc);

	/* A damaged file is caught by its sum, fetched again and replaced. */
	fd = open(f, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 77), 1);
	close(fd);
	open_cc(&cc, dir, 0);
	open_blob(&c, cc, &n);
	assert_int_equal(read_check(c, 5000, 2 * CH + 1), 0);
	assert_int_equal(n.calls, 1);
	got = tu_read(f, &len);
	assert_memory_equal(got, blob + 2 * CH, CH);
	free(got);
	free(f);
	lfs_chunked_free(c);
	lfs_chunkcache_unref(cc);
}

/* The disk bound holds (the oldest chunks go). */
static void test_disk_bound(void **state)
{
	char dir[4096], *f;
	struct lfs_chunkcache *cc;
	struct lfs_chunked *c;
	struct net n = {0};
	struct stat sb;
	uint64_t total = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/bounded", tu_tmpdir());
	open_cc(&cc, dir, 4 * CH);
	open_blob(&c, cc, &n);
	for (uint64_t i = 0; i < 11; i++)
		assert_int_equal(read_check(c, 10, i * CH), 0);
	for (uint64_t i = 0; i < 11; i++) {
		f = chunk_file(dir, i);
		if (stat(f, &sb) == 0)
			total += (uint64_t)sb.st_size;
		free(f);
	}
	assert_true(total <= 4 * CH);
	assert_true(total > 0);
	/* The last chunk read is among those kept. */
	f = chunk_file(dir, 10);
	assert_int_equal(stat(f, &sb), 0);
	free(f);
	lfs_chunked_free(c);
	lfs_chunkcache_unref(cc);
}

/* ---- the sums: taken by the scan, handed over once verified, kept in the state */

struct fake_src {
	struct lfs_blobsrc s;
	const uint8_t *p;
	struct lfs_chunk_sums got; /* what set_sums was given */
	int sets;
};

static ssize_t fake_pread(struct lfs_blobsrc *s, void *buf, size_t len, uint64_t off)
{
	const struct fake_src *f = (const struct fake_src *)s;

	if (off >= s->size)
		return 0;
	if (len > s->size - off)
		len = (size_t)(s->size - off);
	if (len > 5000)
		len = 5000; /* short reads, like a network */
	memcpy(buf, f->p + off, len);
	return (ssize_t)len;
}

static int fake_set_sums(struct lfs_blobsrc *s, const struct lfs_chunk_sums *sm)
{
	struct fake_src *f = (struct fake_src *)s;

	free(f->got.sha);
	f->got.n = sm->n;
	f->got.sha = malloc(sm->n * 32 + 1);
	memcpy(f->got.sha, sm->sha, sm->n * 32);
	f->sets++;
	return 0;
}

static void fake_free(struct lfs_blobsrc *s)
{
	(void)s; /* on the stack */
}

static const struct lfs_blobsrc_ops fake_ops = {
    .pread = fake_pread, .set_sums = fake_set_sums, .free = fake_free};

static void check_sums(const struct lfs_chunk_sums *got, const uint8_t *p, size_t len)
{
	uint8_t want[32];

	assert_int_equal(got->n, lfs_chunk_count(len));
	for (uint64_t i = 0; i < got->n; i++) {
		sha(p + i * CH, i + 1 < got->n ? CH : len - i * CH, want);
		assert_memory_equal(got->sha[i], want, 32);
	}
}

static void scan_blob(struct fake_src *f, const uint8_t *p, size_t len, struct lfs_blob **b)
{
	struct lfs_scan_opts so = {.hash_stored = 1};
	struct lfs_scan *s;
	uint8_t stored[32], plain[32];

	memset(f, 0, sizeof(*f));
	lfs_blobsrc_init(&f->s, &fake_ops, len, "fake remote blob");
	f->p = p;
	assert_int_equal(lfs_scan_open(&s, &f->s, &so), 0);
	assert_int_equal(lfs_scan_finish(s, b, stored, plain), 0);
}

static void test_scan_sums(void **state)
{
	struct fake_src f, g;
	struct lfs_blob *b, *b2;
	uint8_t *gz;
	uLongf gzlen = compressBound(BLOB_LEN) + 64;
	z_stream z = {0};
	void *st;
	size_t stlen;

	(void)state;
	/* A raw blob: nothing reaches the source before the digest verified. */
	scan_blob(&f, blob, BLOB_LEN, &b);
	assert_int_equal(f.sets, 0);
	assert_int_equal(lfs_blob_verified(b), 0);
	assert_int_equal(f.sets, 1);
	check_sums(&f.got, blob, BLOB_LEN);
	lfs_blob_free(b);
	free(f.got.sha);
	lfs_blobsrc_unref(&f.s); /* ours: frees the name, fake_free the rest */

	/* A gzip blob: the sums are of the stored (compressed) bytes. */
	gz = malloc(gzlen);
	assert_int_equal(deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = blob;
	z.avail_in = BLOB_LEN;
	z.next_out = gz;
	z.avail_out = (uInt)gzlen;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	gzlen = z.total_out;
	deflateEnd(&z);
	scan_blob(&f, gz, gzlen, &b);
	assert_int_equal(lfs_blob_comp(b), LFS_COMP_GZIP);
	assert_int_equal(lfs_blob_verified(b), 0);
	check_sums(&f.got, gz, gzlen);

	/* The state keeps them: a load hands them to the new source at once. */
	assert_int_equal(lfs_blob_state(b, &st, &stlen), 0);
	memset(&g, 0, sizeof(g));
	lfs_blobsrc_init(&g.s, &fake_ops, gzlen, "fake remote blob");
	g.p = gz;
	assert_int_equal(lfs_blob_load(&b2, &g.s, st, stlen, b->scratch_fd, b->scratch_len), 0);
	assert_int_equal(g.sets, 1);
	check_sums(&g.got, gz, gzlen);
	lfs_blob_free(b2);
	free(g.got.sha);
	lfs_blobsrc_unref(&g.s);
	free(st);
	lfs_blob_free(b);
	free(f.got.sha);
	lfs_blobsrc_unref(&f.s);
	free(gz);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reads),     cmocka_unit_test(test_read_ahead),
	    cmocka_unit_test(test_bad_bytes), cmocka_unit_test(test_shared_fetch),
	    cmocka_unit_test(test_disk),      cmocka_unit_test(test_disk_bound),
	    cmocka_unit_test(test_scan_sums),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
