/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zstd blobs.
 *
 * A zstd frame can only be decoded from its start.  Streams made of many
 * small frames (zstd:chunked, pzstd, ...) are read in place: restart points
 * are frame starts, at most one per LFS_POINT_INTERVAL of output.  But the
 * zstd layers that buildah, skopeo and docker write are usually a single
 * frame with a window of 8 MiB or more.  Every frame bigger than
 * SMALL_FRAME is therefore re-compressed during the scan into independent
 * frames of REFRAME_SIZE at a fast level, written to the scratch file,
 * and reads inside it are served from there.  The plain bytes of a frame
 * are held in memory until it is known to be big, so well-framed streams
 * cost nothing extra.
 *
 * Why re-frame, and at which level: 200 MiB of real data (tar cf - of
 * /usr/lib/x86_64-linux-gnu and /usr/share/doc, cut to 200 MiB) compressed
 * by "zstd -3" into one 64.6 MB frame.  CPU seconds of the scan, best of
 * three on a shared 2-vCPU VM, without digests; scratch in % of stored:
 *
 *	decompression alone (no re-framing)	0.33 s	  -
 *	re-framing at level 3			2.35 s	102 %
 *	re-framing at level 1			1.24 s	112 %
 *	re-framing at level -1			1.21 s	126 %
 *	re-framing at level -3			1.09 s	145 %
 *	re-framing at level -5			1.04 s	158 %
 *	re-framing at level -10			0.89 s	185 %
 *	same data as 200 frames of 1 MiB	0.26 s	  - (decoding alone 0.25 s)
 *
 * Without re-framing, each read inside the frame decodes it from its
 * start: half the layer on average, ~0.17 s of CPU per random 4 KiB read
 * here, ~0.8 s on a 1 GB layer.  Re-framed, a random 4 KiB read costs
 * 0.8 ms (p50) / 2-3 ms (p99) of CPU, and a file read sequentially in
 * 128 KiB requests decodes at 300-600 MB/s.  Re-framing makes the one-time
 * scan of a single-frame layer about 3-4 times dearer.  Level 1 keeps the
 * scratch file near the stored size for a few percent more time than the
 * negative levels, so it is the choice.
 *
 * Frames of 256 KiB rather than 1 MiB: with the page cache cold, a random
 * read was dominated by reading its frame from disk (scripts/bench, 2 GiB
 * file: p50 3.3 ms, p99 19.7 ms with 1 MiB frames); a quarter of the bytes
 * to read and decode per request, for a scratch file a few percent bigger.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>
#include <zstd_errors.h>

#include "blob_int.h"
#include "layerfs/lfs.h"

/* zstd's default: frames needing more memory than this are refused. */
#define WINDOWLOG_MAX 27
#define SMALL_FRAME   (1u << 20)
#define REFRAME_SIZE  (256u << 10)
#ifndef LFS_ZSTD_REFRAME_LEVEL
#define LFS_ZSTD_REFRAME_LEVEL 1
#endif

/* Where the IN of a restart point is. */
enum { ZS_ORIG, ZS_SCRATCH };

struct zs_scan {
	ZSTD_DCtx *dctx;
	ZSTD_CCtx *cctx; /* created for the first big frame */
	ZSTD_inBuffer in;
	uint64_t in0_off; /* blob offset of in.src */
	uint8_t *out;	  /* LFS_SCAN_CHUNK bytes: the chunk handed out */
	uint8_t *acc;	  /* SMALL_FRAME bytes: plain data of this frame not yet re-framed */
	size_t acc_len;
	uint64_t acc_out; /* plain offset of acc[0] */
	uint8_t *cbuf;	  /* one re-compressed frame */
	size_t cbuf_cap;
	int big; /* this frame is being re-framed */
	uint64_t frame_in, frame_out;
	uint64_t out_total;
	int between; /* at a frame boundary (or at the start) */
	int in_eof;
};

/*
 * A frame in the blob is read piecewise into INBUF; a re-framed one is read
 * whole into FRAME, so that its hash is checked before any of it is used.
 */
struct zs_cursor {
	ZSTD_DCtx *dctx;
	ZSTD_inBuffer in;
	uint64_t in_next; /* blob offset of the byte after those in INBUF */
	int src_eof;	  /* nothing more to read after IN */
	uint8_t *frame;	  /* a re-framed frame (frame_cap bytes allocated) */
	size_t frame_cap;
	uint8_t inbuf[LFS_CURSOR_INBUF];
};

