/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the TOC layers' parsers (lib/toc.h): the eStargz and
 * zstd:chunked footers and position annotation, the TOC's gzip tar and the
 * compressed manifest, the TOC JSON to entries and chunks (good and
 * malformed input, written here by hand after the formats' descriptions in
 * tests/refwriters/README.md), and a chunk that fails its digest.  The
 * integration test (tests/integration/toc.sh) runs blobs of the reference
 * writers.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cmocka.h>
#include <nettle/sha2.h>
#include <zlib.h>
#include <zstd.h>

#include "layerfs/lfs.h"
#include "toc.h"

/* The 51-byte eStargz footer for TOC_OFF (LEGACY: the 47-byte stargz one). */
static size_t footer(uint8_t *f, uint64_t toc_off, int legacy)
{
	static const uint8_t tail[13] = {1, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0};
	char hex[23];
	size_t n = 0;

	snprintf(hex, sizeof(hex), "%016llxSTARGZ", (unsigned long long)toc_off);
	memcpy(f, "\x1f\x8b\x08\x04\0\0\0\0\0\xff", 10);
	n = 10;
	f[n++] = legacy ? 22 : 26;
	f[n++] = 0;
	if (!legacy) {
		memcpy(f + n, "SG\x16\0", 4);
		n += 4;
	}
	memcpy(f + n, hex, 22);
	n += 22;
	memcpy(f + n, tail, sizeof(tail));
	return n + sizeof(tail);
}

static void test_estargz_footer(void **state)
{
	uint8_t buf[100] = {0}, *f = buf + 100 - LFS_ESTARGZ_FOOTER;
	uint64_t off;
	size_t fl;

	(void)state;
	assert_int_equal(footer(f, 0x1234abcd, 0), LFS_ESTARGZ_FOOTER);
	assert_int_equal(lfs_toc_estargz_footer(buf, sizeof(buf), 1ull << 40, &off, &fl), 0);
	assert_int_equal(off, 0x1234abcd);
	assert_int_equal(fl, LFS_ESTARGZ_FOOTER);
	/* The TOC must lie before the footer. */
	assert_int_equal(lfs_toc_estargz_footer(buf, sizeof(buf), 0x1234abcd, &off, &fl), -EINVAL);
	/* Not hex; a wrong magic; a wrong XLEN. */
	f[20] = 'x';
	assert_int_equal(lfs_toc_estargz_footer(buf, sizeof(buf), 1ull << 40, &off, &fl), -EINVAL);
	footer(f, 7, 0);
	f[33] = 'X';
	assert_int_equal(lfs_toc_estargz_footer(buf, sizeof(buf), 1ull << 40, &off, &fl), -EINVAL);
	footer(f, 7, 0);
	f[10] = 25;
	assert_int_equal(lfs_toc_estargz_footer(buf, sizeof(buf), 1ull << 40, &off, &fl), -EINVAL);
	/* The legacy footer. */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(footer(buf + 100 - 47, 99, 1), LFS_ESTARGZ_FOOTER_LEGACY);
	assert_int_equal(lfs_toc_estargz_footer(buf, sizeof(buf), 1000, &off, &fl), 0);
	assert_int_equal(off, 99);
	assert_int_equal(fl, LFS_ESTARGZ_FOOTER_LEGACY);
	/* A short blob. */
	assert_int_equal(lfs_toc_estargz_footer(buf, 10, 10, &off, &fl), -EINVAL);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void test_zstd_footer(void **state)
{
	uint8_t f[LFS_ZSTD_FOOTER];
	struct lfs_zpos p;

	(void)state;
	memcpy(f, "\x50\x2a\x4d\x18\x28\0\0\0", 8);
	put64(f + 8, 5000);
	put64(f + 16, 300);
	put64(f + 24, 1200);
	put64(f + 32, 1);
	memcpy(f + 40, "GnUlInUx", 8);
	assert_int_equal(lfs_toc_zstd_footer(f, sizeof(f), 6000, &p), 0);
	assert_int_equal(p.off, 5000);
	assert_int_equal(p.clen, 300);
	assert_int_equal(p.ulen, 1200);
	/* The manifest must end before the footer. */
	assert_int_equal(lfs_toc_zstd_footer(f, sizeof(f), 5300, &p), -EINVAL);
	put64(f + 32, 2);
	assert_int_equal(lfs_toc_zstd_footer(f, sizeof(f), 6000, &p), -EINVAL);
	put64(f + 32, 1);
	f[47] = 'y';
	assert_int_equal(lfs_toc_zstd_footer(f, sizeof(f), 6000, &p), -EINVAL);

	assert_int_equal(lfs_toc_zstd_position("5000:300:1200:1", 6000, "L", &p), 0);
	assert_int_equal(p.off, 5000);
	assert_int_equal(p.ulen, 1200);
	assert_int_equal(lfs_toc_zstd_position("5000:300:1200", 6000, "L", &p), -EINVAL);
	assert_non_null(strstr(lfs_err_get(), "manifest-position"));
	assert_int_equal(lfs_toc_zstd_position("5000:300:1200:1x", 6000, "L", &p), -EINVAL);
	assert_int_equal(lfs_toc_zstd_position("-1:300:1200:1", 6000, "L", &p), -EINVAL);
	assert_int_equal(lfs_toc_zstd_position("5000:300:1200:1", 5100, "L", &p), -EINVAL);
}

/* A gzip tar holding NAME with DATA, into a malloc'ed buffer. */
static uint8_t *gz_tar(const char *name, const char *data, size_t *len)
{
	size_t cap = 1 << 16;
	uint8_t *buf = malloc(cap);
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();

	archive_write_set_format_ustar(a);
	archive_write_add_filter_gzip(a);
	assert_int_equal(archive_write_open_memory(a, buf, cap, len), ARCHIVE_OK);
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)strlen(data));
	archive_write_header(a, e);
	archive_write_data(a, data, strlen(data));
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	return buf;
}

