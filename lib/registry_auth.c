/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Authentication to a registry: credentials from the files users already
 * have (containers' auth.json, docker's config.json), the WWW-Authenticate
 * challenge, and the Bearer token flow with a cache per scope honouring
 * expires_in.  Anonymous when no file has credentials for the registry.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <nettle/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layerfs/lfs.h"
#include "registry_int.h"

#define AUTHFILE_MAX	(1u << 20)
#define TOKEN_BODY_MAX	(1u << 20)
#define TOKEN_DEFAULT_S 60
#define DOCKER_HOST	"registry-1.docker.io"

time_t lfs_registry_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

void lfs_www_auth_clear(struct lfs_www_auth *a)
{
	free(a->scheme);
	free(a->realm);
	free(a->service);
	free(a->scope);
	memset(a, 0, sizeof(*a));
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static size_t token_len(const char *p)
{
	/* RFC 7230 tchar, minus what separates auth-params */
	return strcspn(p, " \t,=\"");
}

/* A quoted-string or token at *P into *OUT (malloc'ed); *P moves past it. */
static int param_value(const char **pp, char **out)
{
	const char *p = *pp;
	char *v;
	size_t n = 0;

	if (*p != '"') {
		n = strcspn(p, " \t,");
		*out = strndup(p, n);
		*pp = p + n;
		return *out ? 0 : -ENOMEM;
	}
	p++;
	v = lfs_xmalloc(strlen(p) + 1);
	while (*p && *p != '"') {
		if (*p == '\\' && p[1])
			p++;
		v[n++] = *p++;
	}
	if (*p != '"') {
		free(v);
		return -EINVAL;
	}
	v[n] = '\0';
	*out = v;
	*pp = p + 1;
	return 0;
}

int lfs_www_auth_parse(const char *hdr, struct lfs_www_auth *out)
{
	const char *p = skip_ws(hdr);
	size_t n;
	int ret;

	memset(out, 0, sizeof(*out));
	n = token_len(p);
	if (n == 0)
		return -EINVAL;
	out->scheme = strndup(p, n);
	p = skip_ws(p + n);
	while (*p) {
		char *key, *val = NULL, **slot = NULL;

		n = token_len(p);
		if (n == 0) {
			ret = -EINVAL;
			goto fail;
		}
		/* "Bearer realm=..., Basic realm=...": a second challenge ends the first. */
		if (p[n] != '=' && skip_ws(p + n)[0] != '=')
			break;
		key = strndup(p, n);
		p = skip_ws(skip_ws(p + n) + 1);
		ret = key ? param_value(&p, &val) : -ENOMEM;
		if (ret) {
			free(key);
			goto fail;
		}
		if (!strcasecmp(key, "realm"))
			slot = &out->realm;
		else if (!strcasecmp(key, "service"))
			slot = &out->service;
		else if (!strcasecmp(key, "scope"))
			slot = &out->scope;
		free(key);
		if (slot) {
			free(*slot);
			*slot = val;
		} else {
			free(val);
		}
		p = skip_ws(p);
		if (*p == ',')
			p = skip_ws(p + 1);
		else if (*p) {
			ret = -EINVAL;
			goto fail;
		}
	}
	if (!strcasecmp(out->scheme, "Bearer") && !out->realm) {
		ret = -EINVAL;
		goto fail;
	}
	return 0;
fail:
	lfs_www_auth_clear(out);
	return ret;
}

/* "user:password" base64 as auth files keep it. */
static int decode_auth(const char *b64, char **user, char **pass)
{
	struct base64_decode_ctx ctx;
	size_t n = strlen(b64), dlen = BASE64_DECODE_LENGTH(n);
	uint8_t *d = lfs_xmalloc(dlen + 1);
	char *colon;

	base64_decode_init(&ctx);
	if (!base64_decode_update(&ctx, &dlen, d, n, b64) || !base64_decode_final(&ctx) ||
	    memchr(d, '\0', dlen)) {
		free(d);
		return -EINVAL;
	}
	d[dlen] = '\0';
	colon = strchr((char *)d, ':');
	if (!colon) {
		free(d);
		return -EINVAL;
	}
	*colon = '\0';
	*user = lfs_xstrdup((char *)d);
	*pass = lfs_xstrdup(colon + 1);
	free(d);
	return 0;
}

/* KEY of an "auths" map names HOST: "host", "https://host", "https://host/v1/". */
static bool key_names(const char *key, const char *host)
{
	size_t n;

	if (!strncmp(key, "https://", 8))
		key += 8;
	else if (!strncmp(key, "http://", 7))
		key += 7;
	n = strcspn(key, "/");
	if (!strcmp(host, DOCKER_HOST) && ((n == 9 && !strncmp(key, "docker.io", n)) ||
					   (n == 15 && !strncmp(key, "index.docker.io", n))))
		return true;
	return strlen(host) == n && !strncmp(key, host, n);
}

/* Credentials for HOST from the JSON text BUF of FILE: 0, -ENOENT or -errno. */
static int creds_from(const char *buf, size_t len, const char *file, const char *host, char **user,
		      char **pass)
{
	json_error_t jerr;
	json_t *root, *auths, *e, *a;
	const char *key;
	int ret = -ENOENT;

	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root)) {
		ret = lfs_error(-EINVAL, "%s: not a JSON object: %s", file,
				root ? "wrong type" : jerr.text);
		goto out;
	}
	auths = json_object_get(root, "auths");
	if (!json_is_object(auths))
		goto out;
	json_object_foreach(auths, key, e)
	{
		if (!json_is_object(e) || !key_names(key, host))
			continue;
		a = json_object_get(e, "auth");
		if (json_is_string(a) && json_string_length(a) > 0) {
			ret = decode_auth(json_string_value(a), user, pass);
			if (ret)
				ret = lfs_error(ret,
						"%s: auths.\"%.64s\".auth: not base64 of "
						"\"user:password\"",
						file, key);
			goto out;
		}
		if (json_is_string(json_object_get(e, "username")) &&
		    json_is_string(json_object_get(e, "password"))) {
			*user = lfs_xstrdup(json_string_value(json_object_get(e, "username")));
			*pass = lfs_xstrdup(json_string_value(json_object_get(e, "password")));
			ret = 0;
			goto out;
		}
	}
