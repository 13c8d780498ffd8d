/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP for the registry client: the only interface to libcurl (http.c).  A
 * request is one GET or HEAD, repeated with backoff after the faults that a
 * repeat can cure (connection errors, timeouts, 5xx, 429, truncated bodies,
 * and whatever the caller's check calls a fault); the caller sees the last
 * answer.  Thread safe: each thread has its own curl handle.
 */
#ifndef LFS_HTTP_H
#define LFS_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Counters shared by every request made for one registry. */
struct lfs_http_stats {
	atomic_uint_fast64_t requests; /* attempts, retries included */
	atomic_uint_fast64_t bytes;    /* body bytes received */
	atomic_uint_fast64_t retries;  /* attempts repeated after a fault */
};

struct lfs_http_resp;

struct lfs_http_req {
	const char *method; /* "GET" (NULL), "HEAD", "POST" or "PUT" */
	const void *body;   /* POST, PUT: what is sent (BODY_LEN bytes; may be NULL if 0) */
	size_t body_len;
	const char *url;
	const char *const *headers; /* "Name: value", NULL-terminated; may be NULL */
	const char *user;	    /* Basic credentials for this host, or NULL */
	const char *password;
	bool ranged; /* send "Range: bytes=OFF-(OFF+LEN-1)" */
	uint64_t off;
	size_t len;
	void *dst; /* the body goes here (at most DST_CAP bytes) ... */
	size_t dst_cap;
	size_t max;   /* ... or, with DST NULL, to a malloc'ed buffer of at most MAX */
	int timeout;  /* seconds without progress; also the connect timeout */
	int attempts; /* at least 1 */
	/*
	 * Called on each answer with a status below 300: 0 accepts it, -EAGAIN
	 * (with lfs_err_set) calls it a fault to be retried, another -errno ends
	 * the request.  NULL accepts every answer.
	 */
	int (*check)(const struct lfs_http_resp *resp, void *arg);
	void *check_arg;
	struct lfs_http_stats *stats; /* may be NULL */
};

struct lfs_http_resp {
	long status;	    /* 0 when no answer came */
	char *body;	    /* malloc'ed and NUL-terminated when the request had no DST */
	size_t len;	    /* body bytes kept (in DST or BODY) */
	uint64_t body_off;  /* a 200 to a ranged request: offset of body[0] in the blob */
	bool whole;	    /* a 200 to a ranged request: the registry ignored Range */
	char *content_type; /* the headers of the last answer, or NULL */
	char *content_range;
	char *www_auth;
	char *docker_digest;
	char *location;		/* of a 201 or 202 answer (uploads), or NULL */
	char *errbody;		/* the first bytes of an error answer's body, for messages */
	int retry_after;	/* seconds, -1 when absent */
	int64_t content_length; /* of the last answer, -1 when absent or malformed */
	char *final_host;	/* host[:port] of the URL that answered */
};

/*
 * Make REQ, repeating it after faults: 0 with RESP filled (any status: the
 * caller judges 401, 404 ...), or -errno with the last reason in
 * lfs_err_get() ("GET URL: reason") once the attempts are spent or for a
 * fault no repeat can cure.  Free RESP with lfs_http_resp_clear either way.
 */
int lfs_http_request(const struct lfs_http_req *req, struct lfs_http_resp *resp);
void lfs_http_resp_clear(struct lfs_http_resp *resp);

/* An HTTP status as -errno with its reason in the message (0 below 300). */
int lfs_http_status_error(long status, const char *url);

/* S escaped for a URL query (malloc'ed). */
char *lfs_http_escape(const char *s);

#endif
