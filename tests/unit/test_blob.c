/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the blob reader: scan, digests, random reads, and refusal
 * of damaged streams, for raw, gzip and zstd blobs made here with zlib and
 * libzstd.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <nettle/sha2.h>
#include <xxhash.h>
#include <zlib.h>
#include <zstd.h>

#include "layerfs/blob.h"
#include "blob_int.h"
#include "blobsrc.h"
#include "layerfs/lfs.h"
#include "testutil.h"

#define MIB	 (1u << 20)
#define DATA_LEN (6 * MIB + 12345)

struct buf {
	uint8_t *p;
	size_t n;
};

static uint8_t *data; /* DATA_LEN bytes of test input */

static uint64_t rnd_next(uint64_t *s)
{
	/* xorshift64*: reproducible, and good enough to be incompressible. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Mix incompressible runs, text-like runs and zeros, as a tar of /usr has. */
static uint8_t *gen_data(size_t n, uint64_t seed)
{
	static const char *const words[] = {"usr",    "lib",  "share", "#include", "static", "int",
					    "return", "\n\t", "layer", "0x1f8b",   "{",	     "}"};
	uint8_t *p = malloc(n);
	size_t i = 0, run, k;

	assert_non_null(p);
	while (i < n) {
		uint64_t r = rnd_next(&seed);

		run = 4096 + r % 60000;
		if (run > n - i)
			run = n - i;
		switch (r >> 60 & 3) {
		case 0:
			for (k = 0; k < run; k++)
				p[i + k] = (uint8_t)rnd_next(&seed);
			break;
		case 1:
			memset(p + i, 0, run);
			break;
		default:
			for (k = 0; k < run;) {
				const char *w = words[rnd_next(&seed) % LFS_ARRAY_SIZE(words)];
				size_t wl = strlen(w);

				for (size_t j = 0; j < wl && k < run; j++)
					p[i + k++] = (uint8_t)w[j];
			}
			break;
		}
		i += run;
	}
	return p;
}

static void buf_add(struct buf *b, const void *p, size_t n)
{
	b->p = realloc(b->p, b->n + n + 1);
	assert_non_null(b->p);
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void sha256(const void *p, size_t n, uint8_t out[32])
{
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, n, p);
	sha256_digest(&c, SHA256_DIGEST_SIZE, out);
}

/* One gzip member of SRC at LEVEL (0 makes stored blocks). */
static void gz_member(struct buf *out, const uint8_t *src, size_t n, int level)
{
	z_stream zs = {0};
	size_t cap;
	uint8_t *tmp;

	assert_int_equal(deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY),
			 Z_OK);
	cap = deflateBound(&zs, n) + 64;
	tmp = malloc(cap);
	zs.next_in = (Bytef *)src;
	zs.avail_in = (uInt)n;
	zs.next_out = tmp;
	zs.avail_out = (uInt)cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	buf_add(out, tmp, zs.total_out);
	deflateEnd(&zs);
	free(tmp);
}

/* One zstd frame, streamed (no content size) with an 8 MiB window, as buildah does. */
static void zstd_stream_frame(struct buf *out, const uint8_t *src, size_t n, int level,
			      int checksum)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(n) + 64, r;
	ZSTD_inBuffer in = {src, 0, 0};
	ZSTD_outBuffer ob;
	uint8_t *tmp = malloc(cap);

	ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, checksum);
	ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, 23);
	ob.dst = tmp;
	ob.size = cap;
	ob.pos = 0;
	/* Feed in pieces so that the frame does not record its content size. */
	while (in.size < n) {
		in.size = in.size + 100000 < n ? in.size + 100000 : n;
		r = ZSTD_compressStream2(c, &ob, &in, ZSTD_e_continue);
		assert_false(ZSTD_isError(r));
	}
	do {
		r = ZSTD_compressStream2(c, &ob, &in, ZSTD_e_end);
		assert_false(ZSTD_isError(r));
	} while (r);
	buf_add(out, tmp, ob.pos);
	ZSTD_freeCCtx(c);
	free(tmp);
}

/* One zstd frame made in one go: it records its content size. */
static void zstd_frame(struct buf *out, const uint8_t *src, size_t n, int level)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(n), r;
	uint8_t *tmp = malloc(cap);

	ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
	r = ZSTD_compress2(c, tmp, cap, src, n);
	assert_false(ZSTD_isError(r));
	buf_add(out, tmp, r);
	ZSTD_freeCCtx(c);
	free(tmp);
}

static void zstd_skippable(struct buf *out, uint32_t len)
{
	uint8_t h[8] = {0x53,
			0x2a,
			0x4d,
			0x18,
			(uint8_t)len,
			(uint8_t)(len >> 8),
			(uint8_t)(len >> 16),
			(uint8_t)(len >> 24)};
	uint8_t *junk = calloc(1, len + 1);

	buf_add(out, h, sizeof(h));
	buf_add(out, junk, len);
	free(junk);
}

/* Write BLOB to a file with junk around it; *off gets its offset. */
static int blob_file(const char *name, const struct buf *blob, size_t pre, uint64_t *off)
{
	struct buf f = {0};
	uint8_t *junk = malloc(pre + 4096);
	char *path;
	int fd;

	/* 0x1f / 0x28 junk after the blob: a reader overrunning it would see magic. */
	memset(junk, 0x1f, pre + 4096);
	buf_add(&f, junk, pre);
	buf_add(&f, blob->p, blob->n);
	buf_add(&f, junk, 4096);
	path = tu_write(name, f.p, f.n);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	*off = pre;
	free(path);
	free(junk);
	free(f.p);
	return fd;
}

/* A scan over [OFF, OFF+LEN) of FD through a file source, as an image's layer has. */
static int scan_open_fd(struct lfs_scan **s, int fd, uint64_t off, uint64_t len, const char *name,
			const struct lfs_scan_opts *opts)
{
	struct lfs_blobsrc *src;
	int ret;

	*s = NULL;
	ret = lfs_blobsrc_fd_new(&src, fd, off, len, name);
	if (ret)
		return ret;
	ret = lfs_scan_open(s, src, opts);
	lfs_blobsrc_unref(src); /* the scan holds its own reference */
	return ret;
}

/* lfs_blob_load over [OFF, OFF+LEN) of FD through a file source. */
static int blob_load_fd(struct lfs_blob **out, int fd, uint64_t off, uint64_t len, const char *name,
			const void *state, size_t state_len, int scratch_fd, uint64_t scratch_len)
{
	struct lfs_blobsrc *src;
	int ret;

	*out = NULL;
	ret = lfs_blobsrc_fd_new(&src, fd, off, len, name);
	if (ret)
		return ret;
	ret = lfs_blob_load(out, src, state, state_len, scratch_fd, scratch_len);
	lfs_blobsrc_unref(src);
	return ret;
}

/* Scan a whole blob, collecting the plain stream; returns lfs_scan_finish's result. */
static int scan_all(int fd, uint64_t off, uint64_t len, const struct lfs_scan_opts *opts,
		    struct buf *plain, struct lfs_blob **blob, uint8_t st[32], uint8_t pl[32])
{
	struct lfs_scan *s;
	const void *chunk;
	ssize_t n;
	int ret;