/* Every zstd failure becomes -errno and a message here. */
static int zs_err(const char *name, ZSTD_ErrorCode code, uint64_t at)
{
	switch (code) {
	case ZSTD_error_memory_allocation:
		lfs_err_set("%s: zstd: out of memory", name);
		return -ENOMEM;
	case ZSTD_error_srcSize_wrong:
		lfs_err_set("%s: zstd: unexpected end of data (truncated?)", name);
		return -EIO;
	case ZSTD_error_prefix_unknown:
		lfs_err_set("%s: zstd: no zstd frame at byte %llu (trailing garbage?)", name,
			    (unsigned long long)at);
		return -EINVAL;
	case ZSTD_error_frameParameter_windowTooLarge:
		lfs_err_set("%s: zstd: frame at byte %llu needs a window larger than %u MiB", name,
			    (unsigned long long)at, 1u << (WINDOWLOG_MAX - 20));
		return -EFBIG;
	case ZSTD_error_dstSize_tooSmall:
	case ZSTD_error_workSpace_tooSmall:
	case ZSTD_error_parameter_unsupported:
	case ZSTD_error_parameter_outOfBound:
	case ZSTD_error_stage_wrong:
	case ZSTD_error_init_missing:
		lfs_err_set("%s: zstd: internal error: %s", name, ZSTD_getErrorString(code));
		return -EINVAL;
	default:
		lfs_err_set("%s: zstd: corrupt data near byte %llu: %s", name,
			    (unsigned long long)at, ZSTD_getErrorString(code));
		return -EIO;
	}
}

static int zs_dctx_new(const char *name, ZSTD_DCtx **out)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	size_t r;

	*out = d;
	if (!d)
		return zs_err(name, ZSTD_error_memory_allocation, 0);
	r = ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, WINDOWLOG_MAX);
	return ZSTD_isError(r) ? zs_err(name, ZSTD_getErrorCode(r), 0) : 0;
}

static int zs_scan_init(struct lfs_scan *s)
{
	struct zs_scan *z = lfs_xcalloc(1, sizeof(*z));

	s->priv = z;
	z->out = lfs_xmalloc(LFS_SCAN_CHUNK);
	z->acc = lfs_xmalloc(SMALL_FRAME);
	z->between = 1;
	return zs_dctx_new(s->name, &z->dctx);
}

static void zs_scan_free(struct lfs_scan *s)
{
	struct zs_scan *z = s->priv;

	ZSTD_freeDCtx(z->dctx);
	ZSTD_freeCCtx(z->cctx);
	free(z->cbuf);
	free(z->acc);
	free(z->out);
	free(z);
	s->priv = NULL;
}

static int zs_cctx_setup(struct lfs_scan *s, struct zs_scan *z)
{
	size_t r;

	z->cctx = ZSTD_createCCtx();
	if (!z->cctx)
		return zs_err(s->name, ZSTD_error_memory_allocation, 0);
	r = ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel, LFS_ZSTD_REFRAME_LEVEL);
	if (ZSTD_isError(r))
		return zs_err(s->name, ZSTD_getErrorCode(r), 0);
	z->cbuf_cap = ZSTD_compressBound(REFRAME_SIZE);
	z->cbuf = lfs_xmalloc(z->cbuf_cap);
	return 0;
}

/* Re-compress the held plain bytes into independent frames in the scratch file. */
static int zs_reframe(struct lfs_scan *s, struct zs_scan *z)
{
	struct lfs_point p = {.kind = ZS_SCRATCH};
	size_t off, m, r;
	int ret;

	if (!z->cctx) {
		ret = zs_cctx_setup(s, z);
		if (ret)
			return ret;
	}
	for (off = 0; off < z->acc_len; off += m) {
		m = z->acc_len - off < REFRAME_SIZE ? z->acc_len - off : REFRAME_SIZE;
		r = ZSTD_compress2(z->cctx, z->cbuf, z->cbuf_cap, z->acc + off, m);
		if (ZSTD_isError(r))
			return zs_err(s->name, ZSTD_getErrorCode(r), 0);
		ret = lfs_scan_scratch_write(s, z->cbuf, r, &p.in);
		if (ret)
			return ret;
		p.out = z->acc_out + off;
		p.len = (uint32_t)r;
		p.hash = lfs_point_hash(&p, z->cbuf, r);
		lfs_points_add(&s->pts, &p);
	}
	z->acc_out += z->acc_len;
	z->acc_len = 0;
	return 0;
}