static void test_toc_members(void **state)
{
	const char *js = "{\"version\":1,\"entries\":[]}";
	struct lfs_zpos p = {.off = 8, .type = 1};
	size_t n, jl;
	uint8_t *gz = gz_tar("stargz.index.json", js, &n), z[256];
	char *json;

	(void)state;
	assert_int_equal(lfs_toc_estargz_json(gz, n, "L", &json, &jl), 0);
	assert_int_equal(jl, strlen(js));
	assert_string_equal(json, js);
	free(json);
	/* Cut short; not gzip; another entry name. */
	assert_int_equal(lfs_toc_estargz_json(gz, 20, "L", &json, &jl), -EBADMSG);
	assert_int_equal(lfs_toc_estargz_json((const uint8_t *)js, strlen(js), "L", &json, &jl),
			 -EBADMSG);
	free(gz);
	gz = gz_tar("other.json", js, &n);
	assert_int_equal(lfs_toc_estargz_json(gz, n, "L", &json, &jl), -EBADMSG);
	assert_non_null(strstr(lfs_err_get(), "stargz.index.json"));
	free(gz);

	p.clen = ZSTD_compress(z, sizeof(z), js, strlen(js), 3);
	p.ulen = strlen(js);
	assert_int_equal(lfs_toc_zstd_json(z, &p, "L", &json), 0);
	assert_string_equal(json, js);
	free(json);
	p.ulen--;
	assert_int_equal(lfs_toc_zstd_json(z, &p, "L", &json), -EBADMSG);
	p.ulen++;
	z[0] ^= 0x55; /* (data bytes may be raw literals: the digest catches those) */
	assert_int_equal(lfs_toc_zstd_json(z, &p, "L", &json), -EBADMSG);
}

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

static const char good[] =
    "{\"version\":1,\"entries\":["
    "{\"name\":\"a.txt\",\"type\":\"reg\",\"size\":1,\"offset\":5,\"mode\":0,"
    "\"chunkDigest\":\"" D1 "\"},"
    "{\"name\":\"./.prefetch.landmark\",\"type\":\"reg\",\"size\":1,\"offset\":40,"
    "\"chunkDigest\":\"" D1 "\"},"
    "{\"name\":\"usr/\",\"type\":\"dir\",\"mode\":493,\"uid\":1,\"gid\":2,"
    "\"modtime\":\"2021-01-02T03:04:05Z\",\"xattrs\":{\"user.x\":\"aGVsbG8=\"}},"
    "{\"name\":\"usr/big\",\"type\":\"reg\",\"size\":250,\"offset\":100,\"chunkSize\":100,"
    "\"mode\":2541,\"modtime\":\"2021-01-02T04:04:05.5+01:00\",\"chunkDigest\":\"" D1 "\"},"
    "{\"name\":\"usr/big\",\"type\":\"chunk\",\"offset\":200,\"chunkOffset\":100,"
    "\"chunkSize\":100,\"chunkDigest\":\"" D2 "\"},"
    "{\"name\":\"usr/big\",\"type\":\"chunk\",\"offset\":300,\"chunkOffset\":200,"
    "\"chunkDigest\":\"" D2 "\"},"
    "{\"name\":\"usr/.wh.gone\",\"type\":\"reg\",\"digest\":\"" D1 "\"},"
    "{\"name\":\"usr/ln\",\"type\":\"symlink\",\"linkName\":\"big\"},"
    "{\"name\":\"usr/hl\",\"type\":\"hardlink\",\"linkName\":\"usr/big\"},"
    "{\"name\":\"dev/c\",\"type\":\"char\",\"devMajor\":1,\"devMinor\":3},"
    "{\"name\":\"one\",\"type\":\"reg\",\"size\":7,\"offset\":360,\"digest\":\"" D2 "\"}"
    "]}";

