/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blobs, the bottom of the stack: the scan's input (stored bytes, read
 * through its blob source, blobsrc.h) and its scratch file (a local file),
 * and restart point tables.  The codecs
 * (blob_gzip.c, blob_zstd.c) and the common part (blob.c) use these; this
 * file uses none of them, so the blob files call each other without a circle.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "blob_int.h"
#include "layerfs/lfs.h"

int lfs_pread_full(int fd, void *buf, size_t n, uint64_t off, const char *name, const char *what)
{
	uint8_t *p = buf;
	ssize_t r;
	int ret;

	while (n > 0) {
		r = pread(fd, p, n, (off_t)off);
		if (r < 0) {
			ret = -errno;
			if (ret == -EINTR)
				continue;
			lfs_err_set("%s: reading %s: %s", name, what, strerror(-ret));
			return ret;
		}
		if (r == 0) {
			lfs_err_set("%s: reading %s: unexpected end of file (truncated?)", name,
				    what);
			return -EIO;
		}
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

void lfs_points_add(struct lfs_points *pts, const struct lfs_point *p)
{
	if (pts->n == pts->cap) {
		pts->cap = pts->cap ? 2 * pts->cap : 64;
		pts->v = lfs_xrealloc(pts->v, pts->cap * sizeof(*pts->v));
	}
	pts->v[pts->n++] = *p;
}

size_t lfs_points_find(const struct lfs_point *v, size_t n, uint64_t off)
{
	size_t lo = 0, hi = n;

	/* Invariant: v[i].out <= off for i < lo, > off for i >= hi. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid].out <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? lo - 1 : 0;
}

/*
 * Scratch data (gzip windows, re-framed zstd) lives in an unlinked file, so
 * that memory use does not grow with the size of the layer and nothing is
 * left behind when we die.
 */
static int scratch_open(struct lfs_scan *s)
{
	const char *dir = s->tmpdir ? s->tmpdir : getenv("TMPDIR");
	char *path = NULL;
	int fd, ret;

	if (!dir || !*dir)
		dir = "/var/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	ret = fd < 0 ? -errno : 0;
	/* Not every file system has O_TMPFILE. */
	if (ret == -EOPNOTSUPP || ret == -EISDIR || ret == -EINVAL) {
		size_t n = strlen(dir) + sizeof("/layerfs-XXXXXX");

		path = lfs_xmalloc(n);
		snprintf(path, n, "%s/layerfs-XXXXXX", dir);
		fd = mkostemp(path, O_CLOEXEC);
		ret = fd < 0 ? -errno : 0;
		if (fd >= 0)
			unlink(path);
	}
	if (ret) {
		lfs_err_set("%s: cannot create a scratch file in %s: %s", s->name, dir,
			    strerror(-ret));
		goto out;
	}
	s->scratch_fd = fd;
	ret = 0;
out:
	free(path);
	return ret;
}

int lfs_scan_scratch_write(struct lfs_scan *s, const void *buf, size_t n, uint64_t *off)
{
	const uint8_t *p = buf;
	ssize_t r;
	int ret;

	if (s->scratch_fd < 0) {
		ret = scratch_open(s);
		if (ret)
			return ret;
	}
	*off = s->scratch_len;
	while (n > 0) {
		r = pwrite(s->scratch_fd, p, n, (off_t)s->scratch_len);
		if (r < 0) {
			ret = -errno;
			if (ret == -EINTR)
				continue;
			lfs_err_set("%s: writing the scratch file: %s", s->name, strerror(-ret));
			return ret;
		}
		p += r;
		n -= (size_t)r;
		s->scratch_len += (uint64_t)r;
	}
	return 0;
}

void lfs_scan_hash_stored(struct lfs_scan *s, const void *p, size_t n)
{
	const uint8_t *q = p;
	size_t k;

	if (s->hash_stored)
		sha256_update(&s->sha_stored, n, q);
	if (!s->hash_chunks)
		return;
	/* Bytes come in order, so each piece ends at a multiple of the chunk size. */
	while (n > 0) {
		k = LFS_CHUNK_SIZE - s->chunk_fill;
		if (k > n)
			k = n;
		sha256_update(&s->sha_chunk, k, q);
		s->chunk_fill += (uint32_t)k;
		q += k;
		n -= k;
		if (s->chunk_fill == LFS_CHUNK_SIZE ||
		    s->in_off + (uint64_t)(q - (const uint8_t *)p) == s->src->size) {
			sha256_digest(&s->sha_chunk, SHA256_DIGEST_SIZE, s->sums.sha[s->sums.n++]);
			s->chunk_fill = 0;
		}
	}
}

ssize_t lfs_scan_input(struct lfs_scan *s, const uint8_t **p)
{
	uint64_t left = s->src->size - s->in_off;
	size_t n = left < LFS_SCAN_INBUF ? (size_t)left : LFS_SCAN_INBUF;
	int ret;

	if (n == 0)
		return 0;
	ret = lfs_blobsrc_read_full(s->src, s->inbuf, n, s->in_off, "the blob");
	if (ret)
		return ret;
	lfs_scan_hash_stored(s, s->inbuf, n);
	s->in_off += n;
	*p = s->inbuf;
	return (ssize_t)n;
}

void lfs_point_pack(uint8_t rec[LFS_POINT_REC], const struct lfs_point *p)
{
	lfs_put_le(rec, p->out, 8);
	lfs_put_le(rec + 8, p->in, 8);
	lfs_put_le(rec + 16, p->win, 8);
	lfs_put_le(rec + 24, p->len, 4);
	rec[28] = p->bits;
	rec[29] = p->byte;
	rec[30] = p->kind;
	rec[31] = 0; /* reserved */
	lfs_put_le(rec + 32, p->hash, 8);
}

uint64_t lfs_point_hash(const struct lfs_point *p, const void *data, size_t n)
{
	uint8_t rec[LFS_POINT_REC];

	lfs_point_pack(rec, p);
	return XXH3_64bits_withSeed(n ? data : "", n, XXH3_64bits(rec, LFS_POINT_SEEDED));
}

int lfs_point_verify(const struct lfs_blob *b, size_t pt, const void *data, size_t n,
		     const char *what)
{
	const struct lfs_point *p = &b->pts[pt];

	if (lfs_point_hash(p, data, n) == p->hash)
		return 0;
	lfs_err_set("%s: restart point %zu (%s): checksum mismatch, the scratch file or the "
		    "saved state is damaged",
		    b->name, pt, what);
	return -EIO;
}
