/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layers: index one layer into its own tree of nodes (later entries win,
 * whiteouts and opaque markers recorded, implied parents flagged), each
 * regular file with a handle on its data, and serve that data afterwards.
 * A layer is a tarball (raw, gzip or zstd: one pass, data at offsets of the
 * uncompressed stream) or a directory read in place (like an overlayfs
 * lowerdir); layer_int.h says how a format plugs in.
 */
#ifndef LFS_LAYER_H
#define LFS_LAYER_H

#include <stdint.h>
#include <sys/types.h>

#include "layerfs/blob.h"
#include "layerfs/image.h"
#include "layerfs/node.h"

/*
 * A file of the layer that a later entry of the same layer replaced, at its
 * path or at a directory above it: stored in the tarball, never shown.
 * Reports count its bytes; the index cache keeps the list for them.
 */
struct lfs_superseded {
	struct lfs_superseded *next;
	const char *path;	     /* "/a/b": where it was */
	const struct lfs_node *node; /* the file, left with no name */
	const struct lfs_node *by;   /* the entry that replaced it (or its directory) */
	int below;		     /* BY replaced a directory above PATH */
};

struct lfs_layer_ops;

struct lfs_layer {
	uint32_t index;
	char *name;
	struct lfs_arena *arena; /* nodes and names; lives as long as the mount */
	struct lfs_node *root;
	/*
	 * The front end that built it (layer_int.h); NULL when loaded from the
	 * index cache, which holds tar layers only: then BLOB serves the data.
	 */
	const struct lfs_layer_ops *ops;
	void *priv;	       /* the front end's own */
	struct lfs_blob *blob; /* tar layers: the stored bytes; NULL for others */
	enum lfs_comp comp;
	int hashed;	      /* files carry content hashes */
	uint64_t nentries;    /* tar entries read */
	uint64_t stored_size; /* bytes of the blob */
	uint64_t plain_size;  /* bytes of the uncompressed stream */
	uint8_t stored_sha256[32];
	uint8_t plain_sha256[32];
	struct lfs_superseded *superseded; /* newest first; NULL when loaded from the cache
					    * without LFS_CACHE_SUPERSEDED (a mount) */
};

struct lfs_layer_opts {
	uint64_t max_plain;	    /* decompression bomb limit, 0: default */
	const char *tmpdir;	    /* scratch space for the blob reader */
	const volatile int *cancel; /* set by another thread: stop early */
	int hash_content;	    /* xxh3-128 of every regular file (for reports) */
	_Atomic uint64_t *progress; /* stored bytes read, added to as the pass goes */
	int sequential;		    /* random reads need not be fast (see lfs_scan_opts) */
};

/*
 * Index the layer DESC (lfs_err_get() names the layer and the reason on
 * failure).  Checks DESC's digest and diff_id when it has them.
 */
int lfs_layer_index(struct lfs_layer **out, const struct lfs_layer_desc *desc, uint32_t index,
		    const struct lfs_layer_opts *opts);
void lfs_layer_free(struct lfs_layer *l);
/*
 * The mount is ready and the process will not fork again (the daemon has
 * detached): L may start its background work now (a TOC layer prefetches
 * its files before .prefetch.landmark; without this call it starts at the
 * layer's first read).  Threads started before fork(2) would not survive it.
 */
void lfs_layer_ready(struct lfs_layer *l);
/*
 * Whether D's descriptor announces a table of contents (eStargz's
 * toc.digest, zstd:chunked's position annotation): how a registry's layer
 * is known to be read through its TOC, with no index of ours.
 */
int lfs_layer_toc_annotated(const struct lfs_layer_desc *d);
/*
 * Whether DESC's index may be kept in the index cache: not for a layer read
 * in place (a directory), which would change under a cached index.
 */
int lfs_layer_cacheable(const struct lfs_layer_desc *desc);
/*
 * Up to LEN bytes at OFF from the start of regular file N's stored data
 * (its data_off is the front end's handle: an offset of the uncompressed
 * tar stream, or a file of a directory).  Short only at the end; -errno.
 */
ssize_t lfs_layer_pread(const struct lfs_layer *l, const struct lfs_node *n, void *buf, size_t len,
			uint64_t off);
/*
 * For a layer whose data lies uncompressed in a local file: byte X of the
 * stream is byte *BASE+X of *FD (the layer's; for splicing).  -ENOTSUP else.
 */
int lfs_layer_raw_fd(const struct lfs_layer *l, int *fd, uint64_t *base);

/*
 * Split PATH into normalised components (no "", ".", leading "/").  Returns
 * the number of components, -EINVAL when a component is "..", -ENAMETOOLONG
 * when the path is longer than PATH_MAX or has more than MAXC components.
 */
int lfs_path_split(const char *path, const char **comp, uint32_t *len, int maxc);

#endif
