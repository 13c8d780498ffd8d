/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the layer writer (lib/write_layer.c, write_stream.c) and of
 * an upper directory read as a layer (write_upper.c): whiteouts of both
 * forms become ".wh." files, opaque markers follow their directory, xattrs
 * are filtered, hard links stored once, sockets skipped, mtimes clamped,
 * and the bytes are the same run after run and whatever the thread count.
 * The output is read back with libarchive's reader and zlib; digests are
 * checked against sha256 of the bytes on disk.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "layerfs/lfs.h"
#include "layerfs/write.h"
#include "testutil.h"

static const char DATA[] = "hello, layer\n";

static ssize_t read_data(void *arg, const struct lfs_node *n, void *buf, size_t len, uint64_t off)
{
	(void)arg;
	if (off >= n->size)
		return 0;
	if (len > n->size - off)
		len = (size_t)(n->size - off);
	for (size_t i = 0; i < len; i++)
		((char *)buf)[i] = DATA[(off + i) % (sizeof(DATA) - 1)];
	return (ssize_t)len;
}

static struct lfs_node mknode(uint32_t mode, uint64_t size)
{
	struct lfs_node n;

	memset(&n, 0, sizeof(n));
	n.mode = mode;
	n.size = size;
	n.mtime_sec = 1700000000;
	n.nlink = 1;
	return n;
}

/* Write ENTS to a new file; its path (malloc'd) and the result. */
static char *write_ents(struct lfs_wentry *ents, size_t n, enum lfs_wcomp comp, int threads,
			int64_t clamp, struct lfs_wlayer_result *res)
{
	static int seq;
	struct lfs_wlayer_opts o = {
	    .comp = comp, .threads = threads, .clamp_mtime = clamp, .read = read_data};
	char name[64];
	char *path;
	int fd;

	snprintf(name, sizeof(name), "layer%d", seq++);
	path = tu_write(name, "", 0);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(lfs_write_layer(fd, ents, n, &o, res), 0);
	close(fd);
	return path;
}

/* sha256 of the file at PATH, "sha256:<hex>". */
static void file_digest(const char *path, char out[72])
{
	size_t len;
	uint8_t *buf = tu_read(path, &len), sha[32];
	struct sha256_ctx c;

	sha256_init(&c);
	sha256_update(&c, len, buf);
	sha256_digest(&c, 32, sha);
	lfs_digest_format(sha, out);
	free(buf);
}

/* Names (type letter + path, hard link targets after "->") of the tar at PATH, one per line. */
static char *listing(const char *path)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	size_t cap = 4096, len = 0;
	char *out = calloc(1, cap);

	archive_read_support_filter_all(a);
	archive_read_support_format_all(a);
	assert_int_equal(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *hl = archive_entry_hardlink(e);
		char t = S_ISDIR(archive_entry_mode(e))	  ? 'd'
			 : S_ISCHR(archive_entry_mode(e)) ? 'c'
			 : S_ISLNK(archive_entry_mode(e)) ? 'l'
			 : hl				  ? 'h'
							  : 'f';

		len += (size_t)snprintf(out + len, cap - len, "%c %s%s%s\n", t,
					archive_entry_pathname(e), hl ? " -> " : "", hl ? hl : "");
		assert_true(len < cap);
	}
	archive_read_free(a);
	return out;
}

static void test_whiteouts_and_opaque(void **state)
{
	struct lfs_node dir = mknode(S_IFDIR | 0755, 0), wh = mknode(S_IFCHR, 0),
			chr00 = mknode(S_IFCHR | 0644, 0), file = mknode(S_IFREG | 0644, 5),
			sock = mknode(S_IFSOCK | 0755, 0);
	struct lfs_wentry ents[] = {
	    {"c", &file, 0}, {"b", &chr00, 0}, {"a/x", &wh, 0},
	    {"a", &dir, 1},  {"s", &sock, 0},  {"e", &dir, 1}, /* e hides: marker too */
	};
	struct lfs_wlayer_result res;
	char *path, *l;

	(void)state;
	wh.flags = LFS_NF_WHITEOUT;
	path = write_ents(ents, LFS_ARRAY_SIZE(ents), LFS_WCOMP_NONE, 0, -1, &res);
	l = listing(path);
	assert_string_equal(l, "d a/\n"
			       "f a/.wh..wh..opq\n"
			       "f a/.wh.x\n"
			       "f .wh.b\n"
			       "f c\n"
			       "d e/\n"
			       "f e/.wh..wh..opq\n");
	free(l);
	free(path);
}