out:
	json_decref(root);
	return ret;
}

/* Credentials for HOST in FILE: 0, -ENOENT (no file, no entry), or -errno. */
static int creds_file(const char *file, bool must_exist, const char *host, char **user, char **pass)
{
	struct stat st;
	char *buf = NULL;
	ssize_t n;
	size_t got = 0;
	int fd, ret;

	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ENOENT && !must_exist)
			return -ENOENT;
		return lfs_error(ret == -ENOENT ? -EINVAL : ret, "%s: %s", file, strerror(-ret));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > AUTHFILE_MAX) {
		ret = lfs_error(-EINVAL, "%s: not a regular file of at most %u bytes", file,
				AUTHFILE_MAX);
		goto out;
	}
	buf = lfs_xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			ret = lfs_error(ret, "%s: %s", file, strerror(-ret));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	ret = creds_from(buf, got, file, host, user, pass);
out:
	free(buf);
	close(fd);
	return ret;
}

int lfs_registry_creds(const char *authfile, const char *host, char **user, char **pass)
{
	char path[3][4096];
	const char *env;
	int i, n = 0, ret;

	*user = *pass = NULL;
	if (authfile)
		return creds_file(authfile, true, host, user, pass);
	env = getenv("REGISTRY_AUTH_FILE");
	if (env && *env)
		snprintf(path[n++], sizeof(path[0]), "%s", env);
	env = getenv("XDG_RUNTIME_DIR");
	if (env && *env)
		snprintf(path[n++], sizeof(path[0]), "%s/containers/auth.json", env);
	env = getenv("HOME");
	if (env && *env)
		snprintf(path[n++], sizeof(path[0]), "%s/.docker/config.json", env);
	for (i = 0; i < n; i++) {
		ret = creds_file(path[i], false, host, user, pass);
		if (ret != -ENOENT)
			return ret;
	}
	return -ENOENT;
}

