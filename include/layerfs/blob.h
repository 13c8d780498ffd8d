/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blobs: the stored bytes of one layer (raw tar, gzip or zstd) and random
 * access to its uncompressed stream.
 *
 * A layer is read exactly once, sequentially, by a scan: the scan
 * decompresses (we do it ourselves, libarchive only sees the plain stream),
 * hashes the stored bytes, and records restart points.  Finishing the scan
 * yields an lfs_blob that serves reads at any offset of the uncompressed
 * stream without starting over from the beginning.  The stored bytes are
 * read through a blob source (blobsrc.h): a local file, or any other.
 */
#ifndef LFS_BLOB_H
#define LFS_BLOB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum lfs_comp {
	LFS_COMP_NONE = 0,
	LFS_COMP_GZIP,
	LFS_COMP_ZSTD,
};

struct lfs_scan;
struct lfs_blob;
struct lfs_blobsrc;

struct lfs_scan_opts {
	/* Hash the stored bytes with sha256 (to check a manifest digest). */
	int hash_stored;
	/* Also hash the uncompressed stream (to check a docker diff_id). */
	int hash_plain;
	/* Refuse streams that decompress past this many bytes (0: 1 TiB). */
	uint64_t max_plain;
	/* Directory for scratch data (unlinked files); NULL: $TMPDIR or /var/tmp. */
	const char *tmpdir;
	/*
	 * The stream is read once and random reads need not be fast (reports):
	 * a large zstd frame is not re-framed, reads start at its beginning.
	 */
	int sequential;
};

/* Detect the compression of the bytes at the start of a blob (by magic). */
enum lfs_comp lfs_comp_detect(const void *head, size_t n);
const char *lfs_comp_name(enum lfs_comp c);

/*
 * Start a scan over the stored bytes of SRC (the scan takes a reference of
 * its own; the caller keeps its).  SRC's name names the blob in messages.
 */
int lfs_scan_open(struct lfs_scan **out, struct lfs_blobsrc *src, const struct lfs_scan_opts *opts);
enum lfs_comp lfs_scan_comp(const struct lfs_scan *s);
/*
 * Next chunk of the uncompressed stream: returns its length, 0 at the end,
 * or -errno with the reason in lfs_err_get().  *chunk stays valid until the
 * next call on this scan.
 */
ssize_t lfs_scan_read(struct lfs_scan *s, const void **chunk);
/*
 * Skip up to N uncompressed bytes without returning them; returns how many
 * were skipped (0 when it cannot skip cheaply: the caller reads instead).
 */
int64_t lfs_scan_skip(struct lfs_scan *s, int64_t n);
/* Bytes of the uncompressed stream consumed so far. */
uint64_t lfs_scan_pos(const struct lfs_scan *s);
/* Bytes of the stored blob read so far (for progress). */
uint64_t lfs_scan_stored_pos(const struct lfs_scan *s);
/*
 * Consume the rest of the blob, check that the compressed stream is complete
 * and intact, and return the digests (sha256; only those asked for in the
 * options are filled) and the random-access reader.  The scan is freed in
 * every case.
 */
int lfs_scan_finish(struct lfs_scan *s, struct lfs_blob **out, uint8_t stored_sha256[32],
		    uint8_t plain_sha256[32]);
/* Abandon a scan (after an error). */
void lfs_scan_free(struct lfs_scan *s);

/*
 * Read up to LEN bytes at offset OFF of the uncompressed stream.  Thread
 * safe.  Returns the number of bytes read (short only at the end of the
 * stream) or -errno.
 */
ssize_t lfs_blob_pread(struct lfs_blob *b, void *buf, size_t len, uint64_t off);
/*
 * For an uncompressed blob in a local file: byte OFF of the stream is byte
 * *BASE+OFF of *FD (the blob's own), so the caller may splice from it.
 * -ENOTSUP for compressed blobs and sources that are not local files.
 */
int lfs_blob_raw_fd(const struct lfs_blob *b, int *fd, uint64_t *base);
uint64_t lfs_blob_size(const struct lfs_blob *b);
/* A sequential scan left a large frame un-re-framed: fine for one pass, not for mounts. */
int lfs_blob_slow(const struct lfs_blob *b);
enum lfs_comp lfs_blob_comp(const struct lfs_blob *b);
void lfs_blob_free(struct lfs_blob *b);
/*
 * B's stored digest has verified: a remote source may now serve random
 * reads, each piece checked against the sums the scan took (a no-op for a
 * local file).  0 or -errno.
 */
int lfs_blob_verified(struct lfs_blob *b);

/*
 * Persistence, so that a second mount skips the scan.  A finished blob is
 * its state (the restart points: small) plus its scratch data (gzip
 * windows, re-framed zstd: up to about the stored size).
 *
 * Serialise B's restart points into a malloc'ed buffer (*state, *len),
 * little-endian, versioned, self-contained.  Scratch data is NOT in it.
 */
int lfs_blob_state(const struct lfs_blob *b, void **state, size_t *len);
/*
 * Copy B's scratch data to FD (a regular file, written from offset 0; not
 * truncated, not synced); *len gets its size (0 when the blob has none).
 */
int lfs_blob_save_scratch(const struct lfs_blob *b, int fd, uint64_t *len);
/*
 * Rebuild a blob from STATE without scanning: the stored bytes are those of
 * SRC (the blob takes a reference of its own), the scratch data is
 * SCRATCH_FD (dup'ed; -1 when none) of SCRATCH_LEN bytes.  Every field of
 * STATE is checked: -EBADMSG when it is damaged or does not fit the blob.
 * The scratch data is checked as it is used: a read that meets damaged
 * scratch data fails with -EIO.
 */
int lfs_blob_load(struct lfs_blob **out, struct lfs_blobsrc *src, const void *state,
		  size_t state_len, int scratch_fd, uint64_t scratch_len);

#endif
