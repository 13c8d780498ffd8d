/* SPDX-License-Identifier: Apache-2.0 */
/* Inside the image writer: the documents write_config.c makes for write_image.c. */
#ifndef LFS_WRITE_INT_H
#define LFS_WRITE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "layerfs/write.h"

/* The config JSON of the image written (malloc'd), or NULL with the reason set. */
char *lfs_write_config_json(const struct lfs_image *src, const struct lfs_wlayer *layers, size_t n,
			    const struct lfs_wimage_opts *o);
char *lfs_write_manifest_json(const char *config_digest, uint64_t config_size,
			      const struct lfs_wlayer *layers, size_t n);
char *lfs_write_index_json(const char *manifest_digest, uint64_t size, const char *tag);
char *lfs_write_docker_manifest_json(const char *config_name, const char *repotag,
				     char *const *layer_names, size_t n);
/* REPOTAG is "NAME:TAG". */
char *lfs_write_repositories_json(const char *repotag, const char *top_id);

struct lfs_wlayer;
struct lfs_blobsrc;
/*
 * The stored bytes of layer L: *SRC (a reference), and *FD a local file
 * holding exactly them (else -1; owned by the source for a source layer,
 * the caller's to close for a new one).
 */
int lfs_wlayer_src(const struct lfs_wlayer *l, struct lfs_blobsrc **src, int *fd);
/* Push to "docker://REF": the layers, CFG, then the manifest MAN (write_registry.c). */
int lfs_write_registry(const char *dest, struct lfs_wlayer *layers, size_t n, const char *cfg,
		       const char *cfg_digest, const char *man, const struct lfs_wimage_opts *o);

#endif
