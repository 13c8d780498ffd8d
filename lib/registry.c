/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A repository of a registry (OCI distribution API): manifests and small
 * blobs fetched whole and checked against their digests, layer blobs read
 * by ranges with the answer's Content-Range checked, the authentication of
 * registry_auth.c around every request (a 401 refreshes the token once per
 * request), and the counters.  Requests and their retries are http.c's.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "image_int.h"
#include "layerfs/lfs.h"
#include "registry_int.h"

#define MANIFEST_MAX (4u << 20)
#define ACCEPT                                                                                     \
	"Accept: " LFS_MT_OCI_MANIFEST ", " LFS_MT_OCI_INDEX ", " LFS_MT_DOCKER_MANIFEST           \
	", " LFS_MT_DOCKER_LIST
#define TIMEOUT_DEFAULT 30
#define RETRIES_DEFAULT 4

int lfs_registry_open(struct lfs_registry **out, const struct lfs_registry_ref *ref,
		      const struct lfs_registry_opts *opts)
{
	static const struct lfs_registry_opts defaults = {.tls_verify = 1};
	struct lfs_registry *r;
	size_t n;

	*out = NULL;
	if (!opts)
		opts = &defaults;
	if (!ref->host || !ref->repo || !*ref->host || !*ref->repo)
		return lfs_error(-EINVAL, "registry: a reference without a host or a repository");
	r = lfs_xcalloc(1, sizeof(*r));
	atomic_init(&r->refs, 1);
	r->host = lfs_xstrdup(ref->host);
	r->repo = lfs_xstrdup(ref->repo);
	n = strlen(ref->host) + strlen(ref->repo) + 16;
	r->base = lfs_xmalloc(n);
	snprintf(r->base, n, "%s://%s/v2/%s", opts->tls_verify ? "https" : "http", ref->host,
		 ref->repo);
	r->authfile = opts->authfile ? lfs_xstrdup(opts->authfile) : NULL;
	r->timeout = opts->timeout > 0 ? opts->timeout : TIMEOUT_DEFAULT;
	r->retries = opts->retries > 0 ? opts->retries : RETRIES_DEFAULT;
	r->offline = opts->offline;
	pthread_mutex_init(&r->auth_lock, NULL);
	*out = r;
	return 0;
}

struct lfs_registry *lfs_registry_ref(struct lfs_registry *r)
{
	atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
	return r;
}

void lfs_registry_unref(struct lfs_registry *r)
{
	if (!r || atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
		return;
	lfs_registry_auth_free(r);
	pthread_mutex_destroy(&r->auth_lock);
	free(r->host);
	free(r->repo);
	free(r->base);
	free(r->authfile);
	free(r);
}

void lfs_registry_stats(const struct lfs_registry *r, struct lfs_registry_stats *st)
{
	st->requests = atomic_load(&r->stats.requests);
	st->bytes = atomic_load(&r->stats.bytes);
	st->retries = atomic_load(&r->stats.retries);
	st->token_fetches = atomic_load(&r->token_fetches);
}

/*
 * Q with the Accept header ACCEPT_HDR (or NULL) and our credentials; on a
 * 401, the challenge is answered and Q made once more.  0 with RESP (any
 * status), or -errno.
 */
int lfs_registry_request(struct lfs_registry *r, struct lfs_http_req *q, const char *accept_hdr,
			 struct lfs_http_resp *resp)
{
	const char *hdrs[3];
	char *auth = NULL;
	int ret, round;

	/* The caller clears *RESP whatever happens, also when no request was made. */
	memset(resp, 0, sizeof(*resp));
	resp->retry_after = -1;
	resp->content_length = -1;
	if (r->offline)
		return lfs_error(-EIO, "registry %s, %s: offline (--offline): %s is not cached",
				 r->host, r->repo, q->url);
	q->timeout = r->timeout;
	q->attempts = r->retries;
	q->stats = &r->stats;
	for (round = 0;; round++) {
		int n = 0;

		ret = lfs_registry_auth_header(r, &auth);
		if (ret)
			return ret;
		if (accept_hdr)
			hdrs[n++] = accept_hdr;
		if (auth)
			hdrs[n++] = auth;
		hdrs[n] = NULL;
		q->headers = hdrs;
		ret = lfs_http_request(q, resp);
		if (ret || resp->status != 401 || round > 0)
			break;
		ret = lfs_registry_auth_challenge(r, resp->www_auth, auth);
		free(auth);
		auth = NULL;
		if (ret)
			break;
		lfs_http_resp_clear(resp);
	}
	free(auth);
	return ret;
}

/* REFERENCE is a tag or a digest: nothing else may go into a URL. */
static bool reference_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (lfs_digest_check(s) > 0)
		return true;
	if (n == 0 || n > 128 || s[0] == '.' || s[0] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-",
			    s[i]))
			return false;
	return true;
}