static void test_parse_good(void **state)
{
	struct lfs_toc t;
	const struct lfs_toc_ent *e;

	(void)state;
	assert_int_equal(lfs_toc_parse(good, strlen(good), LFS_TOC_ESTARGZ, 400, "L", &t), 0);
	assert_int_equal(t.nents, 8); /* the landmark left out */
	assert_int_equal(t.nprefetch, 1);
	assert_int_equal(t.nchunks, 5);
	e = &t.ents[1];
	assert_string_equal(e->name, "usr/");
	assert_int_equal(e->mode, S_IFDIR | 0755);
	assert_int_equal(e->uid, 1);
	assert_int_equal(e->gid, 2);
	assert_int_equal(e->mtime_sec, 1609556645);
	assert_int_equal(e->nxattrs, 1);
	assert_int_equal(e->xattrs[0].len, 5);
	assert_memory_equal(e->xattrs[0].value, "hello", 5);
	e = &t.ents[2];
	assert_int_equal(e->mode, S_IFREG | 04755);
	assert_int_equal(e->mtime_sec, 1609556645);
	assert_int_equal(e->mtime_nsec, 500000000);
	assert_int_equal(e->nchunks, 3);
	/* The last chunk: to the end of the file, its data up to the next offset. */
	assert_int_equal(t.chunks[e->chunk0 + 2].len, 50);
	assert_int_equal(t.chunks[e->chunk0 + 2].foff, 200);
	assert_int_equal(t.chunks[e->chunk0 + 0].end, 200);
	assert_int_equal(t.chunks[e->chunk0 + 2].end, 360);
	assert_int_equal(t.ents[3].nchunks, 0);
	assert_string_equal(t.ents[4].link, "big");
	assert_int_equal(t.ents[4].mode & S_IFMT, S_IFLNK);
	assert_true(t.ents[5].hardlink);
	assert_int_equal(t.ents[6].rdev, makedev(1, 3));
	/* A one-chunk file without chunkDigest: its digest stands in; the end: the payload's. */
	e = &t.ents[7];
	assert_int_equal(e->nchunks, 1);
	assert_int_equal(t.chunks[e->chunk0].sha[0], 0x22);
	assert_int_equal(t.chunks[e->chunk0].end, 400);
	lfs_toc_free(&t);
}

