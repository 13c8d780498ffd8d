/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The compressed stream a layer is written through, with its two digests
 * (of the plain bytes: the diff_id; of the bytes written: the digest).
 * gzip runs on every core as pigz does: the input is cut in blocks of a
 * fixed size, each deflated on its own (no dictionary from the block
 * before, so the bytes do not depend on the number of threads) and ended
 * with a sync flush; the raw deflate streams concatenated, an empty final
 * block, and the crc32s combined make one ordinary gzip member.  zstd uses
 * libzstd's own workers (its output does not depend on their number);
 * "none" writes the tar as it is.
 */
#include "config.h"

#include <errno.h>
#include <nettle/sha2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "layerfs/image.h"
#include "layerfs/lfs.h"
#include "layerfs/write.h"

#define GZ_BLOCK    (1u << 20) /* fixed: the output depends on it */
#define MAX_THREADS 64

struct gzjob {
	unsigned char *in, *out;
	size_t in_len, out_len, out_cap;
	uint32_t crc;
	int done;
	int rc;
};

struct lfs_wstream {
	int fd;
	enum lfs_wcomp comp;
	int level;
	int err; /* first failure, -errno */
	struct sha256_ctx plain, stored;
	uint64_t plain_size, size;
	/* gzip */
	int nthreads;
	pthread_t tid[MAX_THREADS];
	int started;
	struct gzjob *jobs;
	size_t nslots;
	uint64_t submitted, taken, written;
	int stop;
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_done;
	uint32_t crc;
	/* zstd */
	ZSTD_CCtx *zc;
	unsigned char *zout;
	size_t zout_cap;
};

int lfs_wcomp_parse(const char *s, enum lfs_wcomp *out)
{
	if (!strcmp(s, "gzip"))
		*out = LFS_WCOMP_GZIP;
	else if (!strcmp(s, "zstd"))
		*out = LFS_WCOMP_ZSTD;
	else if (!strcmp(s, "none"))
		*out = LFS_WCOMP_NONE;
	else
		return -EINVAL;
	return 0;
}

