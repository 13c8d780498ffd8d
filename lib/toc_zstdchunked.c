/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zstd:chunked, the blob's own part (toc.h): where the manifest is (the
 * 48-byte footer, a skippable frame holding LE64 offset, compressed length,
 * uncompressed length and type, then "GnUlInUx"; or the manifest-position
 * annotation "OFF:CLEN:ULEN:TYPE"), and the manifest decompressed.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "layerfs/lfs.h"
#include "toc.h"

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The manifest fits before the footer, after its own skippable frame header. */
static int pos_ok(const struct lfs_zpos *p, uint64_t blob_size)
{
	uint64_t room = blob_size >= LFS_ZSTD_FOOTER ? blob_size - LFS_ZSTD_FOOTER : 0;

	return p->type == LFS_ZSTD_MANIFEST_CRFS && p->off >= 8 && p->clen > 0 &&
	       p->clen <= LFS_TOC_MAX && p->ulen <= LFS_TOC_MAX && p->off <= room &&
	       p->clen <= room - p->off;
}

int lfs_toc_zstd_footer(const uint8_t *tail, size_t n, uint64_t blob_size, struct lfs_zpos *p)
{
	static const uint8_t head[8] = {0x50, 0x2a, 0x4d, 0x18, 40, 0, 0, 0};
	const uint8_t *f;

	if (n < LFS_ZSTD_FOOTER || blob_size < LFS_ZSTD_FOOTER)
		return -EINVAL;
	f = tail + n - LFS_ZSTD_FOOTER;
	if (memcmp(f, head, 8) || memcmp(f + 40, "GnUlInUx", 8))
		return -EINVAL;
	p->off = le64(f + 8);
	p->clen = le64(f + 16);
	p->ulen = le64(f + 24);
	p->type = le64(f + 32);
	return pos_ok(p, blob_size) ? 0 : -EINVAL;
}

int lfs_toc_zstd_position(const char *s, uint64_t blob_size, const char *name, struct lfs_zpos *p)
{
	uint64_t v[4];
	const char *q = s;
	char shown[256];

	for (int i = 0; i < 4; i++) {
		char *end;

		if (*q < '0' || *q > '9')
			goto bad;
		errno = 0;
		v[i] = strtoull(q, &end, 10);
		if (errno || end == q || *end != (i < 3 ? ':' : '\0'))
			goto bad;
		q = end + (i < 3);
	}
	p->off = v[0];
	p->clen = v[1];
	p->ulen = v[2];
	p->type = v[3];
	if (pos_ok(p, blob_size))
		return 0;
bad:
	return lfs_error(-EINVAL, "%s: bad zstd:chunked manifest-position annotation '%s'", name,
			 lfs_show(s, shown, sizeof(shown)));
}

int lfs_toc_zstd_json(const uint8_t *z, const struct lfs_zpos *p, const char *name, char **json)
{
	char *buf = lfs_xmalloc((size_t)p->ulen + 1);
	size_t got;

	*json = NULL;
	/* One frame (or several), exactly ULEN bytes: a longer one does not fit. */
	got = ZSTD_decompress(buf, (size_t)p->ulen + 1, z, (size_t)p->clen);
	if (ZSTD_isError(got) || got != p->ulen) {
		free(buf);
		return lfs_error(-EBADMSG, "%s: zstd:chunked manifest: %s", name,
				 ZSTD_isError(got) ? ZSTD_getErrorName(got)
						   : "not of the length its position says");
	}
	buf[got] = 0;
	*json = buf;
	return 0;
}