	ret = scan_open_fd(&s, fd, off, len, "test.blob", opts);
	if (ret)
		return ret;
	while ((n = lfs_scan_read(s, &chunk)) > 0) {
		buf_add(plain, chunk, (size_t)n);
		assert_int_equal(lfs_scan_pos(s), plain->n);
	}
	if (n < 0) {
		lfs_scan_free(s);
		return (int)n;
	}
	return lfs_scan_finish(s, blob, st, pl);
}

static void check_pread(struct lfs_blob *b, const uint8_t *ref, size_t size, uint64_t off,
			size_t len)
{
	size_t want = off >= size ? 0 : (len < size - off ? len : size - off);
	uint8_t *got = malloc(len + 1);
	ssize_t n;

	n = lfs_blob_pread(b, got, len, off);
	if (n != (ssize_t)want)
		fail_msg("pread(%zu @ %llu) = %zd (%s), want %zu", len, (unsigned long long)off, n,
			 n < 0 ? lfs_err_get() : "", want);
	if (want && memcmp(got, ref + off, want) != 0)
		fail_msg("pread(%zu @ %llu): wrong data", len, (unsigned long long)off);
	free(got);
}

static void check_random_reads(struct lfs_blob *b, const uint8_t *ref, size_t size, uint64_t seed,
			       int count)
{
	for (int i = 0; i < count; i++) {
		uint64_t r = rnd_next(&seed);
		uint64_t off = size ? r % size : 0;
		size_t len = 1 + (r >> 40) % (r & 1 ? 4096 : 300000);

		check_pread(b, ref, size, off, len);
	}
}

/* Reads at MiB boundaries, around restart points, at random, sequential, at and past the end. */
static void check_all_reads(struct lfs_blob *b, const uint8_t *ref, size_t size)
{
	uint64_t k;

	for (k = 0; k <= size + MIB; k += MIB / 2) {
		check_pread(b, ref, size, k, 1);
		check_pread(b, ref, size, k ? k - 1 : 0, 2);
		check_pread(b, ref, size, k ? k - 100 : 0, 70000);
	}
	/* Around every restart point (gzip checkpoint, zstd frame). */
	for (size_t i = 0; i < b->npts; i++) {
		k = b->pts[i].out;
		check_pread(b, ref, size, k, 1);
		check_pread(b, ref, size, k > 3 ? k - 3 : 0, 6);
		check_pread(b, ref, size, k > 1 ? k - 1 : 0, 1);
		check_pread(b, ref, size, k > 5000 ? k - 5000 : 0, 200000);
	}
	check_random_reads(b, ref, size, 42, 300);
	for (k = 0; k < size; k += 131072)
		check_pread(b, ref, size, k, 131072);
	if (size) {
		check_pread(b, ref, size, size - 1, 1);
		check_pread(b, ref, size, size - 10, 100);
		check_pread(b, ref, size, 0, size);
	}
	check_pread(b, ref, size, size, 10);
	check_pread(b, ref, size, size + 12345, 10);
	check_pread(b, ref, size, UINT64_MAX - 3, 10);
}

/*
 * The common checks for a compressed blob holding REF: scan output, digests,
 * size, and all the reads above.
 */
static struct lfs_blob *check_blob(const char *name, const struct buf *comp, enum lfs_comp kind,
				   const uint8_t *ref, size_t size, size_t pre)
{
	struct lfs_scan_opts opts = {.hash_stored = 1, .hash_plain = 1, .tmpdir = tu_tmpdir()};
	uint8_t st[32], pl[32], want[32];
	struct buf plain = {0};
	struct lfs_blob *b = NULL;
	uint64_t off;
	int fd, raw_fd;

	fd = blob_file(name, comp, pre, &off);
	assert_int_equal(lfs_comp_detect(comp->p, comp->n), kind);
	if (scan_all(fd, off, comp->n, &opts, &plain, &b, st, pl))
		fail_msg("%s: scan failed: %s", name, lfs_err_get());
	close(fd); /* the blob keeps its own descriptor */
	assert_int_equal(plain.n, size);
	if (size)
		assert_memory_equal(plain.p, ref, size);
	sha256(comp->p, comp->n, want);
	assert_memory_equal(st, want, 32);
	sha256(ref, size, want);
	assert_memory_equal(pl, want, 32);
	assert_int_equal(lfs_blob_size(b), size);
	assert_int_equal(lfs_blob_comp(b), kind);
	assert_int_equal(lfs_blob_raw_fd(b, &raw_fd, &off), -ENOTSUP);
	check_all_reads(b, ref, size);
	free(plain.p);
	return b;
}

static void test_detect(void **state)
{
	static const uint8_t gz[] = {0x1f, 0x8b, 8, 0}, zs[] = {0x28, 0xb5, 0x2f, 0xfd},
			     skip[] = {0x5e, 0x2a, 0x4d, 0x18}, tar[] = "etc/passwd";

	assert_int_equal(lfs_comp_detect(gz, sizeof(gz)), LFS_COMP_GZIP);
	assert_int_equal(lfs_comp_detect(gz, 2), LFS_COMP_NONE);
	assert_int_equal(lfs_comp_detect(zs, sizeof(zs)), LFS_COMP_ZSTD);
	assert_int_equal(lfs_comp_detect(zs, 3), LFS_COMP_NONE);
	assert_int_equal(lfs_comp_detect(skip, sizeof(skip)), LFS_COMP_ZSTD);
	assert_int_equal(lfs_comp_detect(tar, sizeof(tar)), LFS_COMP_NONE);
	assert_int_equal(lfs_comp_detect(NULL, 0), LFS_COMP_NONE);
	assert_string_equal(lfs_comp_name(LFS_COMP_NONE), "none");
	assert_string_equal(lfs_comp_name(LFS_COMP_GZIP), "gzip");
	assert_string_equal(lfs_comp_name(LFS_COMP_ZSTD), "zstd");
}

static void test_raw(void **state)
{
	struct lfs_scan_opts opts = {.hash_stored = 1, .hash_plain = 1};
	struct buf blob = {data, 3 * MIB + 7}, plain = {0};
	uint8_t st[32], pl[32], want[32], tmp[100];
	struct lfs_blob *b = NULL;
	uint64_t off, base;
	int fd, rfd;

	fd = blob_file("raw.tar", &blob, 777, &off);
	assert_int_equal(scan_all(fd, off, blob.n, &opts, &plain, &b, st, pl), 0);
	close(fd);
	assert_int_equal(plain.n, blob.n);
	assert_memory_equal(plain.p, data, blob.n);
	sha256(data, blob.n, want);
	assert_memory_equal(st, want, 32);
	assert_memory_equal(pl, want, 32);
	assert_int_equal(lfs_blob_comp(b), LFS_COMP_NONE);
	assert_int_equal(lfs_blob_size(b), blob.n);
	check_random_reads(b, data, blob.n, 7, 200);
	check_pread(b, data, blob.n, blob.n - 5, 100);
	check_pread(b, data, blob.n, blob.n, 100);
	assert_int_equal(lfs_blob_raw_fd(b, &rfd, &base), 0);
	assert_int_equal(base, 777);
	assert_int_equal(pread(rfd, tmp, sizeof(tmp), (off_t)(base + 5000)), sizeof(tmp));
	assert_memory_equal(tmp, data + 5000, sizeof(tmp));
	lfs_blob_free(b);
	free(plain.p);
}

