/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of blob sources: the codecs read stored bytes only through
 * one, so a source that returns short reads must give the same bytes as a
 * local file, and a source that fails on one range must fail only the
 * reads that need it, never the blob.  The in-memory source here plays a
 * network: short reads of random sizes and faults on a chosen range.
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
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>
#include <zstd.h>

#include "layerfs/blob.h"
#include "blob_int.h"
#include "blobsrc.h"
#include "layerfs/lfs.h"
#include "testutil.h"

#define MIB	 (1u << 20)
#define DATA_LEN (5 * MIB + 4321)
#define PRE	 1000 /* junk before the blob in its file */

struct buf {
	uint8_t *p;
	size_t n;
};

static uint8_t *data;

static uint64_t mix(uint64_t x)
{
	/* splitmix64: a reproducible random value for each counter value. */
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Incompressible runs, zeros and repeated text, so that every codec has work. */
static uint8_t *gen_data(size_t n)
{
	static const char text[] = "usr/lib/x86_64-linux-gnu/ #include <stdio.h> return 0;\n";
	uint8_t *p = malloc(n);
	uint64_t c = 1;
	size_t i = 0, run, k;

	assert_non_null(p);
	while (i < n) {
		uint64_t r = mix(c++);

		run = 2000 + r % 50000;
		if (run > n - i)
			run = n - i;
		for (k = 0; k < run; k++) {
			switch (r >> 62) {
			case 0:
				p[i + k] = (uint8_t)mix(c++);
				break;
			case 1:
				p[i + k] = 0;
				break;
			default:
				p[i + k] = (uint8_t)text[(i + k) % (sizeof(text) - 1)];
				break;
			}
		}
		i += run;
	}
	return p;
}

static void buf_add(struct buf *b, const void *p, size_t n)
{
	b->p = realloc(b->p, b->n + n + 1);
	assert_non_null(b->p);
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

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

/* One streamed frame (no content size, 8 MiB window): re-framed by the scan. */
static void zstd_big_frame(struct buf *out, const uint8_t *src, size_t n)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(n) + 64, r;
	ZSTD_inBuffer in = {src, 0, 0};
	ZSTD_outBuffer ob = {malloc(cap), cap, 0};

	ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 3);
	ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, 23);
	while (in.size < n) {
		in.size = in.size + 100000 < n ? in.size + 100000 : n;
		r = ZSTD_compressStream2(c, &ob, &in, ZSTD_e_continue);
		assert_false(ZSTD_isError(r));
	}
	do {
		r = ZSTD_compressStream2(c, &ob, &in, ZSTD_e_end);
		assert_false(ZSTD_isError(r));
	} while (r);
	buf_add(out, ob.dst, ob.pos);
	ZSTD_freeCCtx(c);
	free(ob.dst);
}

/* Frames of FRAME plain bytes each: read in place, restart points at frame starts. */
static void zstd_frames(struct buf *out, const uint8_t *src, size_t n, size_t frame)
{
	size_t cap = ZSTD_compressBound(frame), r, k;
	uint8_t *tmp = malloc(cap);

	for (size_t off = 0; off < n; off += k) {
		k = n - off < frame ? n - off : frame;
		r = ZSTD_compress(tmp, cap, src + off, k, 1);
		assert_false(ZSTD_isError(r));
		buf_add(out, tmp, r);
	}
	free(tmp);
}

/* ---- an in-memory source: short reads, faults, early ends */

struct mem_src {
	struct lfs_blobsrc s; /* first: the generic part */
	uint8_t *p;	      /* s.size bytes */
	int shorts;	      /* return short reads of random sizes */
	atomic_ullong calls;  /* reads so far: also seeds the short sizes */
	/* Reads touching [fault_lo, fault_hi) fail with fault_err (after the bytes before it). */
	atomic_ullong fault_lo, fault_hi;
	int fault_err;
	uint64_t end; /* data ends here (below s.size: a source cut short) */
};