struct doc_check {
	const char *want; /* the digest asked for, or NULL */
	int64_t size;	  /* -1: any */
	bool use_header;  /* compare with Docker-Content-Digest too */
	char digest[72];  /* of the body */
};

/* The body is what was asked for: else a fault (corrupt bytes) worth a repeat. */
static int check_doc(const struct lfs_http_resp *resp, void *arg)
{
	struct doc_check *c = arg;
	const char *hd = resp->docker_digest;

	if (resp->status != 200)
		return lfs_error(-EPROTO, "HTTP status %ld, not 200", resp->status);
	if (c->size >= 0 && resp->len != (uint64_t)c->size)
		return lfs_error(-EAGAIN, "%zu bytes, not %" PRId64, resp->len, c->size);
	lfs_digest_of(resp->body ? resp->body : "", resp->len, c->digest);
	if (c->want && strcmp(c->digest, c->want))
		return lfs_error(-EAGAIN, "the bytes received have digest %s", c->digest);
	if (c->use_header && hd && lfs_digest_check(hd) == LFS_DIGEST_SHA256 &&
	    strcmp(c->digest, hd))
		return lfs_error(-EAGAIN,
				 "the bytes received have digest %s, Docker-Content-Digest "
				 "says %.80s",
				 c->digest, hd);
	return 0;
}

/* Content-Type without parameters, else the document's own mediaType. */
static char *media_type_of(const struct lfs_http_resp *resp)
{
	const char *ct = resp->content_type;
	json_t *root, *mt;
	char *s = NULL;

	if (ct && strncmp(ct, "application/json", 16) && strncmp(ct, "text/plain", 10))
		return strndup(ct, strcspn(ct, " ;"));
	root = json_loadb(resp->body, resp->len, 0, NULL);
	mt = json_object_get(root, "mediaType");
	if (json_is_string(mt))
		s = lfs_xstrdup(json_string_value(mt));
	json_decref(root);
	return s ? s : lfs_xstrdup(ct ? ct : "");
}

/* A final answer other than 200/206 as -errno and a reason. */
int lfs_registry_status_error(const struct lfs_http_resp *resp)
{
	int ret = lfs_http_status_error(resp->status, "the registry answered");

	if (resp->status == 404)
		lfs_err_set("not found (HTTP 404)");
	else if (resp->status == 401 || resp->status == 403)
		lfs_err_set("access denied (HTTP %ld)", resp->status);
	return ret;
}

/*
 * GET KIND/REF of the repository ("manifests" or "blobs") whole: at most MAX
 * bytes, checked by C, with ACCEPT (or NULL).  The caller clears *RESP in
 * every case and takes the body on success.  Errors name the registry, the
 * repository, WHAT and REF.
 */
static int get_doc(struct lfs_registry *r, const char *kind, const char *what, const char *ref,
		   size_t max, const char *accept, struct doc_check *c, struct lfs_http_resp *resp)
{
	struct lfs_http_req q = {0};
	size_t n = strlen(r->base) + strlen(kind) + strlen(ref) + 3;
	char *url = lfs_xmalloc(n);
	int ret;

	snprintf(url, n, "%s/%s/%s", r->base, kind, ref);
	q.url = url;
	q.max = max;
	q.check = check_doc;
	q.check_arg = c;
	ret = lfs_registry_request(r, &q, accept, resp);
	if (!ret && resp->status != 200)
		ret = lfs_registry_status_error(resp);
	if (ret)
		lfs_err_prefix("registry %s, %s, %s %s", r->host, r->repo, what, ref);
	free(url);
	return ret;
}

int lfs_registry_manifest(struct lfs_registry *r, const char *reference, char **buf, size_t *len,
			  char **media_type, char digest[72])
{
	struct doc_check c = {.size = -1, .use_header = true};
	struct lfs_http_resp resp;
	char show[160];
	int ret;

	*buf = NULL;
	*len = 0;
	*media_type = NULL;
	if (!reference_ok(reference))
		return lfs_error(-EINVAL, "registry %s, %s: %s is neither a tag nor a digest",
				 r->host, r->repo, lfs_show(reference, show, sizeof(show)));
	if (lfs_digest_check(reference) > 0) {
		if (lfs_digest_check(reference) != LFS_DIGEST_SHA256)
			return lfs_error(-ENOTSUP,
					 "registry %s, %s: manifest %.20s...: only sha256 "
					 "digests can be checked",
					 r->host, r->repo, reference);
		c.want = reference;
	}
	ret = get_doc(r, "manifests", "manifest", reference, MANIFEST_MAX, ACCEPT, &c, &resp);
	if (ret)
		goto out;
	*media_type = media_type_of(&resp);
	memcpy(digest, c.digest, 72);
	*buf = resp.body;
	*len = resp.len;
	resp.body = NULL;
	if (!*buf)
		*buf = lfs_xcalloc(1, 1);
out:
	lfs_http_resp_clear(&resp);
	return ret;
}

