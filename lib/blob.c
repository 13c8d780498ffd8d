/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blobs, the part common to all compressions: detection, the scan (hashing
 * the stored bytes, the decompression bomb guard), uncompressed blobs, and
 * the pool of decoders ("cursors") that serves random reads of compressed
 * blobs.  Reading the stored bytes and the scratch file are in blob_io.c.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "blob_int.h"
#include "layerfs/lfs.h"

#define DEFAULT_MAX_PLAIN (1ull << 40)

enum lfs_comp lfs_comp_detect(const void *head, size_t n)
{
	const uint8_t *p = head;

	if (n >= 3 && p[0] == 0x1f && p[1] == 0x8b && p[2] == 8)
		return LFS_COMP_GZIP;
	if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd)
		return LFS_COMP_ZSTD;
	/* A zstd stream may start with a skippable frame (0x184D2A50..5F). */
	if (n >= 4 && (p[0] & 0xf0) == 0x50 && p[1] == 0x2a && p[2] == 0x4d && p[3] == 0x18)
		return LFS_COMP_ZSTD;
	return LFS_COMP_NONE;
}

const char *lfs_comp_name(enum lfs_comp c)
{
	switch (c) {
	case LFS_COMP_NONE:
		return "none";
	case LFS_COMP_GZIP:
		return "gzip";
	case LFS_COMP_ZSTD:
		return "zstd";
	}
	return "unknown";
}

void lfs_scan_free(struct lfs_scan *s)
{
	if (!s)
		return;
	if (s->codec && s->priv)
		s->codec->scan_free(s);
	if (s->scratch_fd >= 0)
		close(s->scratch_fd);
	lfs_blobsrc_unref(s->src);
	free(s->sums.sha);
	free(s->pts.v);
	free(s->inbuf);
	free(s->tmpdir);
	free(s->name);
	free(s);
}

int lfs_scan_open(struct lfs_scan **out, struct lfs_blobsrc *src, const struct lfs_scan_opts *opts)
{
	static const struct lfs_scan_opts defaults;
	const uint64_t len = src->size;
	const char *name = src->name;
	struct lfs_scan *s;
	uint8_t head[4];
	size_t hn = len < sizeof(head) ? (size_t)len : sizeof(head);
	int ret;

	*out = NULL;
	if (!opts)
		opts = &defaults;
	s = lfs_xcalloc(1, sizeof(*s));
	s->name = lfs_xstrdup(name);
	s->src = lfs_blobsrc_ref(src);
	s->scratch_fd = -1;
	s->max_plain = opts->max_plain ? opts->max_plain : DEFAULT_MAX_PLAIN;
	s->sequential = opts->sequential;
	if (opts->tmpdir)
		s->tmpdir = lfs_xstrdup(opts->tmpdir);
	ret = lfs_blobsrc_read_full(src, head, hn, 0, "the blob");
	if (ret)
		goto out;
	s->comp = lfs_comp_detect(head, hn);
	s->want_stored = opts->hash_stored;
	s->want_plain = opts->hash_plain;
	/* Stored and plain bytes of a raw blob are the same: hash them once. */
	s->hash_stored = opts->hash_stored || (s->comp == LFS_COMP_NONE && opts->hash_plain);
	s->hash_plain = s->comp != LFS_COMP_NONE && opts->hash_plain;
	sha256_init(&s->sha_stored);
	sha256_init(&s->sha_plain);
	/* A remote source checks what it fetches later against sums taken now. */
	s->hash_chunks = lfs_blobsrc_wants_sums(src);
	if (s->hash_chunks) {
		sha256_init(&s->sha_chunk);
		s->sums.sha = lfs_xcalloc(lfs_chunk_count(len) ? lfs_chunk_count(len) : 1,
					  sizeof(*s->sums.sha));
	}
	s->inbuf = lfs_xmalloc(LFS_SCAN_INBUF);
	switch (s->comp) {
	case LFS_COMP_NONE:
		if (len > s->max_plain) {
			lfs_err_set("%s: %llu bytes is more than the limit of %llu", name,
				    (unsigned long long)len, (unsigned long long)s->max_plain);
			ret = -EFBIG;
			goto out;
		}
		break;
	case LFS_COMP_GZIP:
		s->codec = &lfs_codec_gzip;
		break;
	case LFS_COMP_ZSTD:
		s->codec = &lfs_codec_zstd;
		break;
	}
	ret = s->codec ? s->codec->scan_init(s) : 0;
out:
	if (ret)
		lfs_scan_free(s);
	else
		*out = s;
	return ret;
}

