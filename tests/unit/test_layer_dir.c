/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the directory front end: stacks built from plain
 * directories (no tar), merged as the kernel's overlayfs merges lowerdirs:
 * 0:0 character devices are whiteouts, the overlay opaque xattr hides the
 * layers below, ".wh." names are ordinary files, names of one inode are one
 * file, symlinks are never followed (not when walking, not when reading
 * data later), and xattrs are kept but overlay's own.  Mixed with a tar
 * layer too.  Whiteouts and trusted.* xattrs need root: skipped without.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "layerfs/core.h"
#include "layerfs/layer.h"
#include "layerfs/lfs.h"
#include "testutil.h"

static char *path_of(const char *rel)
{
	size_t n = strlen(tu_tmpdir()) + strlen(rel) + 2;
	char *p = malloc(n);

	snprintf(p, n, "%s/%s", tu_tmpdir(), rel);
	return p;
}

static void mkdirs(const char *rel)
{
	char *p = path_of(rel);

	for (char *s = p + strlen(tu_tmpdir()) + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		mkdir(p, 0755);
		*s = '/';
	}
	assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
	free(p);
}

static void put(const char *rel, const char *data)
{
	free(tu_write(rel, data, strlen(data)));
}

/* REL (below the temporary directory) becomes a symlink to TARGET. */
static void ln_s(const char *target, const char *rel)
{
	char *p = path_of(rel);

	assert_int_equal(symlink(target, p), 0);
	free(p);
}

/* Rename FROM to TO, both below the temporary directory. */
static void mv(const char *from, const char *to)
{
	char *a = path_of(from), *b = path_of(to);

	assert_int_equal(rename(a, b), 0);
	free(a);
	free(b);
}

static struct lfs_core *open_stack(char **srcs, size_t n)
{
	struct lfs_core_opts o = {.no_cache = 1, .jobs = 1, .keep_layers = 1};
	struct lfs_core *c = NULL;
	char *full[8];
	int rc;

	for (size_t i = 0; i < n; i++)
		full[i] = path_of(srcs[i]);
	rc = lfs_core_open(&c, full, n, &o);
	if (rc)
		fail_msg("opening the stack failed: %s", lfs_err_get());
	for (size_t i = 0; i < n; i++)
		free(full[i]);
	return c;
}

static struct lfs_node *at(struct lfs_core *c, const char *path)
{
	return lfs_node_walk(c->tree->root, path);
}

static void assert_data(struct lfs_core *c, const char *path, const char *want)
{
	struct lfs_node *n = at(c, path);
	char buf[256];
	size_t len = strlen(want);

	assert_non_null(n);
	assert_int_equal(n->size, len);
	assert_int_equal(lfs_core_read(c, n, buf, sizeof(buf), 0), (ssize_t)len);
	assert_memory_equal(buf, want, len);
	/* Only the middle, too. */
	if (len > 2) {
		assert_int_equal(lfs_core_read(c, n, buf, len - 2, 1), (ssize_t)(len - 2));
		assert_memory_equal(buf, want + 1, len - 2);
	}
}

static int is_root(void)
{
	return geteuid() == 0;
}

/* Whiteouts and opaque directories in overlayfs form; ".wh." names are files. */
static void test_whiteouts(void **state)
{
	char *srcs[] = {"w1", "w2"};
	struct lfs_core *c;
	char *p;

	(void)state;
	if (!is_root())
		skip();
	mkdirs("w1/a");
	mkdirs("w1/b/deep");
	put("w1/a/x", "x1");
	put("w1/a/y", "y1");
	put("w1/b/z", "z1");
	put("w1/b/deep/q", "q1");
	put("w1/keep", "keep1");
	mkdirs("w2/a");
	mkdirs("w2/b");
	p = path_of("w2/a/x");
	assert_int_equal(mknod(p, S_IFCHR | 0600, makedev(0, 0)), 0);
	free(p);
	p = path_of("w2/b");
	assert_int_equal(setxattr(p, "trusted.overlay.opaque", "y", 1, 0), 0);
	free(p);
	put("w2/b/new", "new2");
	put("w2/.wh.keep", "");
	put("w2/a/.wh..wh..opq", "");
	c = open_stack(srcs, 2);
	assert_null(at(c, "a/x"));
	assert_data(c, "a/y", "y1"); /* ".wh..wh..opq" is no marker in a lowerdir */
	assert_non_null(at(c, "a/.wh..wh..opq"));
	assert_null(at(c, "b/z"));
	assert_null(at(c, "b/deep"));
	assert_data(c, "b/new", "new2");
	assert_data(c, "keep", "keep1");
	assert_non_null(at(c, ".wh.keep"));
	/* The opaque xattr is consumed, not shown. */
	assert_null(at(c, "b")->xattrs);
	lfs_core_free(c);
}

