/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The core: open an image, index its layers in parallel, merge them, and
 * serve file data and xattrs from the result.  The FUSE driver and the tools
 * use this and nothing below it.
 */
#ifndef LFS_CORE_H
#define LFS_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "layerfs/image.h"
#include "layerfs/layer.h"
#include "layerfs/tree.h"

struct lfs_core_opts {
	const char *tag;
	const char *platform;
	uint64_t max_plain; /* per layer; 0: default */
	const char *tmpdir;
	int jobs;		 /* indexing threads; 0: one per CPU */
	int progress;		 /* print progress on stderr */
	int hash_content;	 /* hash every file's content while indexing (reports) */
	int no_cache;		 /* neither read nor write the persistent index */
	int sequential;		 /* one pass, no fast random reads needed (reports) */
	int keep_layers;	 /* keep each layer's own tree intact (reports) */
	int superseded;		 /* layers list their superseded entries (reports); a
				  * mount leaves them out of indexes loaded from the cache */
	const char *cache_dir;	 /* NULL: $XDG_CACHE_HOME/layerfs */
	uint64_t cache_max;	 /* bytes; 0: no limit */
	int tls_insecure;	 /* docker://: plain HTTP, no TLS check */
	const char *authfile;	 /* docker://: credentials file; NULL: the usual ones */
	uint64_t chunk_max;	 /* docker://: bytes of the chunk cache on disk; 0: no limit */
	int keep_blobs;		 /* docker://: keep verified blobs in the cache directory */
	int offline;		 /* docker://: no network */
	int timeout;		 /* docker://: seconds without progress per request; 0: 30 */
	int retries;		 /* docker://: retries of a failed request; -1: default */
	int no_data_cache;	 /* mounts: do not keep inflated file data (datacache.h) */
	uint64_t data_cache_max; /* bytes of inflated file data kept; 0: default (4 GiB) */
};

struct lfs_core {
	struct lfs_image *img;
	uint32_t nlayers;
	struct lfs_layer **layers;
	struct lfs_tree *tree;
	uint32_t cached;	     /* layers loaded from the persistent index */
	struct lfs_dcache *dcache;   /* inflated file data kept (NULL: none) */
	struct lfs_dlayer **dlayers; /* per layer, NULL when not kept */
};

/* The image config, parsed (NULL for layer files given alone). */
static inline const struct lfs_image_config *lfs_core_config(const struct lfs_core *c)
{
	return c->img->cfg;
}

int lfs_core_open(struct lfs_core **out, char *const *sources, size_t nsources,
		  const struct lfs_core_opts *opts);
/*
 * The image options OPTS imply (lfs_core_open opens the image with them):
 * for a program that opens the image alone.  The cache directory is
 * resolved into DIR (N bytes), which IO then points to.
 */
void lfs_core_image_opts(const struct lfs_core_opts *opts, struct lfs_image_opts *io, char *dir,
			 size_t n);
/*
 * Push the indexes C's layers have in the cache to C's registry, as an
 * artifact referring to the image (lib/index_artifact.c): 0 with the
 * artifact's digest, or -errno (not from a registry, no cache ...).
 */
int lfs_core_publish_index(const struct lfs_core *c, const struct lfs_core_opts *opts,
			   char digest[72]);
/*
 * --stats: on stderr, what a registry image fetched (lfs_image_print_stats)
 * and how the data cache served reads.
 */
void lfs_core_print_stats(const struct lfs_core *c);
void lfs_core_free(struct lfs_core *c);

/* Read file data (zeros in sparse holes); returns bytes read or -errno. */
ssize_t lfs_core_read(const struct lfs_core *c, const struct lfs_node *n, void *buf, size_t size,
		      uint64_t off);
/*
 * Where SIZE bytes at OFF of regular file N lie in an uncompressed layer file,
 * for splicing: *fd, *pos, and *len (clamped to the file).  -ENOTSUP when the
 * data is compressed or sparse.
 */
int lfs_core_data_fd(const struct lfs_core *c, const struct lfs_node *n, uint64_t off, size_t size,
		     int *fd, uint64_t *pos, size_t *len);

/* The value of xattr NAME of N, or -ENODATA. */
int lfs_core_getxattr(const struct lfs_node *n, const char *name, const void **val, size_t *len);
/* The NUL-separated names into BUF (when SIZE allows); returns the length needed. */
size_t lfs_core_listxattr(const struct lfs_node *n, char *buf, size_t size);

#endif