/* Bytes as they go out: hashed, counted, written. */
static int out_write(struct lfs_wstream *s, const void *buf, size_t len)
{
	const char *p = buf;

	if (s->err)
		return s->err;
	sha256_update(&s->stored, len, buf);
	s->size += len;
	while (len) {
		ssize_t w = write(s->fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			s->err = -errno;
			return lfs_error(s->err, "writing the layer: %s", strerror(errno));
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static void deflate_block(z_stream *z, int level, struct gzjob *j)
{
	(void)level;
	deflateReset(z);
	z->next_in = j->in;
	z->avail_in = (uInt)j->in_len;
	z->next_out = j->out;
	z->avail_out = (uInt)j->out_cap;
	j->rc = deflate(z, Z_SYNC_FLUSH) == Z_OK && z->avail_in == 0 ? 0 : -EIO;
	j->out_len = j->out_cap - z->avail_out;
	j->crc = (uint32_t)crc32(0, j->in, (uInt)j->in_len);
}

static void *gz_worker(void *arg)
{
	struct lfs_wstream *s = arg;
	z_stream z;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, s->level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		z.state = NULL;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct gzjob *j;

		while (!s->stop && s->taken == s->submitted)
			pthread_cond_wait(&s->cv_work, &s->mu);
		if (s->taken == s->submitted)
			break;
		j = &s->jobs[s->taken++ % s->nslots];
		pthread_mutex_unlock(&s->mu);
		if (z.state)
			deflate_block(&z, s->level, j);
		else
			j->rc = -ENOMEM;
		pthread_mutex_lock(&s->mu);
		j->done = 1;
		pthread_cond_broadcast(&s->cv_done);
	}
	pthread_mutex_unlock(&s->mu);
	if (z.state)
		deflateEnd(&z);
	return NULL;
}

/* Wait for the oldest block not yet written and write it. */
static int gz_flush_one(struct lfs_wstream *s)
{
	struct gzjob *j = &s->jobs[s->written % s->nslots];

	pthread_mutex_lock(&s->mu);
	while (!j->done)
		pthread_cond_wait(&s->cv_done, &s->mu);
	pthread_mutex_unlock(&s->mu);
	s->written++;
	if (j->rc < 0 && !s->err)
		s->err = lfs_error(j->rc, "compressing the layer: deflate failed");
	s->crc = (uint32_t)crc32_combine(s->crc, j->crc, (z_off_t)j->in_len);
	j->in_len = 0;
	j->done = 0;
	return out_write(s, j->out, j->out_len);
}

static int gz_submit(struct lfs_wstream *s)
{
	pthread_mutex_lock(&s->mu);
	s->submitted++;
	pthread_cond_signal(&s->cv_work);
	pthread_mutex_unlock(&s->mu);
	if (s->submitted - s->written == s->nslots)
		return gz_flush_one(s);
	return 0;
}

static int gz_write(struct lfs_wstream *s, const unsigned char *p, size_t len)
{
	while (len) {
		struct gzjob *j = &s->jobs[s->submitted % s->nslots];
		size_t k = GZ_BLOCK - j->in_len;

		if (k > len)
			k = len;
		memcpy(j->in + j->in_len, p, k);
		j->in_len += k;
		p += k;
		len -= k;
		if (j->in_len == GZ_BLOCK && gz_submit(s) < 0)
			return s->err;
	}
	return s->err;
}

static int gz_open(struct lfs_wstream *s, int threads)
{
	static const unsigned char hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	s->nthreads = threads > 0 ? threads : (ncpu > 0 ? (int)ncpu : 1);
	if (s->nthreads > MAX_THREADS)
		s->nthreads = MAX_THREADS;
	s->nslots = 2 * (size_t)s->nthreads + 1;
	s->jobs = lfs_xcalloc(s->nslots, sizeof(*s->jobs));
	for (size_t i = 0; i < s->nslots; i++) {
		s->jobs[i].in = lfs_xmalloc(GZ_BLOCK);
		s->jobs[i].out_cap = compressBound(GZ_BLOCK) + 64;
		s->jobs[i].out = lfs_xmalloc(s->jobs[i].out_cap);
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv_work, NULL);
	pthread_cond_init(&s->cv_done, NULL);
	for (int i = 0; i < s->nthreads; i++) {
		if (pthread_create(&s->tid[i], NULL, gz_worker, s) != 0)
			break;
		s->started++;
	}
	if (!s->started)
		return lfs_error(-EAGAIN, "compressing the layer: no thread");
	return out_write(s, hdr, sizeof(hdr));
}

/* Stop the workers (after the blocks queued are done) and free the blocks. */
static void gz_stop(struct lfs_wstream *s)
{
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_broadcast(&s->cv_work);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < s->started; i++)
		pthread_join(s->tid[i], NULL);
	for (size_t i = 0; i < s->nslots; i++) {
		free(s->jobs[i].in);
		free(s->jobs[i].out);
	}
	free(s->jobs);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv_work);
	pthread_cond_destroy(&s->cv_done);
}

static int gz_close(struct lfs_wstream *s)
{
	/* an empty final fixed block, then crc32 and ISIZE (little endian) */
	unsigned char tail[10] = {0x03, 0x00};

	if (s->jobs[s->submitted % s->nslots].in_len)
		gz_submit(s);
	while (s->written < s->submitted)
		gz_flush_one(s);
	for (int i = 0; i < 4; i++) {
		tail[2 + i] = (unsigned char)(s->crc >> (8 * i));
		tail[6 + i] = (unsigned char)(s->plain_size >> (8 * i));
	}
	return out_write(s, tail, sizeof(tail));
}

static int zs_open(struct lfs_wstream *s, int threads)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int n = threads > 0 ? threads : (ncpu > 0 ? (int)ncpu : 1);

	s->zc = ZSTD_createCCtx();
	if (!s->zc)
		return lfs_error(-ENOMEM, "compressing the layer: no zstd context");
	ZSTD_CCtx_setParameter(s->zc, ZSTD_c_compressionLevel, s->level);
	/* with workers, the bytes are the same whatever their number */
	if (ZSTD_isError(ZSTD_CCtx_setParameter(s->zc, ZSTD_c_nbWorkers, n)))
		ZSTD_CCtx_setParameter(s->zc, ZSTD_c_nbWorkers, 0);
	s->zout_cap = ZSTD_CStreamOutSize();
	s->zout = lfs_xmalloc(s->zout_cap);
	return 0;
}

