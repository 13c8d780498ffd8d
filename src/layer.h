/*
 * Layers: one sequential pass over a layer tarball with libarchive, building
 * the layer's own tree of nodes (later entries win, whiteouts and opaque
 * markers recorded, implied parents flagged) with the offset of every file's
 * data in the uncompressed stream.
 */
#ifndef LFS_LAYER_H
#define LFS_LAYER_H

#include <stdint.h>

#include "blob.h"
#include "image.h"
#include "node.h"

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

struct lfs_layer {
	uint32_t index;
	char *name;
	struct lfs_arena *arena; /* nodes and names; lives as long as the mount */
	struct lfs_node *root;
	struct lfs_blob *blob;
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
 * Split PATH into normalised components (no "", ".", leading "/").  Returns
 * the number of components, -EINVAL when a component is "..", -ENAMETOOLONG
 * when the path is longer than PATH_MAX or has more than MAXC components.
 */
int lfs_path_split(const char *path, const char **comp, uint32_t *len, int maxc);

#endif