static void test_parse_times(void **state)
{
	static const struct {
		const char *s;
		int64_t sec;
		uint32_t nsec;
	} ok[] = {
	    {"1970-01-01T00:00:00Z", 0, 0},
	    {"1969-12-31T23:59:59.999999999Z", -1, 999999999},
	    {"2021-01-02T03:04:05.123456789123Z", 1609556645, 123456789},
	    {"2021-01-02T00:04:05-03:00", 1609556645, 0},
	    {"10000-01-01T00:00:00Z", 253402300800, 0},
	    {"-0001-12-31T23:59:59Z", -62167219201, 0},
	};
	static const char *const bad[] = {
	    "2021-01-02",
	    "2021-01-02T03:04:05",
	    "21-01-02T03:04:05Z",
	    "2021-01-02T03:04:05.Z",
	    "02021-01-02T03:04:05Z",
	    "2021-01-02T03:04:05Zx",
	    "2021-00-02T03:04:05Z",
	};
	char json[200];
	struct lfs_toc t;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(json, sizeof(json),
			 "{\"version\":1,\"entries\":[{\"name\":\"d\",\"type\":\"dir\","
			 "\"modtime\":\"%s\"}]}",
			 ok[i].s);
		assert_int_equal(lfs_toc_parse(json, strlen(json), LFS_TOC_ZSTD, 1, "L", &t), 0);
		if (t.ents[0].mtime_sec != ok[i].sec || t.ents[0].mtime_nsec != ok[i].nsec)
			fail_msg("%s: %lld.%09u", ok[i].s, (long long)t.ents[0].mtime_sec,
				 t.ents[0].mtime_nsec);
		lfs_toc_free(&t);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(json, sizeof(json),
			 "{\"version\":1,\"entries\":[{\"name\":\"d\",\"type\":\"dir\","
			 "\"modtime\":\"%s\"}]}",
			 bad[i]);
		if (lfs_toc_parse(json, strlen(json), LFS_TOC_ZSTD, 1, "L", &t) != -EBADMSG)
			fail_msg("%s accepted", bad[i]);
	}
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
	    "",
	    "[]",
	    "{\"version\":2,\"entries\":[]}",
	    "{\"version\":1}",
	    "{\"version\":1,\"entries\":[1]}",
	    "{\"version\":1,\"entries\":[{\"name\":\"a\"}]}",
	    "{\"version\":1,\"entries\":[{\"name\":\"a\",\"type\":\"sock\"}]}",
	    "{\"version\":1,\"entries\":[{\"name\":\"\",\"type\":\"dir\"}]}",
	    /* a chunk of nothing; of another file */
	    "{\"version\":1,\"entries\":[{\"name\":\"a\",\"type\":\"chunk\"}]}",
	    "{\"version\":1,\"entries\":[{\"name\":\"a\",\"type\":\"reg\",\"size\":2,\"offset\":1,"
	    "\"chunkSize\":1,\"chunkDigest\":\"" D1 "\"},{\"name\":\"b\",\"type\":\"chunk\","
	    "\"offset\":3,\"chunkOffset\":1,\"chunkDigest\":\"" D1 "\"}]}",
	    /* chunks that leave a gap, overlap, or fall short */
	    "{\"version\":1,\"entries\":[{\"name\":\"a\",\"type\":\"reg\",\"size\":3,\"offset\":1,"
	    "\"chunkSize\":1,\"chunkDigest\":\"" D1 "\"},{\"name\":\"a\",\"type\":\"chunk\","
	    "\"offset\":3,\"chunkOffset\":2,\"chunkDigest\":\"" D1 "\"}]}",
	    "{\"version\":1,\"entries\":[{\"name\":\"a\",\"type\":\"reg\",\"size\":3,\"offset\":1,"
	    "\"chunkSize\":2,\"chunkDigest\":\"" D1 "\"}]}",
	    /* no digest; a bad digest; data past the payload; negative size */
	    "{\"version\":1,\"entries\":[{\"name\":\"a\",\"type\":\"reg\",\"size\":3,\"offset\":1}]"
	    "}",
	    "{\"version\":1,\"entries\":[{\"name\":\"a\",\"type\":\"reg\",\"size\":3,\"offset\":1,"
	    "\"chunkDigest\":\"sha256:12\"}]}",
	    "{\"version\":1,\"entries\":[{\"name\":\"a\",\"type\":\"reg\",\"size\":3,\"offset\":"
	    "1000,\"chunkDigest\":\"" D1 "\"}]}",
	    "{\"version\":1,\"entries\":[{\"name\":\"a\",\"type\":\"reg\",\"size\":-3}]}",
	    /* a chunk too large to decode in memory */
	    "{\"version\":1,\"entries\":[{\"name\":\"a\",\"type\":\"reg\",\"size\":"
	    "300000000,\"offset\":1,\"chunkDigest\":\"" D1 "\"}]}",
	    /* symlink without target; bad time; bad xattr; bad device */
	    "{\"version\":1,\"entries\":[{\"name\":\"a\",\"type\":\"symlink\"}]}",
	    "{\"version\":1,\"entries\":[{\"name\":\"a\",\"type\":\"dir\",\"modtime\":\"2021-13-01"
	    "T00:00:00Z\"}]}",
	    "{\"version\":1,\"entries\":[{\"name\":\"a\",\"type\":\"dir\",\"modtime\":\"2021-01-01"
	    "T00:00:00\"}]}",
	    "{\"version\":1,\"entries\":[{\"name\":\"a\",\"type\":\"dir\",\"xattrs\":{\"user.a\":"
	    "\"!!\"}}]}",
	    "{\"version\":1,\"entries\":[{\"name\":\"a\",\"type\":\"char\",\"devMajor\":99999}]}",
	    "{\"version\":1,\"entries\":[{\"name\":\"a\",\"type\":\"reg\",\"size\":3,\"offset\":1,"
	    "\"chunkType\":\"holes\",\"chunkDigest\":\"" D1 "\"}]}",
	};
	struct lfs_toc t;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = lfs_toc_parse(bad[i], strlen(bad[i]), LFS_TOC_ZSTD, 100, "lay", &t);

		if (rc != -EBADMSG)
			fail_msg("case %zu: %d", i, rc);
		assert_non_null(strstr(lfs_err_get(), "lay: "));
		assert_null(t.ents);
	}
}