static struct lfs_token *token_find(struct lfs_registry *r, const char *scope)
{
	struct lfs_token *t;

	for (t = r->tokens; t; t = t->next)
		if (!strcmp(t->scope, scope))
			return t;
	return NULL;
}

/* SCOPE's token from the challenge's realm, into the cache.  AUTH_LOCK held. */
static int token_fetch(struct lfs_registry *r, const char *scope)
{
	const struct lfs_www_auth *c = &r->chall;
	struct lfs_http_req q = {0};
	struct lfs_http_resp resp;
	json_error_t jerr;
	json_t *root = NULL, *tok, *exp;
	struct lfs_token *t;
	char *url = NULL, *es = NULL, *esc = NULL;
	size_t n;
	long long secs = TOKEN_DEFAULT_S;
	int ret;

	es = lfs_http_escape(c->service ? c->service : "");
	esc = lfs_http_escape(scope);
	if (!es || !esc) {
		ret = lfs_error(-ENOMEM, "%s: out of memory", r->host);
		goto out;
	}
	n = strlen(c->realm) + strlen(es) + strlen(esc) + 32;
	url = lfs_xmalloc(n);
	snprintf(url, n, "%s%cservice=%s%s%s", c->realm, strchr(c->realm, '?') ? '&' : '?', es,
		 *scope ? "&scope=" : "", *scope ? esc : "");
	q.url = url;
	q.user = r->user;
	q.password = r->pass;
	q.max = TOKEN_BODY_MAX;
	q.timeout = r->timeout;
	q.attempts = r->retries;
	q.stats = &r->stats;
	atomic_fetch_add(&r->token_fetches, 1);
	ret = lfs_http_request(&q, &resp);
	if (!ret && resp.status != 200)
		ret = lfs_http_status_error(resp.status, c->realm);
	if (ret) {
		lfs_err_prefix("registry %s: token for %s%s", r->host,
			       *scope ? scope : "(no scope)",
			       r->user ? " (with credentials)" : " (anonymous)");
		goto out_resp;
	}
	root = json_loadb(resp.body, resp.len, 0, &jerr);
	tok = json_object_get(root, "token");
	if (!json_is_string(tok) || !json_string_length(tok))
		tok = json_object_get(root, "access_token");
	if (!json_is_string(tok) || !json_string_length(tok) ||
	    strpbrk(json_string_value(tok), "\r\n")) {
		ret = lfs_error(-EPROTO, "registry %s: the token server %s sent no token", r->host,
				c->realm);
		goto out_resp;
	}
	exp = json_object_get(root, "expires_in");
	if (json_is_integer(exp) && json_integer_value(exp) > 0)
		secs = json_integer_value(exp);
	if (secs > 86400)
		secs = 86400;
	t = token_find(r, scope);
	if (!t) {
		t = lfs_xcalloc(1, sizeof(*t));
		t->scope = lfs_xstrdup(scope);
		t->next = r->tokens;
		r->tokens = t;
	}
	free(t->token);
	t->token = lfs_xstrdup(json_string_value(tok));
	/* A little early, so that a token does not expire on its way. */
	t->expires = lfs_registry_now() + (time_t)(secs >= 20  ? secs - 5
						   : secs >= 3 ? secs - 1
							       : secs);
out_resp:
	json_decref(root);
	lfs_http_resp_clear(&resp);
out:
	free(url);
	free(es);
	free(esc);
	return ret;
}