int lfs_registry_blob(struct lfs_registry *r, const char *digest, int64_t size, size_t max,
		      char **buf, size_t *len)
{
	struct doc_check c = {.want = digest, .size = size};
	struct lfs_http_resp resp;
	char show[160];
	int ret;

	*buf = NULL;
	*len = 0;
	if (lfs_digest_check(digest) < 0)
		return lfs_error(-EINVAL, "registry %s, %s: blob %s: not a digest", r->host,
				 r->repo, lfs_show(digest, show, sizeof(show)));
	if (lfs_digest_check(digest) != LFS_DIGEST_SHA256)
		return lfs_error(-ENOTSUP,
				 "registry %s, %s, blob %.20s...: only sha256 digests can "
				 "be checked",
				 r->host, r->repo, digest);
	if (size >= 0 && (uint64_t)size > max)
		return lfs_error(-EFBIG,
				 "registry %s, %s, blob %s: %" PRId64
				 " bytes, more than the %zu allowed",
				 r->host, r->repo, digest, size, max);
	ret = get_doc(r, "blobs", "blob", digest, max, NULL, &c, &resp);
	if (ret)
		goto out;
	*buf = resp.body ? resp.body : lfs_xcalloc(1, 1);
	*len = resp.len;
	resp.body = NULL;
out:
	lfs_http_resp_clear(&resp);
	return ret;
}

int lfs_registry_referrers(struct lfs_registry *r, const char *digest, char **buf, size_t *len)
{
	struct doc_check c = {.size = -1};
	struct lfs_http_resp resp;
	int ret;

	*buf = NULL;
	*len = 0;
	if (lfs_digest_check(digest) != LFS_DIGEST_SHA256)
		return lfs_error(-EINVAL, "registry %s, %s: %.80s is not a sha256 digest", r->host,
				 r->repo, digest);
	ret = get_doc(r, "referrers", "referrers of", digest, MANIFEST_MAX,
		      "Accept: application/vnd.oci.image.index.v1+json", &c, &resp);
	if (!ret) {
		*buf = resp.body ? resp.body : lfs_xcalloc(1, 1);
		*len = resp.len;
		resp.body = NULL;
	}
	lfs_http_resp_clear(&resp);
	return ret;
}

/* "bytes A-B/TOTAL" (TOTAL may be "*": -1). */
static int parse_content_range(const char *s, uint64_t *a, uint64_t *b, int64_t *total)
{
	unsigned long long x, y, t;
	int k = 0;

	if (!s || strncasecmp(s, "bytes ", 6))
		return -EINVAL;
	if (sscanf(s + 6, "%llu-%llu/%n", &x, &y, &k) != 2 || k == 0 || x > y)
		return -EINVAL;
	*a = x;
	*b = y;
	if (!strcmp(s + 6 + k, "*")) {
		*total = -1;
		return 0;
	}
	if (sscanf(s + 6 + k, "%llu", &t) != 1 || t > INT64_MAX || t <= y)
		return -EINVAL;
	*total = (int64_t)t;
	return 0;
}

struct range_check {
	uint64_t off;
	size_t len;
};

/* The answer holds exactly the bytes asked for (or the blob's last ones). */
static int check_range(const struct lfs_http_resp *resp, void *arg)
{
	const struct range_check *c = arg;
	uint64_t a, b;
	int64_t total;

	if (resp->status == 200 && resp->whole)
		return 0; /* http.c cut the range out of the whole blob */
	if (resp->status != 206)
		return lfs_error(-EAGAIN, "HTTP status %ld to a Range request", resp->status);
	if (parse_content_range(resp->content_range, &a, &b, &total))
		return lfs_error(-EAGAIN, "a malformed or missing Content-Range (%.64s)",
				 resp->content_range ? resp->content_range : "none");
	if (a != c->off || b > c->off + c->len - 1 ||
	    (b != c->off + c->len - 1 && (total < 0 || b != (uint64_t)total - 1)))
		return lfs_error(-EAGAIN, "Content-Range %.64s for bytes %" PRIu64 "-%" PRIu64,
				 resp->content_range, c->off, c->off + c->len - 1);
	if (resp->len != b - a + 1)
		return lfs_error(-EAGAIN, "%zu bytes for Content-Range %.64s", resp->len,
				 resp->content_range);
	return 0;
}

