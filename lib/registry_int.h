/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private interface of the registry client, shared by registry.c (requests
 * to a repository), registry_auth.c (credentials, challenges, tokens) and
 * blobsrc_http.c; the parsers are exposed for the unit tests.
 */
#ifndef LFS_REGISTRY_INT_H
#define LFS_REGISTRY_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "http.h"
#include "registry.h"

/* A parsed WWW-Authenticate challenge (the first one of the header). */
struct lfs_www_auth {
	char *scheme; /* "Bearer", "Basic" */
	char *realm;
	char *service;
	char *scope;
};

/* Parse a WWW-Authenticate value: 0, or -EINVAL when malformed. */
int lfs_www_auth_parse(const char *hdr, struct lfs_www_auth *out);
void lfs_www_auth_clear(struct lfs_www_auth *a);

/*
 * Credentials for HOST (a registry host[:port]) from AUTHFILE, or when it
 * is NULL from $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json,
 * ~/.docker/config.json, the first file with an entry for HOST winning.
 * 0 with *USER, *PASS malloc'ed; -ENOENT when there is none; another
 * -errno (message set) for an unreadable or malformed file.
 */
int lfs_registry_creds(const char *authfile, const char *host, char **user, char **pass);

/* A cached token. */
struct lfs_token {
	struct lfs_token *next;
	char *scope;
	char *token;
	time_t expires; /* CLOCK_MONOTONIC seconds */
};

struct lfs_registry {
	atomic_uint refs;
	char *host;
	char *repo;
	char *base; /* "http[s]://HOST/v2/REPO" */
	char *authfile;
	int timeout;
	int retries;
	int offline; /* no request is made */
	struct lfs_http_stats stats;
	atomic_uint_fast64_t token_fetches;

	/* Authentication, under AUTH_LOCK (held across a token fetch, so that
	 * concurrent readers wait for one fetch rather than each making one). */
	pthread_mutex_t auth_lock;
	bool creds_loaded;
	char *user, *pass;	   /* NULL: anonymous */
	struct lfs_www_auth chall; /* the last challenge (scheme NULL: none yet) */
	struct lfs_token *tokens;
};

/*
 * The Authorization header to send now ("Authorization: Bearer ...",
 * malloc'ed), or NULL before any challenge.  An expired token is fetched
 * again first; -errno when that fails.
 */
int lfs_registry_auth_header(struct lfs_registry *r, char **hdr);
/*
 * A request was answered 401 with challenge WWW_AUTH (may be NULL) after
 * sending SENT (the header we sent, or NULL): get a new token for the
 * challenge's scope (unless another thread already did).  0 or -errno.
 */
int lfs_registry_auth_challenge(struct lfs_registry *r, const char *www_auth, const char *sent);
void lfs_registry_auth_free(struct lfs_registry *r);

/*
 * Q with the header line HDR (an Accept or Content-Type; may be NULL) and
 * our credentials; a 401 is answered and Q made once more.  0 with RESP
 * (any status; the caller clears it in every case), or -errno.
 */
int lfs_registry_request(struct lfs_registry *r, struct lfs_http_req *q, const char *hdr,
			 struct lfs_http_resp *resp);
/* A final answer other than the expected one, as -errno and a reason. */
int lfs_registry_status_error(const struct lfs_http_resp *resp);

/* Seconds on the monotonic clock. */
time_t lfs_registry_now(void);

#endif
