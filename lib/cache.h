/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The persistent index cache: a layer indexed once is loaded from
 * $XDG_CACHE_HOME/layerfs on later mounts instead of being read again.
 */
#ifndef LFS_CACHE_H
#define LFS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "layerfs/image.h"
#include "layerfs/layer.h"

struct lfs_cache;

/* The default directory: $XDG_CACHE_HOME/layerfs or ~/.cache/layerfs. */
int lfs_cache_default_dir(char *buf, size_t n);
/* Open (creating it, mode 0700) the cache directory DIR; MAX_BYTES 0: no limit. */
int lfs_cache_open(struct lfs_cache **out, const char *dir, uint64_t max_bytes);
void lfs_cache_close(struct lfs_cache *c);

/*
 * What identifies a layer blob: its digests and the identity of the file
 * holding it; for a blob with no fd (a registry's), its sha256 digest and
 * diff_id alone (-ENOTSUP without a sha256 digest: not cached).
 */
int lfs_cache_key(const struct lfs_layer_desc *d, uint8_t key[16]);
/*
 * The same with the file's identity SB given (for tests: the key also covers
 * a sample of the content, the first and last 4 KiB of the blob).
 */
int lfs_cache_key_stat(const struct lfs_layer_desc *d, const struct stat *sb, uint8_t key[16]);

/* What lfs_cache_load and lfs_cache_decode are asked for. */
#define LFS_CACHE_HASHES     0x1 /* files with content hashes, else -ENOENT */
#define LFS_CACHE_SUPERSEDED 0x2 /* lfs_layer.superseded (reports); else left NULL, unparsed */

/*
 * Load layer D, whose key (lfs_cache_key) is KEY, from the cache: 0, or
 * -ENOENT when there is no usable entry (missing, stale, corrupt, of another
 * version, or without the content hashes FLAGS asks for).
 */
int lfs_cache_load(struct lfs_cache *c, const struct lfs_layer_desc *d, const uint8_t key[16],
		   uint32_t index, int flags, struct lfs_layer **out);
/*
 * Store layer L, indexed from D, under KEY: the key taken before the
 * indexing pass, so that a file changed during the pass is not filed under
 * its new identity with the old bytes' index.  Failures only warn: the
 * cache is an optimisation.
 */
void lfs_cache_store(struct lfs_cache *c, const struct lfs_layer_desc *d, const uint8_t key[16],
		     struct lfs_layer *l);

/*
 * The raw files of KEY's entry (published indexes, index_artifact.c): *IDX
 * and, if there is one, *SCR (else NULL, 0); each at most MAX bytes (else
 * -EFBIG).  -ENOENT when there is no entry.
 */
int lfs_cache_files(struct lfs_cache *c, const uint8_t key[16], uint64_t max, void **idx,
		    size_t *idx_len, void **scr, size_t *scr_len);
/* Whether KEY has an entry (not whether it is good). */
bool lfs_cache_has(struct lfs_cache *c, const uint8_t key[16]);
/*
 * Write an entry made elsewhere under KEY: IDX is checked as a load checks
 * it (magic, version, header and payload checksums, the key) before it
 * takes its name; SCR (may be empty) is checked when used, as always.
 */
int lfs_cache_install(struct lfs_cache *c, const uint8_t key[16], const void *idx, size_t idx_len,
		      const void *scr, size_t scr_len);

/* Serialise / parse one layer's index (exposed for tests and fuzzing). */
int lfs_cache_encode(struct lfs_layer *l, uint64_t scratch_len, void **out, size_t *len);
int lfs_cache_decode(const void *buf, size_t len, const struct lfs_layer_desc *d, uint32_t index,
		     int scratch_fd, int flags, struct lfs_layer **out);

#endif
