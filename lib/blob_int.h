/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private part of the blob reader, shared by blob.c (scan and read
 * dispatch, hashing, raw blobs, cursor pool) and the gzip and zstd codecs.
 */
#ifndef LFS_BLOB_INT_H
#define LFS_BLOB_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include <nettle/sha2.h>

#include "layerfs/blob.h"
#include "blobsrc.h"

/* Uncompressed bytes between two restart points (gzip checkpoints, zstd frames). */
#define LFS_POINT_INTERVAL (1u << 20)
/* Size of the chunks the scan hands out, and of the stored bytes it reads at once. */
#define LFS_SCAN_CHUNK (256u << 10)
#define LFS_SCAN_INBUF (128u << 10)
/* Per-cursor input buffer and discard buffer (also holds a gzip window). */
#define LFS_CURSOR_INBUF   (32u << 10)
#define LFS_CURSOR_DISCARD (32u << 10)
/* Live decoders kept per blob, so that sequential reads continue where they stopped. */
#define LFS_NCURSORS 4
#define LFS_POS_NONE UINT64_MAX

/*
 * A place where decoding can start without the bytes before it.  The
 * meaning of the fields past OUT depends on the codec.
 */
struct lfs_point {
	uint64_t out;  /* offset in the plain stream */
	uint64_t in;   /* offset in the stored blob, or in the scratch file */
	uint64_t win;  /* gzip: offset of the window in the scratch file */
	uint64_t hash; /* lfs_point_hash() of its scratch data (of none if it has none) */
	uint32_t len;  /* gzip: window length (<= 32 KiB); zstd: re-framed frame length */
	uint8_t bits;  /* gzip: unused bits of byte in-1 ... */
	uint8_t byte;  /* gzip: ... which is this byte */
	uint8_t kind;  /* zstd: which source IN refers to */
};

struct lfs_points {
	struct lfs_point *v;
	size_t n, cap;
};

struct lfs_codec;

/* What lfs_blob_load's point checks carry from one point to the next. */
struct lfs_point_check {
	uint64_t scratch_end; /* scratch data is appended: the next piece starts here */
	uint64_t last_in;     /* IN of the previous point reading the stored blob ... */
	int have_in;	      /* ... if there was one */
};

/* A scan belongs to one thread at a time: no locks. */
struct lfs_scan {
	const struct lfs_codec *codec; /* NULL for raw blobs */
	enum lfs_comp comp;
	char *name;
	char *tmpdir;		 /* NULL: $TMPDIR or /var/tmp */
	struct lfs_blobsrc *src; /* the stored bytes (a reference of ours) */
	uint64_t in_off;	 /* stored bytes read so far */
	uint64_t plain_pos;	 /* plain bytes handed out (or skipped) so far */
	uint64_t max_plain;
	int want_stored, want_plain; /* digests the caller asked for */
	int hash_stored, hash_plain; /* digests we compute */
	int sequential;		     /* no re-framing: see lfs_scan_opts */
	int skipped_reframe;	     /* ...and a frame needed it */
	struct sha256_ctx sha_stored, sha_plain;
	int hash_chunks;	     /* the source wants chunk sums (lfs_blobsrc_wants_sums) */
	struct sha256_ctx sha_chunk; /* of the piece being read ... */
	uint32_t chunk_fill;	     /* ... which has this many bytes so far */
	struct lfs_chunk_sums sums;  /* sums.n pieces finished so far */
	uint8_t *inbuf;		     /* LFS_SCAN_INBUF bytes */
	int err;		     /* sticky: once failed, the scan stays failed */
	int done;		     /* the codec saw the complete stream */
	int scratch_fd;		     /* -1 until some codec needs one */
	uint64_t scratch_len;
	struct lfs_points pts;
	void *priv; /* codec state */
};

/* A decoder positioned somewhere in the plain stream of a blob. */
struct lfs_cursor {
	pthread_mutex_t mu;
	/* Guarded by lfs_blob.lock: */
	uint64_t next;	/* where it will be once its users are done, or LFS_POS_NONE */
	unsigned users; /* threads holding or waiting for mu */
	uint64_t stamp; /* for least-recently-used replacement */
	/* Guarded by mu: */
	uint64_t pos;	  /* plain offset of the next byte it decodes, or LFS_POS_NONE */
	size_t pt;	  /* restart point it is past (zstd switches sources at the next) */
	uint8_t *discard; /* LFS_CURSOR_DISCARD bytes */
	void *st;	  /* codec decoder state, NULL until first used */
	int temp;	  /* not part of the pool, freed after one read (set at creation) */
};