static void test_xattrs_filtered(void **state)
{
	static const char cap[20] = {1, 0, 0, 2};
	struct lfs_xattrs *x = calloc(1, sizeof(*x) + 5 * sizeof(struct lfs_xattr));
	struct lfs_node file = mknode(S_IFREG | 0644, 3);
	struct lfs_wentry ents[] = {{"f", &file, 0}};
	struct lfs_wlayer_result res;
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	const char *name;
	const void *val;
	size_t vlen;
	int seen_user = 0, seen_cap = 0, other = 0;
	char *path;

	(void)state;
	x->n = 5;
	x->x[0] = (struct lfs_xattr){"user.keep", "v", 1};
	x->x[1] = (struct lfs_xattr){"user.overlay.opaque", "y", 1};
	x->x[2] = (struct lfs_xattr){"trusted.overlay.origin", "o", 1};
	x->x[3] = (struct lfs_xattr){"security.capability", cap, sizeof(cap)};
	x->x[4] = (struct lfs_xattr){"security.selinux", "host_t", 6};
	file.xattrs = x;
	path = write_ents(ents, 1, LFS_WCOMP_GZIP, 0, -1, &res);
	archive_read_support_filter_all(a);
	archive_read_support_format_all(a);
	assert_int_equal(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
	assert_int_equal(archive_read_next_header(a, &e), ARCHIVE_OK);
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &val, &vlen) == ARCHIVE_OK) {
		if (!strcmp(name, "user.keep") && vlen == 1 && !memcmp(val, "v", 1))
			seen_user++;
		else if (!strcmp(name, "security.capability") && vlen == sizeof(cap) &&
			 !memcmp(val, cap, sizeof(cap)))
			seen_cap++;
		else
			other++;
	}
	archive_read_free(a);
	assert_int_equal(seen_user, 1);
	assert_int_equal(seen_cap, 1);
	assert_int_equal(other, 0);
	assert_false(lfs_write_keep_xattr("trusted.overlay.opaque"));
	assert_false(lfs_write_keep_xattr("user.overlay.redirect"));
	assert_true(lfs_write_keep_xattr("user.mime_type"));
	free(path);
	free(x);
}

static void test_hardlinks_once(void **state)
{
	struct lfs_node file = mknode(S_IFREG | 0644, 13);
	struct lfs_wentry ents[] = {{"z", &file, 0}, {"b/y", &file, 0}, {"a", &file, 0}};
	struct lfs_wlayer_result res;
	char *path, *l;

	(void)state;
	file.nlink = 3;
	path = write_ents(ents, 3, LFS_WCOMP_NONE, 0, -1, &res);
	l = listing(path);
	assert_string_equal(l, "f a\nh b/y -> a\nh z -> a\n");
	/* the data once: 3 headers + 1 data block + padding, under 4 blocks of data */
	assert_true(res.plain_size <= 10240);
	free(l);
	free(path);
}

/* gunzip the file at PATH and return the sha256 of the result. */
static void gunzip_digest(const char *path, char out[72])
{
	gzFile g = gzopen(path, "rb");
	struct sha256_ctx c;
	uint8_t sha[32];
	char buf[65536];
	int n;

	assert_non_null(g);
	sha256_init(&c);
	while ((n = gzread(g, buf, sizeof(buf))) > 0)
		sha256_update(&c, (size_t)n, (const uint8_t *)buf);
	assert_true(n == 0);
	gzclose(g);
	sha256_digest(&c, 32, sha);
	lfs_digest_format(sha, out);
}

