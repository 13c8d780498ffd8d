/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blob sources: where the stored bytes of a layer blob come from.  The scan
 * and the codecs (blob*.c) read stored bytes only through this interface, so
 * that a blob can live in a local file (blobsrc_fd.c) or, later, behind
 * HTTP range requests, without the codecs knowing which.
 *
 * A source is shared (an image's layer descriptor, a scan, a finished blob)
 * and used from many threads at once: it is reference-counted, and its
 * operations must be thread safe.
 */
#ifndef LFS_BLOBSRC_H
#define LFS_BLOBSRC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct lfs_blobsrc;

/*
 * The sha256 of each LFS_CHUNK_SIZE piece of a blob's stored bytes (the
 * last one may be shorter), taken by the indexing pass of a blob whose
 * digest then verified: what a remote source checks every piece it fetches
 * against before serving a byte of it.
 */
#define LFS_CHUNK_SHIFT 18
#define LFS_CHUNK_SIZE	(1u << LFS_CHUNK_SHIFT)
struct lfs_chunk_sums {
	uint64_t n;	    /* pieces: the stored size divided by LFS_CHUNK_SIZE, rounded up */
	uint8_t (*sha)[32]; /* n of them */
};

static inline uint64_t lfs_chunk_count(uint64_t size)
{
	return (size + LFS_CHUNK_SIZE - 1) >> LFS_CHUNK_SHIFT;
}

struct lfs_blobsrc_ops {
	/*
	 * Up to LEN bytes at offset OFF of the blob (0 <= OFF, never past
	 * s->size): the number read, fewer than LEN allowed (the caller loops;
	 * 0 only at the end of the blob), or -errno with the reason in
	 * lfs_err_set.  A failure concerns this read only: the next one is
	 * tried afresh.  Thread safe.
	 */
	ssize_t (*pread)(struct lfs_blobsrc *s, void *buf, size_t len, uint64_t off);
	/*
	 * Optional: byte OFF of the blob is byte *BASE+OFF of *FD (owned by the
	 * source), for splice and fstat.  NULL or -ENOTSUP: not a local file.
	 */
	int (*local_fd)(const struct lfs_blobsrc *s, int *fd, uint64_t *base);
	/*
	 * Optional: from now on check every read against SUMS (a copy is
	 * taken).  A source that has this wants the indexing pass to record
	 * the sums (lfs_blobsrc_wants_sums); it is called only once the blob's
	 * digest has verified, or with sums loaded from the index cache.
	 */
	int (*set_sums)(struct lfs_blobsrc *s, const struct lfs_chunk_sums *sums);
	/*
	 * Optional: from now on the reader asks for exactly the ranges it
	 * needs (a TOC layer's chunks): no read-ahead around them.
	 */
	void (*exact)(struct lfs_blobsrc *s);
	/* Free the source itself; lfs_blobsrc_unref has already freed NAME. */
	void (*free)(struct lfs_blobsrc *s);
};

/* Implementations embed this as their first member (see lfs_blobsrc_init). */
struct lfs_blobsrc {
	const struct lfs_blobsrc_ops *ops;
	atomic_uint refs;
	uint64_t size; /* stored bytes, at most INT64_MAX */
	char *name;    /* names the blob in messages */
};

/* Set up the generic part: one reference (the caller's), a copy of NAME. */
void lfs_blobsrc_init(struct lfs_blobsrc *s, const struct lfs_blobsrc_ops *ops, uint64_t size,
		      const char *name);
/* Another reference to S; returns S. */
struct lfs_blobsrc *lfs_blobsrc_ref(struct lfs_blobsrc *s);
/* Drop a reference; the last one frees S.  NULL is fine. */
void lfs_blobsrc_unref(struct lfs_blobsrc *s);
/*
 * Exactly N bytes at OFF, looping over short reads.  A range past the end,
 * or a source that ends early, is -EIO with a message naming WHAT ("the
 * blob"); a failing read returns the source's -errno and message.
 */
int lfs_blobsrc_read_full(struct lfs_blobsrc *s, void *buf, size_t n, uint64_t off,
			  const char *what);
/* Whether S checks its reads against chunk sums (ops->set_sums). */
static inline int lfs_blobsrc_wants_sums(const struct lfs_blobsrc *s)
{
	return s->ops->set_sums != NULL;
}
/* ops->exact, when the source has it. */
void lfs_blobsrc_exact(struct lfs_blobsrc *s);
/* ops->set_sums, or 0 for a source without it. */
int lfs_blobsrc_set_sums(struct lfs_blobsrc *s, const struct lfs_chunk_sums *sums);
/* The source's local file (see ops->local_fd), or -ENOTSUP. */
int lfs_blobsrc_local_fd(const struct lfs_blobsrc *s, int *fd, uint64_t *base);

/*
 * A source over bytes [OFF, OFF+LEN) of the local file FD (dup'ed: the
 * caller keeps its own).  NAME names it in messages.
 */
int lfs_blobsrc_fd_new(struct lfs_blobsrc **out, int fd, uint64_t off, uint64_t len,
		       const char *name);

#endif