/* DATA gzip-compressed as one member. */
static size_t gzip(const uint8_t *data, size_t n, uint8_t *out, size_t cap)
{
	z_stream z = {0};

	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
			 Z_OK);
	z.next_in = (Bytef *)data;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	deflateEnd(&z);
	return z.total_out;
}

static void test_chunk(void **state)
{
	uint8_t data[5000], out[5000], gz[6000], zs[6000], gz2[12000];
	struct lfs_toc_chunk c = {0};
	struct sha256_ctx sha;
	size_t ng, nz, n2;

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 / 3);
	sha256_init(&sha);
	sha256_update(&sha, 4000, data);
	sha256_digest(&sha, 32, c.sha);
	c.len = 4000;
	/* eStargz: the chunk's member, then the next member goes on with more bytes. */
	ng = gzip(data, 4000, gz, sizeof(gz));
	n2 = gzip(data + 4000, 1000, gz + ng, sizeof(gz) - ng) + ng;
	c.end = n2;
	assert_int_equal(lfs_toc_chunk_decode(LFS_TOC_ESTARGZ, &c, gz, n2, out, "L"), 0);
	assert_memory_equal(out, data, 4000);
	/* A chunk split over two members. */
	n2 = gzip(data, 1500, gz2, sizeof(gz2));
	n2 += gzip(data + 1500, 2500, gz2 + n2, sizeof(gz2) - n2);
	c.end = n2;
	assert_int_equal(lfs_toc_chunk_decode(LFS_TOC_ESTARGZ, &c, gz2, n2, out, "L"), 0);
	/* More input needed while there is more. */
	assert_int_equal(lfs_toc_chunk_decode(LFS_TOC_ESTARGZ, &c, gz2, n2 / 2, out, "L"), -EAGAIN);
	/* Cut short at its end: damage. */
	c.end = n2 - 30;
	assert_int_equal(lfs_toc_chunk_decode(LFS_TOC_ESTARGZ, &c, gz2, n2 - 30, out, "L"), -EIO);
	/* A flipped byte of the compressed data: EIO, by zlib or by the digest. */
	c.end = ng;
	gz[ng / 2] ^= 0x10;
	assert_int_equal(lfs_toc_chunk_decode(LFS_TOC_ESTARGZ, &c, gz, ng, out, "L"), -EIO);
	gz[ng / 2] ^= 0x10;
	/* A wrong chunkDigest. */
	c.sha[5] ^= 1;
	assert_int_equal(lfs_toc_chunk_decode(LFS_TOC_ESTARGZ, &c, gz, ng, out, "L"), -EIO);
	assert_non_null(strstr(lfs_err_get(), "does not match its chunkDigest"));
	c.sha[5] ^= 1;
	/* zstd frames. */
	nz = ZSTD_compress(zs, sizeof(zs), data, 4000, 3);
	c.end = nz;
	assert_int_equal(lfs_toc_chunk_decode(LFS_TOC_ZSTD, &c, zs, nz, out, "L"), 0);
	assert_memory_equal(out, data, 4000);
	zs[nz - 5] ^= 0xff;
	assert_int_equal(lfs_toc_chunk_decode(LFS_TOC_ZSTD, &c, zs, nz, out, "L"), -EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_estargz_footer), cmocka_unit_test(test_zstd_footer),
	    cmocka_unit_test(test_toc_members),	   cmocka_unit_test(test_parse_good),
	    cmocka_unit_test(test_parse_times),	   cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_chunk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
