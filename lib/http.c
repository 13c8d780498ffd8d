/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP over libcurl for the registry client, and the only file that calls
 * libcurl: one easy handle per thread (kept between requests so that its
 * connections are reused, never shared between threads), curl's errors and
 * HTTP statuses translated to -errno in one place (http_errno), and the
 * retry loop with exponential backoff.
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http.h"
#include "layerfs/lfs.h"

#define BACKOFF_FIRST_MS  100
#define BACKOFF_MAX_MS	  2000
#define RETRY_AFTER_MAX_S 5
/* What an error answer's body may add to a message. */
#define ERRBODY_MAX 200
#define MAX_REDIRS  8

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;
static pthread_key_t handle_key;

static void handle_free(void *h)
{
	curl_easy_cleanup(h);
}

static void global_init(void)
{
	/* Threads come later (curl_global_init is not thread safe). */
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (global_rc == CURLE_OK && pthread_key_create(&handle_key, handle_free))
		global_rc = CURLE_FAILED_INIT;
}

/* This thread's handle: its connection cache lives across requests. */
static CURL *thread_handle(void)
{
	CURL *h;

	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return NULL;
	h = pthread_getspecific(handle_key);
	if (h) {
		curl_easy_reset(h);
		return h;
	}
	h = curl_easy_init();
	if (h && pthread_setspecific(handle_key, h)) {
		curl_easy_cleanup(h);
		h = NULL;
	}
	return h;
}

/*
 * The one translation of curl's results and HTTP statuses into -errno,
 * with the reason in the message; *RETRY says whether a repeat may cure it.
 */
static int http_errno(CURLcode cc, long status, const char *what, const char *detail, bool *retry)
{
	int err;

	*retry = false;
	if (cc == CURLE_OK) {
		if (status < 300)
			return 0;
		err = lfs_http_status_error(status, what);
		*retry = status == 429 || status >= 500;
		return err;
	}
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		err = -ECONNREFUSED;
		*retry = true;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		err = -ETIMEDOUT;
		*retry = true;
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		err = -EHOSTUNREACH;
		*retry = true;
		break;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR: /* a handshake cut short, not a bad certificate */
		err = -ECONNRESET;
		*retry = true;
		break;
	case CURLE_PARTIAL_FILE:
		err = -EPIPE; /* a truncated body */
		*retry = true;
		break;
	case CURLE_OUT_OF_MEMORY:
		err = -ENOMEM;
		break;
	case CURLE_TOO_MANY_REDIRECTS:
		err = -ELOOP;
		break;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		err = -EINVAL;
		break;
	case CURLE_WRITE_ERROR:
		err = -EFBIG; /* only our write callback refuses bytes */
		break;
	default:
		err = -EPROTO;
		break;
	}
	lfs_err_set("%s: %s%s%s", what, curl_easy_strerror(cc), detail && *detail ? ": " : "",
		    detail ? detail : "");
	return err;
}

int lfs_http_status_error(long status, const char *url)
{
	int err;

	if (status < 300)
		return 0;
	switch (status) {
	case 401:
	case 403:
		err = -EACCES;
		break;
	case 404:
		err = -ENOENT;
		break;
	case 416:
		err = -ERANGE;
		break;
	case 429:
		err = -EAGAIN;
		break;
	default:
		err = status >= 500 ? -EREMOTEIO : -EPROTO;
		break;
	}
	lfs_err_set("%s: HTTP status %ld", url, status);
	return err;
}

/* One attempt's state, seen by the callbacks. */
struct xfer {
	const struct lfs_http_req *req;
	struct lfs_http_resp *resp;
	CURL *h;
	size_t cap;   /* of resp->body when the request has no DST */
	uint64_t pos; /* body bytes seen of a 200 to a ranged request */
	bool status_known;
	bool ok_status; /* < 300: the body is the answer, else an error text */
	bool too_big;
	bool done; /* a 200 to a ranged request: the range is complete */
	size_t errlen;
	long timeout;	      /* seconds without a byte moving before we give up */
	curl_off_t moved;     /* bytes moved either way, at ... */
	struct timespec last; /* ... this time (CLOCK_MONOTONIC) */
	bool stalled;	      /* the progress callback stopped the transfer */
};