enum lfs_comp lfs_scan_comp(const struct lfs_scan *s)
{
	return s->comp;
}

uint64_t lfs_scan_pos(const struct lfs_scan *s)
{
	return s->plain_pos;
}

int lfs_blob_slow(const struct lfs_blob *b)
{
	return b->slow;
}

uint64_t lfs_scan_stored_pos(const struct lfs_scan *s)
{
	return s->in_off;
}

ssize_t lfs_scan_read(struct lfs_scan *s, const void **chunk)
{
	const uint8_t *p = NULL;
	ssize_t n;

	if (s->err)
		return s->err;
	if (s->done)
		return 0;
	if (s->codec) {
		n = s->codec->scan_read(s, chunk);
	} else {
		n = lfs_scan_input(s, &p);
		*chunk = p;
	}
	if (n < 0) {
		s->err = (int)n;
		return n;
	}
	if (n == 0) {
		s->done = 1;
		return 0;
	}
	s->plain_pos += (uint64_t)n;
	if (s->plain_pos > s->max_plain) {
		lfs_err_set("%s: %s: uncompressed data exceeds the limit of %llu bytes "
			    "(decompression bomb?)",
			    s->name, lfs_comp_name(s->comp), (unsigned long long)s->max_plain);
		s->err = -EFBIG;
		return s->err;
	}
	if (s->hash_plain)
		sha256_update(&s->sha_plain, (size_t)n, *chunk);
	return n;
}

/*
 * Only raw blobs can skip without decoding.  With a digest to compute we
 * still read the bytes, but that is no dearer than letting the caller read
 * them.  An error is kept for the next lfs_scan_read to report.
 */
int64_t lfs_scan_skip(struct lfs_scan *s, int64_t n)
{
	uint64_t k, done = 0;
	size_t m;
	int ret;

	if (s->codec || s->err || s->done || n <= 0)
		return 0;
	k = s->src->size - s->in_off;
	if ((uint64_t)n < k)
		k = (uint64_t)n;
	if (!s->hash_stored && !s->hash_chunks) {
		s->in_off += k;
		s->plain_pos += k;
		return (int64_t)k;
	}
	while (done < k) {
		m = k - done < LFS_SCAN_INBUF ? (size_t)(k - done) : LFS_SCAN_INBUF;
		ret = lfs_blobsrc_read_full(s->src, s->inbuf, m, s->in_off, "the blob");
		if (ret) {
			s->err = ret;
			break;
		}
		lfs_scan_hash_stored(s, s->inbuf, m);
		s->in_off += m;
		s->plain_pos += m;
		done += m;
	}
	return (int64_t)done;
}

static void cursor_destroy(const struct lfs_blob *b, struct lfs_cursor *c)
{
	if (c->st)
		b->codec->cursor_free(c);
	free(c->discard);
	pthread_mutex_destroy(&c->mu);
}

static void cursor_setup(struct lfs_cursor *c)
{
	pthread_mutex_init(&c->mu, NULL);
	c->next = LFS_POS_NONE;
	c->pos = LFS_POS_NONE;
}

struct lfs_blob *lfs_blob_new(enum lfs_comp comp, char *name, struct lfs_blobsrc *src,
			      uint64_t size, int scratch_fd, uint64_t scratch_len,
			      struct lfs_point *pts, size_t npts)
{
	struct lfs_blob *b = lfs_xcalloc(1, sizeof(*b));
	int i;

