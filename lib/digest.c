/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Digests as image documents write them ("sha256:<hex>"): checking their
 * form before one names a path, converting, and computing them (nettle);
 * and reading a blob of an image by its descriptor, checked against it.
 */
#include "config.h"

#include <errno.h>
#include <nettle/sha2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layerfs/lfs.h"
#include "layerfs/image.h"
#include "image_int.h"

static const char hexdigits[] = "0123456789abcdef";

bool lfs_is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!s[i] || !strchr(hexdigits, s[i]))
			return false;
	return true;
}

int lfs_digest_check(const char *d)
{
	if (!strncmp(d, "sha256:", 7) && strlen(d) == 7 + 64 && lfs_is_hex(d + 7, 64))
		return LFS_DIGEST_SHA256;
	if (!strncmp(d, "sha512:", 7) && strlen(d) == 7 + 128 && lfs_is_hex(d + 7, 128))
		return LFS_DIGEST_SHA512;
	return -EINVAL;
}

int lfs_digest_parse(const char *digest, uint8_t out[32])
{
	size_t i;

	if (lfs_digest_check(digest) != LFS_DIGEST_SHA256)
		return -EINVAL;
	for (i = 0; i < 32; i++)
		out[i] = (uint8_t)((strchr(hexdigits, digest[7 + 2 * i]) - hexdigits) << 4 |
				   (strchr(hexdigits, digest[8 + 2 * i]) - hexdigits));
	return 0;
}

void lfs_digest_format(const uint8_t sha[32], char out[72])
{
	size_t i;

	memcpy(out, "sha256:", 7);
	for (i = 0; i < 32; i++) {
		out[7 + 2 * i] = hexdigits[sha[i] >> 4];
		out[8 + 2 * i] = hexdigits[sha[i] & 15];
	}
	out[71] = '\0';
}

void lfs_digest_of(const void *buf, size_t len, char out[72])
{
	uint8_t sum[SHA256_DIGEST_SIZE];
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, len, buf);
	sha256_digest(&c, sizeof(sum), sum);
	lfs_digest_format(sum, out);
}

/* "blobs/<alg>/<hex>" for a descriptor's digest; only sha256 can be checked. */
int lfs_blob_rel(const struct lfs_src *s, const char *digest, char rel[LFS_BLOB_REL_MAX])
{
	if (lfs_digest_check(digest) != LFS_DIGEST_SHA256) {
		lfs_err_set("%s: digest %.16s...: only sha256 digests are supported", s->path,
			    digest);
		return -ENOTSUP;
	}
	snprintf(rel, LFS_BLOB_REL_MAX, "blobs/sha256/%s", digest + 7);
	return 0;
}

/* The blob of descriptor D, checked against its size and digest. */
int lfs_src_read_blob(const struct lfs_src *s, const struct lfs_desc *d, char **buf, size_t *len)
{
	char rel[LFS_BLOB_REL_MAX], sum[72];
	int ret;

	ret = lfs_blob_rel(s, d->digest, rel);
	if (!ret)
		ret = lfs_src_read(s, rel, buf, len);
	if (ret < 0)
		return ret;
	if ((uint64_t)d->size != *len) {
		lfs_err_set("%s: %s: %zu bytes, but the descriptor says %lld", s->path, rel, *len,
			    (long long)d->size);
		ret = -EBADMSG;
	} else {
		lfs_digest_of(*buf, *len, sum);
		if (strcmp(sum, d->digest)) {
			lfs_err_set("%s: %s: digest mismatch: the content is %s", s->path, rel,
				    sum);
			ret = -EBADMSG;
		}
	}
	if (ret < 0)
		free(*buf);
	return ret;
}

/* The image ID docker derives from the config member's name, or NULL. */
char *lfs_docker_config_id(const char *path)
{
	const char *hex = NULL;
	char *id;

	if (strlen(path) == 64 + 5 && !strcmp(path + 64, ".json"))
		hex = path;
	else if (!strncmp(path, "blobs/sha256/", 13) && strlen(path) == 13 + 64)
		hex = path + 13;
	if (!hex || !lfs_is_hex(hex, 64))
		return NULL;
	id = lfs_xmalloc(72);
	sprintf(id, "sha256:%.64s", hex);
	return id;
}
