/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writing to a repository (what --publish-index needs): a blob by a
 * monolithic upload (POST for an upload URL, then one PUT with the bytes
 * and the digest), skipped when the registry has it already; a manifest
 * or index by PUT.  Authentication is the pull flow's: a 401 names the
 * push scope, and the token server is asked for it.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_int.h"
#include "layerfs/lfs.h"
#include "registry_int.h"

/* The upload URL of a 202: absolute, or a path on the registry's host. */
static char *upload_url(const struct lfs_registry *r, const char *loc, const char *digest)
{
	const char *scheme_end = strstr(r->base, "://");
	size_t n = strlen(r->base) + strlen(loc) + strlen(digest) + 16;
	char *u = lfs_xmalloc(n);

	if (loc[0] == '/')
		snprintf(u, n, "%.*s%s", (int)(strchr(scheme_end + 3, '/') - r->base), r->base,
			 loc);
	else
		snprintf(u, n, "%s", loc);
	/* Append the digest: the upload is done in one PUT. */
	snprintf(u + strlen(u), n - strlen(u), "%sdigest=%s", strchr(u, '?') ? "&" : "?", digest);
	return u;
}

int lfs_registry_put_blob(struct lfs_registry *r, const char *digest, const void *buf, size_t len)
{
	struct lfs_http_req q = {0};
	struct lfs_http_resp resp;
	char *url = NULL, *put = NULL;
	uint64_t have;
	size_t n;
	int ret;

	if (lfs_digest_check(digest) != LFS_DIGEST_SHA256)
		return lfs_error(-EINVAL, "registry %s, %s: %.80s is not a sha256 digest", r->host,
				 r->repo, digest);
	/* Content-addressed: a blob the registry has needs no upload. */
	if (lfs_registry_blob_size(r, digest, &have) == 0 && have == len)
		return 0;
	lfs_err_clear();
	n = strlen(r->base) + 32;
	url = lfs_xmalloc(n);
	snprintf(url, n, "%s/blobs/uploads/", r->base);
	q.method = "POST";
	q.url = url;
	ret = lfs_registry_request(r, &q, NULL, &resp);
	if (!ret && resp.status != 202)
		ret = lfs_registry_status_error(&resp);
	if (!ret && !resp.location)
		ret = lfs_error(-EPROTO, "no Location in the answer to the upload request");
	if (ret)
		goto out;
	put = upload_url(r, resp.location, digest);
	lfs_http_resp_clear(&resp);
	memset(&q, 0, sizeof(q));
	q.method = "PUT";
	q.url = put;
	q.body = buf;
	q.body_len = len;
	ret = lfs_registry_request(r, &q, "Content-Type: application/octet-stream", &resp);
	if (!ret && resp.status != 201)
		ret = lfs_registry_status_error(&resp);
out:
	if (ret)
		lfs_err_prefix("registry %s, %s, uploading blob %s", r->host, r->repo, digest);
	lfs_http_resp_clear(&resp);
	free(url);
	free(put);
	return ret;
}

int lfs_registry_put_manifest(struct lfs_registry *r, const char *reference, const char *media_type,
			      const void *buf, size_t len)
{
	struct lfs_http_req q = {0};
	struct lfs_http_resp resp;
	char ctype[256], *url;
	size_t n;
	int ret;

	if (strchr(media_type, '\n') || strlen(media_type) > 200)
		return lfs_error(-EINVAL, "a bad media type");
	n = strlen(r->base) + strlen(reference) + 16;
	url = lfs_xmalloc(n);
	snprintf(url, n, "%s/manifests/%s", r->base, reference);
	snprintf(ctype, sizeof(ctype), "Content-Type: %s", media_type);
	q.method = "PUT";
	q.url = url;
	q.body = buf;
	q.body_len = len;
	ret = lfs_registry_request(r, &q, ctype, &resp);
	if (!ret && resp.status != 201)
		ret = lfs_registry_status_error(&resp);
	if (ret)
		lfs_err_prefix("registry %s, %s, putting manifest %s", r->host, r->repo, reference);
	lfs_http_resp_clear(&resp);
	free(url);
	return ret;
}