/* Skipping a raw blob, with and without digests, keeps position and digests right. */
static void test_raw_skip(void **state)
{
	struct buf blob = {data, 2 * MIB}, plain = {0};
	uint8_t st[32], want[32];
	struct lfs_blob *b = NULL;
	struct lfs_scan *s;
	const void *chunk;
	uint64_t off;
	ssize_t n;
	int fd, hash;

	fd = blob_file("skip.tar", &blob, 512, &off);
	sha256(data, blob.n, want);
	for (hash = 0; hash <= 1; hash++) {
		struct lfs_scan_opts opts = {.hash_stored = hash};

		assert_int_equal(scan_open_fd(&s, fd, off, blob.n, "skip.tar", &opts), 0);
		assert_int_equal(lfs_scan_comp(s), LFS_COMP_NONE);
		n = lfs_scan_read(s, &chunk);
		assert_true(n > 0);
		assert_memory_equal(chunk, data, (size_t)n);
		assert_int_equal(lfs_scan_skip(s, 1000001), 1000001);
		assert_int_equal(lfs_scan_pos(s), (uint64_t)n + 1000001);
		n = lfs_scan_read(s, &chunk);
		assert_true(n > 0);
		assert_memory_equal(chunk, data + lfs_scan_pos(s) - (uint64_t)n, (size_t)n);
		/* Skipping past the end stops at the end. */
		assert_int_equal(lfs_scan_skip(s, 10 * MIB), blob.n - lfs_scan_pos(s));
		assert_int_equal(lfs_scan_pos(s), blob.n);
		assert_int_equal(lfs_scan_skip(s, 1), 0);
		assert_int_equal(lfs_scan_read(s, &chunk), 0);
		memset(st, 0, sizeof(st));
		assert_int_equal(lfs_scan_finish(s, &b, st, NULL), 0);
		if (hash)
			assert_memory_equal(st, want, 32);
		check_random_reads(b, data, blob.n, 9, 20);
		lfs_blob_free(b);
	}

	/* A compressed scan cannot skip: the caller must read. */
	blob = (struct buf){0};
	gz_member(&blob, data, MIB, 6);
	close(fd);
	fd = blob_file("skip.gz", &blob, 0, &off);
	assert_int_equal(scan_open_fd(&s, fd, off, blob.n, "skip.gz", NULL), 0);
	assert_int_equal(lfs_scan_comp(s), LFS_COMP_GZIP);
	assert_int_equal(lfs_scan_skip(s, 100), 0);
	assert_int_equal(lfs_scan_pos(s), 0);
	lfs_scan_free(s);
	close(fd);
	free(blob.p);
	free(plain.p);
}

static void test_gzip_single(void **state)
{
	struct buf comp = {0};
	struct lfs_blob *b;

	gz_member(&comp, data, DATA_LEN, 6);
	b = check_blob("single.gz", &comp, LFS_COMP_GZIP, data, DATA_LEN, 4096);
	/* Checkpoints about every MiB, and windows went to the scratch file. */
	assert_true(b->npts >= DATA_LEN / MIB);
	assert_int_equal(b->pts[0].out, 0);
	assert_true(b->scratch_len > 0 && b->scratch_len <= b->npts * 32768);
	lfs_blob_free(b);
	free(comp.p);
}

/* Concatenated members, an empty one, and stored blocks (level 0). */
static void test_gzip_multi(void **state)
{
	static const size_t cut[] = {0, 700000, 700000, 2500000, 2600000, 4 * MIB, DATA_LEN};
	static const int level[] = {1, 6, 0, 9, 6, 1};
	struct buf comp = {0};
	struct lfs_blob *b;

	for (size_t i = 0; i + 1 < LFS_ARRAY_SIZE(cut); i++)
		gz_member(&comp, data + cut[i], cut[i + 1] - cut[i], level[i]);
	b = check_blob("multi.gz", &comp, LFS_COMP_GZIP, data, DATA_LEN, 0);
	lfs_blob_free(b);
	free(comp.p);
}

static void test_gzip_empty(void **state)
{
	struct buf comp = {0};
	struct lfs_blob *b;

	gz_member(&comp, data, 0, 6);
	b = check_blob("empty.gz", &comp, LFS_COMP_GZIP, data, 0, 10);
	lfs_blob_free(b);
	free(comp.p);
}

/* One big frame: served from re-compressed frames in the scratch file. */
static void test_zstd_single(void **state)
{
	struct buf comp = {0};
	struct lfs_blob *b;

	zstd_stream_frame(&comp, data, DATA_LEN, 3, 1);
	b = check_blob("single.zst", &comp, LFS_COMP_ZSTD, data, DATA_LEN, 333);
	assert_true(b->scratch_len > 0);
	assert_true(b->npts >= DATA_LEN / MIB);
	lfs_blob_free(b);
	free(comp.p);

	/* Same with a frame that records its content size (one-shot API). */
	comp = (struct buf){0};
	zstd_frame(&comp, data, DATA_LEN, 1);
	b = check_blob("single2.zst", &comp, LFS_COMP_ZSTD, data, DATA_LEN, 0);
	assert_true(b->scratch_len > 0);
	lfs_blob_free(b);
	free(comp.p);
}

/* A sequential scan (reports) skips re-framing; reads are slower but exact. */
static void test_zstd_sequential(void **state)
{
	struct lfs_scan_opts o = {.sequential = 1};
	struct buf comp = {0}, plain = {0};
	struct lfs_blob *b = NULL;
	uint8_t *got = malloc(70000);
	uint64_t off;
	int fd;

	zstd_stream_frame(&comp, data, DATA_LEN, 3, 1);
	fd = blob_file("seq.zst", &comp, 10, &off);
	assert_int_equal(scan_all(fd, off, comp.n, &o, &plain, &b, NULL, NULL), 0);
	close(fd);
	assert_int_equal(plain.n, DATA_LEN);
	assert_memory_equal(plain.p, data, DATA_LEN);
	assert_int_equal(b->scratch_len, 0);
	/* not fit for a mount's cache: its big frame was not re-framed */
	assert_true(lfs_blob_slow(b));
	for (size_t at = 0; at + 70000 <= DATA_LEN; at += DATA_LEN / 7 + 12345) {
		assert_int_equal(lfs_blob_pread(b, got, 70000, at), 70000);
		assert_memory_equal(got, data + at, 70000);
	}
	lfs_blob_free(b);
	free(plain.p);

	/* Small frames lose nothing in a sequential scan. */
	comp.n = 0;
	plain = (struct buf){0};
	for (size_t i = 0; i < DATA_LEN; i += 500000)
		zstd_frame(&comp, data + i, DATA_LEN - i < 500000 ? DATA_LEN - i : 500000, 3);
	fd = blob_file("seq2.zst", &comp, 0, &off);
	assert_int_equal(scan_all(fd, off, comp.n, &o, &plain, &b, NULL, NULL), 0);
	close(fd);
	assert_false(lfs_blob_slow(b));
	lfs_blob_free(b);
	free(plain.p);
	free(comp.p);
	free(got);
}