/* Names of one inode are one node; data read through any of them. */
static void test_hardlinks(void **state)
{
	char *srcs[] = {"h1"};
	struct lfs_core *c;
	char *a, *b;

	(void)state;
	mkdirs("h1/d");
	put("h1/d/f", "linked data");
	put("h1/other", "other");
	a = path_of("h1/d/f");
	b = path_of("h1/g");
	assert_int_equal(link(a, b), 0);
	c = open_stack(srcs, 1);
	assert_ptr_equal(at(c, "d/f"), at(c, "g"));
	assert_int_equal(at(c, "g")->nlink, 2);
	assert_int_equal(at(c, "other")->nlink, 1);
	assert_true(at(c, "g")->ino != at(c, "other")->ino);
	assert_data(c, "g", "linked data");
	/* Read in place: a change shows (a directory layer is never cached). */
	put("h1/d/f", "LINKED DATA");
	assert_data(c, "g", "LINKED DATA");
	lfs_core_free(c);
	free(a);
	free(b);
}

/* Symlinks stay links: never descended, never followed to read data. */
static void test_symlinks(void **state)
{
	char *srcs[] = {"s1"};
	struct lfs_core *c;
	struct lfs_node *n;
	char *p, *q, buf[64];
	int fd;
	uint64_t pos;
	size_t len;

	(void)state;
	mkdirs("outside");
	put("outside/secret", "secret");
	mkdirs("s1/d");
	put("s1/d/f", "inside");
	p = path_of("outside");
	ln_s(p, "s1/out");
	ln_s("../outside/secret", "s1/rel");
	c = open_stack(srcs, 1);
	n = at(c, "out");
	assert_non_null(n);
	assert_true(S_ISLNK(n->mode));
	assert_string_equal(n->link, p);
	assert_null(at(c, "out/secret"));
	assert_true(S_ISLNK(at(c, "rel")->mode));
	assert_data(c, "d/f", "inside");
	/* Data comes through a read, not a borrowed fd. */
	assert_int_equal(lfs_core_data_fd(c, at(c, "d/f"), 0, 6, &fd, &pos, &len), -ENOTSUP);
	/* The file turned into a symlink after indexing: the read fails. */
	mv("s1/d/f", "s1/d/f.old");
	q = path_of("outside/secret");
	ln_s(q, "s1/d/f");
	assert_true(lfs_core_read(c, at(c, "d/f"), buf, sizeof(buf), 0) < 0);
	/* A directory on the way turned into a symlink: fails too. */
	mv("s1/d", "s1/d.old");
	mkdirs("outside/d");
	put("outside/d/f", "secret");
	free(q);
	q = path_of("outside/d");
	ln_s(q, "s1/d");
	assert_true(lfs_core_read(c, at(c, "d/f"), buf, sizeof(buf), 0) < 0);
	lfs_core_free(c);
	free(p);
	free(q);
}

/* Xattrs are kept, overlay's own are not; the root's metadata is the directory's. */
static void test_xattrs(void **state)
{
	char *srcs[] = {"x1"};
	struct lfs_core *c;
	const void *v;
	size_t len;
	char *p;
	struct stat st;

	(void)state;
	mkdirs("x1/d");
	put("x1/f", "f");
	p = path_of("x1/f");
	if (setxattr(p, "user.one", "1", 1, 0) < 0) {
		free(p);
		skip();
	}
	assert_int_equal(setxattr(p, "user.empty", "", 0, 0), 0);
	if (is_root())
		assert_int_equal(setxattr(p, "trusted.overlay.origin", "zz", 2, 0), 0);
	free(p);
	p = path_of("x1");
	assert_int_equal(chmod(p, 0710), 0);
	assert_int_equal(stat(p, &st), 0);
	c = open_stack(srcs, 1);
	assert_int_equal(lfs_core_getxattr(at(c, "f"), "user.one", &v, &len), 0);
	assert_int_equal(len, 1);
	assert_memory_equal(v, "1", 1);
	assert_int_equal(lfs_core_getxattr(at(c, "f"), "user.empty", &v, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(lfs_core_getxattr(at(c, "f"), "trusted.overlay.origin", &v, &len),
			 -ENODATA);
	assert_int_equal(c->tree->root->mode, S_IFDIR | 0710);
	lfs_core_free(c);
	free(p);
}

/* A directory layer over a tar layer, and a tar layer over a directory layer. */
static void test_mixed(void **state)
{
	char *srcs[] = {"m1", "m.tar", "m2"};
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	struct lfs_core *c;
	char *t = path_of("m.tar");

	(void)state;
	mkdirs("m1/etc");
	put("m1/etc/a", "a from dir");
	put("m1/etc/b", "b from dir");
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_filename(a, t), ARCHIVE_OK);
	archive_entry_set_pathname(e, "etc/.wh.b");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	archive_entry_clear(e);
	archive_entry_set_pathname(e, "etc/c");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, 10);
	assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(a, "c from tar", 10), 10);
	archive_entry_free(e);
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	mkdirs("m2/etc");
	put("m2/etc/a", "a from top");
	c = open_stack(srcs, 3);
	assert_data(c, "etc/a", "a from top");
	assert_null(at(c, "etc/b"));
	assert_data(c, "etc/c", "c from tar");
	lfs_core_free(c);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_whiteouts), cmocka_unit_test(test_hardlinks),
	    cmocka_unit_test(test_symlinks),  cmocka_unit_test(test_xattrs),
	    cmocka_unit_test(test_mixed),
	};
	int ret = cmocka_run_group_tests(tests, NULL, NULL);

	tu_cleanup();
	return ret;
}