/*
 * "No progress for TIMEOUT seconds", exactly: curl's LOW_SPEED_* averages
 * over its last seconds, so a body that stalls after its first bytes would
 * be waited on for several seconds more than asked.
 */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct xfer *x = arg;
	struct timespec now;

	(void)dltotal;
	(void)ultotal;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (dlnow + ulnow != x->moved || !x->last.tv_sec) {
		x->moved = dlnow + ulnow;
		x->last = now;
		return 0;
	}
	if (now.tv_sec - x->last.tv_sec + (now.tv_nsec - x->last.tv_nsec) / 1e9 >=
	    (double)x->timeout) {
		x->stalled = true;
		return 1; /* CURLE_ABORTED_BY_CALLBACK */
	}
	return 0;
}

static void headers_clear(struct lfs_http_resp *r)
{
	free(r->content_type);
	free(r->content_range);
	free(r->www_auth);
	free(r->docker_digest);
	free(r->location);
	r->content_type = r->content_range = r->www_auth = r->docker_digest = r->location = NULL;
	r->retry_after = -1;
	r->content_length = -1;
}

/* VALUE of header NAME in LINE (trimmed, malloc'ed), or NULL. */
static char *header_value(const char *line, size_t n, const char *name)
{
	size_t k = strlen(name);
	const char *v, *e;

	if (n <= k || strncasecmp(line, name, k) || line[k] != ':')
		return NULL;
	v = line + k + 1;
	e = line + n;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
		e--;
	return strndup(v, (size_t)(e - v));
}

static void set_header(char **slot, char *v)
{
	if (!v)
		return;
	free(*slot);
	*slot = v;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	struct lfs_http_resp *r = x->resp;
	char *v;

	n *= size;
	/* A new status line: a redirect's headers are not the answer's. */
	if (n >= 5 && !strncmp(p, "HTTP/", 5)) {
		headers_clear(r);
		return n;
	}
	set_header(&r->content_type, header_value(p, n, "Content-Type"));
	set_header(&r->content_range, header_value(p, n, "Content-Range"));
	set_header(&r->www_auth, header_value(p, n, "WWW-Authenticate"));
	set_header(&r->docker_digest, header_value(p, n, "Docker-Content-Digest"));
	set_header(&r->location, header_value(p, n, "Location"));
	v = header_value(p, n, "Content-Length");
	if (v) {
		char *end;
		long long l = strtoll(v, &end, 10);

		r->content_length = end != v && !*end && l >= 0 && *v != '-' ? l : -1;
		free(v);
	}
	v = header_value(p, n, "Retry-After");
	if (v) {
		char *end;
		long s = strtol(v, &end, 10);

		/* An HTTP date is left to the backoff. */
		if (end != v && !*end && s >= 0)
			r->retry_after = s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : (int)s;
		free(v);
	}
	return n;
}

