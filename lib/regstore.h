/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What an image from a registry leaves in the cache directory, so that a
 * later mount needs nothing but the manifest, or with --offline nothing at
 * all: the manifests, indexes and configs it fetched (by digest), the
 * digest each tag named, and with --keep-blobs the layer blobs whole.
 *
 *   DIR/registry/docs/HEX   Content-Type line, then the document; HEX is its
 *                           sha256, checked when it is read back
 *   DIR/registry/tags/HEX   "HOST/REPO:TAG\nsha256:...\n"; HEX the sha256 of
 *                           the first line
 *   DIR/blobs/sha256/HEX    a kept layer blob (written whole, then renamed)
 *
 * Writing is an optimisation: a failure warns once and the mount goes on.
 */
#ifndef LFS_REGSTORE_H
#define LFS_REGSTORE_H

#include <stddef.h>

struct lfs_regstore;

/* DIR: the index cache's directory (created as needed). */
int lfs_regstore_open(struct lfs_regstore **out, const char *dir);
void lfs_regstore_close(struct lfs_regstore *st);

void lfs_regstore_put_doc(struct lfs_regstore *st, const char *digest, const char *ctype,
			  const void *buf, size_t len);
/* Document DIGEST, checked against it: 0, or -ENOENT (message set). */
int lfs_regstore_get_doc(struct lfs_regstore *st, const char *digest, char **buf, size_t *len,
			 char **ctype);

void lfs_regstore_put_tag(struct lfs_regstore *st, const char *name, const char *digest);
/* The digest NAME ("HOST/REPO:TAG") had when last seen: 0, or -ENOENT. */
int lfs_regstore_get_tag(struct lfs_regstore *st, const char *name, char digest[72]);

/* The kept blob DIGEST: its path (0) in PATH, for reading or for renaming into. */
int lfs_regstore_blob_path(const struct lfs_regstore *st, const char *digest, char *path, size_t n);

#endif
