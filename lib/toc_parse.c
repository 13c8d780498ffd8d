/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TOC JSON of eStargz and zstd:chunked layers (toc.h) to entries and
 * chunks, with jansson.  Both writers use the same fields (JTOC of
 * stargz-snapshotter, FileMetadata of containers/storage): "entries" in
 * layer order, one per tar entry, with each regular file's further chunks as
 * "chunk" entries right after it.  Where they differ (a last chunk's
 * chunkSize omitted by eStargz, a one-chunk file's chunkDigest omitted by
 * containers/storage: its "digest" then stands for it) the rules of the
 * stargz-snapshotter's reader apply.  Everything a read will rely on is
 * checked here: each file's chunks cover it exactly, in order, each has a
 * sha256 and a place inside the payload.  Landmark entries are left out.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <jansson.h>
#include <nettle/base64.h>

#include "layerfs/image.h"
#include "layerfs/lfs.h"
#include "toc.h"

struct parser {
	const char *name;
	enum lfs_toc_kind kind;
	uint64_t payload_end;
	struct lfs_toc *t;
	size_t ecap, ccap;
	size_t file;  /* the regular file whose chunks follow, or SIZE_MAX */
	int skipping; /* the last regular entry was a landmark: its chunks go too */
	const char *last_name;
	uint8_t file_digest[32]; /* FILE's "digest", if it had one */
	int has_file_digest;
};

