/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writing images: a deterministic layer writer (a pax tar through
 * libarchive, compressed with gzip on all cores, zstd or nothing, digests
 * computed on the way), the entries of a new layer taken from the merge
 * (an overlayfs upper directory over an image, or layers squashed), and an
 * image writer that puts a source image's layers and new ones in any of
 * the local transports.
 */
#ifndef LFS_WRITE_H
#define LFS_WRITE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "layerfs/image.h"
#include "layerfs/layer.h"
#include "layerfs/node.h"
#include "layerfs/tree.h"

enum lfs_wcomp {
	LFS_WCOMP_GZIP = 0,
	LFS_WCOMP_ZSTD,
	LFS_WCOMP_NONE,
};

/* "gzip", "zstd", "none" -> *OUT; -EINVAL for anything else. */
int lfs_wcomp_parse(const char *s, enum lfs_wcomp *out);

/* One entry of a layer to write. */
struct lfs_wentry {
	const char *path;	     /* relative, "a/b" (never the root) */
	const struct lfs_node *node; /* metadata; a whiteout node (LFS_NF_WHITEOUT or a
				      * 0:0 character device) is written ".wh.NAME" */
	int opaque;		     /* a directory: "PATH/.wh..wh..opq" right after it */
};

/* Up to LEN bytes at OFF of regular file N: the number read (short only at its end), -errno. */
typedef ssize_t (*lfs_wread_fn)(void *arg, const struct lfs_node *n, void *buf, size_t len,
				uint64_t off);

struct lfs_wlayer_opts {
	enum lfs_wcomp comp;
	int level;	     /* 0: the default (gzip 6, zstd 3) */
	int threads;	     /* 0: every core */
	int64_t clamp_mtime; /* >= 0: later mtimes become this (SOURCE_DATE_EPOCH) */
	lfs_wread_fn read;
	void *read_arg;
};

struct lfs_wlayer_result {
	char digest[72];  /* "sha256:..." of the bytes written */
	char diff_id[72]; /* "sha256:..." of the tar */
	uint64_t size;	  /* bytes written */
	uint64_t plain_size;
	uint64_t nentries;	/* tar entries */
	const char *media_type; /* OCI media type of the layer */
};

/*
 * Write ENTS (sorted in place; any order given) as one layer to FD.  The
 * same entries and options give the same bytes.  Sockets are skipped with
 * a warning; xattrs kept are security.capability and user.* (never
 * overlayfs' own).  0, or -errno with the reason in lfs_err_get().
 */
int lfs_write_layer(int fd, struct lfs_wentry *ents, size_t n, const struct lfs_wlayer_opts *o,
		    struct lfs_wlayer_result *res);

/* Is xattr NAME written to a layer? */
int lfs_write_keep_xattr(const char *name);

/*
 * A compressed stream with its digests: what the layer writer writes
 * through (and the image writer for blobs it makes).
 */
struct lfs_wstream;
int lfs_wstream_open(struct lfs_wstream **out, int fd, enum lfs_wcomp comp, int level, int threads);
int lfs_wstream_write(struct lfs_wstream *s, const void *buf, size_t len);
/* Flush, fill RES (digest, diff_id, sizes), free S (also on failure). */
int lfs_wstream_close(struct lfs_wstream *s, struct lfs_wlayer_result *res);
void lfs_wstream_abort(struct lfs_wstream *s);

/*
 * An overlayfs upper directory read as a layer (index INDEX): both whiteout
 * forms (0:0 character devices, ".wh." files) and the opaque markers
 * (trusted.overlay.opaque, user.overlay.opaque, ".wh..wh..opq") recorded as
 * a layer's; its files' data read from DIR with lfs_layer_pread.  Refuses
 * an upper written with metacopy or redirect_dir.
 */
int lfs_upper_layer(struct lfs_layer **out, const char *dir, uint32_t index);

/*
 * The entries of a layer holding what the top layers add to a view, from the
 * merge: the events of applying layer TOP over the merged tree of the
 * source (commit).  *OUT is allocated, paths too (lfs_wentries_free).
 */
struct lfs_wentries {
	struct lfs_wentry *v;
	size_t n, cap;
	char **paths; /* owned */
	size_t npaths;
	struct lfs_node **nodes; /* whiteouts made here (owned) */
	size_t nnodes;
};
/* Apply TOP over T (the merged source), collecting the layer's entries into W. */
void lfs_wentries_commit(struct lfs_wentries *w, struct lfs_tree *t, const struct lfs_node *top);
/*
 * The entries that take LOW (the merged tree of the layers below) to HIGH
 * (the merged tree of all): what HIGH shows from layers >= FIRST, and a
 * whiteout for each name LOW shows that HIGH does not (squash).
 */
