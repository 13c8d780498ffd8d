/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry client (OCI distribution API over libcurl): references in
 * the containers-transports spelling, the Bearer token flow, manifests and
 * small blobs fetched whole and checked against their digests, and layer
 * blobs read by HTTP ranges through a blob source (blobsrc_http.c).
 *
 *   http.c          libcurl, its errors translated in one place, retries
 *   registry_ref.c  "docker://[HOST[:PORT]/]REPO[:TAG|@DIGEST]"
 *   registry_auth.c credentials files, WWW-Authenticate, the token cache
 *   registry.c      a repository of a registry: manifests and blobs
 *   blobsrc_http.c  a layer blob as a blob source, read by ranges
 *
 * Every function returns 0 or -errno with one line in lfs_err_get() naming
 * the registry, the repository and the reason.  A registry is shared by the
 * image and by every blob source made from it, from many threads:
 * reference-counted, thread safe.
 */
#ifndef LFS_REGISTRY_H
#define LFS_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

struct lfs_blobsrc;
struct lfs_chunkcache;

/* "docker://[HOST[:PORT]/]REPO[:TAG|@DIGEST]", parsed. */
struct lfs_registry_ref {
	char *host;   /* "registry-1.docker.io" for docker.io; "127.0.0.1:5000" */
	char *repo;   /* "library/busybox" */
	char *tag;    /* "latest" when neither a tag nor a digest is given; else NULL */
	char *digest; /* "sha256:<hex>", or NULL */
	char *name;   /* as given, for messages (without "docker://") */
};

/*
 * Parse S, which starts with "docker://".  No host means docker.io, and a
 * one-part name there gets "library/".  -EINVAL with a message for anything
 * malformed (upper case in the repository, an empty part, a bad digest).
 */
int lfs_registry_ref_parse(const char *s, struct lfs_registry_ref *ref);
void lfs_registry_ref_clear(struct lfs_registry_ref *ref);

struct lfs_registry_opts {
	int tls_verify;	      /* 0: plain HTTP (as skopeo's --tls-verify=false) */
	const char *authfile; /* NULL: $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/
			       * auth.json, ~/.docker/config.json, in that order */
	int timeout;	      /* seconds without progress before a request fails; 0: 30 */
	int retries;	      /* attempts per request before giving up; 0: 4 */
	int offline;	      /* make no request: each fails with -EIO */
};

struct lfs_registry;

/* Connect to REF's repository (no request is made yet). */
int lfs_registry_open(struct lfs_registry **out, const struct lfs_registry_ref *ref,
		      const struct lfs_registry_opts *opts);
struct lfs_registry *lfs_registry_ref(struct lfs_registry *r);
void lfs_registry_unref(struct lfs_registry *r);

/*
 * The manifest or index REFERENCE (a tag or "sha256:..."), with the Accept
 * types of OCI and Docker v2 manifests and indexes.  *BUF (malloc'ed,
 * NUL-terminated, *LEN bytes), *MEDIA_TYPE (malloc'ed, from Content-Type),
 * DIGEST its sha256 ("sha256:<hex>"), checked against REFERENCE when that
 * is a digest and against the Docker-Content-Digest header when sent.
 */
int lfs_registry_manifest(struct lfs_registry *r, const char *reference, char **buf, size_t *len,
			  char **media_type, char digest[72]);
/*
 * Blob DIGEST whole (a config: at most MAX bytes), checked against DIGEST
 * and, when SIZE >= 0, against SIZE.
 */
int lfs_registry_blob(struct lfs_registry *r, const char *digest, int64_t size, size_t max,
		      char **buf, size_t *len);
/*
 * Up to LEN bytes at OFF of blob DIGEST (a GET with Range; redirects to
 * blob storage followed, Authorization dropped when the host changes; a
 * registry that ignores Range is read past OFF).  Returns bytes read or
 * -errno (-EIO once the retries are spent).
 */
ssize_t lfs_registry_blob_range(struct lfs_registry *r, const char *digest, void *buf, size_t len,
				uint64_t off);

/*
 * The size of blob DIGEST: HEAD, or where that fails (a registry or proxy
 * that refuses HEAD) a GET of its first byte, from Content-Range.
 */
int lfs_registry_blob_size(struct lfs_registry *r, const char *digest, uint64_t *size);

/*
 * Blob DIGEST of SIZE bytes (from its descriptor) as a blob source: reads
 * are ranged GETs, and a sequential reader (the indexing pass) is served
 * from large read-ahead requests rather than one request per read.  Once
 * the source has its chunk sums (lfs_blobsrc_set_sums), reads go through
 * the chunk cache CC and are checked; with CC NULL they never are (tests).
 */
int lfs_blobsrc_http_new(struct lfs_blobsrc **out, struct lfs_registry *r,
			 struct lfs_chunkcache *cc, const char *digest, uint64_t size);

/*
 * --keep-blobs: the bytes the indexing pass reads of S (an HTTP source) are
 * also written to PATH.tmp-PID, renamed to PATH once the blob's digest has
 * verified (and removed if it does not).
 */
void lfs_blobsrc_http_keep(struct lfs_blobsrc *s, const char *path);

/*
 * The referrers API's image index of manifest DIGEST (OCI distribution
 * 1.1): 0 with *BUF, or -ENOENT where the registry lacks the API (404).
 */
int lfs_registry_referrers(struct lfs_registry *r, const char *digest, char **buf, size_t *len);

/*
 * Writing (registry_push.c): blob DIGEST (LEN bytes of BUF, which must have
 * that digest) uploaded unless the registry has it; a manifest or index
 * under REFERENCE (a tag or its digest) with MEDIA_TYPE.  0 or -errno.
 */
int lfs_registry_put_blob(struct lfs_registry *r, const char *digest, const void *buf, size_t len);
int lfs_registry_put_manifest(struct lfs_registry *r, const char *reference, const char *media_type,
			      const void *buf, size_t len);

/* Counters for --stats and tests (whole run, all threads). */
struct lfs_registry_stats {
	uint64_t requests; /* HTTP requests made, retries included */
	uint64_t bytes;	   /* body bytes received */
	uint64_t retries;  /* requests repeated after a fault */
	uint64_t token_fetches;
};
void lfs_registry_stats(const struct lfs_registry *r, struct lfs_registry_stats *st);

#endif