static int bad(const struct parser *p, size_t i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(const struct parser *p, size_t i, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return lfs_error(-EBADMSG, "%s: %s TOC: entries[%zu]: %s", p->name,
			 p->kind == LFS_TOC_ESTARGZ ? "eStargz" : "zstd:chunked", i, msg);
}

/* Optional non-negative integer KEY of E into *V (0 when absent). */
static int get_u64(const struct parser *p, size_t i, json_t *e, const char *key, uint64_t max,
		   uint64_t *v)
{
	json_t *j = json_object_get(e, key);

	*v = 0;
	if (!j)
		return 0;
	if (!json_is_integer(j) || json_integer_value(j) < 0 ||
	    (uint64_t)json_integer_value(j) > max)
		return bad(p, i, "'%s' is not an integer in range", key);
	*v = (uint64_t)json_integer_value(j);
	return 0;
}

/* Optional string KEY of E (NULL when absent). */
static int get_str(const struct parser *p, size_t i, json_t *e, const char *key, const char **s)
{
	json_t *j = json_object_get(e, key);

	*s = NULL;
	if (!j)
		return 0;
	if (!json_is_string(j))
		return bad(p, i, "'%s' is not a string", key);
	*s = json_string_value(j);
	return 0;
}

/* Optional "sha256:<hex>" KEY of E: 1 with OUT filled, 0 when absent. */
static int get_digest(const struct parser *p, size_t i, json_t *e, const char *key, uint8_t out[32])
{
	const char *s;
	int rc = get_str(p, i, e, key, &s);

	if (rc < 0 || !s || !*s)
		return rc;
	if (lfs_digest_parse(s, out) < 0)
		return bad(p, i, "'%s' is not a sha256 digest", key);
	return 1;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

/*
 * RFC 3339 ("2006-01-02T15:04:05[.999999999](Z|+07:00)") as Go writes it:
 * years past 9999 have more digits, years before 0 a '-'.  0, or -1.
 */
static int parse_time(const char *s, int64_t *sec, uint32_t *nsec)
{
	int mo, d, h, mi, se, n = 0, oh, om, neg = *s == '-', digits = 0;
	uint32_t ns = 0, scale = 100000000;
	int64_t y = 0;

	for (s += neg; *s >= '0' && *s <= '9' && digits < 12; s++, digits++)
		y = y * 10 + (*s - '0');
	if (digits < 4 || (digits > 4 && s[-digits] == '0'))
		return -1;
	if (sscanf(s, "-%2d-%2dT%2d:%2d:%2d%n", &mo, &d, &h, &mi, &se, &n) != 5 || n != 15)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    se < 0 || se > 60)
		return -1;
	s += 15;
	if (*s == '.') {
		if (s[1] < '0' || s[1] > '9')
			return -1;
		for (s++; *s >= '0' && *s <= '9'; s++, scale /= 10)
			ns += (uint32_t)(*s - '0') * scale;
	}
	*sec =
	    ((days_from_civil(neg ? -y : y, (unsigned)mo, (unsigned)d) * 24 + h) * 60 + mi) * 60 +
	    se;
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if ((*s == '+' || *s == '-') && sscanf(s + 1, "%2d:%2d%n", &oh, &om, &n) == 2 &&
		   n == 5 && oh >= 0 && oh < 24 && om >= 0 && om < 60) {
		int64_t off = (oh * 60 + om) * 60;

		*sec -= *s == '+' ? off : -off;
		s += 6;
	} else {
		return -1;
	}
	*nsec = ns;
	return *s ? -1 : 0;
}

/* "xattrs": name -> base64 of the value. */
static int get_xattrs(const struct parser *p, size_t i, json_t *e, struct lfs_toc_ent *te)
{
	json_t *x = json_object_get(e, "xattrs"), *v;
	const char *k;

	if (!x || json_is_null(x))
		return 0;
	if (!json_is_object(x))
		return bad(p, i, "'xattrs' is not an object");
	te->xattrs = lfs_xcalloc(json_object_size(x) + 1, sizeof(*te->xattrs));
	json_object_foreach(x, k, v)
	{
		struct base64_decode_ctx ctx;
		const char *s = json_string_value(v);
		size_t n = s ? strlen(s) : 0, out = BASE64_DECODE_LENGTH(n);
		uint8_t *val = lfs_xmalloc(out + 1);

		te->xattrs[te->nxattrs].name = lfs_xstrdup(k);
		te->xattrs[te->nxattrs].value = val;
		te->nxattrs++;
		base64_decode_init(&ctx);
		if (!s || !*k || !base64_decode_update(&ctx, &out, val, n, s) ||
		    !base64_decode_final(&ctx))
			return bad(p, i, "xattr value is not base64");
		te->xattrs[te->nxattrs - 1].len = out;
	}
	return 0;
}

static const struct {
	const char *name;
	uint32_t type;
} types[] = {
    {"reg", S_IFREG},  {"dir", S_IFDIR},   {"symlink", S_IFLNK}, {"hardlink", S_IFREG},
    {"char", S_IFCHR}, {"block", S_IFBLK}, {"fifo", S_IFIFO},
};

/* NAME without leading "/" and "./": how the writers' readers clean it. */
static const char *clean(const char *name)
{
	for (;;) {
		if (name[0] == '/')
			name++;
		else if (name[0] == '.' && name[1] == '/')
			name += 2;
		else
			return name;
	}
}

/* The chunks of the file being read cover it exactly; the digest stands in for a lone chunk's. */
static int end_file(struct parser *p, size_t i)
{
	struct lfs_toc_ent *f;
	uint64_t pos = 0;

	if (p->file == SIZE_MAX)
		return 0;
	f = &p->t->ents[p->file];
	p->file = SIZE_MAX;
	for (size_t k = 0; k < f->nchunks; k++) {
		struct lfs_toc_chunk *c = &p->t->chunks[f->chunk0 + k];

		if (c->foff != pos || c->len == 0 || c->len > f->size - pos)
			return bad(p, i, "'%s': its chunks do not cover it in order", f->name);
		pos += c->len;
	}
	if (pos != f->size)
		return bad(p, i, "'%s': its chunks hold %llu of its %llu bytes", f->name,
			   (unsigned long long)pos, (unsigned long long)f->size);
	return 0;
}

/* A chunk of the file being read: the "reg" entry's own (FIRST) or a "chunk" entry. */
static int add_chunk(struct parser *p, size_t i, json_t *e, int first)
{
	struct lfs_toc_ent *f = &p->t->ents[p->file];
	struct lfs_toc_chunk c = {0};
	uint64_t csize;
	int rc, has;

	rc = get_u64(p, i, e, "offset", p->payload_end, &c.off);
	if (!rc)
		rc = get_u64(p, i, e, "chunkOffset", f->size, &c.foff);
	if (!rc)
		rc = get_u64(p, i, e, "chunkSize", f->size, &csize);
	if (rc)
		return rc;
	if (c.off >= p->payload_end || (first && c.foff))
		return bad(p, i, "'%s': chunk outside the layer's data", f->name);
	/* No chunkSize: to the end of the file. */
	c.len = csize ? csize : f->size - c.foff;
	if (c.len > LFS_TOC_CHUNK_MAX)
		return bad(p, i, "'%s': a chunk of %llu bytes (at most %u)", f->name,
			   (unsigned long long)c.len, LFS_TOC_CHUNK_MAX);
	has = get_digest(p, i, e, "chunkDigest", c.sha);
	if (has < 0)
		return has;
	if (!has && first && p->has_file_digest && c.len == f->size) {
		memcpy(c.sha, p->file_digest, 32);
		has = 1;
	}
	if (!has)
		return bad(p, i, "'%s': a chunk without chunkDigest", f->name);
	if (!rc) {
		const char *ct;

		rc = get_str(p, i, e, "chunkType", &ct);
		if (!rc && ct && *ct && strcmp(ct, "zeros"))
			return bad(p, i, "'%s': unknown chunkType", f->name);
	}
	if (p->t->nchunks == p->ccap) {
		p->ccap = p->ccap ? 2 * p->ccap : 64;
		p->t->chunks = lfs_xrealloc(p->t->chunks, p->ccap * sizeof(c));
	}
	p->t->chunks[p->t->nchunks++] = c;
	f->nchunks++;
	return rc;
}

static int add_entry(struct parser *p, size_t i, json_t *e, const char *type, const char *name)
{
	struct lfs_toc_ent *te;
	const char *s;
	uint64_t v, maj, min;
	size_t k;
	int rc;

	for (k = 0; k < LFS_ARRAY_SIZE(types) && strcmp(types[k].name, type); k++)
		;
	if (k == LFS_ARRAY_SIZE(types))
		return bad(p, i, "unknown type");
	if (p->t->nents == p->ecap) {
		p->ecap = p->ecap ? 2 * p->ecap : 64;
		p->t->ents = lfs_xrealloc(p->t->ents, p->ecap * sizeof(*te));
	}
	te = &p->t->ents[p->t->nents++];
	memset(te, 0, sizeof(*te));
	te->name = lfs_xstrdup(name);
	rc = get_u64(p, i, e, "mode", UINT32_MAX, &v);
	te->mode = types[k].type | (uint32_t)(v & 07777);
	if (!rc)
		rc = get_u64(p, i, e, "uid", UINT32_MAX, &v);
	te->uid = (uint32_t)v;
	if (!rc)
		rc = get_u64(p, i, e, "gid", UINT32_MAX, &v);
	te->gid = (uint32_t)v;
	if (!rc)
		rc = get_str(p, i, e, "modtime", &s);
	if (!rc && s && parse_time(s, &te->mtime_sec, &te->mtime_nsec) < 0)
		rc = bad(p, i, "bad modtime");
	if (!rc)
		rc = get_str(p, i, e, "linkName", &s);
	if (!rc && (!strcmp(type, "symlink") || !strcmp(type, "hardlink"))) {
		if (!s || !*s)
			return bad(p, i, "a %s without linkName", type);
		te->link = lfs_xstrdup(s);
		te->hardlink = !strcmp(type, "hardlink");
		te->size = te->hardlink ? 0 : strlen(s);
	}
	if (!rc && (S_ISCHR(te->mode) || S_ISBLK(te->mode))) {
		rc = get_u64(p, i, e, "devMajor", 0xfff, &maj);
		if (!rc)
			rc = get_u64(p, i, e, "devMinor", 0xfffff, &min);
		te->rdev = makedev(maj, min);
	}
	if (!rc)
		rc = get_xattrs(p, i, e, te);
	if (rc || strcmp(type, "reg"))
		return rc;
	rc = get_u64(p, i, e, "size", INT64_MAX, &te->size);
	if (rc)
		return rc;
	rc = get_digest(p, i, e, "digest", p->file_digest);
	if (rc < 0)
		return rc;
	p->has_file_digest = rc;
	p->file = p->t->nents - 1;
	te->chunk0 = p->t->nchunks;
	return te->size ? add_chunk(p, i, e, 1) : 0;
}

static int one(struct parser *p, size_t i, json_t *e)
{
	const char *type, *name;
	int rc;

	if (!json_is_object(e))
		return bad(p, i, "not an object");
	rc = get_str(p, i, e, "type", &type);
	if (!rc)
		rc = get_str(p, i, e, "name", &name);
	if (rc)
		return rc;
	if (!type || !name || !*name)
		return bad(p, i, "no type or name");
	if (!strcmp(type, "chunk")) {
		if (!p->last_name || strcmp(p->last_name, name) ||
		    (p->file == SIZE_MAX && !p->skipping))
			return bad(p, i, "a chunk of no file before it");
		return p->skipping ? 0 : add_chunk(p, i, e, 0);
	}
	rc = end_file(p, i);
	if (rc)
		return rc;
	p->last_name = name;
	p->skipping = 0;
	if (!strcmp(type, "reg") && (!strcmp(clean(name), ".prefetch.landmark") ||
				     !strcmp(clean(name), ".no.prefetch.landmark"))) {
		p->skipping = 1;
		if (!strcmp(clean(name), ".prefetch.landmark"))
			p->t->nprefetch = p->t->nents;
		return 0;
	}
	return add_entry(p, i, e, type, name);
}

/* Where each chunk's compressed bytes end: at the next chunk's start, or the payload's end. */
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void set_ends(struct lfs_toc *t, uint64_t payload_end)
{
	uint64_t *offs = lfs_xmalloc((t->nchunks + 1) * sizeof(*offs));
	size_t n = 0;

	for (size_t i = 0; i < t->nchunks; i++)
		offs[i] = t->chunks[i].off;
	qsort(offs, t->nchunks, sizeof(*offs), cmp_u64);
	for (size_t i = 0; i < t->nchunks; i++)
		if (!n || offs[n - 1] != offs[i])
			offs[n++] = offs[i];
	for (size_t i = 0; i < t->nchunks; i++) {
		size_t lo = 0, hi = n;

		/* The first offset greater than this chunk's. */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (offs[mid] <= t->chunks[i].off)
				lo = mid + 1;
			else
				hi = mid;
		}
		t->chunks[i].end = lo < n ? offs[lo] : payload_end;
	}
	free(offs);
}

