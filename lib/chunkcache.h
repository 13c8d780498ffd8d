/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The chunk cache: how a remote blob's stored bytes are read once its index
 * exists.  A read is served in LFS_CHUNK_SIZE pieces ("chunks"), each taken
 * from memory, else from the cache directory, else fetched (adjacent missing
 * chunks in one request), and each checked against the sha256 the indexing
 * pass recorded (blobsrc.h) before a byte of it is served.  Two readers
 * wanting the same chunk share one fetch.  Memory and disk are each bounded
 * and evict the least recently used chunks.
 *
 * On disk: DIR/<blob sha256 hex>/<chunk number, 16 hex digits>, the chunk's
 * bytes and nothing else (what a chunk must hold is in the index, not in
 * the file, so a damaged or planted file is caught and replaced).
 */
#ifndef LFS_CHUNKCACHE_H
#define LFS_CHUNKCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "blobsrc.h"

struct lfs_chunkcache;

struct lfs_chunkcache_opts {
	const char *dir;   /* NULL: memory only */
	uint64_t max_disk; /* bytes of chunk files kept in DIR; 0: no limit */
	uint64_t max_mem;  /* bytes of chunks kept in memory; 0: 64 MiB */
};

/* Open (creating DIR, mode 0700). */
int lfs_chunkcache_open(struct lfs_chunkcache **out, const struct lfs_chunkcache_opts *o);
struct lfs_chunkcache *lfs_chunkcache_ref(struct lfs_chunkcache *cc);
void lfs_chunkcache_unref(struct lfs_chunkcache *cc);

/* Exactly LEN bytes at OFF of the blob into BUF: 0, or -errno with lfs_err_set. */
typedef int (*lfs_chunk_fetch_fn)(void *arg, void *buf, size_t len, uint64_t off);

/* One blob read through the cache. */
struct lfs_chunked;

/*
 * Blob SHA256 (its digest: names its chunk files) of SIZE stored bytes,
 * named NAME in messages, whose chunks SUMS describes (copied), fetched
 * with FETCH(ARG, ...).
 */
int lfs_chunked_new(struct lfs_chunked **out, struct lfs_chunkcache *cc, const uint8_t sha256[32],
		    const char *name, uint64_t size, const struct lfs_chunk_sums *sums,
		    lfs_chunk_fetch_fn fetch, void *arg);
void lfs_chunked_free(struct lfs_chunked *c);
/*
 * Up to LEN bytes at OFF (all of them unless past the end), or -errno: a
 * chunk that could not be fetched or did not match its sum after the
 * retries fails this read only, with one warning line naming the blob, the
 * bytes and the reason.
 */
ssize_t lfs_chunked_pread(struct lfs_chunked *c, void *buf, size_t len, uint64_t off);

struct lfs_chunkcache_stats {
	uint64_t mem_hits, disk_hits; /* chunks served without a request */
	uint64_t fetched;	      /* chunks fetched and verified */
	uint64_t bad;		      /* chunks fetched that did not verify */
};
void lfs_chunkcache_stats(const struct lfs_chunkcache *cc, struct lfs_chunkcache_stats *st);

#endif