	b->comp = comp;
	if (comp == LFS_COMP_GZIP)
		b->codec = &lfs_codec_gzip;
	else if (comp == LFS_COMP_ZSTD)
		b->codec = &lfs_codec_zstd;
	b->name = name;
	b->src = src;
	b->size = size;
	b->scratch_fd = scratch_fd;
	b->scratch_len = scratch_len;
	b->pts = pts;
	b->npts = npts;
	pthread_mutex_init(&b->lock, NULL);
	for (i = 0; i < LFS_NCURSORS; i++)
		cursor_setup(&b->cur[i]);
	return b;
}

int lfs_scan_finish(struct lfs_scan *s, struct lfs_blob **out, uint8_t stored_sha256[32],
		    uint8_t plain_sha256[32])
{
	struct lfs_point *pts;
	const void *chunk;
	ssize_t n;
	int ret;

	*out = NULL;
	do
		n = lfs_scan_read(s, &chunk);
	while (n > 0);
	if (n < 0) {
		ret = (int)n;
		goto out;
	}
	if (s->want_stored && stored_sha256)
		sha256_digest(&s->sha_stored, SHA256_DIGEST_SIZE, stored_sha256);
	if (s->want_plain && plain_sha256) {
		if (s->codec)
			sha256_digest(&s->sha_plain, SHA256_DIGEST_SIZE, plain_sha256);
		else if (s->want_stored && stored_sha256)
			memcpy(plain_sha256, stored_sha256, SHA256_DIGEST_SIZE);
		else
			sha256_digest(&s->sha_stored, SHA256_DIGEST_SIZE, plain_sha256);
	}

	pts = s->pts.n ? lfs_xrealloc(s->pts.v, s->pts.n * sizeof(*pts)) : NULL;
	if (!pts)
		free(s->pts.v);
	s->pts.v = NULL;
	*out = lfs_blob_new(s->comp, s->name, s->src, s->plain_pos, s->scratch_fd, s->scratch_len,
			    pts, s->pts.n);
	(*out)->slow = s->skipped_reframe;
	if (s->hash_chunks) {
		lfs_blob_take_sums(*out, &s->sums);
		memset(&s->sums, 0, sizeof(s->sums));
	}
	s->name = NULL;
	s->src = NULL;
	s->scratch_fd = -1;
	ret = 0;
out:
	lfs_scan_free(s);
	return ret;
}

/*
 * Pick a decoder for reading [off, end).  Best is one that is (or will be,
 * once the thread using it is done) at or a little before OFF: that is how
 * a file read in 128 KiB requests is decoded only once, even when the
 * kernel sends the requests in parallel.  "A little" means not before the
 * restart point we would otherwise start from.  Otherwise take an idle one,
 * and when all are busy a temporary one, so that unrelated reads decode in
 * parallel.  Returns the cursor locked.
 */
static struct lfs_cursor *cursor_get(struct lfs_blob *b, uint64_t off, uint64_t end,
				     uint64_t restart)
{
	struct lfs_cursor *c = NULL, *k;
	int i, best;

	pthread_mutex_lock(&b->lock);
	for (i = 0; i < LFS_NCURSORS; i++) {
		k = &b->cur[i];
		if (k->next != LFS_POS_NONE && k->next <= off && k->next >= restart &&
		    (!c || k->next > c->next))
			c = k;
	}
	best = c != NULL;
	for (i = 0; !best && i < LFS_NCURSORS; i++) {
		k = &b->cur[i];
		if (!k->users && (!c || k->stamp < c->stamp))
			c = k;
	}
	if (c) {
		c->users++;
		c->next = end;
		c->stamp = ++b->clock;
	}
	pthread_mutex_unlock(&b->lock);
	if (!c) {
		c = lfs_xcalloc(1, sizeof(*c));
		cursor_setup(c);
		c->temp = 1;
	}
	pthread_mutex_lock(&c->mu);
	return c;
}