/* Small frames only: read in place, no scratch data. */
static void test_zstd_small_frames(void **state)
{
	struct buf comp = {0};
	struct lfs_blob *b;
	size_t i, n;

	zstd_skippable(&comp, 100);
	for (i = 0; i < DATA_LEN; i += n) {
		n = 50000 + (i * 7) % 300000;
		if (n > DATA_LEN - i)
			n = DATA_LEN - i;
		zstd_frame(&comp, data + i, n, 3);
		if (i % 5 == 0)
			zstd_skippable(&comp, (uint32_t)i % 1000);
	}
	b = check_blob("frames.zst", &comp, LFS_COMP_ZSTD, data, DATA_LEN, 100);
	assert_int_equal(b->scratch_len, 0);
	assert_true(b->npts >= DATA_LEN / MIB / 2);
	lfs_blob_free(b);
	free(comp.p);
}

/* Small frames, skippable and empty frames around big ones (re-framed). */
static void test_zstd_mixed(void **state)
{
	/*
	 * Frames of 100000, 0, exactly 2 MiB (still small), 1, 2.5 MiB (big),
	 * 50000 (small, right after a big one) and 1.3 MiB bytes.
	 */
	static const size_t cut[] = {0,
				     100000,
				     100000,
				     2 * MIB + 100000,
				     2 * MIB + 100001,
				     4 * MIB + 600001,
				     4 * MIB + 650001,
				     DATA_LEN};
	struct buf comp = {0};
	struct lfs_blob *b;

	for (size_t i = 0; i + 1 < LFS_ARRAY_SIZE(cut); i++) {
		zstd_stream_frame(&comp, data + cut[i], cut[i + 1] - cut[i], 1 + (int)i % 3,
				  (int)i & 1);
		zstd_skippable(&comp, 17);
	}
	b = check_blob("mixed.zst", &comp, LFS_COMP_ZSTD, data, DATA_LEN, 1);
	assert_true(b->scratch_len > 0);
	lfs_blob_free(b);
	free(comp.p);
}

static void test_zstd_empty(void **state)
{
	struct buf comp = {0};
	struct lfs_blob *b;

	zstd_frame(&comp, data, 0, 3);
	b = check_blob("empty.zst", &comp, LFS_COMP_ZSTD, data, 0, 0);
	lfs_blob_free(b);
	free(comp.p);
}

struct thread_arg {
	struct lfs_blob *b;
	uint64_t seed;
	int bad;
};

static void *reader(void *p)
{
	struct thread_arg *a = p;
	size_t size = lfs_blob_size(a->b);
	uint8_t *got = malloc(200000);

	for (int i = 0; i < 150; i++) {
		uint64_t r = rnd_next(&a->seed);
		uint64_t off = r % size;
		size_t len = 1 + (r >> 40) % 200000;
		size_t want = len < size - off ? len : size - off;

		/* Half the threads read sequentially, like cat. */
		if (a->seed & 1)
			off = (uint64_t)i * 131072 % size, len = 131072,
			want = len < size - off ? len : size - off;
		if (lfs_blob_pread(a->b, got, len, off) != (ssize_t)want ||
		    memcmp(got, data + off, want) != 0)
			a->bad++;
	}
	free(got);
	return NULL;
}