static ssize_t mem_pread(struct lfs_blobsrc *s, void *buf, size_t len, uint64_t off)
{
	struct mem_src *m = (struct mem_src *)s;
	uint64_t c = atomic_fetch_add(&m->calls, 1), lo, hi, r;

	if (off >= m->end)
		return 0;
	if (len > m->end - off)
		len = (size_t)(m->end - off);
	lo = atomic_load(&m->fault_lo);
	hi = atomic_load(&m->fault_hi);
	if (lo < hi && off < hi && off + len > lo) {
		if (off < lo) {
			len = (size_t)(lo - off); /* what comes before the fault */
		} else {
			lfs_err_set("%s: injected fault at byte %llu", s->name,
				    (unsigned long long)off);
			return m->fault_err;
		}
	}
	if (m->shorts && len > 1) {
		r = mix(c);
		/* Mostly small pieces, some of one byte, some whole. */
		len = r & 3 ? 1 + (size_t)((r >> 8) % (len < 9000 ? len : 9000)) : r & 4 ? 1 : len;
	}
	memcpy(buf, m->p + off, len);
	return (ssize_t)len;
}

static void mem_free(struct lfs_blobsrc *s)
{
	struct mem_src *m = (struct mem_src *)s;

	free(m->p);
	free(m);
}

static const struct lfs_blobsrc_ops mem_ops = {.pread = mem_pread, .free = mem_free};

static struct mem_src *mem_new(const struct buf *b, int shorts)
{
	struct mem_src *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	lfs_blobsrc_init(&m->s, &mem_ops, b->n, "test.blob");
	m->p = malloc(b->n + 1);
	memcpy(m->p, b->p, b->n);
	m->shorts = shorts;
	m->end = b->n;
	m->fault_err = -EIO;
	return m;
}

static void mem_fault(struct mem_src *m, uint64_t lo, uint64_t hi)
{
	atomic_store(&m->fault_lo, lo);
	atomic_store(&m->fault_hi, hi);
}

static unsigned refs(const struct lfs_blobsrc *s)
{
	return atomic_load(&s->refs);
}

/* The blob B of the file source, written PRE bytes into a file between junk. */
static struct lfs_blobsrc *file_src(const char *name, const struct buf *b)
{
	struct lfs_blobsrc *src;
	struct buf f = {0};
	uint8_t junk[PRE];
	char *path;
	int fd;

	memset(junk, 0x1f, sizeof(junk));
	buf_add(&f, junk, sizeof(junk));
	buf_add(&f, b->p, b->n);
	buf_add(&f, junk, sizeof(junk));
	path = tu_write(name, f.p, f.n);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(lfs_blobsrc_fd_new(&src, fd, PRE, b->n, "test.blob"), 0);
	close(fd); /* the source has its own */
	free(path);
	free(f.p);
	return src;
}

/* Scan SRC whole: its plain stream in *PLAIN, digests in ST, PL. */
static int scan(struct lfs_blobsrc *src, struct buf *plain, struct lfs_blob **b, uint8_t st[32],
		uint8_t pl[32])
{
	struct lfs_scan_opts o = {.hash_stored = 1, .hash_plain = 1, .tmpdir = tu_tmpdir()};
	struct lfs_scan *s;
	const void *chunk;
	ssize_t n;
	int ret;

	*b = NULL;
	ret = lfs_scan_open(&s, src, &o);
	if (ret)
		return ret;
	while ((n = lfs_scan_read(s, &chunk)) > 0)
		buf_add(plain, chunk, (size_t)n);
	if (n < 0) {
		lfs_scan_free(s);
		return (int)n;
	}
	return lfs_scan_finish(s, b, st, pl);
}

/* The same read from A and B: the same result, and REF's bytes when it succeeds. */
static void same_read(struct lfs_blob *a, struct lfs_blob *b, uint64_t off, size_t len)
{
	uint8_t *x = malloc(len + 1), *y = malloc(len + 1);
	size_t size = lfs_blob_size(a);
	size_t want = off >= size ? 0 : (len < size - off ? len : size - off);
	ssize_t n = lfs_blob_pread(a, x, len, off), m = lfs_blob_pread(b, y, len, off);

	if (n != (ssize_t)want || m != n)
		fail_msg("pread(%zu @ %llu): %zd and %zd, want %zu (%s)", len,
			 (unsigned long long)off, n, m, want, lfs_err_get());
	if (want && (memcmp(x, y, want) || memcmp(x, data + off, want)))
		fail_msg("pread(%zu @ %llu): different bytes", len, (unsigned long long)off);
	free(x);
	free(y);
}

