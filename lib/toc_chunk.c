/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One chunk of a TOC layer (toc.h) decoded from its compressed bytes and
 * checked against its chunkDigest: gzip members (eStargz: the member at the
 * chunk's offset starts with the chunk's bytes, and may go on with the tar
 * padding and headers after them) or zstd frames (zstd:chunked).  Only the
 * chunk's first LEN bytes are kept; the decoder stops there.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <nettle/sha2.h>
#include <zlib.h>
#include <zstd.h>

#include "layerfs/lfs.h"
#include "toc.h"

/* Inflate gzip members from IN until OUT is full: 0, -EAGAIN (more input), -EIO. */
static int gunzip(const uint8_t *in, size_t n, uint8_t *out, uint64_t len, const char **why)
{
	z_stream z = {0};
	int zr, rc = 0;

	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
		*why = "out of memory";
		return -EIO;
	}
	z.next_in = (Bytef *)in;
	z.next_out = out;
	while (len - (uint64_t)(z.next_out - out) > 0) {
		uint64_t left = len - (uint64_t)(z.next_out - out);

		z.avail_out = left > (1u << 30) ? (1u << 30) : (uInt)left;
		if (!z.avail_in) {
			size_t used = (size_t)(z.next_in - in);

			if (used == n) {
				rc = -EAGAIN;
				break;
			}
			z.avail_in = n - used > (1u << 30) ? (1u << 30) : (uInt)(n - used);
		}
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr == Z_STREAM_END) {
			/* The next member goes on (eStargz cuts chunks at member ends). */
			if (inflateReset(&z) != Z_OK) {
				*why = "gzip error";
				rc = -EIO;
				break;
			}
		} else if (zr == Z_BUF_ERROR && z.avail_in == 0) {
			continue;
		} else if (zr != Z_OK) {
			*why = z.msg ? z.msg : "damaged gzip data";
			rc = -EIO;
			break;
		}
	}
	inflateEnd(&z);
	return rc;
}

/* The same for zstd frames (skippable frames are skipped by the decoder). */
static int unzstd(const uint8_t *in, size_t n, uint8_t *out, uint64_t len, const char **why)
{
	ZSTD_DStream *d = ZSTD_createDStream();
	ZSTD_inBuffer ib = {in, n, 0};
	ZSTD_outBuffer ob = {out, (size_t)len, 0};
	int rc = 0;

	if (!d) {
		*why = "out of memory";
		return -EIO;
	}
	ZSTD_initDStream(d);
	while (ob.pos < ob.size) {
		size_t r;

		if (ib.pos == ib.size) {
			rc = -EAGAIN;
			break;
		}
		r = ZSTD_decompressStream(d, &ob, &ib);
		if (ZSTD_isError(r)) {
			*why = ZSTD_getErrorName(r);
			rc = -EIO;
			break;
		}
	}
	ZSTD_freeDStream(d);
	return rc;
}

int lfs_toc_chunk_decode(enum lfs_toc_kind kind, const struct lfs_toc_chunk *c, const uint8_t *in,
			 size_t n, uint8_t *out, const char *name)
{
	const char *why = NULL;
	struct sha256_ctx sha;
	uint8_t got[32];
	int rc;

	if (c->len > SIZE_MAX)
		return lfs_error(-EIO, "%s: chunk too large", name);
	rc = kind == LFS_TOC_ESTARGZ ? gunzip(in, n, out, c->len, &why)
				     : unzstd(in, n, out, c->len, &why);
	if (rc == -EAGAIN && n < c->end - c->off)
		return rc;
	if (rc)
		return lfs_error(-EIO, "%s: the chunk of %llu bytes at %llu (blob byte %llu): %s",
				 name, (unsigned long long)c->len, (unsigned long long)c->foff,
				 (unsigned long long)c->off,
				 rc == -EAGAIN ? "its compressed data ends early" : why);
	sha256_init(&sha);
	sha256_update(&sha, (size_t)c->len, out);
	sha256_digest(&sha, sizeof(got), got);
	if (memcmp(got, c->sha, 32))
		return lfs_error(-EIO,
				 "%s: the chunk of %llu bytes at %llu (blob byte %llu) does not "
				 "match its chunkDigest",
				 name, (unsigned long long)c->len, (unsigned long long)c->foff,
				 (unsigned long long)c->off);
	return 0;
}
