/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gzip blobs.  The scan inflates the whole stream once (checking every
 * member's CRC and length) and, like zlib's examples/zran.c, records a
 * checkpoint at a deflate block boundary about every GZ_POINT_INTERVAL
 * bytes of output: the position in the compressed stream down to the bit,
 * and the 32 KiB window needed to resume there.  Windows go to the scratch
 * file, so memory stays proportional to the number of checkpoints.  A
 * random read resumes raw deflate at the checkpoint before it; a cursor
 * that leaves its member skips the trailer and goes on with the next member
 * in gzip mode, so concatenated members (pigz, cat a.gz b.gz) work.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "blob_int.h"
#include "layerfs/lfs.h"

#define WINSIZE 32768u
/*
 * Half of LFS_POINT_INTERVAL: a random read inflates from the checkpoint
 * before it, 1/2 interval on average and a whole one at worst.  With 1 MiB,
 * scripts/bench's 2 GiB file gave p50 4.4 ms / p99 13.6 ms cold, 85% of it
 * in inflate (perf).  The price is a window per 512 KiB in the scratch
 * file: 6% of the plain size instead of 3%.
 */
#define GZ_POINT_INTERVAL (LFS_POINT_INTERVAL / 2)
#define GZIP_WBITS	  (15 + 16)
#define RAW_WBITS	  (-15)
#define GZIP_TRAILER	  8

struct gz_scan {
	z_stream zs;
	int zinit;
	uint8_t *out;	    /* LFS_SCAN_CHUNK bytes: the chunk handed out */
	const uint8_t *in0; /* start of the current input chunk */
	uint64_t in0_off;   /* its offset in the blob */
	uint8_t prev_last;  /* last byte of the input chunk before it */
	uint64_t out_total; /* plain bytes decoded */
	int member_end;	    /* a member just ended: another one or the end follows */
	int in_eof;
	uint8_t win[WINSIZE];
};

struct gz_cursor {
	z_stream zs;
	int raw;	  /* in raw deflate (entered at a checkpoint), not a gzip member */
	uint64_t in_next; /* blob offset of the byte after those in IN */
	uint8_t in[LFS_CURSOR_INBUF];
};

/* Every zlib failure becomes -errno and a message here. */
static int gz_err(const char *name, int zret, const z_stream *zs, uint64_t at)
{
	const char *msg = zs && zs->msg ? zs->msg : "invalid data";

	switch (zret) {
	case Z_MEM_ERROR:
		lfs_err_set("%s: gzip: out of memory", name);
		return -ENOMEM;
	case Z_BUF_ERROR:
		lfs_err_set("%s: gzip: unexpected end of data (truncated?)", name);
		return -EIO;
	case Z_DATA_ERROR:
		lfs_err_set("%s: gzip: corrupt data near byte %llu: %s", name,
			    (unsigned long long)at, msg);
		return -EIO;
	case Z_NEED_DICT:
		lfs_err_set("%s: gzip: corrupt data near byte %llu: needs a preset dictionary",
			    name, (unsigned long long)at);
		return -EIO;
	case Z_VERSION_ERROR:
		lfs_err_set("%s: gzip: incompatible zlib version %s", name, zlibVersion());
		return -EINVAL;
	default:
		lfs_err_set("%s: gzip: zlib error %d (%s)", name, zret, msg);
		return -EIO;
	}
}

static int gz_scan_init(struct lfs_scan *s)
{
	struct gz_scan *g = lfs_xcalloc(1, sizeof(*g));
	int zret;

	s->priv = g;
	g->out = lfs_xmalloc(LFS_SCAN_CHUNK);
	zret = inflateInit2(&g->zs, GZIP_WBITS);
	if (zret != Z_OK)
		return gz_err(s->name, zret, &g->zs, 0);
	g->zinit = 1;
	return 0;
}

static void gz_scan_free(struct lfs_scan *s)
{
	struct gz_scan *g = s->priv;

	if (g->zinit)
		inflateEnd(&g->zs);
	free(g->out);
	free(g);
	s->priv = NULL;
}

static uint64_t gz_scan_at(const struct gz_scan *g)
{
	return g->in0 ? g->in0_off + (uint64_t)(g->zs.next_in - g->in0) : 0;
}

/* The inflate state is at a block boundary: remember how to resume here. */
static int gz_checkpoint(struct lfs_scan *s, struct gz_scan *g)
{
	struct lfs_point p = {0};
	const uint8_t *next = g->zs.next_in;
	unsigned wlen = 0;
	int zret, ret;

	p.out = g->out_total;
	p.in = gz_scan_at(g);
	p.bits = (uint8_t)(g->zs.data_type & 7);
	if (p.bits)
		p.byte = next > g->in0 ? next[-1] : g->prev_last;
	zret = inflateGetDictionary(&g->zs, g->win, &wlen);
	if (zret != Z_OK)
		return gz_err(s->name, zret, &g->zs, p.in);
	if (wlen) {
		ret = lfs_scan_scratch_write(s, g->win, wlen, &p.win);
		if (ret)
			return ret;
	}
	p.len = wlen;
	p.hash = lfs_point_hash(&p, g->win, wlen);
	lfs_points_add(&s->pts, &p);
	return 0;
}

static int gz_scan_refill(struct lfs_scan *s, struct gz_scan *g)
{
	const uint8_t *p;
	ssize_t n;

	if (g->in0 && g->zs.next_in > g->in0)
		g->prev_last = g->zs.next_in[-1];
	n = lfs_scan_input(s, &p);
	if (n < 0)
		return (int)n;
	if (n == 0) {
		g->in_eof = 1;
		return 0;
	}
	g->in0 = p;
	g->in0_off = s->in_off - (uint64_t)n;
	g->zs.next_in = (Bytef *)p;
	g->zs.avail_in = (uInt)n;
	return 0;
}

static ssize_t gz_scan_read(struct lfs_scan *s, const void **chunk)
{
	struct gz_scan *g = s->priv;
	z_stream *zs = &g->zs;
	size_t have = 0, produced;
	uInt in_before;
	int zret, ret;

	while (have < LFS_SCAN_CHUNK) {
		if (zs->avail_in == 0 && !g->in_eof) {
			ret = gz_scan_refill(s, g);
			if (ret)
				return ret;
		}
		if (g->member_end) {
			if (zs->avail_in == 0)
				break; /* the end, after a complete member */
			/* Like Go's gzip reader (containerd, docker): no trailing junk. */
			if (zs->next_in[0] != 0x1f) {
				lfs_err_set(
				    "%s: gzip: trailing garbage after the data at byte %llu",
				    s->name, (unsigned long long)gz_scan_at(g));
				return -EINVAL;
			}
			zret = inflateReset(zs);
			if (zret != Z_OK)
				return gz_err(s->name, zret, zs, gz_scan_at(g));
			g->member_end = 0;
		}
		zs->next_out = g->out + have;
		zs->avail_out = (uInt)(LFS_SCAN_CHUNK - have);
		in_before = zs->avail_in;
		zret = inflate(zs, Z_BLOCK);
		produced = LFS_SCAN_CHUNK - have - zs->avail_out;
		have += produced;
		g->out_total += produced;
		if (zret == Z_STREAM_END) {
			g->member_end = 1;
			continue;
		}
		if (zret != Z_OK && zret != Z_BUF_ERROR)
			return gz_err(s->name, zret, zs, gz_scan_at(g));
		if (!produced && zs->avail_in == in_before && g->in_eof)
			return gz_err(s->name, Z_BUF_ERROR, zs, gz_scan_at(g));
		/* 128: at a block boundary; 64: ... after the last block. */
		if ((zs->data_type & 128) && !(zs->data_type & 64) &&
		    (!s->pts.n || g->out_total - s->pts.v[s->pts.n - 1].out >= GZ_POINT_INTERVAL)) {
			ret = gz_checkpoint(s, g);
			if (ret)
				return ret;
		}
	}
	*chunk = g->out;
	return (ssize_t)have;
}

static int gz_cursor_init(struct lfs_blob *b, struct lfs_cursor *c)
{
	struct gz_cursor *k = lfs_xcalloc(1, sizeof(*k));
	int zret;

	zret = inflateInit2(&k->zs, RAW_WBITS);
	if (zret != Z_OK) {
		free(k);
		return gz_err(b->name, zret, NULL, 0);
	}
	c->st = k;
	return 0;
}

static void gz_cursor_free(struct lfs_cursor *c)
{
	struct gz_cursor *k = c->st;

	inflateEnd(&k->zs);
	free(k);
	c->st = NULL;
}

static int gz_seek(struct lfs_blob *b, struct lfs_cursor *c, size_t pt)
{
	const struct lfs_point *p = &b->pts[pt];
	struct gz_cursor *k = c->st;
	int zret, ret;

	c->pos = LFS_POS_NONE;
	zret = inflateReset2(&k->zs, RAW_WBITS);
	if (zret == Z_OK && p->bits)
		zret = inflatePrime(&k->zs, p->bits, p->byte >> (8 - p->bits));
	if (zret != Z_OK)
		return gz_err(b->name, zret, &k->zs, p->in);
	if (p->len) {
		ret = lfs_pread_full(b->scratch_fd, c->discard, p->len, p->win, b->name,
				     "the scratch file");
		if (ret)
			return ret;
	}
	/* Even without a window: the hash also covers the point's fields. */
	ret = lfs_point_verify(b, pt, c->discard, p->len, "gzip window in the scratch file");
	if (ret)
		return ret;
	if (p->len) {
		zret = inflateSetDictionary(&k->zs, c->discard, p->len);
		if (zret != Z_OK)
			return gz_err(b->name, zret, &k->zs, p->in);
	}
	k->raw = 1;
	k->zs.avail_in = 0;
	k->in_next = p->in;
	c->pos = p->out;
	c->pt = pt;
	return 0;
}

static int gz_refill(struct lfs_blob *b, struct gz_cursor *k)
{
	uint64_t left = k->in_next < b->src->size ? b->src->size - k->in_next : 0;
	size_t n = left < sizeof(k->in) ? (size_t)left : sizeof(k->in);
	int ret;

	if (n == 0)
		return gz_err(b->name, Z_BUF_ERROR, &k->zs, k->in_next);
	ret = lfs_blobsrc_read_full(b->src, k->in, n, k->in_next, "the blob");
	if (ret)
		return ret;
	k->zs.next_in = k->in;
	k->zs.avail_in = (uInt)n;
	k->in_next += n;
	return 0;
}

static int gz_produce(struct lfs_blob *b, struct lfs_cursor *c, uint8_t *dst, size_t n)
{
	struct gz_cursor *k = c->st;
	z_stream *zs = &k->zs;
	size_t left = n, step;
	int zret, ret;

	while (left > 0) {
		step = left < (1u << 30) ? left : (1u << 30);
		zs->next_out = dst;
		zs->avail_out = (uInt)step;
		while (zs->avail_out > 0) {
			if (zs->avail_in == 0) {
				ret = gz_refill(b, k);
				if (ret)
					return ret;
			}
			zret = inflate(zs, Z_NO_FLUSH);
			if (zret == Z_STREAM_END) {
				/* Raw deflate leaves the trailer to us; gzip mode checked it. */
				if (k->raw && zs->avail_in >= GZIP_TRAILER) {
					zs->next_in += GZIP_TRAILER;
					zs->avail_in -= GZIP_TRAILER;
				} else if (k->raw) {
					k->in_next += GZIP_TRAILER - zs->avail_in;
					zs->avail_in = 0;
				}
				k->raw = 0;
				zret = inflateReset2(zs, GZIP_WBITS);
			}
			if (zret != Z_OK)
				return gz_err(b->name, zret, zs, k->in_next - zs->avail_in);
		}
		dst += step;
		left -= step;
	}
	c->pos += n;
	return 0;
}

/*
 * The point must be where a scan could have put it: inside the blob and
 * after the previous one, its window (at most WINSIZE) right after the
 * previous window in the scratch file.
 */
static const char *gz_check_point(const struct lfs_blob *b, const struct lfs_point *p,
				  struct lfs_point_check *pc)
{
	if (p->kind || p->bits > 7 || (!p->bits && p->byte) || (p->bits && !p->in))
		return "bad bit position or kind";
	if (p->in >= b->src->size || (pc->have_in && p->in <= pc->last_in))
		return "compressed offset out of order or out of range";
	if (p->len > WINSIZE || (!p->len && p->win) ||
	    (p->len && (p->win != pc->scratch_end || p->len > b->scratch_len - p->win)))
		return "window out of place";
	pc->last_in = p->in;
	pc->have_in = 1;
	pc->scratch_end += p->len;
	return NULL;
}

const struct lfs_codec lfs_codec_gzip = {
    .scan_init = gz_scan_init,
    .scan_read = gz_scan_read,
    .scan_free = gz_scan_free,
    .cursor_init = gz_cursor_init,
    .cursor_free = gz_cursor_free,
    .seek = gz_seek,
    .produce = gz_produce,
    .check_point = gz_check_point,
};
