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

#include "layer.h"
#include "lfs.h"
#include "core.h"
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
	};
	int rc;

	lfs_quiet = 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	tu_cleanup();
	return rc;
}
