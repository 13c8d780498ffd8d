/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pax extended-header records of a layer, checked as GNU tar checks
 * them.  libarchive parses pax headers itself and accepts malformed records
 * silently: a uid of 2^32 becomes 0 (a file owned by root), "mtime=abc"
 * becomes 0, a path with a NUL is cut short.  We never read tar ourselves;
 * this only looks at the bytes libarchive already consumed for an entry's
 * headers (from archive_read_header_position() to the entry's data) when
 * those are more than one block, i.e. when there are pax or long-name
 * blocks, and only inside pax ('x', 'g') blocks.
 *
 * Those bytes are kept as the pass goes by them (lfs_hdrwin_add, from the
 * read callback): only from where the next header is expected, so file data
 * is not copied, and at most one chunk of the stream beyond it.
 *
 * Also here: the fix-up of negative fractional pax times.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer_int.h"
#include "layerfs/lfs.h"

#define BLOCK	 512
#define MAX_KEEP (64u << 20) /* past this the window gives up: entry not checked */

void lfs_hdrwin_add(struct lfs_hdrwin *w, const void *p, uint64_t pos, size_t n)
{
	uint64_t end = pos + n, start = pos > w->keep_from ? pos : w->keep_from;
	size_t add;

	if (end <= start)
		return;
	/* Forget what lies before the next header, and restart after a gap (a skip). */
	if (w->base < w->keep_from) {
		uint64_t drop = w->keep_from - w->base;

		if (drop >= w->len) {
			w->len = 0;
		} else {
			memmove(w->buf, w->buf + drop, w->len - (size_t)drop);
			w->len -= (size_t)drop;
		}
		w->base = w->keep_from;
	}
	if (w->len && w->base + w->len != start)
		w->len = 0;
	if (!w->len)
		w->base = start;
	add = (size_t)(end - start);
	if (w->len + add > MAX_KEEP) {
		w->len = 0;
		w->base = end;
		return;
	}
	if (w->len + add > w->cap) {
		w->cap = (w->len + add) * 2;
		w->buf = lfs_xrealloc(w->buf, w->cap);
	}
	memcpy(w->buf + w->len, (const char *)p + (start - pos), add);
	w->len += add;
}

void lfs_hdrwin_free(struct lfs_hdrwin *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

/* The size field of a header block (octal, or base-256 as GNU writes big ones); -1 if bad. */
static int64_t block_size(const unsigned char *b)
{
	const unsigned char *f = b + 124;
	uint64_t v = 0;
	int i = 0;

	if (f[0] & 0x80) {
		if (f[0] != 0x80 || f[1] || f[2] || f[3] || (f[4] & 0x80))
			return -1;
		for (i = 4; i < 12; i++)
			v = v << 8 | f[i];
		return (int64_t)v;
	}
	while (i < 12 && f[i] == ' ')
		i++;
	for (; i < 12 && f[i] >= '0' && f[i] <= '7'; i++)
		v = v << 3 | (uint64_t)(f[i] - '0');
	return i < 12 && f[i] != ' ' && f[i] != '\0' ? -1 : (int64_t)v;
}

/* Unsigned decimal VAL (no sign, no blanks) up to MAX. */
static const char *check_uint(const char *v, size_t n, uint64_t max)
{
	uint64_t x = 0;

	if (!n)
		return "invalid";
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return v[i] == '-' && i == 0 ? "out of range" : "invalid";
		if (x > (max - (uint64_t)(v[i] - '0')) / 10)
			return "out of range";
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	return NULL;
}

/* A time: [-]digits[.digits], seconds within a 64-bit time_t. */
static const char *check_time(const char *v, size_t n)
{
	size_t i = 0, dot;
	uint64_t max = INT64_MAX;

	if (n && v[0] == '-') {
		i = 1;
		max = (uint64_t)INT64_MAX + 1;
	}
	for (dot = i; dot < n && v[dot] != '.'; dot++)
		;
	if (dot == i)
		return "invalid";
	for (size_t j = dot + 1; j < n; j++)
		if (v[j] < '0' || v[j] > '9')
			return "invalid";
	return check_uint(v + i, dot - i, max);
}

/* The reason record KEY=VAL is wrong, or NULL. */
static const char *check_value(const char *k, size_t kn, const char *v, size_t vn)
{
#define KEY(s) (kn == sizeof(s) - 1 && !memcmp(k, s, kn))
	if (KEY("uid") || KEY("gid"))
		return check_uint(v, vn, UINT32_MAX);
	if (KEY("size"))
		return check_uint(v, vn, INT64_MAX);
	if (KEY("mtime") || KEY("atime") || KEY("ctime"))
		return check_time(v, vn);
	if ((KEY("path") || KEY("linkpath")) && memchr(v, '\0', vn))
		return "a NUL byte in the name";
	return NULL;
#undef KEY
}

/* Printable copy of the record text P[0, N) for a message. */
static const char *shown(const char *p, size_t n, char *buf, size_t cap)
{
	size_t i;

	for (i = 0; i < n && i + 1 < cap; i++)
		buf[i] = (unsigned char)p[i] < 0x20 || p[i] == 0x7f ? '?' : p[i];
	buf[i] = '\0';
	if (i < n && cap > 4)
		memcpy(buf + cap - 4, "...", 4);
	return buf;
}

/*
 * The records of one pax block's data P[0, N): "LEN KEY=VALUE" and a newline, LEN the
 * decimal length of the whole record; *BAD and *BADLEN get the offending text.
 */
static const char *check_records(const char *p, size_t n, const char **bad, size_t *badlen)
{
	while (n) {
		size_t len = 0, i = 0;
		const char *eq, *why = NULL;
		const char *nl = memchr(p, '\n', n);

		*bad = p; /* up to its newline while its length is in doubt */
		*badlen = nl ? (size_t)(nl - p) : n;
		for (; i < n && p[i] >= '0' && p[i] <= '9'; i++)
			if (len <= n) /* else too long already: stop growing */
				len = len * 10 + (size_t)(p[i] - '0');
		if (i == 0)
			return "missing length";
		if (len > n || len < i + 2)
			return "record length out of range";
		if (p[i] != ' ')
			return "missing blank after the length";
		if (p[len - 1] != '\n')
			return "missing newline";
		*badlen = len - 1;
		eq = memchr(p + i + 1, '=', len - i - 2);
		if (!eq)
			return "missing equal sign";
		*bad = p + i + 1;
		*badlen = len - i - 2;
		why = check_value(p + i + 1, (size_t)(eq - p - i - 1), eq + 1,
				  (size_t)(p + len - 1 - eq - 1));
		if (why)
			return why;
		p += len;
		n -= len;
	}
	return NULL;
}

int lfs_pax_check(const struct lfs_hdrwin *w, uint64_t h, uint64_t d, const char *layer,
		  const char *entry)
{
	uint64_t pos = h;
	char s1[LFS_SHOWN], s2[80];

	/* One block is the entry's own header: nothing else to look at. */
	if (d <= h + BLOCK || h < w->base || d > w->base + w->len)
		return 0;
	while (pos + BLOCK <= d) {
		const unsigned char *b = (const unsigned char *)w->buf + (pos - w->base);
		int64_t size = block_size(b);
		const char *why, *bad;
		size_t badlen;
		char type = (char)b[156];

		if (size < 0 ||
		    (type != 'x' && type != 'g' && type != 'X' && type != 'L' && type != 'K'))
			break;
		if ((uint64_t)size > d - pos - BLOCK)
			break;
		if (type != 'L' && type != 'K') {
			why = check_records((const char *)b + BLOCK, (size_t)size, &bad, &badlen);
			if (why) {
				lfs_err_set("%s: entry '%s': bad pax header record '%s': %s", layer,
					    lfs_show(entry, s1, sizeof(s1)),
					    shown(bad, badlen, s2, sizeof(s2)), why);
				return -EIO;
			}
		}
		pos += BLOCK + (((uint64_t)size + BLOCK - 1) & ~(uint64_t)(BLOCK - 1));
	}
	return 0;
}

/*
 * Some libarchive versions read a pax time "-1.25" as -1 s + 0.25: the
 * fraction keeps its sign lost.  Ask the library once how it reads one.
 */
static pthread_once_t pax_probe_once = PTHREAD_ONCE_INIT;
static int pax_negative_truncates;

/* One ustar header block: just enough for the probe below. */
static void probe_block(char *b, char type, unsigned size)
{
	unsigned sum = 0;

	memset(b, 0, 512);
	strcpy(b, "probe");
	memcpy(b + 100, "0000644", 7);
	snprintf(b + 124, 12, "%011o", size);
	b[156] = type;
	memcpy(b + 257, "ustar\00000", 8);
	memset(b + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += (unsigned char)b[i];
	snprintf(b + 148, 8, "%06o", sum);
}

static void pax_probe(void)
{
	static const char rec[] = "18 mtime=-1.25000\n";
	char tar[3072] = {0};
	struct archive *a = archive_read_new();
	struct archive_entry *e;

	/* a pax header with the record, the entry it applies to, the end blocks */
	probe_block(tar, 'x', sizeof(rec) - 1);
	memcpy(tar + 512, rec, sizeof(rec) - 1);
	probe_block(tar + 1024, '0', 0);
	archive_read_support_format_tar(a);
	if (archive_read_open_memory(a, tar, sizeof(tar)) == ARCHIVE_OK &&
	    archive_read_next_header(a, &e) == ARCHIVE_OK)
		pax_negative_truncates = archive_entry_mtime(e) == -1;
	archive_read_free(a);
}

void lfs_pax_fix_time(int64_t *sec, uint32_t *nsec)
{
	pthread_once(&pax_probe_once, pax_probe);
	if (pax_negative_truncates && *sec < 0 && *nsec > 0) {
		*sec -= 1;
		*nsec = 1000000000 - *nsec;
	}
}