/* Reads around every restart point, at random, sequential and at the end. */
static void same_reads(struct lfs_blob *a, struct lfs_blob *b)
{
	uint64_t size = lfs_blob_size(a), k, r;

	assert_int_equal(lfs_blob_size(b), size);
	for (size_t i = 0; i < a->npts; i++) {
		k = a->pts[i].out;
		same_read(a, b, k > 2 ? k - 2 : 0, 5);
		same_read(a, b, k > 3000 ? k - 3000 : 0, 100000);
	}
	for (int i = 0; i < 150; i++) {
		r = mix((uint64_t)i + 77);
		same_read(a, b, r % size, 1 + (r >> 40) % (r & 1 ? 5000 : 300000));
	}
	for (k = 0; k < size; k += 131072)
		same_read(a, b, k, 131072);
	same_read(a, b, size - 7, 100);
	same_read(a, b, size, 10);
}

enum kind { RAW, GZIP, GZIP_MULTI, ZSTD_BIG, ZSTD_FRAMES, NKINDS };

static const char *const kind_name[NKINDS] = {"raw", "gzip", "gzip members", "zstd frame",
					      "zstd frames"};

static void make_blob(enum kind k, struct buf *b)
{
	static const size_t cut[] = {0, 800000, 800000, 3 * MIB, DATA_LEN};

	switch (k) {
	case RAW:
		buf_add(b, data, DATA_LEN);
		break;
	case GZIP:
		gz_member(b, data, DATA_LEN, 6);
		break;
	case GZIP_MULTI:
		for (size_t i = 0; i + 1 < LFS_ARRAY_SIZE(cut); i++)
			gz_member(b, data + cut[i], cut[i + 1] - cut[i], i % 2 ? 1 : 6);
		break;
	case ZSTD_BIG:
		zstd_big_frame(b, data, DATA_LEN);
		break;
	case ZSTD_FRAMES:
		zstd_frames(b, data, DATA_LEN, 300000);
		break;
	default:
		fail();
	}
}

/* (a) Every codec gives the same bytes through short reads as from a file. */
static void test_short_reads(void **state)
{
	for (int k = 0; k < NKINDS; k++) {
		uint8_t st1[32], pl1[32], st2[32], pl2[32];
		struct buf blob = {0}, p1 = {0}, p2 = {0};
		struct lfs_blob *fb, *mb, *lb;
		struct lfs_blobsrc *fs;
		struct mem_src *ms;
		void *sv;
		size_t svn;
		uint64_t base;
		int fd;

		make_blob((enum kind)k, &blob);
		fs = file_src("s.blob", &blob);
		ms = mem_new(&blob, 1);
		if (scan(fs, &p1, &fb, st1, pl1) || scan(&ms->s, &p2, &mb, st2, pl2))
			fail_msg("%s: scan: %s", kind_name[k], lfs_err_get());
		assert_int_equal(p1.n, DATA_LEN);
		assert_int_equal(p2.n, DATA_LEN);
		assert_memory_equal(p1.p, data, DATA_LEN);
		assert_memory_equal(p2.p, data, DATA_LEN);
		assert_memory_equal(st1, st2, 32);
		assert_memory_equal(pl1, pl2, 32);
		/* Short reads really happened, many more than the reads asked for. */
		assert_true(atomic_load(&ms->calls) > 3 * blob.n / LFS_SCAN_INBUF);
		assert_int_equal(fb->npts, mb->npts);
		if (fb->npts)
			assert_memory_equal(fb->pts, mb->pts, fb->npts * sizeof(*fb->pts));
		same_reads(fb, mb);

		/* Splicing: only from an uncompressed blob in a local file. */
		assert_int_equal(lfs_blob_raw_fd(fb, &fd, &base), k == RAW ? 0 : -ENOTSUP);
		if (k == RAW)
			assert_int_equal(base, PRE);
		assert_int_equal(lfs_blob_raw_fd(mb, &fd, &base), -ENOTSUP);

		/* A blob loaded from its state reads through the source the same. */
		assert_int_equal(lfs_blob_state(fb, &sv, &svn), 0);
		assert_int_equal(
		    lfs_blob_load(&lb, &ms->s, sv, svn, fb->scratch_fd, fb->scratch_len), 0);
		same_reads(fb, lb);
		lfs_blob_free(lb);
		free(sv);

		/* Scan and blobs took their own references and gave them back. */
		lfs_blob_free(fb);
		assert_int_equal(refs(fs), 1);
		assert_int_equal(refs(&ms->s), 2);
		lfs_blob_free(mb);
		assert_int_equal(refs(&ms->s), 1);
		lfs_blobsrc_unref(fs);
		lfs_blobsrc_unref(&ms->s);
		free(blob.p);
		free(p1.p);
		free(p2.p);
	}
}