/* Plain bytes of the current frame, as they are decoded. */
static int zs_take(struct lfs_scan *s, struct zs_scan *z, const uint8_t *p, size_t n)
{
	size_t k;
	int ret;

	/* Every frame then gets a restart point at its start, as small ones do. */
	if (s->sequential) {
		z->acc_len += n;
		if (z->acc_len > SMALL_FRAME)
			s->skipped_reframe = 1;
		return 0;
	}
	while (n > 0) {
		if (z->acc_len == SMALL_FRAME) {
			z->big = 1;
			ret = zs_reframe(s, z);
			if (ret)
				return ret;
		}
		k = SMALL_FRAME - z->acc_len < n ? SMALL_FRAME - z->acc_len : n;
		memcpy(z->acc + z->acc_len, p, k);
		z->acc_len += k;
		p += k;
		n -= k;
	}
	return 0;
}

static int zs_frame_end(struct lfs_scan *s, struct zs_scan *z)
{
	const struct lfs_point *last = s->pts.n ? &s->pts.v[s->pts.n - 1] : NULL;
	struct lfs_point p = {.kind = ZS_ORIG};
	int ret = 0;

	if (z->big) {
		ret = zs_reframe(s, z);
	} else if (!last || last->kind != ZS_ORIG ||
		   z->frame_out - last->out >= LFS_POINT_INTERVAL) {
		p.out = z->frame_out;
		p.in = z->frame_in;
		p.hash = lfs_point_hash(&p, NULL, 0);
		lfs_points_add(&s->pts, &p);
	}
	z->big = 0;
	z->acc_len = 0;
	return ret;
}

static ssize_t zs_scan_read(struct lfs_scan *s, const void **chunk)
{
	struct zs_scan *z = s->priv;
	ZSTD_outBuffer ob;
	const uint8_t *p;
	size_t have = 0, in_before, r;
	ssize_t n;
	int ret;

	while (have < LFS_SCAN_CHUNK) {
		if (z->in.pos == z->in.size && !z->in_eof) {
			n = lfs_scan_input(s, &p);
			if (n < 0)
				return n;
			if (n == 0) {
				z->in_eof = 1;
			} else {
				z->in0_off = s->in_off - (uint64_t)n;
				z->in.src = p;
				z->in.size = (size_t)n;
				z->in.pos = 0;
			}
		}
		if (z->between) {
			if (z->in.pos == z->in.size)
				break; /* the end, after a complete frame */
			z->between = 0;
			z->frame_in = z->in0_off + z->in.pos;
			z->frame_out = z->out_total;
			z->acc_out = z->out_total;
		}
		ob.dst = z->out + have;
		ob.size = LFS_SCAN_CHUNK - have;
		ob.pos = 0;
		in_before = z->in.pos;
		r = ZSTD_decompressStream(z->dctx, &ob, &z->in);
		if (ZSTD_isError(r))
			return zs_err(s->name, ZSTD_getErrorCode(r), z->in0_off + z->in.pos);
		ret = zs_take(s, z, z->out + have, ob.pos);
		if (ret)
			return ret;
		have += ob.pos;
		z->out_total += ob.pos;
		if (r == 0) {
			/* A frame (maybe a skippable one) ends exactly here. */
			ret = zs_frame_end(s, z);
			if (ret)
				return ret;
			z->between = 1;
		} else if (!ob.pos && z->in.pos == in_before && z->in_eof) {
			return zs_err(s->name, ZSTD_error_srcSize_wrong, z->in0_off + z->in.pos);
		}
	}
	*chunk = z->out;
	return (ssize_t)have;
}

static int zs_cursor_init(struct lfs_blob *b, struct lfs_cursor *c)
{
	struct zs_cursor *k = lfs_xcalloc(1, sizeof(*k));
	int ret;

	ret = zs_dctx_new(b->name, &k->dctx);
	if (ret) {
		ZSTD_freeDCtx(k->dctx);
		free(k);
		return ret;
	}
	c->st = k;
	return 0;
}

static void zs_cursor_free(struct lfs_cursor *c)
{
	struct zs_cursor *k = c->st;

	ZSTD_freeDCtx(k->dctx);
	free(k->frame);
	free(k);
	c->st = NULL;
}

