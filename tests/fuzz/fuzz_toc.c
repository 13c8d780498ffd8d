/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: the parsers of layers that carry their own table of contents
 * (lib/toc.h), and the TOC's entries through the layer builder.  The first
 * input byte picks what the rest is:
 *
 *   0  a TOC JSON, parsed as eStargz's;  1  the same as zstd:chunked's;
 *   2  the TOC's gzip member (a tar holding stargz.index.json) -> JSON;
 *   3  a zstd:chunked manifest (LE32 uncompressed length, then the frame);
 *   4  a blob's tail for both footers, and the rest as a position annotation.
 *
 * What a parser accepts must hold what the chunk reader relies on: each
 * regular file's chunks cover it exactly and in order, each chunk's data
 * lies inside the payload; footers point inside the blob.  Accepted entries
 * then go through the builder (lfs_build_add), as the front end feeds them.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzzutil.h"
#include "layer_int.h"
#include "layerfs/layer.h"
#include "layerfs/lfs.h"
#include "toc.h"

#define WHAT	    "fuzz.toc"
#define PAYLOAD_END (1ull << 40)

static void check_toc(const struct lfs_toc *t)
{
	for (size_t i = 0; i < t->nchunks; i++)
		if (t->chunks[i].off >= t->chunks[i].end || t->chunks[i].end > PAYLOAD_END)
			fuzz_fail("chunk %zu: data at [%llu, %llu) outside the payload", i,
				  (unsigned long long)t->chunks[i].off,
				  (unsigned long long)t->chunks[i].end);
	if (t->nprefetch > t->nents)
		fuzz_fail("prefetch count %zu past %zu entries", t->nprefetch, t->nents);
	for (size_t i = 0; i < t->nents; i++) {
		const struct lfs_toc_ent *e = &t->ents[i];
		uint64_t pos = 0;

		if (!S_ISREG(e->mode) && e->nchunks)
			fuzz_fail("entry %zu: chunks on a non-file", i);
		if (e->chunk0 + e->nchunks > t->nchunks)
			fuzz_fail("entry %zu: chunks past the table", i);
		for (size_t k = 0; k < e->nchunks; k++) {
			const struct lfs_toc_chunk *c = &t->chunks[e->chunk0 + k];

			if (c->foff != pos || !c->len)
				fuzz_fail("entry %zu: chunk %zu does not follow the last", i, k);
			pos += c->len;
		}
		if (S_ISREG(e->mode) && !e->hardlink && pos != e->size)
			fuzz_fail("entry %zu: chunks hold %llu of %llu bytes", i,
				  (unsigned long long)pos, (unsigned long long)e->size);
	}
}

/* The entries through the builder, as layer_toc.c hands them over. */
static void build(const struct lfs_toc *t)
{
	struct lfs_layer l = {0};
	struct lfs_builder b;

	l.name = (char *)WHAT;
	l.arena = lfs_arena_new();
	l.root = lfs_dir_new(l.arena, NULL);
	l.root->flags = LFS_NF_IMPLIED;
	lfs_build_init(&b, &l, 1);
	for (size_t i = 0; i < t->nents; i++) {
		const struct lfs_toc_ent *te = &t->ents[i];
		struct lfs_entry e = {.path = te->name,
				      .mode = te->mode,
				      .uid = te->uid,
				      .gid = te->gid,
				      .mtime_sec = te->mtime_sec,
				      .mtime_nsec = te->mtime_nsec,
				      .rdev = te->rdev,
				      .xattrs = te->xattrs,
				      .nxattrs = te->nxattrs};
		struct lfs_node *n;
		int rc;

		if (te->hardlink)
			e.hardlink = te->link;
		else if (S_ISLNK(te->mode))
			e.link = te->link;
		else if (S_ISREG(te->mode))
			e.size = te->size, e.data_off = i;
		rc = lfs_build_add(&b, &e, &n);
		if (rc) {
			fuzz_check_err(rc, WHAT, "lfs_build_add");
			break;
		}
	}
	lfs_build_free(&b);
	lfs_arena_free(l.arena);
}

static void parse(const char *json, size_t len, enum lfs_toc_kind kind)
{
	struct lfs_toc t;
	int rc = lfs_toc_parse(json, len, kind, PAYLOAD_END, WHAT, &t);

	if (rc) {
		fuzz_check_err(rc, WHAT, "lfs_toc_parse");
		if (t.ents || t.chunks)
			fuzz_fail("a failed parse left entries behind");
		return;
	}
	check_toc(&t);
	build(&t);
	lfs_toc_free(&t);
}

static void footers(const uint8_t *p, size_t n)
{
	struct lfs_zpos zp;
	uint64_t off;
	size_t fl;
	char *s;

	for (uint64_t size = n; size <= n + 1000000; size += 999999) {
		if (!lfs_toc_estargz_footer(p, n, size, &off, &fl) &&
		    ((fl != LFS_ESTARGZ_FOOTER && fl != LFS_ESTARGZ_FOOTER_LEGACY) ||
		     off >= size - fl))
			fuzz_fail("eStargz footer: TOC at %llu of a %llu-byte blob",
				  (unsigned long long)off, (unsigned long long)size);
		if (!lfs_toc_zstd_footer(p, n, size, &zp) &&
		    (zp.off < 8 || zp.off + zp.clen > size - LFS_ZSTD_FOOTER))
			fuzz_fail("zstd:chunked footer: manifest outside the blob");
	}
	s = lfs_xmalloc(n + 1);
	memcpy(s, p, n);
	s[n] = 0;
	if (!lfs_toc_zstd_position(s, 1u << 30, WHAT, &zp) &&
	    (zp.off < 8 || zp.off + zp.clen > (1u << 30) - LFS_ZSTD_FOOTER))
		fuzz_fail("position annotation: manifest outside the blob");
	else
		lfs_err_clear();
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 1;
	size_t n = size ? size - 1 : 0, jlen;
	struct lfs_zpos zp = {.off = 8, .type = 1};
	char *json;

	if (!size)
		return 0;
	switch (data[0] % 5) {
	case 0:
	case 1:
		parse((const char *)p, n, data[0] % 5 ? LFS_TOC_ZSTD : LFS_TOC_ESTARGZ);
		break;
	case 2:
		if (lfs_toc_estargz_json(p, n, WHAT, &json, &jlen) == 0) {
			if (strlen(json) > jlen)
				fuzz_fail("TOC JSON longer than its length");
			parse(json, jlen, LFS_TOC_ESTARGZ);
			free(json);
		} else {
			fuzz_check_err(-1, WHAT, "lfs_toc_estargz_json");
		}
		break;
	case 3:
		if (n < 4)
			break;
		zp.ulen = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16;
		zp.clen = n - 4;
		if (lfs_toc_zstd_json(p + 4, &zp, WHAT, &json) == 0) {
			parse(json, (size_t)zp.ulen, LFS_TOC_ZSTD);
			free(json);
		} else {
			fuzz_check_err(-1, WHAT, "lfs_toc_zstd_json");
		}
		break;
	default:
		footers(p, n);
		break;
	}
	lfs_err_clear();
	return 0;
}