struct reader {
	struct lfs_blob *a, *b;
	uint64_t seed;
};

static void *reader(void *arg)
{
	const struct reader *r = arg;
	uint64_t size = lfs_blob_size(r->a);

	for (int i = 0; i < 60; i++) {
		uint64_t x = mix(r->seed + (uint64_t)i);

		same_read(r->a, r->b, x % size, 1 + (x >> 40) % 200000);
	}
	return NULL;
}

/* Many threads reading one blob share its source, with short reads. */
static void test_threads(void **state)
{
	for (int k = GZIP; k < NKINDS; k += 2) {
		struct buf blob = {0}, p1 = {0}, p2 = {0};
		struct lfs_blob *fb, *mb;
		struct lfs_blobsrc *fs;
		struct mem_src *ms;
		struct reader rd[6];
		pthread_t t[6];

		make_blob((enum kind)k, &blob);
		fs = file_src("t.blob", &blob);
		ms = mem_new(&blob, 1);
		assert_int_equal(scan(fs, &p1, &fb, NULL, NULL), 0);
		assert_int_equal(scan(&ms->s, &p2, &mb, NULL, NULL), 0);
		for (int i = 0; i < 6; i++) {
			rd[i] = (struct reader){fb, mb, (uint64_t)i * 1000 + (uint64_t)k};
			assert_int_equal(pthread_create(&t[i], NULL, reader, &rd[i]), 0);
		}
		for (int i = 0; i < 6; i++)
			pthread_join(t[i], NULL);
		lfs_blob_free(fb);
		lfs_blob_free(mb);
		lfs_blobsrc_unref(fs);
		lfs_blobsrc_unref(&ms->s);
		free(blob.p);
		free(p1.p);
		free(p2.p);
	}
}

/* Read LEN plain bytes at OFF of B: 0 with REF's bytes, or the error. */
static int try_read(struct lfs_blob *b, uint64_t off, size_t len)
{
	uint8_t *x = malloc(len);
	ssize_t n = lfs_blob_pread(b, x, len, off);
	int ret = n < 0 ? (int)n : 0;

	if (n >= 0 && (n != (ssize_t)len || memcmp(x, data + off, len)))
		fail_msg("pread(%zu @ %llu) = %zd: wrong bytes", len, (unsigned long long)off, n);
	free(x);
	return ret;
}

/*
 * (b) A fault on a stored range fails the reads that need it, with the
 * source's error, and nothing else: reads elsewhere go on, and the same
 * read works once the source recovers.  Only blobs whose reads go to the
 * stored bytes (a re-framed zstd frame is read from the scratch file).
 */
