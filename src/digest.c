/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Digests as image documents write them ("sha256:<hex>"): checking their
 * form before one names a path, converting, and computing them (nettle).
 */
#include "config.h"

#include <errno.h>
#include <nettle/sha2.h>
#include <stdbool.h>
#include <string.h>

#include "image.h"
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
