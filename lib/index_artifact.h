/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Published indexes (index_artifact.c): an image's index cache entries
 * pushed to its registry as an OCI artifact referring to the image, and
 * fetched by a mount that lacks them, so that it needs no pass.
 */
#ifndef LFS_INDEX_ARTIFACT_H
#define LFS_INDEX_ARTIFACT_H

#include "layerfs/image.h"

/* The artifactType of a published layerfs index. */
#define LFS_AT_INDEX "application/vnd.layerfs.index.v1"

struct lfs_cache;

/*
 * Publish the index of IMG (from a registry) that the cache in CACHE_DIR
 * holds for each of its layers: 0 with the artifact's manifest digest in
 * DIGEST, or -errno (a layer without an index, a refused push ...).
 */
int lfs_index_publish(const struct lfs_image *img, const char *cache_dir, char digest[72]);
/*
 * Before IMG's layers are loaded from CACHE: if some have no entry, look
 * for a published index and install what it has for them.  Anything wrong
 * is one warning; the layers are then indexed as if there were none.
 */
void lfs_index_fetch(const struct lfs_image *img, struct lfs_cache *cache);

/* A part of an artifact: a blob by digest and size. */
struct lfs_index_part {
	char digest[72]; /* "" for none (a layer without scratch data, or a TOC layer) */
	uint64_t size;
};
/*
 * Parse artifact manifest BUF (LEN bytes) and check it against IMG: a
 * layerfs index whose subject is IMG's manifest and whose parts name
 * exactly IMG's layers in order.  IDX[i] and SCR[i] (IMG->nlayers each) get
 * layer i's parts.  0, or -EINVAL with the reason after WHAT (exposed for
 * fuzzing).
 */
int lfs_index_artifact_parse(const char *buf, size_t len, const char *what,
			     const struct lfs_image *img, struct lfs_index_part *idx,
			     struct lfs_index_part *scr);

#endif
