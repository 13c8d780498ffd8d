/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registry references in the containers-transports spelling,
 * "docker://[HOST[:PORT]/]REPO[:TAG|@DIGEST]", checked with the grammar of
 * distribution's reference package: docker.io's defaults (its API host and
 * "library/"), lower-case repository components, tags and digests.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "image_int.h"
#include "layerfs/lfs.h"
#include "registry.h"

#define PREFIX	    "docker://"
#define TAG_MAX	    128
#define REPO_MAX    255
#define DOCKER_HOST "registry-1.docker.io"

static bool lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/*
 * One path component: alphanumerics separated by ".", "_", "__" or a run
 * of "-" (distribution's path-component).
 */
static bool component_ok(const char *s, size_t n)
{
	size_t i = 0, k;

	if (n == 0 || !lower_alnum(s[0]) || !lower_alnum(s[n - 1]))
		return false;
	while (i < n) {
		if (lower_alnum(s[i])) {
			i++;
			continue;
		}
		k = i;
		if (s[i] == '.')
			i++;
		else if (s[i] == '_')
			i += i + 1 < n && s[i + 1] == '_' ? 2 : 1;
		else if (s[i] == '-')
			while (i < n && s[i] == '-')
				i++;
		else
			return false;
		if (i == k || i >= n || !lower_alnum(s[i]))
			return false;
	}
	return true;
}

static bool repo_ok(const char *s)
{
	const char *p = s, *slash;

	if (!*s || strlen(s) > REPO_MAX)
		return false;
	for (;;) {
		slash = strchr(p, '/');
		if (!component_ok(p, slash ? (size_t)(slash - p) : strlen(p)))
			return false;
		if (!slash)
			return true;
		p = slash + 1;
	}
}

static bool tag_ok(const char *t)
{
	size_t i, n = strlen(t);

	if (n == 0 || n > TAG_MAX || t[0] == '.' || t[0] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)t[i]) && t[i] != '_' && t[i] != '.' && t[i] != '-')
			return false;
	return true;
}

/* HOST[:PORT]: a DNS name or IPv4 address, a port of digits. */
static bool host_ok(const char *h, size_t n)
{
	size_t i, colon = n;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++) {
		if (h[i] == ':') {
			if (colon != n)
				return false;
			colon = i;
		} else if (colon != n) {
			if (!isdigit((unsigned char)h[i]))
				return false;
		} else if (!isalnum((unsigned char)h[i]) && h[i] != '.' && h[i] != '-') {
			return false;
		}
	}
	return colon != 0 && colon != n - 1 && h[0] != '.' && h[0] != '-';
}

/* As distribution tells a host from a first path component. */
static bool looks_like_host(const char *s, size_t n)
{
	return memchr(s, '.', n) || memchr(s, ':', n) || (n == 9 && !memcmp(s, "localhost", 9));
}

void lfs_registry_ref_clear(struct lfs_registry_ref *ref)
{
	free(ref->host);
	free(ref->repo);
	free(ref->tag);
	free(ref->digest);
	free(ref->name);
	memset(ref, 0, sizeof(*ref));
}

int lfs_registry_ref_parse(const char *s, struct lfs_registry_ref *ref)
{
	char show[160];
	const char *rest, *slash, *at, *colon, *why;
	char *path = NULL;
	size_t n;
	int ret = -EINVAL;

	memset(ref, 0, sizeof(*ref));
	if (strncmp(s, PREFIX, strlen(PREFIX)))
		return lfs_error(-EINVAL, "%s: not a docker:// reference",
				 lfs_show(s, show, sizeof(show)));
	rest = s + strlen(PREFIX);
	ref->name = lfs_xstrdup(rest);
	slash = strchr(rest, '/');
	if (slash && looks_like_host(rest, (size_t)(slash - rest))) {
		n = (size_t)(slash - rest);
		if (!host_ok(rest, n)) {
			why = "a malformed registry host";
			goto bad;
		}
		ref->host = strndup(rest, n);
		rest = slash + 1;
	}
	if (!ref->host || !strcmp(ref->host, "docker.io") ||
	    !strcmp(ref->host, "index.docker.io")) {
		free(ref->host);
		ref->host = lfs_xstrdup(DOCKER_HOST);
	}

	/* REPO[:TAG][@DIGEST]: the tag's colon comes after the last slash. */
	at = strchr(rest, '@');
	n = at ? (size_t)(at - rest) : strlen(rest);
	path = strndup(rest, n);
	if (!path) {
		ret = -ENOMEM;
		why = "out of memory";
		goto bad;
	}
	slash = strrchr(path, '/');
	colon = strchr(slash ? slash : path, ':');
	if (colon) {
		ref->tag = lfs_xstrdup(colon + 1);
		path[colon - path] = '\0';
		if (!tag_ok(ref->tag)) {
			why = "a malformed tag (up to 128 of A-Z a-z 0-9 _ . -, not first . or -)";
			goto bad;
		}
	}
	if (at) {
		if (ref->tag) {
			why = "both a tag and a digest";
			goto bad;
		}
		ref->digest = lfs_xstrdup(at + 1);
		if (lfs_digest_check(ref->digest) < 0) {
			why =
			    "a malformed digest (sha256: and 64 or sha512: and 128 lower-case hex "
			    "digits)";
			goto bad;
		}
	}
	if (!strcmp(ref->host, DOCKER_HOST) && !strchr(path, '/')) {
		ref->repo = lfs_xmalloc(strlen(path) + sizeof("library/"));
		strcpy(ref->repo, "library/");
		strcat(ref->repo, path);
	} else {
		ref->repo = path;
		path = NULL;
	}
	if (!repo_ok(ref->repo)) {
		why = "a malformed repository name (lower-case letters, digits and separators "
		      "between non-empty components)";
		goto bad;
	}
	if (!ref->tag && !ref->digest)
		ref->tag = lfs_xstrdup("latest");
	free(path);
	return 0;
bad:
	ret = lfs_error(ret, "docker://%s: %s", lfs_show(ref->name, show, sizeof(show)), why);
	free(path);
	lfs_registry_ref_clear(ref);
	return ret;
}