static void test_fault(void **state)
{
	static const int kinds[] = {RAW, GZIP, GZIP_MULTI, ZSTD_FRAMES};

	for (size_t i = 0; i < LFS_ARRAY_SIZE(kinds); i++) {
		const int k = kinds[i];
		struct buf blob = {0}, plain = {0};
		struct lfs_blob *b;
		struct mem_src *ms;
		uint64_t at, lo, hi, far, out, next;
		size_t pt = 0;

		make_blob((enum kind)k, &blob);
		ms = mem_new(&blob, 1);
		assert_int_equal(scan(&ms->s, &plain, &b, NULL, NULL), 0);
		/* The stored bytes [lo, hi) of the restart point in the middle. */
		at = DATA_LEN / 2;
		lo = at;
		hi = at + 1;
		far = DATA_LEN - 5000;
		if (k != RAW) {
			pt = lfs_points_find(b->pts, b->npts, at);
			assert_true(pt > 1 && pt + 2 < b->npts);
			at = b->pts[pt].out + 1000;
			lo = b->pts[pt].in;
			hi = b->pts[pt + 1].in;
			far = b->pts[b->npts - 1].out + 10;
		}
		mem_fault(ms, lo, hi);
		for (int round = 0; round < 2; round++) {
			lfs_err_clear();
			assert_int_equal(try_read(b, at, 4096), -EIO);
			assert_non_null(strstr(lfs_err_get(), "injected fault"));
			/* Elsewhere, before and after the bad range, all is well. */
			assert_int_equal(try_read(b, 0, 5000), 0);
			assert_int_equal(try_read(b, far, 3000), 0);
		}
		/* Another errno passes through as it is. */
		ms->fault_err = -ETIMEDOUT;
		assert_int_equal(try_read(b, at, 100), -ETIMEDOUT);
		/* The source recovers: so does the read. */
		mem_fault(ms, 0, 0);
		assert_int_equal(try_read(b, at, 4096), 0);
		assert_int_equal(try_read(b, at - 500, 100000), 0);

		/*
		 * A decoder that fails in the middle of its run (its first input
		 * buffers read, a later one not) is not trusted afterwards.
		 */
		if (k != RAW) {
			/* The longest stretch of stored bytes between two restart points. */
			for (size_t j = pt = 1; j + 2 < b->npts; j++)
				if (b->pts[j + 1].in - b->pts[j].in >
				    b->pts[pt + 1].in - b->pts[pt].in)
					pt = j;
			lo = b->pts[pt].in;
			out = b->pts[pt].out;
			next = b->pts[pt + 1].out;
			assert_true(b->pts[pt + 1].in - lo > 3 * LFS_CURSOR_INBUF);
			assert_int_equal(try_read(b, out, 100), 0);
			mem_fault(ms, lo + 2 * LFS_CURSOR_INBUF, lo + 2 * LFS_CURSOR_INBUF + 1);
			assert_int_equal(try_read(b, out + 100, (size_t)(next - out - 100)),
					 -ETIMEDOUT);
			assert_int_equal(try_read(b, far, 3000), 0);
			mem_fault(ms, 0, 0);
			assert_int_equal(try_read(b, out + 100, (size_t)(next - out - 100)), 0);
		}
		lfs_blob_free(b);
		assert_int_equal(refs(&ms->s), 1);
		lfs_blobsrc_unref(&ms->s);
		free(blob.p);
		free(plain.p);
	}
}

/* (c) A scan over a source that fails, or ends early, fails cleanly. */
static void test_scan_fault(void **state)
{
	for (int k = 0; k < NKINDS; k++) {
		struct buf blob = {0}, plain = {0};
		struct lfs_blob *b = NULL;
		struct lfs_scan *s;
		struct mem_src *ms;

		make_blob((enum kind)k, &blob);
		ms = mem_new(&blob, 1);

		/* In the middle: the scan stops there, with the source's reason. */
		mem_fault(ms, blob.n / 2, blob.n / 2 + 10);
		assert_int_equal(scan(&ms->s, &plain, &b, NULL, NULL), -EIO);
		assert_non_null(strstr(lfs_err_get(), "injected fault"));
		assert_null(b);
		assert_true(plain.n < DATA_LEN);
		assert_int_equal(refs(&ms->s), 1);

		/* ... also when the caller finishes the scan without reading. */
		assert_int_equal(lfs_scan_open(&s, &ms->s, NULL), 0);
		assert_int_equal(lfs_scan_finish(s, &b, NULL, NULL), -EIO);
		assert_null(b);
		assert_int_equal(refs(&ms->s), 1);

		/* At the first byte: the scan does not even open. */
		mem_fault(ms, 0, 1);
		assert_int_equal(lfs_scan_open(&s, &ms->s, NULL), -EIO);
		assert_null(s);
		assert_int_equal(refs(&ms->s), 1);

		/* A source that ends before its size says: truncated, not a short blob. */
		mem_fault(ms, 0, 0);
		ms->end = blob.n - 1;
		plain.n = 0;
		assert_int_equal(scan(&ms->s, &plain, &b, NULL, NULL), -EIO);
		assert_non_null(strstr(lfs_err_get(), "truncated"));
		assert_int_equal(refs(&ms->s), 1);

		lfs_blobsrc_unref(&ms->s);
		free(blob.p);
		free(plain.p);
	}
}

/*
 * Loading a state reads nothing of a source that is not a local file (such
 * a blob is cached under its verified digest): a fault on its first bytes
 * does not fail the load, only the first read that needs them, and that
 * read works once the source recovers.
 */