static int zs_step(struct lfs_wstream *s, const void *p, size_t len, ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = {p, len, 0};
	size_t left;

	do {
		ZSTD_outBuffer out = {s->zout, s->zout_cap, 0};

		left = ZSTD_compressStream2(s->zc, &out, &in, mode);
		if (ZSTD_isError(left)) {
			s->err = -EIO;
			return lfs_error(-EIO, "compressing the layer: %s",
					 ZSTD_getErrorName(left));
		}
		if (out.pos && out_write(s, s->zout, out.pos) < 0)
			return s->err;
	} while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
	return 0;
}

int lfs_wstream_open(struct lfs_wstream **out, int fd, enum lfs_wcomp comp, int level, int threads)
{
	struct lfs_wstream *s = lfs_xcalloc(1, sizeof(*s));
	int rc = 0;

	s->fd = fd;
	s->comp = comp;
	s->level = level > 0 ? level : comp == LFS_WCOMP_ZSTD ? 3 : 6;
	sha256_init(&s->plain);
	sha256_init(&s->stored);
	if (comp == LFS_WCOMP_GZIP)
		rc = gz_open(s, threads);
	else if (comp == LFS_WCOMP_ZSTD)
		rc = zs_open(s, threads);
	*out = s;
	if (rc < 0) {
		lfs_wstream_abort(s);
		*out = NULL;
	}
	return rc;
}

int lfs_wstream_write(struct lfs_wstream *s, const void *buf, size_t len)
{
	if (s->err)
		return s->err;
	sha256_update(&s->plain, len, buf);
	s->plain_size += len;
	switch (s->comp) {
	case LFS_WCOMP_GZIP:
		return gz_write(s, buf, len);
	case LFS_WCOMP_ZSTD:
		return zs_step(s, buf, len, ZSTD_e_continue);
	case LFS_WCOMP_NONE:
		break;
	}
	return out_write(s, buf, len);
}

static void wstream_free(struct lfs_wstream *s)
{
	if (s->comp == LFS_WCOMP_GZIP && s->jobs)
		gz_stop(s);
	if (s->zc)
		ZSTD_freeCCtx(s->zc);
	free(s->zout);
	free(s);
}

void lfs_wstream_abort(struct lfs_wstream *s)
{
	if (!s)
		return;
	if (s->comp == LFS_WCOMP_GZIP && s->jobs) {
		/* the blocks queued are finished by the workers, then dropped */
		s->err = s->err ? s->err : -ECANCELED;
	}
	wstream_free(s);
}

int lfs_wstream_close(struct lfs_wstream *s, struct lfs_wlayer_result *res)
{
	static const char *const types[] = {
	    [LFS_WCOMP_GZIP] = "application/vnd.oci.image.layer.v1.tar+gzip",
	    [LFS_WCOMP_ZSTD] = "application/vnd.oci.image.layer.v1.tar+zstd",
	    [LFS_WCOMP_NONE] = "application/vnd.oci.image.layer.v1.tar",
	};
	uint8_t sha[32];
	int rc = s->err;

	if (!rc && s->comp == LFS_WCOMP_GZIP)
		rc = gz_close(s);
	else if (!rc && s->comp == LFS_WCOMP_ZSTD)
		rc = zs_step(s, NULL, 0, ZSTD_e_end);
	if (!rc && res) {
		sha256_digest(&s->plain, sizeof(sha), sha);
		lfs_digest_format(sha, res->diff_id);
		sha256_digest(&s->stored, sizeof(sha), sha);
		lfs_digest_format(sha, res->digest);
		res->size = s->size;
		res->plain_size = s->plain_size;
		res->media_type = types[s->comp];
	}
	wstream_free(s);
	return rc;
}
