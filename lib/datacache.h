/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The decompressed-data cache: file data of compressed layers, kept
 * uncompressed in the cache directory once read, so that later reads, later
 * mounts and later layerfs-chroot runs are served at the speed of a plain
 * file (and spliced by the kernel) instead of inflating the same bytes again.
 *
 * One sparse file per layer blob, "data/<key>.lfd", mirroring the layer's
 * uncompressed stream in blocks of LFS_DCACHE_BLOCK bytes, each with its
 * xxh3-128 in the file's table (format: cache_format.h).  A block is used
 * only once its bytes have matched its sum in this process; a damaged block
 * is read from the layer again.  The cache is an optimisation: when it
 * cannot be written (full, read-only, ENOSPC) reads go on from the layer.
 */
#ifndef LFS_DATACACHE_H
#define LFS_DATACACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "layerfs/blob.h"

struct lfs_dcache;
struct lfs_dlayer;

/*
 * Open the data cache in DIR (created, mode 0700), bounded to MAX bytes on
 * disk (0: LFS_DCACHE_DEFAULT_MAX): the least recently used layers' files
 * are removed at open until the rest fits.  NULL (with one warning) when
 * it cannot be used.
 */
struct lfs_dcache *lfs_dcache_open(const char *dir, uint64_t max);
void lfs_dcache_close(struct lfs_dcache *dc);

#define LFS_DCACHE_DEFAULT_MAX (4ULL << 30)

/*
 * The cache of one layer, whose blob B (compressed, served with random
 * access) is identified by KEY (lfs_cache_key).  AHEAD: once reads have
 * inflated a tenth of it, a thread inflates the rest in stream order (for
 * local blobs: a registry's would be fetched whole).  NULL when it cannot
 * be set up: the layer is then read as before.  Freed by lfs_dcache_close,
 * which stops the read-ahead threads first.
 */
struct lfs_dlayer *lfs_dcache_layer(struct lfs_dcache *dc, const uint8_t key[16],
				    struct lfs_blob *b, int ahead);

/*
 * Read LEN bytes at OFF of the layer's uncompressed stream (short only at
 * its end), through the cache; -errno on a read error of the blob.
 */
ssize_t lfs_dlayer_pread(struct lfs_dlayer *dl, void *buf, size_t len, uint64_t off);

/*
 * Make [OFF, OFF+LEN) of the stream present and checked in the cache file,
 * and say where: byte X of the stream is byte *BASE+X of *FD (for
 * splicing).  -ENOSPC/-EIO ... when it cannot (the caller reads instead).
 */
int lfs_dlayer_fd(struct lfs_dlayer *dl, uint64_t off, size_t len, int *fd, uint64_t *base);

/* Counters for --stats: blocks served from the cache, filled from the layer. */
void lfs_dcache_counts(const struct lfs_dcache *dc, uint64_t *hits, uint64_t *fills);

#endif