static void test_load_fault(void **state)
{
	struct buf blob = {0}, plain = {0};
	struct lfs_blob *b, *l = NULL;
	struct mem_src *ms;
	void *sv;
	size_t svn;

	make_blob(GZIP, &blob);
	ms = mem_new(&blob, 0);
	assert_int_equal(scan(&ms->s, &plain, &b, NULL, NULL), 0);
	assert_int_equal(lfs_blob_state(b, &sv, &svn), 0);
	mem_fault(ms, 2, 64);
	assert_int_equal(lfs_blob_load(&l, &ms->s, sv, svn, b->scratch_fd, b->scratch_len), 0);
	assert_non_null(l);
	assert_int_equal(refs(&ms->s), 3);
	assert_int_equal(try_read(l, 0, 4096), -EIO);
	mem_fault(ms, 0, 0);
	assert_int_equal(try_read(l, 0, 4096), 0);
	assert_int_equal(try_read(l, 12345, 54321), 0);
	lfs_blob_free(l);
	lfs_blob_free(b);
	assert_int_equal(refs(&ms->s), 1);
	lfs_blobsrc_unref(&ms->s);
	free(sv);
	free(blob.p);
	free(plain.p);
}

/* lfs_blobsrc_read_full: loops, refuses ranges past the end and sources that overrun. */
static ssize_t liar_pread(struct lfs_blobsrc *s, void *buf, size_t len, uint64_t off)
{
	(void)s;
	(void)off;
	memset(buf, 'x', len);
	return (ssize_t)len + 1;
}

static void liar_free(struct lfs_blobsrc *s)
{
	free(s);
}

static void test_read_full(void **state)
{
	static const struct lfs_blobsrc_ops liar_ops = {.pread = liar_pread, .free = liar_free};
	struct buf blob = {data, 100000};
	struct lfs_blobsrc *fs, *liar = calloc(1, sizeof(*liar));
	struct mem_src *ms = mem_new(&blob, 1);
	uint8_t got[60000];
	int fd;
	uint64_t base;

	assert_int_equal(lfs_blobsrc_read_full(&ms->s, got, sizeof(got), 40000, "it"), 0);
	assert_memory_equal(got, data + 40000, sizeof(got));
	assert_true(atomic_load(&ms->calls) > 1);
	assert_int_equal(lfs_blobsrc_read_full(&ms->s, got, 2, 99999, "it"), -EIO);
	assert_non_null(strstr(lfs_err_get(), "past its end"));
	assert_int_equal(lfs_blobsrc_read_full(&ms->s, got, 0, 100000, "it"), 0);
	assert_int_equal(lfs_blobsrc_local_fd(&ms->s, &fd, &base), -ENOTSUP);
	assert_ptr_equal(lfs_blobsrc_ref(&ms->s), &ms->s);
	assert_int_equal(refs(&ms->s), 2);
	lfs_blobsrc_unref(&ms->s);
	lfs_blobsrc_unref(&ms->s);
	lfs_blobsrc_unref(NULL);

	lfs_blobsrc_init(liar, &liar_ops, 100, "liar");
	assert_int_equal(lfs_blobsrc_read_full(liar, got, 10, 0, "it"), -EIO);
	lfs_blobsrc_unref(liar);

	/* The file source: its range only, bad descriptors and ranges refused. */
	fs = file_src("r.blob", &blob);
	assert_int_equal(lfs_blobsrc_read_full(fs, got, 10, blob.n - 10, "it"), 0);
	assert_memory_equal(got, data + blob.n - 10, 10);
	assert_int_equal(lfs_blobsrc_read_full(fs, got, 11, blob.n - 10, "it"), -EIO);
	assert_int_equal(fs->ops->pread(fs, got, 100, blob.n - 10), 10);
	assert_int_equal(fs->ops->pread(fs, got, 100, blob.n), 0);
	assert_int_equal(lfs_blobsrc_local_fd(fs, &fd, &base), 0);
	assert_int_equal(base, PRE);
	assert_int_equal(lfs_blobsrc_fd_new(&liar, -1, 0, 10, "bad"), -EBADF);
	assert_int_equal(lfs_blobsrc_fd_new(&liar, fd, UINT64_MAX - 5, 10, "bad"), -EINVAL);
	assert_null(liar);
	lfs_blobsrc_unref(fs);
}

static int setup(void **state)
{
	data = gen_data(DATA_LEN);
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
	    cmocka_unit_test(test_read_full),  cmocka_unit_test(test_short_reads),
	    cmocka_unit_test(test_threads),    cmocka_unit_test(test_fault),
	    cmocka_unit_test(test_scan_fault), cmocka_unit_test(test_load_fault),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