static void test_deterministic(void **state)
{
	/* a big file (several gzip blocks), so that the threads share the work */
	struct lfs_node big = mknode(S_IFREG | 0600, 5u << 20), dir = mknode(S_IFDIR | 0700, 0);
	struct lfs_wentry e1[] = {{"d/big", &big, 0}, {"d", &dir, 0}};
	struct lfs_wentry e2[] = {{"d", &dir, 0}, {"d/big", &big, 0}};
	struct lfs_wlayer_result r1, r2, r3, rz1, rz2;
	char *p1, *p2, *p3, *pz1, *pz2, d[72];

	(void)state;
	big.mtime_nsec = 123456789;
	p1 = write_ents(e1, 2, LFS_WCOMP_GZIP, 1, -1, &r1);
	p2 = write_ents(e2, 2, LFS_WCOMP_GZIP, 4, -1, &r2);
	p3 = write_ents(e2, 2, LFS_WCOMP_GZIP, 0, -1, &r3);
	assert_string_equal(r1.digest, r2.digest);
	assert_string_equal(r1.digest, r3.digest);
	assert_string_equal(r1.diff_id, r2.diff_id);
	file_digest(p1, d);
	assert_string_equal(d, r1.digest);
	gunzip_digest(p1, d);
	assert_string_equal(d, r1.diff_id);
	pz1 = write_ents(e1, 2, LFS_WCOMP_ZSTD, 1, -1, &rz1);
	pz2 = write_ents(e2, 2, LFS_WCOMP_ZSTD, 3, -1, &rz2);
	assert_string_equal(rz1.digest, rz2.digest);
	assert_string_equal(rz1.diff_id, r1.diff_id);
	assert_string_equal(rz1.media_type, "application/vnd.oci.image.layer.v1.tar+zstd");
	file_digest(pz1, d);
	assert_string_equal(d, rz1.digest);
	free(p1);
	free(p2);
	free(p3);
	free(pz1);
	free(pz2);
}

static void test_clamp(void **state)
{
	struct lfs_node old = mknode(S_IFREG | 0644, 0), young = mknode(S_IFREG | 0644, 0);
	struct lfs_wentry ents[] = {{"old", &old, 0}, {"young", &young, 0}};
	struct lfs_wlayer_result res;
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char *path;

	(void)state;
	old.mtime_sec = 100;
	young.mtime_sec = 2000000000;
	young.mtime_nsec = 5;
	path = write_ents(ents, 2, LFS_WCOMP_NONE, 0, 1000, &res);
	archive_read_support_format_all(a);
	assert_int_equal(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
	assert_int_equal(archive_read_next_header(a, &e), ARCHIVE_OK);
	assert_int_equal(archive_entry_mtime(e), 100);
	assert_int_equal(archive_read_next_header(a, &e), ARCHIVE_OK);
	assert_int_equal(archive_entry_mtime(e), 1000);
	assert_int_equal(archive_entry_mtime_nsec(e), 0);
	archive_read_free(a);
	free(path);
}

/* An upper directory in both whiteout forms, read as a layer. */
static void test_upper_both_forms(void **state)
{
	char dir[4096], p[4200];
	struct lfs_layer *l;
	struct lfs_node *n;
	int can_mknod;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/upper", tu_tmpdir());
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(p, sizeof(p), "%s/chr", dir);
	can_mknod = mknod(p, S_IFCHR, makedev(0, 0)) == 0;
	snprintf(p, sizeof(p), "%s/.wh.file", dir);
	assert_int_equal(close(open(p, O_CREAT | O_WRONLY, 0)), 0);
	snprintf(p, sizeof(p), "%s/opqx", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	if (setxattr(p, "user.overlay.opaque", "y", 1, 0) < 0)
		skip();
	snprintf(p, sizeof(p), "%s/opqf", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/opqf/.wh..wh..opq", dir);
	assert_int_equal(close(open(p, O_CREAT | O_WRONLY, 0)), 0);
	snprintf(p, sizeof(p), "%s/plain", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(lfs_upper_layer(&l, dir, 3), 0);
	n = lfs_node_walk(l->root, "file");
	assert_non_null(n);
	assert_true(n->flags & LFS_NF_WHITEOUT);
	assert_null(lfs_node_walk(l->root, ".wh.file"));
	if (can_mknod) {
		n = lfs_node_walk(l->root, "chr");
		assert_non_null(n);
		assert_true(n->flags & LFS_NF_WHITEOUT);
	}
	assert_true(lfs_node_walk(l->root, "opqx")->flags & LFS_NF_OPAQUE);
	assert_true(lfs_node_walk(l->root, "opqf")->flags & LFS_NF_OPAQUE);
	assert_false(lfs_node_walk(l->root, "plain")->flags & LFS_NF_OPAQUE);
	assert_int_equal(lfs_node_walk(l->root, "plain")->layer, 3);
	lfs_layer_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_whiteouts_and_opaque),
	    cmocka_unit_test(test_xattrs_filtered),
	    cmocka_unit_test(test_hardlinks_once),
	    cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_clamp),
	    cmocka_unit_test(test_upper_both_forms),
	};
	int rc;

	lfs_quiet = 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	tu_cleanup();
	return rc;
}