/* Bytes of a 200 answer to a ranged request: keep [off, off+len) only. */
static size_t on_whole(struct xfer *x, const char *p, size_t n)
{
	const struct lfs_http_req *q = x->req;
	struct lfs_http_resp *r = x->resp;
	uint64_t start = x->pos, end = x->pos + n;

	x->pos = end;
	if (end > q->off && start < q->off + q->len) {
		uint64_t a = start > q->off ? start : q->off;
		uint64_t b = end < q->off + q->len ? end : q->off + q->len;

		memcpy((char *)q->dst + (a - q->off), p + (a - start), (size_t)(b - a));
		r->len = (size_t)(b - q->off);
	}
	if (end >= q->off + q->len) {
		x->done = true;
		return 0; /* what we need is here: stop the download */
	}
	return n;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct xfer *x = arg;
	const struct lfs_http_req *q = x->req;
	struct lfs_http_resp *r = x->resp;

	n *= size;
	if (!x->status_known) {
		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &r->status);
		x->status_known = true;
		x->ok_status = r->status < 300;
		r->whole = q->ranged && q->dst && r->status == 200;
		r->body_off = r->whole ? q->off : 0;
	}
	if (q->stats)
		atomic_fetch_add(&q->stats->bytes, n);
	if (!x->ok_status) {
		size_t k = ERRBODY_MAX - x->errlen;

		if (!r->errbody)
			r->errbody = lfs_xcalloc(1, ERRBODY_MAX + 1);
		if (k > n)
			k = n;
		memcpy(r->errbody + x->errlen, p, k);
		x->errlen += k;
		return n;
	}
	if (r->whole)
		return on_whole(x, p, n);
	if (q->dst) {
		if (n > q->dst_cap - r->len) {
			x->too_big = true;
			return 0;
		}
		memcpy((char *)q->dst + r->len, p, n);
		r->len += n;
		return n;
	}
	if (n > q->max - r->len) {
		x->too_big = true;
		return 0;
	}
	if (r->len + n + 1 > x->cap) {
		size_t c = x->cap ? x->cap : 16384;

		while (c < r->len + n + 1)
			c *= 2;
		r->body = lfs_xrealloc(r->body, c);
		x->cap = c;
	}
	memcpy(r->body + r->len, p, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

static void resp_reset(struct lfs_http_resp *r)
{
	lfs_http_resp_clear(r);
}

void lfs_http_resp_clear(struct lfs_http_resp *r)
{
	headers_clear(r);
	free(r->body);
	free(r->errbody);
	free(r->final_host);
	memset(r, 0, sizeof(*r));
	r->retry_after = -1;
	r->content_length = -1;
}

/* host[:port] of URL (malloc'ed), or NULL. */
static char *url_host(const char *url)
{
	const char *h = strstr(url, "://"), *e;

	if (!h)
		return NULL;
	h += 3;
	e = h + strcspn(h, "/?#");
	return strndup(h, (size_t)(e - h));
}

static int set_options(CURL *h, const struct lfs_http_req *q, struct xfer *x,
		       struct curl_slist *hdrs, char *range)
{
	CURLcode cc = CURLE_OK;
	long timeout = q->timeout > 0 ? q->timeout : 30;

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (cc == CURLE_OK)                                                                \
			cc = curl_easy_setopt(h, opt, val);                                        \
	} while (0)
	SET(CURLOPT_URL, q->url);
	SET(CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, (long)MAX_REDIRS);
	/*
	 * Our Authorization is a custom header; libcurl does not send it (nor
	 * USERPWD) to another host after a redirect unless
	 * CURLOPT_UNRESTRICTED_AUTH, which stays off.
	 */
	SET(CURLOPT_UNRESTRICTED_AUTH, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	SET(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_CONNECTTIMEOUT, timeout);
	/* "No progress for TIMEOUT seconds" rather than a limit on the whole. */
	SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SET(CURLOPT_LOW_SPEED_TIME, timeout);
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, x);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, x);
	x->timeout = timeout;
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, x);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_USERAGENT, "layerfs/" PACKAGE_VERSION);
	if (range)
		SET(CURLOPT_RANGE, range);
	if (q->method && !strcmp(q->method, "HEAD"))
		SET(CURLOPT_NOBODY, 1L);
	if (q->method && (!strcmp(q->method, "POST") || !strcmp(q->method, "PUT"))) {
		/* The body from memory, sent again by each attempt. */
		SET(CURLOPT_POSTFIELDS, q->body ? (const char *)q->body : "");
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
		SET(CURLOPT_CUSTOMREQUEST, q->method);
		/* An upload answer's Location is a URL to use, not to follow. */
		SET(CURLOPT_FOLLOWLOCATION, 0L);
	}
	if (q->user) {
		SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		SET(CURLOPT_USERNAME, q->user);
		SET(CURLOPT_PASSWORD, q->password ? q->password : "");
	}
#undef SET
	if (cc != CURLE_OK)
		return lfs_error(cc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL, "%s: curl: %s",
				 q->url, curl_easy_strerror(cc));
	return 0;
}