int lfs_toc_parse(const char *json, size_t len, enum lfs_toc_kind kind, uint64_t payload_end,
		  const char *name, struct lfs_toc *out)
{
	struct parser p = {.name = name, .kind = kind, .payload_end = payload_end, .t = out};
	json_error_t jerr;
	json_t *root, *ents, *v;
	size_t i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->kind = kind;
	p.file = SIZE_MAX;
	root = json_loadb(json, len, 0, &jerr);
	if (!root)
		return lfs_error(-EBADMSG, "%s: TOC: not JSON: %s (line %d)", name, jerr.text,
				 jerr.line);
	v = json_object_get(root, "version");
	ents = json_object_get(root, "entries");
	if (!json_is_object(root) || !json_is_integer(v) || json_integer_value(v) != 1 ||
	    !json_is_array(ents)) {
		rc = lfs_error(-EBADMSG, "%s: TOC: not version 1 with an entries array", name);
		goto out;
	}
	json_array_foreach(ents, i, v)
	{
		rc = one(&p, i, v);
		if (rc)
			goto out;
	}
	rc = end_file(&p, json_array_size(ents));
	if (!rc)
		set_ends(out, payload_end);
out:
	json_decref(root);
	if (rc)
		lfs_toc_free(out);
	return rc;
}

void lfs_toc_free(struct lfs_toc *t)
{
	for (size_t i = 0; i < t->nents; i++) {
		struct lfs_toc_ent *e = &t->ents[i];

		for (size_t k = 0; k < e->nxattrs; k++) {
			free((char *)e->xattrs[k].name);
			free((void *)e->xattrs[k].value);
		}
		free(e->xattrs);
		free(e->name);
		free(e->link);
	}
	free(t->ents);
	free(t->chunks);
	memset(t, 0, sizeof(*t));
}