ssize_t lfs_registry_blob_range(struct lfs_registry *r, const char *digest, void *buf, size_t len,
				uint64_t off)
{
	struct range_check c = {.off = off, .len = len};
	struct lfs_http_req q = {0};
	struct lfs_http_resp resp;
	char show[160], *url = NULL;
	ssize_t ret;
	size_t n;
	int err;

	if (lfs_digest_check(digest) < 0)
		return lfs_error(-EINVAL, "registry %s, %s: blob %s: not a digest", r->host,
				 r->repo, lfs_show(digest, show, sizeof(show)));
	if (len == 0)
		return 0;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	if (off > INT64_MAX || len > INT64_MAX - off)
		return lfs_error(-EINVAL, "registry %s, %s, blob %s: range past 2^63", r->host,
				 r->repo, digest);
	c.len = len;
	n = strlen(r->base) + strlen(digest) + 16;
	url = lfs_xmalloc(n);
	snprintf(url, n, "%s/blobs/%s", r->base, digest);
	q.url = url;
	q.ranged = true;
	q.off = off;
	q.len = len;
	q.dst = buf;
	q.dst_cap = len;
	q.check = check_range;
	q.check_arg = &c;
	err = lfs_registry_request(r, &q, NULL, &resp);
	if (!err && resp.status == 416) {
		ret = 0; /* OFF is at or past the end */
		goto out;
	}
	if (!err && resp.status != 200 && resp.status != 206)
		err = lfs_registry_status_error(&resp);
	if (err) {
		/* The reason stays in the message; for the reader, it is an I/O error. */
		lfs_err_prefix("registry %s, %s, blob %s, bytes %" PRIu64 "-%" PRIu64, r->host,
			       r->repo, digest, off, off + len - 1);
		ret = err == -EINVAL || err == -ENOMEM ? err : -EIO;
		goto out;
	}
	ret = (ssize_t)resp.len;
out:
	lfs_http_resp_clear(&resp);
	free(url);
	return ret;
}

/* A HEAD answer: 200 with a Content-Length. */
static int check_head(const struct lfs_http_resp *resp, void *arg)
{
	(void)arg;
	if (resp->status == 200 && resp->content_length < 0)
		return lfs_error(-EPROTO, "no Content-Length in the answer to HEAD");
	return 0;
}

/* A one-byte Range answer: 206 with "bytes 0-0/TOTAL". */
static int check_first_byte(const struct lfs_http_resp *resp, void *arg)
{
	uint64_t a, b;
	int64_t total;

	(void)arg;
	if (resp->status == 200 && resp->content_length >= 0)
		return 0; /* Range ignored: the length says it */
	if (resp->status != 206 || parse_content_range(resp->content_range, &a, &b, &total) ||
	    a != 0 || total < 0)
		return lfs_error(-EAGAIN, "no size in the answer to a one-byte Range (%.64s)",
				 resp->content_range ? resp->content_range : "none");
	return 0;
}

int lfs_registry_blob_size(struct lfs_registry *r, const char *digest, uint64_t *size)
{
	struct lfs_http_req q = {0};
	struct lfs_http_resp resp;
	char show[160], *url;
	uint64_t a, b;
	int64_t total = -1;
	size_t n;
	int ret;

	*size = 0;
	if (lfs_digest_check(digest) < 0)
		return lfs_error(-EINVAL, "registry %s, %s: blob %s: not a digest", r->host,
				 r->repo, lfs_show(digest, show, sizeof(show)));
	n = strlen(r->base) + strlen(digest) + 16;
	url = lfs_xmalloc(n);
	snprintf(url, n, "%s/blobs/%s", r->base, digest);
	q.url = url;
	q.method = "HEAD";
	q.check = check_head;
	ret = lfs_registry_request(r, &q, NULL, &resp);
	if (!ret && resp.status == 200) {
		*size = (uint64_t)resp.content_length;
		goto out;
	}
	if (!ret && resp.status == 404) {
		ret = lfs_registry_status_error(&resp);
		goto fail;
	}
	/* Some registries and proxies refuse HEAD: one byte by GET says the size too. */
	lfs_http_resp_clear(&resp);
	memset(&q, 0, sizeof(q));
	q.url = url;
	q.ranged = true;
	q.off = 0;
	q.len = 1;
	q.max = 1;
	q.check = check_first_byte;
	ret = lfs_registry_request(r, &q, NULL, &resp);
	if (!ret && resp.status == 206 &&
	    !parse_content_range(resp.content_range, &a, &b, &total) && total >= 0)
		*size = (uint64_t)total;
	else if (!ret && resp.status == 200 && resp.content_length >= 0)
		*size = (uint64_t)resp.content_length;
	else if (!ret)
		ret = lfs_registry_status_error(&resp);
fail:
	if (ret)
		lfs_err_prefix("registry %s, %s, blob %s: its size", r->host, r->repo, digest);
out:
	lfs_http_resp_clear(&resp);
	free(url);
	return ret;
}
