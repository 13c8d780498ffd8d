/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of layer indexing: data offsets for every tar flavour (pax,
 * GNU long names, sparse files), whiteouts, opaque markers, hard links,
 * hostile paths, and damaged archives that must fail instead of indexing
 * part of a layer.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "layerfs/layer.h"
#include "layerfs/lfs.h"
#include "layerfs/core.h"
#include "testutil.h"

struct tarw {
	struct archive *a;
	char *path;
};

static struct tarw tar_begin(const char *name, int format)
{
	struct tarw t;
	size_t n = strlen(tu_tmpdir()) + strlen(name) + 2;

	t.path = malloc(n);
	snprintf(t.path, n, "%s/%s", tu_tmpdir(), name);
	t.a = archive_write_new();
	archive_write_set_format(t.a, format);
	assert_int_equal(archive_write_open_filename(t.a, t.path), ARCHIVE_OK);
	return t;
}

static void tar_add(struct tarw *t, const char *path, mode_t type, mode_t perm, const char *data,
		    size_t len, const char *link)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_uid(e, 1000);
	archive_entry_set_gid(e, 100);
	archive_entry_set_mtime(e, 1700000000, 123456789);
	if (type == AE_IFLNK)
		archive_entry_set_symlink(e, link);
	if (type == AE_IFREG && link) {
		archive_entry_set_hardlink(e, link);
		len = 0;
	}
	archive_entry_set_size(e, (la_int64_t)len);
	assert_int_equal(archive_write_header(t->a, e), ARCHIVE_OK);
	if (len)
		assert_int_equal(archive_write_data(t->a, data, len), (la_ssize_t)len);
	archive_entry_free(e);
}

static void tar_end(struct tarw *t)
{
	assert_int_equal(archive_write_close(t->a), ARCHIVE_OK);
	archive_write_free(t->a);
}

static int hash_content;

static struct lfs_layer *index_file(const char *path, int expect_rc)
{
	struct lfs_layer_opts o = {.hash_content = hash_content};
	struct lfs_layer_desc d = {0};
	struct lfs_layer *l = NULL;
	struct stat st;
	int fd = open(path, O_RDONLY), rc;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	d.name = (char *)path;
	d.fd = fd;
	d.len = (uint64_t)st.st_size;
	rc = lfs_layer_index(&l, &d, 0, &o);
	close(fd);
	if (expect_rc)
		assert_int_equal(rc, expect_rc);
	else if (rc)
		fail_msg("indexing %s failed: %s", path, lfs_err_get());
	return l;
}

static struct lfs_node *find(struct lfs_layer *l, const char *path)
{
	return lfs_node_walk(l->root, path);
}

/* The bytes the index says the entry has, read back through the blob. */
static void assert_content(struct lfs_layer *l, const char *path, const char *want, size_t len)
{
	struct lfs_node *n = find(l, path);
	char *buf = malloc(len + 1);

	assert_non_null(n);
	assert_int_equal(n->size, len);
	assert_int_equal(lfs_blob_pread(l->blob, buf, len, n->data_off), (ssize_t)len);
	assert_memory_equal(buf, want, len);
	free(buf);
}

static char *pattern(size_t len, unsigned seed)
{
	char *p = malloc(len + 1);

	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = (char)('a' + (seed >> 16) % 26);
	}
	p[len] = 0;
	return p;
}

