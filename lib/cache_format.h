/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The persistent index cache: on-disk format.  One file per layer,
 * "<key>.idx", and, when the blob reader keeps scratch data (gzip windows,
 * re-framed zstd), "<key>.scr" beside it.  Everything is little-endian.
 *
 *   header (64 bytes, below)
 *   payload: zstd frame of the index records (cache.c), payload_len bytes
 *
 * A file is used only when the magic, version, header checksum, key and
 * payload checksum (xxh3-64 of the compressed bytes) all match; anything
 * else is rebuilt, never trusted.
 */
#ifndef LFS_CACHE_FORMAT_H
#define LFS_CACHE_FORMAT_H

#include <stdint.h>

#define LFS_CACHE_MAGIC "LFSIDX\r\n"
/*
 * 2: the payload ends with the layer's superseded entries (a v1 file has no
 * such record: its version and its key, which covers the version, differ).
 */
#define LFS_CACHE_VERSION 3

/* Header flags. */
#define LFS_CACHE_F_HASHES 0x1 /* files carry xxh3-128 content hashes */

struct lfs_cache_header {
	char magic[8];	       /* LFS_CACHE_MAGIC */
	uint32_t version;      /* LFS_CACHE_VERSION */
	uint32_t flags;	       /* LFS_CACHE_F_* */
	uint8_t key[16];       /* xxh3-128 of what identifies the layer blob */
	uint64_t payload_len;  /* compressed payload bytes following the header */
	uint64_t raw_len;      /* the payload once decompressed */
	uint64_t payload_xxh3; /* xxh3-64 of the compressed payload */
	uint64_t header_xxh3;  /* xxh3-64 of the 56 bytes before this field */
};

_Static_assert(sizeof(struct lfs_cache_header) == 64, "cache header is 64 bytes");
_Static_assert(__builtin_offsetof(struct lfs_cache_header, header_xxh3) == 56,
	       "header checksum covers the first 56 bytes");

/*
 * Payload records, in order (u32/u64 little-endian; "str" is u32 length +
 * bytes):
 *   layer:  u8 comp, u8 hashed, u64 nentries, u64 stored_size, u64 plain_size,
 *           32 bytes stored sha256, 32 bytes plain sha256,
 *           u64 scratch_len, str blob_state
 *   nodes:  u32 count, then per node (index 0 is the layer root):
 *           u32 mode, uid, gid, nlink, flags, mtime_nsec; u64 mtime_sec,
 *           size, data_off, rdev; u8 has: 1 link, 2 xattrs, 4 sparse, 8 hash;
 *           [str link] [u32 n, n * (str name, str value)]
 *           [u32 n, n * (u64 off, u64 len)] [u64 lo, u64 hi]
 *   dirs:   u32 count, then per directory: u32 node, u32 n,
 *           n * (str name, u32 child); a child directory's index is always
 *           greater than its parent's (the tree is written in preorder), so
 *           a file cannot make the tree cyclic.
 *   superseded (lfs_layer.superseded, which reports read and mounts skip):
 *           u64 len: the bytes of the record after this field (a mount
 *           steps over them without parsing), then
 *           u32 norphans, norphans * node as above: the nodes no name
 *           reaches (superseded files, and what replaced them when that
 *           went too; a directory among them has no entries), numbered
 *           after the tree's nodes (count + i),
 *           u32 n, n * (str path, u32 node, u32 by, u8 below), newest
 *           first: NODE an orphan file, listed once, BY any other node.
 */
#define LFS_CACHE_NODE_FIXED (6 * 4 + 4 * 8 + 1)
/* Smallest superseded entry: path "/x" (4 + 2), node, by, below. */
#define LFS_CACHE_SUPERSEDED_FIXED (4 + 2 + 4 + 4 + 1)

/*
 * The decompressed-data cache (datacache.c): one file per layer blob,
 * "data/<key hex>.lfd", little-endian:
 *   header (64 bytes, below)
 *   table: one 16-byte entry per block of the uncompressed stream (block i
 *          holds bytes [i << block_shift, (i + 1) << block_shift)): the
 *          block's xxh3-128 in canonical (big-endian) form, all zero while
 *          the block is not there
 *   data: from data_off (the table's end rounded up to 4096), the stream
 *         itself at its own offsets; a sparse file, blocks written as read.
 * A file whose header does not match (magic, version, checksum, key, size)
 * is replaced; a block is served only once its bytes match its entry.
 */
#define LFS_DCACHE_MAGIC   "LFSDAT\r\n"
#define LFS_DCACHE_VERSION 1
#define LFS_DCACHE_SHIFT   16 /* 64 KiB blocks */

struct lfs_dcache_header {
	char magic[8];	      /* LFS_DCACHE_MAGIC */
	uint32_t version;     /* LFS_DCACHE_VERSION */
	uint32_t block_shift; /* LFS_DCACHE_SHIFT */
	uint8_t key[16];      /* the layer blob's key (lfs_cache_key) */
	uint64_t plain_size;  /* bytes of the uncompressed stream */
	uint64_t data_off;    /* where the data starts */
	uint64_t reserved;    /* 0 */
	uint64_t header_xxh3; /* xxh3-64 of the 56 bytes before this field */
};

_Static_assert(sizeof(struct lfs_dcache_header) == 64, "data cache header is 64 bytes");
_Static_assert(__builtin_offsetof(struct lfs_dcache_header, header_xxh3) == 56,
	       "data cache header checksum covers the first 56 bytes");

#endif