static void run_threads(struct lfs_blob *b)
{
	struct thread_arg a[8];
	pthread_t t[8];
	int i;

	for (i = 0; i < 8; i++) {
		a[i] = (struct thread_arg){.b = b, .seed = 1000 + (uint64_t)i};
		assert_int_equal(pthread_create(&t[i], NULL, reader, &a[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(a[i].bad, 0);
	}
}

static void test_threads(void **state)
{
	struct lfs_scan_opts opts = {0};
	struct buf comp = {0}, plain = {0};
	struct lfs_blob *b = NULL;
	uint64_t off;
	int fd, z;

	for (z = 0; z <= 1; z++) {
		comp.n = 0;
		plain.n = 0;
		if (z)
			zstd_stream_frame(&comp, data, DATA_LEN, 1, 0);
		else
			gz_member(&comp, data, DATA_LEN, 1);
		fd = blob_file(z ? "t.zst" : "t.gz", &comp, 100, &off);
		assert_int_equal(scan_all(fd, off, comp.n, &opts, &plain, &b, NULL, NULL), 0);
		close(fd);
		run_threads(b);
		lfs_blob_free(b);
	}
	free(comp.p);
	free(plain.p);
}

static int cursors_at(const struct lfs_blob *b, uint64_t pos)
{
	int i, n = 0;

	for (i = 0; i < LFS_NCURSORS; i++)
		n += b->cur[i].next == pos;
	return n;
}

/*
 * A sequential read in 128 KiB requests goes on with the decoder that
 * stopped there; a read far away does not take that decoder.
 */
static void test_cursor_continues(void **state)
{
	struct buf comp = {0}, plain = {0};
	struct lfs_blob *b = NULL;
	uint64_t off;
	int fd;

	gz_member(&comp, data, DATA_LEN, 6);
	fd = blob_file("seq.gz", &comp, 0, &off);
	assert_int_equal(scan_all(fd, off, comp.n, NULL, &plain, &b, NULL, NULL), 0);
	close(fd);
	assert_true(b->npts >= 5);
	off = b->pts[1].out + 1000;
	check_pread(b, data, DATA_LEN, off, 131072);
	check_pread(b, data, DATA_LEN, b->pts[3].out + 10, 4096);
	assert_int_equal(cursors_at(b, off + 131072), 1);
	assert_int_equal(cursors_at(b, b->pts[3].out + 10 + 4096), 1);
	check_pread(b, data, DATA_LEN, off + 131072, 131072);
	assert_int_equal(cursors_at(b, off + 2 * 131072), 1);
	assert_int_equal(cursors_at(b, b->pts[3].out + 10 + 4096), 1);
	assert_int_equal(cursors_at(b, LFS_POS_NONE), LFS_NCURSORS - 2);
	lfs_blob_free(b);
	free(comp.p);
	free(plain.p);
}

/* The scan of COMP must fail with -EIO or -EINVAL and a message naming the blob. */
static void expect_bad(const struct buf *comp, const char *what)
{
	struct buf plain = {0};
	struct lfs_blob *b = NULL;
	uint64_t off;
	int fd, ret;

	fd = blob_file("bad", comp, 10, &off);
	lfs_err_clear();
	ret = scan_all(fd, off, comp->n, NULL, &plain, &b, NULL, NULL);
	close(fd);
	if (ret != -EIO && ret != -EINVAL)
		fail_msg("%s: scan returned %d, want -EIO or -EINVAL", what, ret);
	assert_null(b);
	assert_non_null(strstr(lfs_err_get(), "test.blob: "));
	free(plain.p);
}

static void expect_damage_detected(const struct buf *good, const char *kind)
{
	struct buf bad = {0};
	static const double at[] = {0.1, 0.3, 0.5, 0.77, 0.999};
	char what[100];
	size_t cut, i;

	/* Truncated anywhere (except the header bytes lfs_comp_detect needs). */
	for (i = 0; i < LFS_ARRAY_SIZE(at); i++) {
		cut = (size_t)(good->n * at[i]);
		bad = (struct buf){good->p, cut};
		snprintf(what, sizeof(what), "%s truncated to %zu of %zu", kind, cut, good->n);
		expect_bad(&bad, what);
	}
	for (cut = good->n - 8; cut < good->n; cut++) {
		bad = (struct buf){good->p, cut};
		snprintf(what, sizeof(what), "%s truncated to %zu of %zu", kind, cut, good->n);
		expect_bad(&bad, what);
	}
	bad = (struct buf){good->p, 4};
	expect_bad(&bad, "only the magic");

	/* A flipped byte in the data, or in the trailer / checksum. */
	bad = (struct buf){malloc(good->n), good->n};
	for (i = 0; i < LFS_ARRAY_SIZE(at); i++) {
		size_t pos = 20 + (size_t)((good->n - 25) * at[i]);

		memcpy(bad.p, good->p, good->n);
		bad.p[pos] ^= 0x10;
		snprintf(what, sizeof(what), "%s with byte %zu flipped", kind, pos);
		expect_bad(&bad, what);
	}
	memcpy(bad.p, good->p, good->n);
	bad.p[good->n - 2] ^= 0x01;
	expect_bad(&bad, "flipped trailer");
	free(bad.p);

	/* Garbage after the end. */
	bad = (struct buf){0};
	buf_add(&bad, good->p, good->n);
	buf_add(&bad, "garbage!", 8);
	expect_bad(&bad, "trailing garbage");
	free(bad.p);
}

static void test_gzip_damaged(void **state)
{
	struct buf comp = {0};

	gz_member(&comp, data, 2 * MIB, 6);
	gz_member(&comp, data + 2 * MIB, MIB, 6);
	expect_damage_detected(&comp, "gzip");
	free(comp.p);
}

static void test_zstd_damaged(void **state)
{
	struct buf comp = {0};

	zstd_stream_frame(&comp, data, 3 * MIB, 3, 1);
	expect_damage_detected(&comp, "zstd single frame");
	free(comp.p);
	comp = (struct buf){0};
	zstd_frame(&comp, data, MIB, 3);
	zstd_skippable(&comp, 5);
	zstd_stream_frame(&comp, data + MIB, MIB, 3, 1);
	expect_damage_detected(&comp, "zstd frames");
	free(comp.p);
}

static void test_max_plain(void **state)
{
	struct lfs_scan_opts opts = {.max_plain = MIB};
	struct buf comp = {0}, plain = {0};
	struct lfs_blob *b = NULL;
	struct lfs_scan *s;
	uint64_t off;
	int fd, z;

	for (z = 0; z <= 1; z++) {
		comp.n = 0;
		plain.n = 0;
		if (z)
			zstd_stream_frame(&comp, data, 3 * MIB, 3, 0);
		else
			gz_member(&comp, data, 3 * MIB, 6);
		fd = blob_file("bomb", &comp, 0, &off);
		assert_int_equal(scan_all(fd, off, comp.n, &opts, &plain, &b, NULL, NULL), -EFBIG);
		assert_null(b);
		assert_non_null(strstr(lfs_err_get(), "test.blob"));
		/* Not more than one chunk past the limit was decoded. */
		assert_true(plain.n <= MIB + LFS_SCAN_CHUNK);
		/* Exactly at the limit is fine. */
		opts.max_plain = 3 * MIB;
		plain.n = 0;
		assert_int_equal(scan_all(fd, off, comp.n, &opts, &plain, &b, NULL, NULL), 0);
		lfs_blob_free(b);
		b = NULL;
		opts.max_plain = MIB;
		close(fd);
	}
	/* A raw blob bigger than the limit is refused at once. */
	comp.n = 0;
	buf_add(&comp, data, 2 * MIB);
	fd = blob_file("big.tar", &comp, 0, &off);
	assert_int_equal(scan_open_fd(&s, fd, off, comp.n, "big.tar", &opts), -EFBIG);
	close(fd);
	free(comp.p);
	free(plain.p);
}

/* Scratch space that cannot be created makes the scan fail cleanly. */
static void test_bad_tmpdir(void **state)
{
	struct lfs_scan_opts opts = {.tmpdir = "/nonexistent/dir"};
	struct buf comp = {0}, plain = {0};
	struct lfs_blob *b = NULL;
	uint64_t off;
	int fd;

	gz_member(&comp, data, 3 * MIB, 6);
	fd = blob_file("tmp.gz", &comp, 0, &off);
	assert_int_equal(scan_all(fd, off, comp.n, &opts, &plain, &b, NULL, NULL), -ENOENT);
	assert_non_null(strstr(lfs_err_get(), "/nonexistent/dir"));
	assert_null(b);
	close(fd);
	free(comp.p);
	free(plain.p);
}

/* ---- persistence: state + scratch data, reloaded without a scan */

/* A saved blob, as a cache would keep it, and a descriptor of its stored bytes. */
struct saved {
	void *state;
	size_t state_len;
	char *scratch_path;
	int scratch_fd; /* -1: no scratch data */
	uint64_t scratch_len;
	int src_fd;
	uint64_t off, len;
};

/* Save B; its stored bytes COMP are written again to a file, PRE bytes in. */
static void save_blob(struct lfs_blob *b, const struct buf *comp, size_t pre, const char *name,
		      struct saved *sv)
{
	char sname[100];
	struct stat st;
	uint64_t n = 12345;
	int fd;

	sv->src_fd = blob_file(name, comp, pre, &sv->off);
	sv->len = comp->n;
	assert_int_equal(lfs_blob_state(b, &sv->state, &sv->state_len), 0);
	assert_true(sv->state_len > 0);
	snprintf(sname, sizeof(sname), "%s.scratch", name);
	sv->scratch_path = tu_write(sname, "", 0);
	fd = open(sv->scratch_path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(lfs_blob_save_scratch(b, fd, &n), 0);
	close(fd);
	assert_int_equal(n, b->scratch_len);
	assert_int_equal(stat(sv->scratch_path, &st), 0);
	assert_int_equal(st.st_size, n);
	sv->scratch_len = n;
	sv->scratch_fd = n ? open(sv->scratch_path, O_RDONLY | O_CLOEXEC) : -1;
}

static int load_blob(const struct saved *sv, const void *state, size_t state_len,
		     struct lfs_blob **out)
{
	return blob_load_fd(out, sv->src_fd, sv->off, sv->len, "test.blob", state, state_len,
			    sv->scratch_fd, sv->scratch_len);
}

static void saved_free(struct saved *sv)
{
	if (sv->scratch_fd >= 0)
		close(sv->scratch_fd);
	close(sv->src_fd);
	free(sv->scratch_path);
	free(sv->state);
}

static void assert_same_points(const struct lfs_blob *a, const struct lfs_blob *b)
{
	assert_int_equal(a->npts, b->npts);
	for (size_t i = 0; i < a->npts; i++) {
		const struct lfs_point *p = &a->pts[i], *q = &b->pts[i];

		assert_int_equal(p->out, q->out);
		assert_int_equal(p->in, q->in);
		assert_int_equal(p->win, q->win);
		assert_int_equal(p->hash, q->hash);
		assert_int_equal(p->len, q->len);
		assert_int_equal(p->bits, q->bits);
		assert_int_equal(p->byte, q->byte);
		assert_int_equal(p->kind, q->kind);
	}
}

/*
 * Save B (scanned from COMP, holding REF), load it back (the caller's
 * descriptors closed at once: the blob has its own), and check that the
 * loaded blob reads like B, and saves the same state and scratch data.
 */
static void check_persist(struct lfs_blob *b, const struct buf *comp, size_t pre,
			  const uint8_t *ref, size_t size, const char *name)
{
	struct saved sv = {0};
	struct lfs_blob *l = NULL;
	void *st2 = NULL, *sc1, *sc2;
	size_t st2_len = 0, n1, n2;
	uint64_t n = 1, base;
	char sname[100], *path;
	int fd;

	save_blob(b, comp, pre, name, &sv);
	if (load_blob(&sv, sv.state, sv.state_len, &l))
		fail_msg("%s: load failed: %s", name, lfs_err_get());
	close(sv.src_fd);
	if (sv.scratch_fd >= 0)
		close(sv.scratch_fd);
	sv.src_fd = sv.scratch_fd = -1;

	assert_int_equal(lfs_blob_size(l), size);
	assert_int_equal(lfs_blob_comp(l), lfs_blob_comp(b));
	assert_int_equal(l->scratch_len, b->scratch_len);
	assert_same_points(b, l);
	if (lfs_blob_comp(l) == LFS_COMP_NONE) {
		assert_int_equal(lfs_blob_raw_fd(l, &fd, &base), 0);
		assert_int_equal(base, pre);
	}
	check_all_reads(l, ref, size);

	/* A loaded blob saves exactly what it was loaded from. */
	assert_int_equal(lfs_blob_state(l, &st2, &st2_len), 0);
	assert_int_equal(st2_len, sv.state_len);
	assert_memory_equal(st2, sv.state, st2_len);
	snprintf(sname, sizeof(sname), "%s.scratch2", name);
	path = tu_write(sname, "", 0);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_int_equal(lfs_blob_save_scratch(l, fd, &n), 0);
	close(fd);
	assert_int_equal(n, sv.scratch_len);
	sc1 = tu_read(sv.scratch_path, &n1);
	sc2 = tu_read(path, &n2);
	assert_int_equal(n1, n2);
	assert_memory_equal(sc1, sc2, n1);

	free(sc1);
	free(sc2);
	free(path);
	free(st2);
	lfs_blob_free(l);
	free(sv.scratch_path);
	free(sv.state);
}

/* Scan COMP (written PRE bytes into a file) into a blob holding REF. */
static struct lfs_blob *scan_buf(const char *name, const struct buf *comp, size_t pre)
{
	struct buf plain = {0};
	struct lfs_blob *b = NULL;
	uint64_t off;
	int fd;

	fd = blob_file(name, comp, pre, &off);
	if (scan_all(fd, off, comp->n, NULL, &plain, &b, NULL, NULL))
		fail_msg("%s: scan failed: %s", name, lfs_err_get());
	close(fd);
	free(plain.p);
	return b;
}

static void test_persist_raw(void **state)
{
	struct buf blob = {data, 3 * MIB + 7}, empty = {data, 0};
	struct lfs_blob *b;

	b = scan_buf("p.tar", &blob, 777);
	check_persist(b, &blob, 777, data, blob.n, "p.tar");
	lfs_blob_free(b);
	b = scan_buf("p0.tar", &empty, 3);
	check_persist(b, &empty, 3, data, 0, "p0.tar");
	lfs_blob_free(b);
}

static void test_persist_gzip(void **state)
{
	static const size_t cut[] = {0, 700000, 700000, 2500000, 2600000, 4 * MIB, DATA_LEN};
	static const int level[] = {1, 6, 0, 9, 6, 1};
	struct buf comp = {0};
	struct lfs_blob *b;

	gz_member(&comp, data, DATA_LEN, 6);
	b = scan_buf("p1.gz", &comp, 4096);
	check_persist(b, &comp, 4096, data, DATA_LEN, "p1.gz");
	lfs_blob_free(b);

	/* Concatenated members, an empty one, stored blocks. */
	comp.n = 0;
	for (size_t i = 0; i + 1 < LFS_ARRAY_SIZE(cut); i++)
		gz_member(&comp, data + cut[i], cut[i + 1] - cut[i], level[i]);
	b = scan_buf("p2.gz", &comp, 0);
	check_persist(b, &comp, 0, data, DATA_LEN, "p2.gz");
	lfs_blob_free(b);

	comp.n = 0;
	gz_member(&comp, data, 0, 6);
	b = scan_buf("p3.gz", &comp, 1);
	check_persist(b, &comp, 1, data, 0, "p3.gz");
	lfs_blob_free(b);
	free(comp.p);
}

/* Frames of 100000, 0, 2 MiB, 1, 2.5 MiB, 50000 and 1.3 MiB bytes, with skippable frames. */
static void zstd_mixed(struct buf *comp)
{
	static const size_t cut[] = {0,
				     100000,
				     100000,
				     2 * MIB + 100000,
				     2 * MIB + 100001,
				     4 * MIB + 600001,
				     4 * MIB + 650001,
				     DATA_LEN};

	for (size_t i = 0; i + 1 < LFS_ARRAY_SIZE(cut); i++) {
		zstd_stream_frame(comp, data + cut[i], cut[i + 1] - cut[i], 1 + (int)i % 3,
				  (int)i & 1);
		zstd_skippable(comp, 17);
	}
}

static void test_persist_zstd(void **state)
{
	struct buf comp = {0};
	struct lfs_blob *b;
	size_t i, n;

	/* One big frame: re-framed, read from the (loaded) scratch file. */
	zstd_stream_frame(&comp, data, DATA_LEN, 3, 1);
	b = scan_buf("p1.zst", &comp, 333);
	assert_true(b->scratch_len > 0);
	check_persist(b, &comp, 333, data, DATA_LEN, "p1.zst");
	lfs_blob_free(b);

	/* Small frames only: no scratch data at all. */
	comp.n = 0;
	zstd_skippable(&comp, 100);
	for (i = 0; i < DATA_LEN; i += n) {
		n = 50000 + (i * 7) % 300000;
		if (n > DATA_LEN - i)
			n = DATA_LEN - i;
		zstd_frame(&comp, data + i, n, 3);
		if (i % 5 == 0)
			zstd_skippable(&comp, (uint32_t)i % 1000);
	}
	b = scan_buf("p2.zst", &comp, 100);
	assert_int_equal(b->scratch_len, 0);
	check_persist(b, &comp, 100, data, DATA_LEN, "p2.zst");
	lfs_blob_free(b);

	/* Both kinds of restart points. */
	comp.n = 0;
	zstd_mixed(&comp);
	b = scan_buf("p3.zst", &comp, 1);
	check_persist(b, &comp, 1, data, DATA_LEN, "p3.zst");
	lfs_blob_free(b);

	comp.n = 0;
	zstd_frame(&comp, data, 0, 3);
	b = scan_buf("p4.zst", &comp, 0);
	check_persist(b, &comp, 0, data, 0, "p4.zst");
	lfs_blob_free(b);
	free(comp.p);
}

/* Many threads reading a loaded blob. */
static void test_persist_threads(void **state)
{
	struct buf comp = {0};
	struct saved sv = {0};
	struct lfs_blob *b, *l = NULL;

	zstd_stream_frame(&comp, data, DATA_LEN, 1, 0);
	b = scan_buf("pt.zst", &comp, 100);
	save_blob(b, &comp, 100, "pt.zst", &sv);
	lfs_blob_free(b);
	assert_int_equal(load_blob(&sv, sv.state, sv.state_len, &l), 0);
	run_threads(l);
	lfs_blob_free(l);
	saved_free(&sv);
	free(comp.p);
}

static void reseal(uint8_t *st, size_t n)
{
	uint64_t h = XXH3_64bits(st, n - 8);

	for (int i = 0; i < 8; i++)
		st[n - 8 + i] = (uint8_t)(h >> (8 * i));
}

static void expect_bad_state(const struct saved *sv, const void *st, size_t n, const char *what,
			     size_t at)
{
	struct lfs_blob *l = (struct lfs_blob *)1;
	int ret;

	lfs_err_clear();
	ret = load_blob(sv, st, n, &l);
	if (ret != -EBADMSG)
		fail_msg("state %s at %zu: load returned %d, want -EBADMSG", what, at, ret);
	assert_null(l);
	assert_non_null(strstr(lfs_err_get(), "test.blob: saved blob state: "));
}

/*
 * Reads of a blob loaded from a doctored state: each must fail or return
 * exactly the right data, unless the doctored field is the plain size
 * (then they must merely not crash).
 */
static void check_reads_or_fail(struct lfs_blob *l, const uint8_t *ref, size_t size)
{
	int same = lfs_blob_size(l) == size;
	uint8_t got[5000];
	uint64_t offs[64], off;
	size_t n = 0, want;
	ssize_t r;

	for (size_t i = 0; i < l->npts && n < LFS_ARRAY_SIZE(offs) - 3; i++)
		offs[n++] = l->pts[i].out + 1000;
	offs[n++] = size > 10 ? size - 10 : 0;
	offs[n++] = size / 3;
	offs[n++] = 0;
	for (size_t i = 0; i < n; i++) {
		off = offs[i];
		r = lfs_blob_pread(l, got, sizeof(got), off);
		if (r < 0 || !same)
			continue;
		want = off >= size ? 0 : (size - off < sizeof(got) ? size - off : sizeof(got));
		if ((size_t)r != want || memcmp(got, ref + off, want) != 0)
			fail_msg("doctored state: pread(%zu @ %llu) = %zd: wrong data", sizeof(got),
				 (unsigned long long)off, r);
	}
}

/*
 * Every truncation and every flipped byte of the state is refused.  Then
 * the same flips with the checksum made right again (a hostile or buggy
 * writer): load refuses them or the blob reads right or fails, never
 * crashes (run under ASan too).
 */
static void check_state_damage(const struct buf *comp, const uint8_t *ref, size_t size,
			       const char *name)
{
	static const uint8_t masks[] = {0x01, 0x80, 0xff};
	struct saved sv = {0};
	struct lfs_blob *b, *l;
	uint8_t *st;
	size_t n, i, m;
	int ret, loaded = 0, refused = 0;

	b = scan_buf(name, comp, 10);
	save_blob(b, comp, 10, name, &sv);
	lfs_blob_free(b);
	n = sv.state_len;
	st = malloc(n + 1);

	for (i = 0; i < n; i++)
		expect_bad_state(&sv, sv.state, i, "truncated", i);
	memcpy(st, sv.state, n);
	st[n] = 0;
	expect_bad_state(&sv, st, n + 1, "extended", n);
	for (m = 0; m < LFS_ARRAY_SIZE(masks); m++) {
		for (i = 0; i < n; i++) {
			memcpy(st, sv.state, n);
			st[i] ^= masks[m];
			expect_bad_state(&sv, st, n, "flipped", i);
		}
	}

	for (m = 0; m < 2; m++) {
		for (i = 0; i < n - 8; i++) {
			memcpy(st, sv.state, n);
			st[i] ^= masks[m];
			reseal(st, n);
			l = NULL;
			ret = load_blob(&sv, st, n, &l);
			if (ret) {
				if (ret != -EBADMSG)
					fail_msg("resealed flip at %zu: load returned %d (%s)", i,
						 ret, lfs_err_get());
				refused++;
				continue;
			}
			loaded++;
			check_reads_or_fail(l, ref, size);
			lfs_blob_free(l);
		}
	}
	/* Most fields are checked at load; the rest is caught when read. */
	assert_true(refused > 0);
	print_message("%s: %zu-byte state; resealed flips: %d refused at load, %d loaded\n", name,
		      n, refused, loaded);

	/* The untouched state still loads and reads right. */
	assert_int_equal(load_blob(&sv, sv.state, n, &l), 0);
	check_random_reads(l, ref, size, 5, 30);
	lfs_blob_free(l);
	free(st);
	saved_free(&sv);
}

static void test_state_damaged(void **state)
{
	struct buf raw = {data, MIB}, comp = {0};

	check_state_damage(&raw, data, MIB, "d.tar");

	gz_member(&comp, data, 2 * MIB, 6);
	gz_member(&comp, data + 2 * MIB, 3 * MIB / 2, 1);
	check_state_damage(&comp, data, 7 * MIB / 2, "d.gz");

	comp.n = 0;
	zstd_frame(&comp, data, 300000, 3);
	zstd_stream_frame(&comp, data + 300000, 5 * MIB / 2, 1, 1);
	zstd_skippable(&comp, 9);
	zstd_frame(&comp, data + 300000 + 5 * MIB / 2, 400000, 3);
	check_state_damage(&comp, data, 300000 + 5 * MIB / 2 + 400000, "d.zst");
	free(comp.p);
}

/*
 * A flipped byte in the scratch data of restart point PT: reads that need it
 * fail with -EIO, the others still work, and none returns wrong data.
 */
static void check_scratch_flip(const struct saved *sv, struct lfs_blob *b, size_t pt,
			       const uint8_t *ref, size_t size)
{
	const struct lfs_point *p = &b->pts[pt];
	uint64_t at = (b->comp == LFS_COMP_GZIP ? p->win : p->in) + p->len / 2;
	uint8_t *sc, got[4096];
	struct lfs_blob *l = NULL;
	struct saved bad = *sv;
	size_t n, i;
	char *path;
	ssize_t r;

	sc = tu_read(sv->scratch_path, &n);
	assert_true(at < n);
	sc[at] ^= 0x04;
	path = tu_write("bad.scratch", sc, n);
	bad.scratch_fd = open(path, O_RDONLY | O_CLOEXEC);
	/* Scratch data is checked when used, not at load. */
	assert_int_equal(load_blob(&bad, sv->state, sv->state_len, &l), 0);
	lfs_err_clear();
	r = lfs_blob_pread(l, got, sizeof(got), p->out + 10);
	assert_int_equal(r, -EIO);
	assert_non_null(strstr(lfs_err_get(), "scratch file"));
	for (i = 0; i < b->npts; i++) {
		if (b->pts[i].len && i != pt)
			check_pread(l, ref, size, b->pts[i].out + 10, sizeof(got));
	}
	for (i = 0; i < 40; i++) {
		uint64_t off = (uint64_t)i * size / 40;

		r = lfs_blob_pread(l, got, sizeof(got), off);
		if (r != -EIO)
			check_pread(l, ref, size, off, sizeof(got));
	}
	lfs_blob_free(l);
	close(bad.scratch_fd);
	free(path);
	free(sc);
}

static void check_scratch_damage(const struct buf *comp, const char *name)
{
	struct saved sv = {0};
	struct lfs_blob *b, *l = NULL;
	size_t i, n = 0, *with;
	uint8_t got[100];

	b = scan_buf(name, comp, 0);
	assert_true(b->scratch_len > 0);
	save_blob(b, comp, 0, name, &sv);
	/* Of the points with scratch data: the first, one in the middle, the last. */
	with = malloc(b->npts * sizeof(*with));
	for (i = 0; i < b->npts; i++) {
		if (b->pts[i].len)
			with[n++] = i;
	}
	assert_true(n >= 3);
	check_scratch_flip(&sv, b, with[0], data, DATA_LEN);
	check_scratch_flip(&sv, b, with[n / 2], data, DATA_LEN);
	check_scratch_flip(&sv, b, with[n - 1], data, DATA_LEN);
	free(with);

	/* A scratch file shorter than the state says is refused at load. */
	close(sv.scratch_fd);
	assert_int_equal(truncate(sv.scratch_path, (off_t)sv.scratch_len - 1), 0);
	sv.scratch_fd = open(sv.scratch_path, O_RDONLY | O_CLOEXEC);
	assert_int_equal(load_blob(&sv, sv.state, sv.state_len, &l), -EBADMSG);
	assert_null(l);

	/* The scan's own scratch file is checked just the same. */
	for (i = 0; !b->pts[i].len; i++)
		;
	assert_int_equal(
	    pwrite(b->scratch_fd, "\xff", 1,
		   (off_t)(b->comp == LFS_COMP_GZIP ? b->pts[i].win : b->pts[i].in) + 7),
	    1);
	assert_int_equal(lfs_blob_pread(b, got, sizeof(got), b->pts[i].out), -EIO);
	lfs_blob_free(b);
	saved_free(&sv);
}

static void test_scratch_damaged(void **state)
{
	struct buf comp = {0};

	gz_member(&comp, data, DATA_LEN, 6);
	check_scratch_damage(&comp, "s.gz");
	comp.n = 0;
	zstd_stream_frame(&comp, data, DATA_LEN, 3, 1);
	check_scratch_damage(&comp, "s.zst");
	comp.n = 0;
	zstd_mixed(&comp);
	check_scratch_damage(&comp, "s2.zst");
	free(comp.p);
}

/* A state that does not fit the blob, or the descriptors it is given. */
static void test_load_mismatch(void **state)
{
	struct buf comp = {0}, junk = {0};
	struct saved sv = {0};
	struct lfs_blob *b, *l = NULL;
	uint64_t off;
	int fd;

	gz_member(&comp, data, 3 * MIB, 6);
	b = scan_buf("m.gz", &comp, 50);
	save_blob(b, &comp, 50, "m.gz", &sv);
	lfs_blob_free(b);

	/* Stored or scratch length other than the state's. */
	assert_int_equal(blob_load_fd(&l, sv.src_fd, sv.off, sv.len - 1, "test.blob", sv.state,
				      sv.state_len, sv.scratch_fd, sv.scratch_len),
			 -EBADMSG);
	assert_int_equal(blob_load_fd(&l, sv.src_fd, sv.off, sv.len, "test.blob", sv.state,
				      sv.state_len, sv.scratch_fd, sv.scratch_len + 1),
			 -EBADMSG);
	/* Scratch data needed but not given. */
	assert_int_equal(blob_load_fd(&l, sv.src_fd, sv.off, sv.len, "test.blob", sv.state,
				      sv.state_len, -1, sv.scratch_len),
			 -EINVAL);
	/* Bad descriptors, an impossible range. */
	assert_int_equal(blob_load_fd(&l, -1, sv.off, sv.len, "test.blob", sv.state, sv.state_len,
				      sv.scratch_fd, sv.scratch_len),
			 -EBADF);
	assert_int_equal(blob_load_fd(&l, sv.src_fd, UINT64_MAX - 5, sv.len, "test.blob", sv.state,
				      sv.state_len, sv.scratch_fd, sv.scratch_len),
			 -EINVAL);
	/* The blob's file is shorter than the state says. */
	assert_int_equal(blob_load_fd(&l, sv.src_fd, sv.off + 4096 + 1, sv.len, "test.blob",
				      sv.state, sv.state_len, sv.scratch_fd, sv.scratch_len),
			 -EIO);
	assert_non_null(strstr(lfs_err_get(), "truncated"));
	/* Bytes of the right length that are not gzip. */
	buf_add(&junk, data, comp.n);
	fd = blob_file("m.junk", &junk, 50, &off);
	assert_int_equal(blob_load_fd(&l, fd, off, junk.n, "test.blob", sv.state, sv.state_len,
				      sv.scratch_fd, sv.scratch_len),
			 -EBADMSG);
	assert_non_null(strstr(lfs_err_get(), "gzip"));
	assert_null(l);
	/* ... and the right ones. */
	assert_int_equal(load_blob(&sv, sv.state, sv.state_len, &l), 0);
	check_random_reads(l, data, 3 * MIB, 3, 20);
	lfs_blob_free(l);
	close(fd);
	free(junk.p);
	saved_free(&sv);
	free(comp.p);
}

static int setup(void **state)
{
	data = gen_data(DATA_LEN, 0x1234567);
	return 0;
}

static int teardown(void **state)
{
	free(data);
	tu_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_detect),	     cmocka_unit_test(test_raw),
	    cmocka_unit_test(test_raw_skip),	     cmocka_unit_test(test_gzip_single),
	    cmocka_unit_test(test_gzip_multi),	     cmocka_unit_test(test_gzip_empty),
	    cmocka_unit_test(test_zstd_single),	     cmocka_unit_test(test_zstd_small_frames),
	    cmocka_unit_test(test_zstd_mixed),	     cmocka_unit_test(test_zstd_empty),
	    cmocka_unit_test(test_zstd_sequential),  cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_cursor_continues), cmocka_unit_test(test_gzip_damaged),
	    cmocka_unit_test(test_zstd_damaged),     cmocka_unit_test(test_max_plain),
	    cmocka_unit_test(test_bad_tmpdir),	     cmocka_unit_test(test_persist_raw),
	    cmocka_unit_test(test_persist_gzip),     cmocka_unit_test(test_persist_zstd),
	    cmocka_unit_test(test_persist_threads),  cmocka_unit_test(test_state_damaged),
	    cmocka_unit_test(test_scratch_damaged),  cmocka_unit_test(test_load_mismatch),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