static void test_offsets_pax_and_gnu(void **state)
{
	static const int formats[] = {ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
				      ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE, ARCHIVE_FORMAT_TAR_GNUTAR,
				      ARCHIVE_FORMAT_TAR_USTAR};
	char longname[400];

	(void)state;
	memset(longname, 0, sizeof(longname));
	for (int i = 0; i < 3; i++)
		memset(longname + i * 91, 'a' + i, 90), longname[i * 91 + 90] = '/';
	strcat(longname, "file-with-a-long-name-that-needs-an-extension");
	for (size_t f = 0; f < LFS_ARRAY_SIZE(formats); f++) {
		char name[32];
		struct tarw t;
		char *big = pattern(70000, (unsigned)f), *small = pattern(10, 99);
		struct lfs_layer *l;
		int ustar = formats[f] == ARCHIVE_FORMAT_TAR_USTAR;

		snprintf(name, sizeof(name), "fmt%zu.tar", f);
		t = tar_begin(name, formats[f]);
		tar_add(&t, "dir/", AE_IFDIR, 0755, NULL, 0, NULL);
		tar_add(&t, "dir/big", AE_IFREG, 0644, big, 70000, NULL);
		if (!ustar)
			tar_add(&t, longname, AE_IFREG, 0600, small, 10, NULL);
		tar_add(&t, "dir/empty", AE_IFREG, 0644, NULL, 0, NULL);
		tar_add(&t, "dir/small", AE_IFREG, 0644, small, 10, NULL);
		tar_end(&t);
		l = index_file(t.path, 0);
		assert_content(l, "dir/big", big, 70000);
		assert_content(l, "dir/small", small, 10);
		assert_content(l, "dir/empty", "", 0);
		if (!ustar)
			assert_content(l, longname, small, 10);
		/* Only full pax headers carry sub-second times. */
		if (formats[f] == ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE)
			assert_int_equal(find(l, "dir/big")->mtime_nsec, 123456789);
		assert_int_equal(find(l, "dir/big")->uid, 1000);
		assert_int_equal(find(l, "dir/big")->mode, S_IFREG | 0644);
		assert_int_equal(find(l, "dir")->flags & LFS_NF_IMPLIED, 0);
		lfs_layer_free(l);
		free(big);
		free(small);
		free(t.path);
	}
}

/* GNU tar writes sparse files in its own ways; the map must line up with the data. */
static void test_sparse(void **state)
{
	static const char *const fmts[] = {"gnu", "pax"};
	char cmd[1024];

	(void)state;
	for (size_t f = 0; f < LFS_ARRAY_SIZE(fmts); f++) {
		char *src, *tarpath, *want, *got;
		struct lfs_layer *l;
		struct lfs_node *n;
		struct lfs_core core = {0};
		struct lfs_layer *layers[1];
		int fd;
		size_t len = 3 << 20;

		snprintf(cmd, sizeof(cmd), "sparse-%s", fmts[f]);
		src = tu_write(cmd, "", 0);
		fd = open(src, O_WRONLY);
		want = calloc(1, len);
		memcpy(want + 4096, "hello", 5);
		memcpy(want + (2 << 20), "world", 5);
		memcpy(want + len - 3, "end", 3);
		assert_int_equal(pwrite(fd, "hello", 5, 4096), 5);
		assert_int_equal(pwrite(fd, "world", 5, 2 << 20), 5);
		assert_int_equal(pwrite(fd, "end", 3, (off_t)len - 3), 3);
		close(fd);
		tarpath = malloc(strlen(src) + 8);
		sprintf(tarpath, "%s.tar", src);
		snprintf(cmd, sizeof(cmd), "tar -C '%s' --sparse --format=%s -cf '%s' sparse-%s",
			 tu_tmpdir(), fmts[f], tarpath, fmts[f]);
		assert_int_equal(system(cmd), 0);
		l = index_file(tarpath, 0);
		snprintf(cmd, sizeof(cmd), "sparse-%s", fmts[f]);
		n = find(l, cmd);
		assert_non_null(n);
		assert_int_equal(n->size, len);
		assert_non_null(n->sparse);
		layers[0] = l;
		core.layers = layers;
		core.nlayers = 1;
		got = malloc(len);
		assert_int_equal(lfs_core_read(&core, n, got, len, 0), (ssize_t)len);
		assert_memory_equal(got, want, len);
		assert_int_equal(lfs_core_read(&core, n, got, 100, (2 << 20) - 50), 100);
		assert_memory_equal(got, want + (2 << 20) - 50, 100);
		lfs_layer_free(l);
		free(got);
		free(want);
		free(tarpath);
		free(src);
	}
}

