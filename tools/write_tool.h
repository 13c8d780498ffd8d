/* SPDX-License-Identifier: Apache-2.0 */
/* layerfs-squash's parts: squash_main.c (options, --from) calls squash_slim.c (--slim). */
#ifndef LFS_WRITE_TOOL_H
#define LFS_WRITE_TOOL_H

#include <stddef.h>

#include "layerfs/write.h"

/*
 * The entries of layer K that the merged tree FINAL shows (and the
 * directories it has, the whiteouts and opaque markers that still hide
 * something in the slimmed layers below; layers below KEEP stay whole).
 * Returns the number of entries dropped.
 */
size_t squash_slim_layer(struct lfs_wentries *w, const struct lfs_wsource *src, size_t k,
			 size_t keep, const struct lfs_tree *final);

#endif