static void cursor_put(struct lfs_blob *b, struct lfs_cursor *c)
{
	if (c->temp) {
		pthread_mutex_unlock(&c->mu);
		cursor_destroy(b, c);
		free(c);
		return;
	}
	pthread_mutex_lock(&b->lock);
	if (--c->users == 0)
		c->next = c->pos;
	pthread_mutex_unlock(&b->lock);
	pthread_mutex_unlock(&c->mu);
}

static int cursor_read(struct lfs_blob *b, struct lfs_cursor *c, size_t pt, uint8_t *buf,
		       size_t len, uint64_t off)
{
	uint64_t gap;
	int ret;

	if (!c->st) {
		if (!c->discard)
			c->discard = lfs_xmalloc(LFS_CURSOR_DISCARD);
		ret = b->codec->cursor_init(b, c);
		if (ret)
			return ret;
	}
	if (c->pos == LFS_POS_NONE || c->pos > off || c->pos < b->pts[pt].out) {
		ret = b->codec->seek(b, c, pt);
		if (ret)
			return ret;
	}
	while (c->pos < off) {
		gap = off - c->pos;
		ret = b->codec->produce(
		    b, c, c->discard, gap < LFS_CURSOR_DISCARD ? (size_t)gap : LFS_CURSOR_DISCARD);
		if (ret)
			return ret;
	}
	return b->codec->produce(b, c, buf, len);
}

ssize_t lfs_blob_pread(struct lfs_blob *b, void *buf, size_t len, uint64_t off)
{
	struct lfs_cursor *c;
	size_t pt;
	int ret;

	if (off >= b->size || len == 0)
		return 0;
	if (len > b->size - off)
		len = (size_t)(b->size - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	if (!b->codec) {
		ret = lfs_blobsrc_read_full(b->src, buf, len, off, "the blob");
		return ret ? ret : (ssize_t)len;
	}
	if (!b->npts) {
		lfs_err_set("%s: no restart points", b->name);
		return -EIO;
	}
	pt = lfs_points_find(b->pts, b->npts, off);
	c = cursor_get(b, off, off + len, b->pts[pt].out);
	ret = cursor_read(b, c, pt, buf, len, off);
	if (ret)
		c->pos = LFS_POS_NONE;
	cursor_put(b, c);
	return ret ? ret : (ssize_t)len;
}

int lfs_blob_raw_fd(const struct lfs_blob *b, int *fd, uint64_t *base)
{
	if (b->codec) {
		lfs_err_set("%s: %s-compressed, no raw access", b->name, lfs_comp_name(b->comp));
		return -ENOTSUP;
	}
	return lfs_blobsrc_local_fd(b->src, fd, base);
}

uint64_t lfs_blob_size(const struct lfs_blob *b)
{
	return b->size;
}

enum lfs_comp lfs_blob_comp(const struct lfs_blob *b)
{
	return b->comp;
}

void lfs_blob_free(struct lfs_blob *b)
{
	int i;

	if (!b)
		return;
	for (i = 0; i < LFS_NCURSORS; i++)
		cursor_destroy(b, &b->cur[i]);
	pthread_mutex_destroy(&b->lock);
	if (b->scratch_fd >= 0)
		close(b->scratch_fd);
	lfs_blobsrc_unref(b->src);
	free(b->sums.sha);
	free(b->pts);
	free(b->name);
	free(b);
}

void lfs_blob_take_sums(struct lfs_blob *b, struct lfs_chunk_sums *sums)
{
	free(b->sums.sha);
	b->sums = *sums;
}

int lfs_blob_verified(struct lfs_blob *b)
{
	if (!lfs_blobsrc_wants_sums(b->src))
		return 0;
	/* Every stored byte went into the digest that verified, so into the sums. */
	return lfs_blobsrc_set_sums(b->src, &b->sums);
}