struct lfs_blob {
	const struct lfs_codec *codec; /* NULL for raw blobs */
	enum lfs_comp comp;
	char *name;
	struct lfs_blobsrc *src; /* the stored bytes (a reference of ours) */
	uint64_t size;		 /* plain bytes */
	int scratch_fd;
	uint64_t scratch_len;
	/* Set by lfs_scan_finish, read-only afterwards, like the fields above: */
	struct lfs_point *pts;
	size_t npts;
	int slow; /* a sequential scan skipped re-framing: random reads are slow */
	struct lfs_chunk_sums sums; /* none (n 0, sha NULL) unless the source wants them */
	pthread_mutex_t lock;
	struct lfs_cursor cur[LFS_NCURSORS]; /* fields as marked in lfs_cursor */
	uint64_t clock;			     /* guarded by lock */
};

struct lfs_codec {
	/* Set up s->priv. */
	int (*scan_init)(struct lfs_scan *s);
	/* Next plain chunk; 0 only after checking that the stream is complete. */
	ssize_t (*scan_read)(struct lfs_scan *s, const void **chunk);
	void (*scan_free)(struct lfs_scan *s);
	/* Random access: c->st is codec state, c->pos the position. */
	int (*cursor_init)(struct lfs_blob *b, struct lfs_cursor *c);
	void (*cursor_free)(struct lfs_cursor *c);
	/* Position c at restart point PT (c->pos = pts[pt].out). */
	int (*seek)(struct lfs_blob *b, struct lfs_cursor *c, size_t pt);
	/* Decode exactly N bytes at c->pos into DST (never past the end). */
	int (*produce)(struct lfs_blob *b, struct lfs_cursor *c, uint8_t *dst, size_t n);
	/*
	 * lfs_blob_load: the codec's checks of restart point P of B (the
	 * generic ones are done).  NULL if fine, else what is wrong.
	 */
	const char *(*check_point)(const struct lfs_blob *b, const struct lfs_point *p,
				   struct lfs_point_check *pc);
};

extern const struct lfs_codec lfs_codec_gzip;
extern const struct lfs_codec lfs_codec_zstd;

/*
 * Next chunk of stored bytes for the codec (hashed on the way); 0 at the
 * end of the blob.  *p stays valid until the next call.
 */
ssize_t lfs_scan_input(struct lfs_scan *s, const uint8_t **p);
/* Stored bytes P[0..N) read in order: into the digests the scan computes. */
void lfs_scan_hash_stored(struct lfs_scan *s, const void *p, size_t n);
/* Append a restart point. */
void lfs_points_add(struct lfs_points *pts, const struct lfs_point *p);
/* Index of the last restart point at or before plain offset OFF. */
size_t lfs_points_find(const struct lfs_point *v, size_t n, uint64_t off);
/* Append to the scratch file (created on first use); *off gets the offset. */
int lfs_scan_scratch_write(struct lfs_scan *s, const void *buf, size_t n, uint64_t *off);
/*
 * A restart point as stored (little-endian): out, in, win (u64 each), len
 * (u32), bits, byte, kind, a reserved byte, then the check value (u64).  The
 * first LFS_POINT_SEEDED bytes seed the check value.
 */
#define LFS_POINT_REC	 40
#define LFS_POINT_SEEDED 32
void lfs_point_pack(uint8_t rec[LFS_POINT_REC], const struct lfs_point *p);

static inline void lfs_put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t lfs_get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/*
 * The check value of the scratch data of restart point P (DATA, N bytes;
 * none for a point without scratch data), seeded with the point's other
 * fields so that a damaged field is caught like damaged data.
 */
uint64_t lfs_point_hash(const struct lfs_point *p, const void *data, size_t n);
/* Compare with pts[PT].hash: -EIO and a message naming WHAT if they differ. */
int lfs_point_verify(const struct lfs_blob *b, size_t pt, const void *data, size_t n,
		     const char *what);
/*
 * A blob with the given source reference, scratch descriptor and points
 * (all owned from now on; PTS NULL when NPTS is 0): what lfs_scan_finish
 * and lfs_blob_load share.
 */
struct lfs_blob *lfs_blob_new(enum lfs_comp comp, char *name, struct lfs_blobsrc *src,
			      uint64_t size, int scratch_fd, uint64_t scratch_len,
			      struct lfs_point *pts, size_t npts);
/* Hand the chunk sums SUMS (owned from now on) to B; its source gets them later. */
void lfs_blob_take_sums(struct lfs_blob *b, struct lfs_chunk_sums *sums);
/*
 * pread exactly N bytes of a local file (fewer only at end of file, reported
 * as -EIO); WHAT names the file in the message ("scratch file", ...).  For
 * the scratch file only: stored bytes are read with lfs_blobsrc_read_full.
 */
int lfs_pread_full(int fd, void *buf, size_t n, uint64_t off, const char *name, const char *what);

#endif