static void test_whiteouts_and_markers(void **state)
{
	struct tarw t = tar_begin("wh.tar", ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	struct lfs_layer *l;
	struct archive_entry *e;

	(void)state;
	tar_add(&t, "./etc/.wh.shadow", AE_IFREG, 0644, NULL, 0, NULL);
	tar_add(&t, "var/cache/.wh..wh..opq", AE_IFREG, 0644, NULL, 0, NULL);
	tar_add(&t, "var/cache/keep", AE_IFREG, 0644, "k", 1, NULL);
	/* overlayfs' own forms: a 0:0 character device and an opaque xattr */
	tar_add(&t, "usr/gone", AE_IFCHR, 0, NULL, 0, NULL);
	e = archive_entry_new();
	archive_entry_set_pathname(e, "opt/");
	archive_entry_set_filetype(e, AE_IFDIR);
	archive_entry_set_perm(e, 0700);
	archive_entry_xattr_add_entry(e, "trusted.overlay.opaque", "y", 1);
	archive_entry_xattr_add_entry(e, "user.keep", "v", 1);
	assert_int_equal(archive_write_header(t.a, e), ARCHIVE_OK);
	archive_entry_free(e);
	tar_add(&t, "/abs/path", AE_IFREG, 0644, "x", 1, NULL);
	tar_add(&t, "../escape", AE_IFREG, 0644, "x", 1, NULL);
	tar_add(&t, "a/../../escape2", AE_IFREG, 0644, "x", 1, NULL);
	tar_add(&t, "x/.wh..", AE_IFREG, 0644, NULL, 0, NULL);
	tar_end(&t);
	l = index_file(t.path, 0);
	assert_true(find(l, "etc/shadow")->flags & LFS_NF_WHITEOUT);
	assert_null(find(l, "etc/.wh.shadow"));
	assert_true(find(l, "etc")->flags & LFS_NF_IMPLIED);
	assert_true(find(l, "var/cache")->flags & LFS_NF_OPAQUE);
	assert_null(find(l, "var/cache/.wh..wh..opq"));
	assert_non_null(find(l, "var/cache/keep"));
	assert_true(find(l, "usr/gone")->flags & LFS_NF_WHITEOUT);
	assert_true(find(l, "opt")->flags & LFS_NF_OPAQUE);
	/* overlay xattrs are consumed, others kept */
	assert_non_null(find(l, "opt")->xattrs);
	assert_int_equal(find(l, "opt")->xattrs->n, 1);
	assert_string_equal(find(l, "opt")->xattrs->x[0].name, "user.keep");
	assert_content(l, "abs/path", "x", 1);
	assert_null(find(l, "escape"));
	assert_null(find(l, "escape2"));
	assert_int_equal(find(l, "x")->dir->live, 0);
	lfs_layer_free(l);
	free(t.path);
}

static void test_later_entry_wins_and_hardlinks(void **state)
{
	struct tarw t = tar_begin("hl.tar", ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	struct lfs_layer *l;

	(void)state;
	tar_add(&t, "a", AE_IFREG, 0644, "first", 5, NULL);
	tar_add(&t, "b", AE_IFREG, 0644, NULL, 0, "a");
	tar_add(&t, "c", AE_IFREG, 0644, NULL, 0, "./a");
	tar_add(&t, "a", AE_IFREG, 0600, "second", 6, NULL);
	tar_add(&t, "d/x", AE_IFREG, 0644, "dx", 2, NULL);
	tar_add(&t, "e", AE_IFREG, 0644, NULL, 0, "d/x");
	/* a non-directory replacing a directory drops the subtree and its names */
	tar_add(&t, "d", AE_IFLNK, 0777, NULL, 0, "target");
	tar_end(&t);
	l = index_file(t.path, 0);
	assert_content(l, "a", "second", 6);
	assert_content(l, "b", "first", 5);
	assert_ptr_equal(find(l, "b"), find(l, "c"));
	assert_int_equal(find(l, "b")->nlink, 2);
	assert_int_equal(find(l, "a")->nlink, 1);
	assert_int_equal(find(l, "e")->nlink, 1);
	assert_true(S_ISLNK(find(l, "d")->mode));
	assert_string_equal(find(l, "d")->link, "target");
	assert_int_equal(find(l, "d")->size, 6);
	lfs_layer_free(l);
	free(t.path);
}

static void test_bad_hardlink(void **state)
{
	struct tarw t = tar_begin("badhl.tar", ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);

	(void)state;
	tar_add(&t, "b", AE_IFREG, 0644, NULL, 0, "missing");
	tar_end(&t);
	assert_null(index_file(t.path, -EINVAL));
	assert_non_null(strstr(lfs_err_get(), "missing"));
	free(t.path);
}

static char *corrupt_copy(const char *path, const char *name, long off, int truncate_to)
{
	size_t len;
	char *data = tu_read(path, &len), *out;

	if (truncate_to >= 0)
		len = (size_t)truncate_to;
	else
		data[off] ^= 0x5a;
	out = tu_write(name, data, len);
	free(data);
	return out;
}

static void test_damaged(void **state)
{
	struct tarw t = tar_begin("good.tar", ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	char *big = pattern(20000, 7), *p;

	(void)state;
	for (int i = 0; i < 20; i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%d", i);
		tar_add(&t, name, AE_IFREG, 0644, big, 20000, NULL);
	}
	tar_end(&t);
	/* Truncated in the middle of an entry's data. */
	p = corrupt_copy(t.path, "trunc.tar", 0, 100000);
	assert_null(index_file(p, -EIO));
	assert_non_null(strstr(lfs_err_get(), "trunc.tar"));
	free(p);
	/* A header checksum that does not match: libarchive would skip it (RETRY). */
	p = corrupt_copy(t.path, "cksum.tar", 3 * (512 + 20480) + 20, -1);
	assert_null(index_file(p, -EIO));
	free(p);
	/* Cut exactly at an entry boundary: only the missing end marker tells. */
	p = corrupt_copy(t.path, "boundary.tar", 0, 4 * (512 + 20480));
	assert_null(index_file(p, -EIO));
	assert_non_null(strstr(lfs_err_get(), "end-of-archive"));
	free(p);
	/* Empty. */
	p = tu_write("empty.tar", "", 0);
	assert_null(index_file(p, -EIO));
	free(p);
	/* Not a tar at all. */
	p = tu_write("notatar", "hello world, this is not a tar archive at all", 45);
	assert_null(index_file(p, -EIO));
	free(p);
	free(big);
	free(t.path);
}

static void test_content_hash(void **state)
{
	struct tarw t = tar_begin("hash.tar", ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	char *big = pattern(300000, 3);
	struct lfs_layer *l;

	(void)state;
	tar_add(&t, "a", AE_IFREG, 0644, big, 300000, NULL);
	tar_add(&t, "b", AE_IFREG, 0600, big, 300000, NULL);
	big[299999] ^= 1;
	tar_add(&t, "c", AE_IFREG, 0644, big, 300000, NULL);
	tar_add(&t, "d", AE_IFREG, 0644, NULL, 0, "a");
	tar_add(&t, "e", AE_IFREG, 0644, NULL, 0, NULL);
	tar_end(&t);
	hash_content = 1;
	l = index_file(t.path, 0);
	hash_content = 0;
	assert_non_null(find(l, "a")->hash);
	assert_memory_equal(find(l, "a")->hash, find(l, "b")->hash, sizeof(struct lfs_hash128));
	assert_memory_not_equal(find(l, "a")->hash, find(l, "c")->hash, sizeof(struct lfs_hash128));
	assert_ptr_equal(find(l, "a"), find(l, "d"));
	assert_non_null(find(l, "e")->hash);
	/* Reading the data to hash it must not move the offsets. */
	assert_content(l, "c", big, 300000);
	lfs_layer_free(l);
	free(big);
	free(t.path);
}

/* ---- hostile layers: malformed pax records, entries Linux cannot hold */

/* One ustar header block (the bytes written by hand: libarchive would not write bad records). */
static void ustar_block(char *b, const char *name, char type, size_t size)
{
	unsigned sum = 0;

	memset(b, 0, 512);
	snprintf(b, 100, "%s", name);
	memcpy(b + 100, "0000644", 7);
	snprintf(b + 124, 12, "%011zo", size);
	snprintf(b + 136, 12, "%011o", 1700000000u);
	b[156] = type;
	memcpy(b + 257, "ustar\00000", 8);
	memset(b + 148, ' ', 8);
	for (int i = 0; i < 512; i++)
		sum += (unsigned char)b[i];
	snprintf(b + 148, 8, "%06o", sum);
}

/* A pax record "LEN KEY=VALUE\n" with the right LEN (VALUE may hold a NUL). */
static size_t pax_rec(char *out, const char *key, const char *val, size_t vlen)
{
	size_t body = 1 + strlen(key) + 1 + vlen + 1, n = body + 1;

	while ((size_t)snprintf(NULL, 0, "%zu", n) + body != n)
		n++;
	sprintf(out, "%zu %s=", n, key);
	memcpy(out + strlen(out), val, vlen);
	out[n - 1] = '\n';
	return n;
}

/*
 * A layer: a pax header of type TYPE ('x' or 'g') holding REC[0, RLEN),
 * then the file "f" ("hello"), then a second clean file "g".
 */
static char *pax_layer(const char *name, char type, const char *rec, size_t rlen)
{
	size_t pad = (rlen + 511) & ~(size_t)511, len = 512 + pad + 4 * 512 + 1024;
	char *buf = calloc(1, len), *p = buf, *path;

	ustar_block(p, "PaxHeaders/f", type, rlen);
	memcpy(p + 512, rec, rlen);
	p += 512 + pad;
	ustar_block(p, "f", '0', 5);
	memcpy(p + 512, "hello", 5);
	p += 1024;
	ustar_block(p, "g", '0', 5);
	memcpy(p + 512, "world", 5);
	path = tu_write(name, buf, len);
	free(buf);
	return path;
}

static void test_bad_pax_records(void **state)
{
	static const struct {
		const char *key, *val;
		size_t vlen;	 /* 0: strlen */
		const char *raw; /* else the whole record text, as is */
		char type;
		const char *shown; /* in the message */
	} bad[] = {
	    {"uid", "4294967296", 0, NULL, 'x', "uid=4294967296"},
	    {"gid", "12345678901234567890123", 0, NULL, 'x', "gid=12345678901234567890123"},
	    {"uid", "-1", 0, NULL, 'x', "uid=-1"},
	    {"uid", "", 0, NULL, 'x', "uid="},
	    {"mtime", "abc", 0, NULL, 'x', "mtime=abc"},
	    {"mtime", "+5", 0, NULL, 'x', "mtime=+5"},
	    {"atime", ".5", 0, NULL, 'x', "atime=.5"},
	    {"ctime", "99999999999999999999", 0, NULL, 'x', "ctime=99999999999999999999"},
	    {"size", "5x", 0, NULL, 'x', "size=5x"},
	    {"path", "a\0b", 3, NULL, 'x', "path=a?b"},
	    {"linkpath", "a\0b", 3, NULL, 'x', "linkpath=a?b"},
	    {NULL, NULL, 0, "99 path=foo\n", 'x', "99 path=foo"},
	    {NULL, NULL, 0, "5 path=foo\n", 'x', "5 path=foo"},
	    {NULL, NULL, 0, "path=foo\n", 'x', "path=foo"},
	    {NULL, NULL, 0, "12 pathfoo1\n", 'x', "12 pathfoo1"},
	    {NULL, NULL, 0, "11 path=foo", 'x', "11 path=foo"},
	    {"uid", "4294967296", 0, NULL, 'g', "uid=4294967296"},
	};
	char rec[256], want[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n;
		char *path, name[32];

		if (bad[i].raw) {
			n = strlen(bad[i].raw);
			memcpy(rec, bad[i].raw, n);
		} else {
			n = pax_rec(rec, bad[i].key, bad[i].val,
				    bad[i].vlen ? bad[i].vlen : strlen(bad[i].val));
		}
		snprintf(name, sizeof(name), "badpax%zu.tar", i);
		path = pax_layer(name, bad[i].type, rec, n);
		if (index_file(path, -EIO))
			fail_msg("%s (%s) was accepted", name, bad[i].shown);
		/* one line naming the layer, the entry and the record */
		assert_non_null(strstr(lfs_err_get(), name));
		snprintf(want, sizeof(want), "'%s'", bad[i].shown);
		/* (libarchive cuts a path at the NUL: the entry is shown as it reads it) */
		if (!strstr(lfs_err_get(), want) ||
		    !strstr(lfs_err_get(),
			    bad[i].key && !strcmp(bad[i].key, "path") ? "'a'" : "'f'") ||
		    strchr(lfs_err_get(), '\n'))
			fail_msg("message for %s: %s", name, lfs_err_get());
		free(path);
	}
}

/* What GNU tar accepts we accept too, with the values it shows. */
static void test_good_pax_records(void **state)
{
	char rec[512];
	size_t n = 0;
	struct lfs_layer *l;
	char *path;

	(void)state;
	n += pax_rec(rec + n, "uid", "4294967295", 10);
	n += pax_rec(rec + n, "gid", "007", 3);
	n += pax_rec(rec + n, "mtime", "-1.25", 5);
	n += pax_rec(rec + n, "atime", "1700000000.", 11);
	n += pax_rec(rec + n, "ctime", "-9223372036854775808", 20);
	n += pax_rec(rec + n, "comment", "any\0thing", 9);
	path = pax_layer("goodpax.tar", 'x', rec, n);
	l = index_file(path, 0);
	assert_int_equal(find(l, "f")->uid, 4294967295u);
	assert_int_equal(find(l, "f")->gid, 7);
	assert_int_equal(find(l, "f")->mtime_sec, -2);
	assert_int_equal(find(l, "f")->mtime_nsec, 750000000);
	assert_content(l, "g", "world", 5);
	lfs_layer_free(l);
	free(path);
}

/*
 * Entries Linux cannot hold are skipped with a warning, as '..' entries are:
 * a name past NAME_MAX, a symlink target past a page, and (the entry kept)
 * an xattr with a name past XATTR_NAME_MAX or a value past XATTR_SIZE_MAX.
 */
static void test_unholdable(void **state)
{
	struct tarw t = tar_begin("unholdable.tar", ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	char *n256 = pattern(256, 1), *n255 = pattern(255, 2), *dir = malloc(300);
	char *target = pattern(70000, 3), *xname = malloc(310), *bigval = calloc(1, 65537);
	struct archive_entry *e = archive_entry_new();
	const struct lfs_node *f;
	struct lfs_layer *l;

	(void)state;
	tar_add(&t, n256, AE_IFREG, 0644, "x", 1, NULL);
	tar_add(&t, n255, AE_IFREG, 0644, "y", 1, NULL);
	snprintf(dir, 300, "%s/f", n256);
	tar_add(&t, dir, AE_IFREG, 0644, "z", 1, NULL);
	tar_add(&t, "hl", AE_IFREG, 0644, NULL, 0, n256);
	tar_add(&t, "longsym", AE_IFLNK, 0777, NULL, 0, target);
	target[4096] = '\0';
	tar_add(&t, "sym4096", AE_IFLNK, 0777, NULL, 0, target);
	target[4095] = '\0';
	tar_add(&t, "sym4095", AE_IFLNK, 0777, NULL, 0, target);
	tar_add(&t, "hs", AE_IFREG, 0644, NULL, 0, "longsym");
	memcpy(xname, "user.", 5);
	memset(xname + 5, 'n', 300);
	xname[305] = '\0';
	archive_entry_set_pathname(e, "xf");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_xattr_add_entry(e, xname, "v", 1);
	archive_entry_xattr_add_entry(e, "user.big", bigval, 65537);
	archive_entry_xattr_add_entry(e, "user.ok", "v", 1);
	assert_int_equal(archive_write_header(t.a, e), ARCHIVE_OK);
	archive_entry_free(e);
	tar_add(&t, "after", AE_IFREG, 0644, "w", 1, NULL);
	tar_end(&t);

	l = index_file(t.path, 0);
	assert_null(find(l, n256));
	assert_non_null(find(l, n255));
	assert_null(find(l, "hl"));
	assert_null(find(l, "longsym"));
	assert_null(find(l, "sym4096"));
	assert_null(find(l, "hs"));
	assert_non_null(find(l, "sym4095"));
	assert_int_equal(strlen(find(l, "sym4095")->link), 4095);
	f = find(l, "xf");
	assert_non_null(f);
	assert_non_null(f->xattrs);
	assert_int_equal(f->xattrs->n, 1);
	assert_string_equal(f->xattrs->x[0].name, "user.ok");
	assert_content(l, "after", "w", 1);
	lfs_layer_free(l);
	free(n256);
	free(n255);
	free(dir);
	free(target);
	free(xname);
	free(bigval);
	free(t.path);
}

/*
 * A hard link to a 0:0 character device: extracted by GNU tar, both names
 * are 0:0 devices, which the kernel's overlayfs takes as whiteouts.
 */
static void test_hardlink_to_whiteout(void **state)
{
	struct tarw t = tar_begin("hlwh.tar", ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	struct archive_entry *e = archive_entry_new();
	struct lfs_layer *l;

	(void)state;
	archive_entry_set_pathname(e, "wh");
	archive_entry_set_filetype(e, AE_IFCHR);
	archive_entry_set_rdev(e, 0);
	assert_int_equal(archive_write_header(t.a, e), ARCHIVE_OK);
	archive_entry_free(e);
	tar_add(&t, "wh2", AE_IFREG, 0644, NULL, 0, "wh");
	tar_add(&t, "after", AE_IFREG, 0644, "w", 1, NULL);
	tar_end(&t);
	l = index_file(t.path, 0);
	assert_true(find(l, "wh")->flags & LFS_NF_WHITEOUT);
	assert_non_null(find(l, "wh2"));
	assert_true(find(l, "wh2")->flags & LFS_NF_WHITEOUT);
	lfs_layer_free(l);
	free(t.path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_offsets_pax_and_gnu),
	    cmocka_unit_test(test_sparse),
	    cmocka_unit_test(test_whiteouts_and_markers),
	    cmocka_unit_test(test_later_entry_wins_and_hardlinks),
	    cmocka_unit_test(test_bad_hardlink),
	    cmocka_unit_test(test_damaged),
	    cmocka_unit_test(test_content_hash),
	    cmocka_unit_test(test_bad_pax_records),
	    cmocka_unit_test(test_good_pax_records),
	    cmocka_unit_test(test_unholdable),
	    cmocka_unit_test(test_hardlink_to_whiteout),
	};
	int rc;

	lfs_quiet = 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	tu_cleanup();
	return rc;
}