void lfs_wentries_diff(struct lfs_wentries *w, const struct lfs_node *low,
		       const struct lfs_node *high, uint32_t first);
/* Append the entry PATH (LEN bytes, copied) for NODE; OPAQUE: mark the directory opaque. */
void lfs_wentries_add(struct lfs_wentries *w, const char *path, size_t len,
		      const struct lfs_node *node, int opaque);
void lfs_wentries_free(struct lfs_wentries *w);

/* The image writer. */
struct lfs_wlayer {
	const struct lfs_layer_desc *src; /* a layer of the source, copied as it is; or NULL */
	char *path;			  /* a new layer's file (NULL for SRC) */
	struct lfs_wlayer_result res;	  /* a new layer's (filled for SRC by the writer) */
	char *created_by;		  /* history of a new layer: created_by */
	char *comment;			  /* and comment (may be NULL) */
};

struct lfs_wimage_opts {
	const char *author;   /* NULL: the source's */
	int64_t created;      /* config "created", history's; -1: now */
	char *const *changes; /* docker commit --change instructions */
	size_t nchanges;
	int keep_history;    /* 1: the source's history entries are kept */
	size_t nsrc_history; /* how many history entries of the source the layers kept
			      * cover: the rest are dropped (squash); (size_t)-1: all */
	int quiet;
	int tls_insecure;     /* docker:// DEST: plain HTTP, no TLS check */
	const char *authfile; /* docker:// DEST: credentials (NULL: the usual files) */
};

/*
 * Write the image LAYERS (lowest first) with the config of SRC (changed as
 * OPTS says) to DEST: "oci:DIR[:TAG]", "oci-archive:FILE[:TAG]" or
 * "docker-archive:FILE[:NAME:TAG]" (DEST must not exist; it is built under
 * a temporary name and renamed), or "docker://REF" (blobs uploaded unless
 * the registry has them, the manifest put last).  0 or -errno with the reason set.
 */
int lfs_write_image(const char *dest, const struct lfs_image *src, struct lfs_wlayer *layers,
		    size_t nlayers, const struct lfs_wimage_opts *opts);

/* Whether DEST can be written (a known transport, nothing there yet): 0 or -errno, reason set. */
int lfs_write_dest_check(const char *dest);

/* Whether every --change instruction parses: 0, or -EINVAL with the reason set. */
int lfs_write_changes_check(char *const *changes, size_t n);
/* Parse one --change instruction into the config JSON object CFG (a json_t *). */
int lfs_write_change(void *cfg, const char *change);

/* An image opened for writing from: its layers indexed (and an upper added, for a commit). */
struct lfs_wsource {
	struct lfs_image *img;
	struct lfs_layer **layers; /* [i]->index == i */
	size_t n;
};
/* SOURCES as lfs_image_open takes them (one image, or layer files lowest first). */
int lfs_wsource_open(struct lfs_wsource *s, char *const *sources, size_t n,
		     const struct lfs_image_opts *o);
/* Add layer L (index s->n) on top: the upper of a commit. */
void lfs_wsource_push(struct lfs_wsource *s, struct lfs_layer *l);
/* The merged tree of layers [0, N). */
struct lfs_tree *lfs_wsource_tree(const struct lfs_wsource *s, size_t n);
/* The lfs_wread_fn of the layers: ARG is the source; sparse files read as the kernel shows them. */
ssize_t lfs_wsource_read(void *arg, const struct lfs_node *n, void *buf, size_t len, uint64_t off);
void lfs_wsource_close(struct lfs_wsource *s);
/* Bytes of the stored blob of D. */
uint64_t lfs_layer_desc_size(const struct lfs_layer_desc *d);
/* A directory beside DEST's file (for temporary files that can be linked into it). */
char *lfs_write_dest_dir(const char *dest);

/*
 * lfs_write_layer into a new file in DIR (*PATH, malloc'd; removed again on
 * failure).
 */
int lfs_write_layer_file(const char *dir, struct lfs_wentry *ents, size_t n,
			 const struct lfs_wlayer_opts *o, struct lfs_wlayer_result *res,
			 char **path);
/* --timestamp's value, or SOURCE_DATE_EPOCH's when ARG is NULL: seconds, -1 for none, -2 bad. */
int64_t lfs_write_timestamp(const char *arg);

#endif
