/* SPDX-License-Identifier: Apache-2.0 */
/*
 * layerfs-chroot: which ids the user namespace of a rootless run maps.
 * The user's subordinate ranges from /etc/subuid and /etc/subgid (lines
 * NAME:START:COUNT, NAME a user name or a uid, as shadow's newuidmap reads
 * them), and the map made of them as podman makes it: 0 inside is the user,
 * 1, 2, ... inside are the ranges one after the other, in the file's order.
 * Parsing only: chroot_ns.c runs newuidmap and newgidmap with the result.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chroot.h"
#include "layerfs/lfs.h"

/* A decimal number of at most 32 bits in [S, E): 0, or -1. */
static int parse_num(const char *s, const char *e, unsigned long *out)
{
	unsigned long long v = 0;

	if (s == e || e - s > 10)
		return -1;
	for (; s < e; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long long)(*s - '0');
	}
	if (v > 0xffffffffULL)
		return -1;
	*out = (unsigned long)v;
	return 0;
}

/* One line [S, E): is it for NAME or ID?  Its range in R then; 1, else 0. */
static int parse_line(const char *s, const char *e, const char *name, unsigned long id,
		      struct lfs_chroot_idrange *r)
{
	const char *c1 = memchr(s, ':', (size_t)(e - s)), *c2;
	unsigned long owner;

	if (!c1)
		return 0;
	c2 = memchr(c1 + 1, ':', (size_t)(e - c1 - 1));
	if (!c2 || memchr(c2 + 1, ':', (size_t)(e - c2 - 1)))
		return 0;
	if (!(name && *name && (size_t)(c1 - s) == strlen(name) &&
	      !memcmp(s, name, strlen(name))) &&
	    !(parse_num(s, c1, &owner) == 0 && owner == id))
		return 0;
	if (parse_num(c1 + 1, c2, &r->start) < 0 || parse_num(c2 + 1, e, &r->count) < 0 ||
	    r->count == 0 || r->start + r->count - 1 > 0xfffffffeUL)
		return 0;
	return 1;
}

size_t lfs_chroot_subid_parse(const char *text, const char *name, unsigned long id,
			      struct lfs_chroot_idrange *r, size_t max)
{
	unsigned long long inside = 1; /* the next id inside: 0 is the user */
	size_t n = 0;

	while (text && *text && n < max) {
		const char *e = strchr(text, '\n'), *next;
		struct lfs_chroot_idrange got;

		if (!e)
			e = text + strlen(text);
		next = *e ? e + 1 : e;
		/* a comment or a blank line; a bad line is skipped, as shadow does */
		if (*text != '#' && parse_line(text, e, name, id, &got) &&
		    /* the user's own id is mapped to 0 already: never twice */
		    !(id >= got.start && id - got.start < got.count) &&
		    inside + got.count - 1 <= 0xfffffffeULL) {
			r[n++] = got;
			inside += got.count;
		}
		text = next;
	}
	return n;
}

int lfs_chroot_subid_read(const char *path, const char *name, unsigned long id,
			  struct lfs_chroot_idrange *r, size_t max, size_t *n)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t cap = 0, len = 0, got;
	int rc = 0;

	*n = 0;
	if (!f)
		return -errno;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? 2 * cap : 8192;
			text = lfs_xrealloc(text, cap);
		}
		got = fread(text + len, 1, cap - len - 1, f);
		len += got;
		if (got == 0)
			break;
		if (len > (1u << 24)) { /* no subuid file is that big */
			rc = -EFBIG;
			break;
		}
	}
	if (ferror(f))
		rc = -EIO;
	fclose(f);
	if (rc == 0) {
		text[len] = '\0';
		*n = lfs_chroot_subid_parse(text, name, id, r, max);
	}
	free(text);
	return rc;
}

unsigned long lfs_chroot_idmap_words(unsigned long own, const struct lfs_chroot_idrange *r,
				     size_t n, char *buf, size_t size)
{
	unsigned long inside = 1;
	size_t len;

	len = (size_t)snprintf(buf, size, "0 %lu 1", own);
	for (size_t i = 0; i < n && len < size; i++) {
		len += (size_t)snprintf(buf + len, size - len, " %lu %lu %lu", inside, r[i].start,
					r[i].count);
		inside += r[i].count;
	}
	return len < size ? inside : 0;
}
