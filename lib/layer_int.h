/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the layer indexer.  A layer is built in two halves:
 *
 *   - a front end per layer format (layer_tar.c: a tar stream through
 *     libarchive; layer_dir.c: a directory read in place) turns what it
 *     reads into entries, and serves file data afterwards;
 *   - the builder (layer_build.c), format-neutral, turns entries into the
 *     layer's tree: path normalisation, implied parents, whiteouts and opaque
 *     markers in both forms, hard links, later entries winning, and the list
 *     of what they superseded.
 *
 * layer.c holds the table of front ends and picks one for each layer.  Also
 * here: the window of header bytes the tar pass keeps, and the check of pax
 * records in it (layer_pax.c).
 */
#ifndef LFS_LAYER_INT_H
#define LFS_LAYER_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "layerfs/layer.h"

#define LFS_SHOWN 256 /* room for a name in a message */

/* What a front end hands the builder for each entry of the layer. */
struct lfs_entry {
	const char *path; /* as the layer spells it: the builder normalises it */
	uint32_t mode;	  /* type and permission bits */
	uint32_t uid, gid;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint64_t size;			/* regular files */
	uint64_t data_off;		/* regular files: the front end's handle on the data */
	uint64_t rdev;			/* devices */
	const char *link;		/* symlinks: the target (NULL: unreadable) */
	const char *hardlink;		/* a hard link to this earlier path of the layer */
	const struct lfs_xattr *xattrs; /* overlay's own are consumed, never shown */
	size_t nxattrs;
};

struct lfs_builder {
	struct lfs_layer *l;
	int wh_names;	/* ".wh.NAME" and ".wh..wh..opq" are whiteouts (OCI layers) */
	int warned_abs; /* said once that leading '/' are dropped */
	char **skipped; /* entries skipped as Linux cannot hold them */
	size_t nskipped;
	const char *const *comp; /* the entry being added: its path's components */
	const uint32_t *clen;
	int nc;
};

/*
 * WH_NAMES: the layer's ".wh." names are whiteouts, as in OCI and docker
 * layers; a directory used as an overlayfs lowerdir has none (the kernel
 * shows such files as they are), only 0:0 character devices.
 */
void lfs_build_init(struct lfs_builder *b, struct lfs_layer *l, int wh_names);
/*
 * Add E (later entries replace earlier ones at the same path).  *FILE gets
 * the node made for a regular file's data (for the front end's own checks),
 * else NULL.  0, or -errno with the reason set; entries Linux cannot hold
 * are skipped with a warning.
 */
int lfs_build_add(struct lfs_builder *b, const struct lfs_entry *e, struct lfs_node **file);
void lfs_build_free(struct lfs_builder *b);

/*
 * A layer format.  Front ends are tried in the order of the table in
 * layer.c; the first whose probe says yes indexes the layer.
 */
struct lfs_layer_ops {
	const char *name;
	/* Whether this front end reads DESC (ST: fstat of its fd). */
	int (*probe)(const struct lfs_layer_desc *desc, const struct stat *st);
	/* Its indexes may go to the index cache (which keeps the blob's restart points). */
	int cacheable;
	/*
	 * Fill L (index, name, arena, empty root set up): its tree, and whatever
	 * it needs to serve data (L->blob, or L->priv).  0 or -errno, reason set.
	 */
	int (*index)(struct lfs_layer *l, const struct lfs_layer_desc *desc,
		     const struct lfs_layer_opts *opts);
	/*
	 * Up to LEN bytes at OFF from the start of N's stored data; short only
	 * at its end.  NULL: the bytes are L's blob at N's data_off.
	 */
	ssize_t (*pread)(const struct lfs_layer *l, const struct lfs_node *n, void *buf, size_t len,
			 uint64_t off);
	/* Free L->priv (NULL: nothing to free). */
	void (*free)(struct lfs_layer *l);
	/* The mount is ready: start background work (NULL: none; lfs_layer_ready). */
	void (*ready)(struct lfs_layer *l);
};

/* Bytes [base, base + len) of the plain stream, kept from keep_from on. */
struct lfs_hdrwin {
	char *buf;
	size_t len, cap;
	uint64_t base;
	uint64_t keep_from; /* where the next header is expected: nothing before is kept */
};

/* Bytes P[0, N) at stream offset POS went by. */
void lfs_hdrwin_add(struct lfs_hdrwin *w, const void *p, uint64_t pos, size_t n);
void lfs_hdrwin_free(struct lfs_hdrwin *w);
/*
 * Check the pax records among the header blocks [H, D) of the entry ENTRY
 * (H: archive_read_header_position(), D: where its data starts).  0, or
 * -EIO with one message naming LAYER, ENTRY and the record.  Entries whose
 * headers the window does not hold are not checked.
 */
int lfs_pax_check(const struct lfs_hdrwin *w, uint64_t h, uint64_t d, const char *layer,
		  const char *entry);

/*
 * Some libarchive versions read a pax time "-1.25" as -1 s + 0.25 (the
 * fraction's sign lost): put such a time right.
 */
void lfs_pax_fix_time(int64_t *sec, uint32_t *nsec);

#endif