static int zs_seek(struct lfs_blob *b, struct lfs_cursor *c, size_t pt)
{
	const struct lfs_point *p = &b->pts[pt];
	struct zs_cursor *k = c->st;
	size_t r;
	int ret;

	c->pos = LFS_POS_NONE;
	r = ZSTD_DCtx_reset(k->dctx, ZSTD_reset_session_only);
	if (ZSTD_isError(r))
		return zs_err(b->name, ZSTD_getErrorCode(r), p->in);
	k->in.pos = 0;
	if (p->kind == ZS_SCRATCH) {
		if (k->frame_cap < p->len) {
			free(k->frame);
			k->frame = lfs_xmalloc(p->len);
			k->frame_cap = p->len;
		}
		ret = lfs_pread_full(b->scratch_fd, k->frame, p->len, p->in, b->name,
				     "the scratch file");
		if (!ret)
			ret = lfs_point_verify(b, pt, k->frame, p->len,
					       "re-framed zstd frame in the scratch file");
		if (ret)
			return ret;
		k->in.src = k->frame;
		k->in.size = p->len;
		k->src_eof = 1;
	} else {
		/* No data of its own to check, but the hash covers the point's fields. */
		ret = lfs_point_verify(b, pt, NULL, 0, "zstd frame");
		if (ret)
			return ret;
		k->in_next = p->in;
		k->in.src = k->inbuf;
		k->in.size = 0;
		k->src_eof = 0;
	}
	c->pos = p->out;
	c->pt = pt;
	return 0;
}

static int zs_refill(struct lfs_blob *b, struct zs_cursor *k)
{
	uint64_t left = k->in_next < b->src->size ? b->src->size - k->in_next : 0;
	size_t n = left < sizeof(k->inbuf) ? (size_t)left : sizeof(k->inbuf);
	int ret;

	k->in.pos = 0;
	k->in.size = 0;
	if (n == 0) {
		k->src_eof = 1;
		return 0;
	}
	ret = lfs_blobsrc_read_full(b->src, k->inbuf, n, k->in_next, "the blob");
	if (ret)
		return ret;
	k->in.size = n;
	k->in_next += n;
	return 0;
}

static int zs_produce(struct lfs_blob *b, struct lfs_cursor *c, uint8_t *dst, size_t n)
{
	struct zs_cursor *k = c->st;
	ZSTD_outBuffer ob;
	size_t in_before, r;
	int ret;

	while (n > 0) {
		/* Restart points may switch sources: never decode across one. */
		while (c->pt + 1 < b->npts && b->pts[c->pt + 1].out <= c->pos) {
			ret = zs_seek(b, c, c->pt + 1);
			if (ret)
				return ret;
		}
		ob.dst = dst;
		ob.size = n;
		if (c->pt + 1 < b->npts && b->pts[c->pt + 1].out - c->pos < n)
			ob.size = (size_t)(b->pts[c->pt + 1].out - c->pos);
		ob.pos = 0;
		if (k->in.pos == k->in.size && !k->src_eof) {
			ret = zs_refill(b, k);
			if (ret)
				return ret;
		}
		in_before = k->in.pos;
		r = ZSTD_decompressStream(k->dctx, &ob, &k->in);
		if (ZSTD_isError(r))
			return zs_err(b->name, ZSTD_getErrorCode(r), k->in_next);
		if (!ob.pos && k->in.pos == in_before && k->src_eof)
			return zs_err(b->name, ZSTD_error_srcSize_wrong, k->in_next);
		dst += ob.pos;
		n -= ob.pos;
		c->pos += ob.pos;
	}
	return 0;
}

/*
 * Frames in the blob are in order and start inside it; re-framed frames
 * (at most the bound of REFRAME_SIZE) follow each other in the scratch file.
 */
static const char *zs_check_point(const struct lfs_blob *b, const struct lfs_point *p,
				  struct lfs_point_check *pc)
{
	if (p->bits || p->byte || p->win)
		return "gzip fields set";
	switch (p->kind) {
	case ZS_ORIG:
		if (p->len || p->in >= b->src->size || (pc->have_in && p->in <= pc->last_in))
			return "frame offset out of order or out of range";
		pc->last_in = p->in;
		pc->have_in = 1;
		return NULL;
	case ZS_SCRATCH:
		if (!p->len || p->len > ZSTD_COMPRESSBOUND(REFRAME_SIZE) ||
		    p->in != pc->scratch_end || p->len > b->scratch_len - p->in)
			return "re-framed frame out of place";
		pc->scratch_end += p->len;
		return NULL;
	}
	return "unknown kind";
}

const struct lfs_codec lfs_codec_zstd = {
    .scan_init = zs_scan_init,
    .scan_read = zs_scan_read,
    .scan_free = zs_scan_free,
    .cursor_init = zs_cursor_init,
    .cursor_free = zs_cursor_free,
    .seek = zs_seek,
    .produce = zs_produce,
    .check_point = zs_check_point,
};