static char *basic_header(const char *user, const char *pass)
{
	size_t n = strlen(user) + strlen(pass) + 1;
	char *plain = lfs_xmalloc(n + 1), *hdr;
	size_t elen = BASE64_ENCODE_RAW_LENGTH(n);

	snprintf(plain, n + 1, "%s:%s", user, pass);
	hdr = lfs_xmalloc(elen + sizeof("Authorization: Basic "));
	strcpy(hdr, "Authorization: Basic ");
	base64_encode_raw(hdr + strlen(hdr), n, (const uint8_t *)plain);
	hdr[sizeof("Authorization: Basic ") - 1 + elen] = '\0';
	free(plain);
	return hdr;
}

static char *bearer_header(const struct lfs_token *t)
{
	size_t n = strlen(t->token) + sizeof("Authorization: Bearer ");
	char *hdr = lfs_xmalloc(n);

	snprintf(hdr, n, "Authorization: Bearer %s", t->token);
	return hdr;
}

static void creds_load(struct lfs_registry *r)
{
	int ret;

	if (r->creds_loaded)
		return;
	r->creds_loaded = true;
	ret = lfs_registry_creds(r->authfile, r->host, &r->user, &r->pass);
	if (ret && ret != -ENOENT)
		lfs_warn("registry %s: credentials not used: %s", r->host, lfs_err_get());
}

int lfs_registry_auth_header(struct lfs_registry *r, char **hdr)
{
	struct lfs_token *t;
	const char *scope;
	int ret = 0;

	*hdr = NULL;
	pthread_mutex_lock(&r->auth_lock);
	if (!r->chall.scheme)
		goto out;
	if (!strcasecmp(r->chall.scheme, "Basic")) {
		if (r->user)
			*hdr = basic_header(r->user, r->pass);
		goto out;
	}
	scope = r->chall.scope ? r->chall.scope : "";
	t = token_find(r, scope);
	if (!t || lfs_registry_now() >= t->expires) {
		ret = token_fetch(r, scope);
		if (ret)
			goto out;
		t = token_find(r, scope);
	}
	*hdr = bearer_header(t);
out:
	pthread_mutex_unlock(&r->auth_lock);
	return ret;
}

int lfs_registry_auth_challenge(struct lfs_registry *r, const char *www_auth, const char *sent)
{
	struct lfs_www_auth c;
	struct lfs_token *t;
	const char *scope;
	char *now = NULL;
	int ret;

	if (!www_auth || lfs_www_auth_parse(www_auth, &c))
		return lfs_error(-EACCES, "registry %s: 401 without a usable WWW-Authenticate",
				 r->host);
	pthread_mutex_lock(&r->auth_lock);
	creds_load(r);
	lfs_www_auth_clear(&r->chall);
	r->chall = c;
	if (!strcasecmp(c.scheme, "Basic")) {
		ret = 0;
		if (!r->user)
			ret = lfs_error(-EACCES, "registry %s: credentials needed, none found",
					r->host);
		else if (sent && !strncmp(sent, "Authorization: Basic ", 21))
			ret = lfs_error(-EACCES, "registry %s: credentials for user %s refused",
					r->host, r->user);
		goto out;
	}
	if (strcasecmp(c.scheme, "Bearer")) {
		ret = lfs_error(-EACCES, "registry %s: unsupported authentication scheme %.32s",
				r->host, c.scheme);
		goto out;
	}
	scope = c.scope ? c.scope : "";
	t = token_find(r, scope);
	if (t && lfs_registry_now() < t->expires) {
		/* Another thread may have fetched a token since we sent ours. */
		now = bearer_header(t);
		if (!sent || strcmp(now, sent)) {
			ret = 0;
			goto out;
		}
	}
	ret = token_fetch(r, scope);
out:
	free(now);
	pthread_mutex_unlock(&r->auth_lock);
	return ret;
}

void lfs_registry_auth_free(struct lfs_registry *r)
{
	struct lfs_token *t, *next;

	for (t = r->tokens; t; t = next) {
		next = t->next;
		free(t->scope);
		free(t->token);
		free(t);
	}
	r->tokens = NULL;
	lfs_www_auth_clear(&r->chall);
	free(r->user);
	free(r->pass);
	r->user = r->pass = NULL;
}