/* One attempt: 0 with RESP filled, or -errno (*RETRY: a repeat may cure it). */
static int attempt(const struct lfs_http_req *q, struct lfs_http_resp *resp, bool *retry)
{
	char errbuf[CURL_ERROR_SIZE] = "", range[64], what[256];
	struct curl_slist *hdrs = NULL, *t;
	struct xfer x = {.req = q, .resp = resp};
	const char *const *hp;
	char *eff = NULL;
	CURLcode cc;
	CURL *h;
	int ret;

	*retry = false;
	snprintf(what, sizeof(what), "%s %s", q->method ? q->method : "GET", q->url);
	h = thread_handle();
	if (!h)
		return lfs_error(-ENOMEM, "%s: cannot set up libcurl", what);
	x.h = h;
	for (hp = q->headers; hp && *hp; hp++) {
		t = curl_slist_append(hdrs, *hp);
		if (!t) {
			ret = lfs_error(-ENOMEM, "%s: out of memory", what);
			goto out;
		}
		hdrs = t;
	}
	if (q->ranged)
		snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)q->off,
			 (unsigned long long)(q->off + q->len - 1));
	ret = set_options(h, q, &x, hdrs, q->ranged ? range : NULL);
	if (ret)
		goto out;
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	if (q->stats)
		atomic_fetch_add(&q->stats->requests, 1);
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	if (curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK && eff)
		resp->final_host = url_host(eff);
	if (cc == CURLE_WRITE_ERROR && x.done)
		cc = CURLE_OK; /* we stopped a whole blob once the range was in */
	if (cc == CURLE_ABORTED_BY_CALLBACK && x.stalled) {
		cc = CURLE_OPERATION_TIMEDOUT;
		snprintf(errbuf, sizeof(errbuf), "no data moved for %ld seconds", x.timeout);
	}
	/*
	 * An error answer cut short is still that answer (docker-registry's 416
	 * keeps the blob's Content-Length on a one-line body); 5xx stay faults.
	 */
	if (cc == CURLE_PARTIAL_FILE && resp->status >= 400 && resp->status < 500 &&
	    resp->status != 429)
		cc = CURLE_OK;
	if (cc == CURLE_WRITE_ERROR && x.too_big) {
		ret = lfs_error(-EFBIG, "%s: the answer is larger than the %zu bytes expected",
				what, q->dst ? q->dst_cap : q->max);
		/* More bytes than a range asked for is a fault; a document too big is not. */
		*retry = q->ranged;
		goto out;
	}
	ret = http_errno(cc, resp->status, what, errbuf, retry);
	if (ret == 0 && q->check) {
		ret = q->check(resp, q->check_arg);
		if (ret == -EAGAIN) {
			lfs_err_prefix("%s", what);
			*retry = true;
		}
	}
	/* 401/404 and the like are answers for the caller, not failures here. */
	if (cc == CURLE_OK && !*retry && resp->status >= 300 && resp->status != 429 &&
	    resp->status < 500)
		ret = 0;
out:
	curl_slist_free_all(hdrs);
	/* The handle stays, but must not point at this stack frame. */
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	return ret;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int lfs_http_request(const struct lfs_http_req *req, struct lfs_http_resp *resp)
{
	int attempts = req->attempts > 0 ? req->attempts : 1;
	long backoff = BACKOFF_FIRST_MS, wait;
	bool retry;
	int i, ret;

	memset(resp, 0, sizeof(*resp));
	resp->retry_after = -1;
	resp->content_length = -1;
	if (req->ranged && (req->len == 0 || req->off > UINT64_MAX - req->len))
		return lfs_error(-EINVAL, "%s: empty or overflowing range", req->url);
	for (i = 0;; i++) {
		resp_reset(resp);
		ret = attempt(req, resp, &retry);
		if (!ret || !retry)
			break;
		if (i + 1 >= attempts) {
			/* Spent: a fault that kept coming back is an I/O error. */
			if (ret == -EAGAIN)
				ret = -EIO;
			break;
		}
		if (req->stats)
			atomic_fetch_add(&req->stats->retries, 1);
		wait = backoff;
		if (resp->status == 429 && resp->retry_after >= 0)
			wait = resp->retry_after * 1000L;
		sleep_ms(wait);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	return ret;
}

char *lfs_http_escape(const char *s)
{
	char *e, *r;

	pthread_once(&global_once, global_init);
	e = curl_easy_escape(NULL, s, 0);
	if (!e)
		return NULL;
	r = lfs_xstrdup(e);
	curl_free(e);
	return r;
}
