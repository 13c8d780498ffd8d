/* SPDX-License-Identifier: Apache-2.0 */
/*
 * eStargz, the blob's own part (toc.h): the footer, and the TOC's gzip
 * member to its JSON.  The footer is an empty gzip member whose FEXTRA
 * field carries "%016x" of the TOC offset and "STARGZ": 51 bytes with the
 * field as subfield 'S','G' (eStargz), 47 bytes with it bare (the legacy
 * stargz).  The TOC member holds a tar whose one entry is
 * stargz.index.json; libarchive reads it (gzip filter and tar format).
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "layerfs/lfs.h"
#include "toc.h"

#define TOC_NAME "stargz.index.json"

/* 16 lower-case hex digits (what the writer prints): 0 and *V, else -1. */
static int hex16(const uint8_t *p, uint64_t *v)
{
	*v = 0;
	for (int i = 0; i < 16; i++) {
		int d;

		if (p[i] >= '0' && p[i] <= '9')
			d = p[i] - '0';
		else if (p[i] >= 'a' && p[i] <= 'f')
			d = p[i] - 'a' + 10;
		else if (p[i] >= 'A' && p[i] <= 'F')
			d = p[i] - 'A' + 10;
		else
			return -1;
		*v = *v << 4 | (uint64_t)d;
	}
	return 0;
}

/*
 * An empty gzip member of LEN bytes at F with an FEXTRA field of XLEN bytes
 * and nothing else: the header, then a stored empty final deflate block
 * (01 00 00 ff ff), CRC32 0 and ISIZE 0.
 */
static int empty_member(const uint8_t *f, size_t len, unsigned xlen)
{
	static const uint8_t tail[13] = {1, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0};

	if (f[0] != 0x1f || f[1] != 0x8b || f[2] != 8 || f[3] != 4)
		return -1;
	if ((unsigned)(f[10] | f[11] << 8) != xlen || 12 + xlen + sizeof(tail) != len)
		return -1;
	return memcmp(f + 12 + xlen, tail, sizeof(tail)) ? -1 : 0;
}

int lfs_toc_estargz_footer(const uint8_t *tail, size_t n, uint64_t blob_size, uint64_t *toc_off,
			   size_t *footer)
{
	const uint8_t *f;

	/* eStargz: subfield 'S' 'G' of 22 bytes. */
	if (n >= LFS_ESTARGZ_FOOTER && blob_size >= LFS_ESTARGZ_FOOTER) {
		f = tail + n - LFS_ESTARGZ_FOOTER;
		if (!empty_member(f, LFS_ESTARGZ_FOOTER, 26) && f[12] == 'S' && f[13] == 'G' &&
		    f[14] == 22 && f[15] == 0 && !memcmp(f + 32, "STARGZ", 6) &&
		    !hex16(f + 16, toc_off) && *toc_off < blob_size - LFS_ESTARGZ_FOOTER) {
			*footer = LFS_ESTARGZ_FOOTER;
			return 0;
		}
	}
	/* Legacy stargz: the bare 22 bytes. */
	if (n >= LFS_ESTARGZ_FOOTER_LEGACY && blob_size >= LFS_ESTARGZ_FOOTER_LEGACY) {
		f = tail + n - LFS_ESTARGZ_FOOTER_LEGACY;
		if (!empty_member(f, LFS_ESTARGZ_FOOTER_LEGACY, 22) &&
		    !memcmp(f + 28, "STARGZ", 6) && !hex16(f + 12, toc_off) &&
		    *toc_off < blob_size - LFS_ESTARGZ_FOOTER_LEGACY) {
			*footer = LFS_ESTARGZ_FOOTER_LEGACY;
			return 0;
		}
	}
	return -EINVAL;
}

int lfs_toc_estargz_json(const uint8_t *gz, size_t n, const char *name, char **json, size_t *len)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	const char *path;
	la_int64_t size;
	la_ssize_t got;
	char *buf = NULL;
	int rc = -EBADMSG;

	*json = NULL;
	*len = 0;
	if (!a)
		return lfs_error(-ENOMEM, "%s: out of memory", name);
	archive_read_support_filter_gzip(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_memory(a, gz, n) != ARCHIVE_OK ||
	    archive_filter_code(a, 0) != ARCHIVE_FILTER_GZIP) {
		lfs_err_set("%s: eStargz TOC: not a gzip tar: %s", name,
			    archive_error_string(a) ? archive_error_string(a) : "?");
		goto out;
	}
	if (archive_read_next_header(a, &e) != ARCHIVE_OK) {
		lfs_err_set("%s: eStargz TOC: %s", name,
			    archive_error_string(a) ? archive_error_string(a) : "no entry");
		goto out;
	}
	path = archive_entry_pathname(e);
	size = archive_entry_size(e);
	if (!path || strcmp(path, TOC_NAME) || archive_entry_filetype(e) != AE_IFREG) {
		lfs_err_set("%s: eStargz TOC: its tar's entry is not %s", name, TOC_NAME);
		goto out;
	}
	if (size < 0 || (uint64_t)size > LFS_TOC_MAX) {
		lfs_err_set("%s: eStargz TOC: %s of %lld bytes (at most %u)", name, TOC_NAME,
			    (long long)size, LFS_TOC_MAX);
		goto out;
	}
	buf = lfs_xmalloc((size_t)size + 1);
	got = archive_read_data(a, buf, (size_t)size);
	if (got != size) {
		lfs_err_set("%s: eStargz TOC: %s is truncated", name, TOC_NAME);
		goto out;
	}
	buf[size] = 0;
	/* Only the end-of-archive may follow. */
	if (archive_read_next_header(a, &e) != ARCHIVE_EOF) {
		lfs_err_set("%s: eStargz TOC: its tar holds more than %s", name, TOC_NAME);
		goto out;
	}
	*json = buf;
	*len = (size_t)size;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	archive_read_free(a);
	return rc;
}
