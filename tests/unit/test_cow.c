/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the copy-on-write layer (cow*.c, copyup.c) without FUSE and
 * without root: a core over two directory layers and a tree over a
 * temporary upper directory, driven through the lfs_cow_* calls, with the
 * upper directory checked on disk as the kernel's overlayfs would read it.
 * Copy-up (data, mode, owner, times, xattrs; built aside and renamed into
 * place: the work directory is empty afterwards, also when it fails), the
 * rename rules (EXDEV, RENAME_NOREPLACE, RENAME_EXCHANGE, whiteouts left
 * behind), whiteouts (unlink, rmdir, an opaque directory made over one) and
 * hard-link identity (a lower group copied up once).
 *
 * Every test runs twice: with the whiteouts the upper chose (0:0 character
 * devices where mknod of one is allowed: as root, or unprivileged on Linux
 * 5.8 and later) and with the OCI ".wh." files it falls back to.  As root
 * the lower files belong to another owner, and trusted.* xattrs are copied
 * too; without root those checks have nothing to differ and are left out.
 */
#include "config.h"

#include <dirent.h>
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
#include "layerfs/cow.h"
#include "cow_int.h"
#include "layerfs/lfs.h"
#include "testutil.h"

#define ROOT 1

/* The lower file F's times, owner (as root) and xattr. */
#define F_MTIME_SEC  1500000000
#define F_MTIME_NSEC 123456789
#define D_MTIME_SEC  1400000000
#define LOWER_UID    1234
#define LOWER_GID    5678

struct fix {
	int wh_files; /* force the OCI ".wh." whiteouts */
	int user_xattrs;
	char base[256];
	char l1[PATH_MAX], l2[PATH_MAX], up[PATH_MAX], wk[PATH_MAX], work[PATH_MAX];
	struct lfs_cow *w;
};

static int native = 0, oci = 1;

static int is_root(void)
{
	return geteuid() == 0;
}

/* ---- building the layers ---- */

static void path_in(char *buf, const char *dir, const char *rel)
{
	int r = snprintf(buf, PATH_MAX, "%s/%s", dir, rel);

	assert_true(r > 0 && r < PATH_MAX);
}

static void mk_dir(const char *dir, const char *rel)
{
	char p[PATH_MAX];

	path_in(p, dir, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void mk_file(const char *dir, const char *rel, const char *data, mode_t mode)
{
	char p[PATH_MAX];
	int fd;

	path_in(p, dir, rel);
	fd = open(p, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void set_mtime(const char *dir, const char *rel, time_t sec, long nsec)
{
	struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
	char p[PATH_MAX];

	path_in(p, dir, rel);
	assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
}

/*
 * L1 (bottom): f, g, h1 = h2 = d/h3, d/a, d/sub/x, e/ (empty), sym -> f.
 * L2 (top): d/b, so that d is merged from both.
 */
static void build_layers(struct fix *f)
{
	char p[PATH_MAX], q[PATH_MAX];

	mk_dir(f->l1, "");
	mk_dir(f->l2, "");
	mk_file(f->l1, "f", "lower data\n", 0640);
	mk_file(f->l1, "g", "gee\n", 0644);
	mk_dir(f->l1, "d");
	mk_file(f->l1, "d/a", "aaa", 0644);
	mk_dir(f->l1, "d/sub");
	mk_file(f->l1, "d/sub/x", "x", 0644);
	mk_dir(f->l1, "e");
	mk_file(f->l1, "h1", "linked\n", 0644);
	path_in(p, f->l1, "h1");
	path_in(q, f->l1, "h2");
	assert_int_equal(link(p, q), 0);
	path_in(q, f->l1, "d/h3");
	assert_int_equal(link(p, q), 0);
	path_in(p, f->l1, "sym");
	assert_int_equal(symlink("f", p), 0);
	mk_dir(f->l2, "d");
	mk_file(f->l2, "d/b", "bbb", 0644);

	path_in(p, f->l1, "f");
	f->user_xattrs = setxattr(p, "user.k", "v", 1, 0) == 0;
	if (is_root()) {
		assert_int_equal(setxattr(p, "trusted.lfs", "t", 1, 0), 0);
		assert_int_equal(chown(p, LOWER_UID, LOWER_GID), 0);
	}
	set_mtime(f->l1, "f", F_MTIME_SEC, F_MTIME_NSEC);
	set_mtime(f->l1, "d", D_MTIME_SEC - 1, 0);
	set_mtime(f->l2, "d", D_MTIME_SEC, 0);
}

/* A core over L1 and L2, and the tree over the upper directory. */
static void open_tree(struct fix *f)
{
	struct lfs_core_opts co = {.no_cache = 1, .jobs = 1};
	struct lfs_cow_opts wo = {.upper = f->up, .work = f->wk};
	char *srcs[2] = {f->l1, f->l2};
	struct lfs_core *core = NULL;

	if (lfs_core_open(&core, srcs, 2, &co) != 0)
		fail_msg("opening the layers failed: %s", lfs_err_get());
	if (lfs_cow_open(&f->w, core, &wo) != 0)
		fail_msg("opening the upper directory failed: %s", lfs_err_get());
	if (f->wh_files)
		f->w->up.wh_files = 1;
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->wh_files = *(const int *)*state;
	snprintf(f->base, sizeof(f->base), "%s/cow.XXXXXX", tu_tmpdir());
	assert_non_null(mkdtemp(f->base));
	path_in(f->l1, f->base, "l1");
	path_in(f->l2, f->base, "l2");
	path_in(f->up, f->base, "up");
	path_in(f->wk, f->base, "wk");
	path_in(f->work, f->wk, "work");
	build_layers(f);
	open_tree(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	lfs_cow_close(f->w);
	lfs_upper_rmtree(AT_FDCWD, f->base);
	free(f);
	return 0;
}

/* Close the tree and open it again over what it left in the upper directory. */
static void reopen(struct fix *f)
{
	lfs_cow_close(f->w);
	f->w = NULL;
	open_tree(f);
}

/* ---- the tree ---- */

/* The node at PATH (below the root), or NULL with *RC set. */
static struct lfs_node *walk(struct fix *f, const char *path, int *rc)
{
	char buf[PATH_MAX], *save = NULL;
	struct lfs_node *n = lfs_cow_node(f->w, ROOT);
	struct stat st;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		struct lfs_node *next = NULL;
		int r = lfs_cow_lookup(f->w, n->ino, c, &next, &st);

		if (r < 0) {
			if (rc)
				*rc = r;
			return NULL;
		}
		assert_int_equal(st.st_ino, next->ino);
		n = next;
	}
	if (rc)
		*rc = 0;
	return n;
}

static struct lfs_node *at(struct fix *f, const char *path)
{
	int rc;
	struct lfs_node *n = walk(f, path, &rc);

	if (!n)
		fail_msg("%s: %s", path, strerror(-rc));
	return n;
}

static int lookup_rc(struct fix *f, const char *path)
{
	int rc;

	walk(f, path, &rc);
	return rc;
}

static uint64_t ino_of(struct fix *f, const char *path)
{
	return at(f, path)->ino;
}

static struct stat attr_of(struct fix *f, const char *path)
{
	struct stat st;

	assert_int_equal(lfs_cow_getattr(f->w, at(f, path), &st), 0);
	return st;
}

/* What reading PATH through the tree gives (NUL-terminated in BUF). */
static const char *data_of(struct fix *f, const char *path, char *buf, size_t size)
{
	struct lfs_node *n = at(f, path);
	ssize_t r;
	int fd;

	assert_int_equal(lfs_cow_open_file(f->w, n, O_RDONLY, &fd), 0);
	r = fd >= 0 ? pread(fd, buf, size - 1, 0) : lfs_cow_read(f->w, n, buf, size - 1, 0);
	assert_true(r >= 0);
	buf[r] = '\0';
	lfs_cow_release(f->w, n, fd);
	return buf;
}

static void assert_data(struct fix *f, const char *path, const char *want)
{
	char buf[256];

	assert_string_equal(data_of(f, path, buf, sizeof(buf)), want);
}

struct names {
	char v[32][NAME_MAX + 1];
	int n;
	char all[1024];
};

static int collect(void *ctx, const char *name, const struct stat *st, uint64_t next)
{
	struct names *l = ctx;

	(void)st;
	(void)next;
	assert_true(l->n < 32);
	snprintf(l->v[l->n++], sizeof(l->v[0]), "%s", name);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The names readdir gives in directory PATH, sorted, each followed by '/'. */
static const char *list(struct fix *f, const char *path, struct names *l)
{
	size_t len = 0;

	l->n = 0;
	assert_int_equal(lfs_cow_readdir(f->w, at(f, path), 0, 0, collect, l), 0);
	qsort(l->v, (size_t)l->n, sizeof(l->v[0]), by_name);
	l->all[0] = '\0';
	for (int i = 0; i < l->n; i++)
		len += (size_t)snprintf(l->all + len, sizeof(l->all) - len, "%s/", l->v[i]);
	return l->all;
}

/* Does readdir of directory DIR give NAME? */
static int listed(struct fix *f, const char *dir, const char *name)
{
	struct names l;

	list(f, dir, &l);
	for (int i = 0; i < l.n; i++)
		if (!strcmp(l.v[i], name))
			return 1;
	return 0;
}

/* Split PATH into its parent's inode number and its last name. */
static uint64_t parent_of(struct fix *f, const char *path, const char **name)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (!slash) {
		*name = path;
		return ROOT;
	}
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	*name = slash + 1;
	return ino_of(f, dir);
}

static int do_unlink(struct fix *f, const char *path, int dir)
{
	const char *name;
	uint64_t p = parent_of(f, path, &name);

	return lfs_cow_unlink(f->w, p, name, dir);
}

static int do_rename(struct fix *f, const char *from, const char *to, unsigned flags)
{
	const char *n1, *n2;
	uint64_t p1 = parent_of(f, from, &n1), p2 = parent_of(f, to, &n2);

	return lfs_cow_rename(f->w, p1, n1, p2, n2, flags);
}

static struct lfs_node *do_create(struct fix *f, const char *path, mode_t mode, const char *data)
{
	struct lfs_cow_new nw = {.mode = mode, .flags = O_RDWR, .uid = geteuid(), .gid = getegid()};
	struct lfs_node *n = NULL;
	const char *name;
	uint64_t p = parent_of(f, path, &name);
	struct stat st;
	int fd;

	assert_int_equal(lfs_cow_create(f->w, p, name, &nw, &n, &st, &fd), 0);
	assert_int_equal(st.st_ino, n->ino);
	if (data)
		assert_int_equal(pwrite(fd, data, strlen(data), 0), (ssize_t)strlen(data));
	if (fd >= 0)
		lfs_cow_release(f->w, n, fd);
	return n;
}

/* Open PATH for writing (a copy-up), write DATA at the start, close. */
static void write_at(struct fix *f, const char *path, const char *data, int flags)
{
	struct lfs_node *n = at(f, path);
	int fd;

	assert_int_equal(lfs_cow_open_file(f->w, n, O_WRONLY | flags, &fd), 0);
	assert_true(fd >= 0);
	if (data)
		assert_int_equal(pwrite(fd, data, strlen(data), 0), (ssize_t)strlen(data));
	lfs_cow_release(f->w, n, fd);
}

/* ---- the upper directory on disk ---- */

static int up_stat(struct fix *f, const char *rel, struct stat *st)
{
	char p[PATH_MAX];

	path_in(p, f->up, rel);
	return lstat(p, st);
}

/* REL's ".wh." name. */
static void wh_path(struct fix *f, const char *rel, char *p)
{
	const char *slash = strrchr(rel, '/');
	int r;

	if (slash)
		r = snprintf(p, PATH_MAX, "%s/%.*s/.wh.%s", f->up, (int)(slash - rel), rel,
			     slash + 1);
	else
		r = snprintf(p, PATH_MAX, "%s/.wh.%s", f->up, rel);
	assert_true(r > 0 && r < PATH_MAX);
}

/* Is REL a whiteout in the format the upper writes (and not in the other)? */
static int up_whiteout(struct fix *f, const char *rel)
{
	char p[PATH_MAX];
	struct stat st, wst;
	int chr = up_stat(f, rel, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
	int file;

	wh_path(f, rel, p);
	file = lstat(p, &wst) == 0 && S_ISREG(wst.st_mode);
	if (f->w->up.wh_files)
		return file && up_stat(f, rel, &st) < 0;
	return chr && !file;
}

/* Nothing at all at REL in the upper: no entry, no whiteout of either form. */
static int up_absent(struct fix *f, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	wh_path(f, rel, p);
	return up_stat(f, rel, &st) < 0 && errno == ENOENT && lstat(p, &st) < 0;
}

/* A real entry of type TYPE at REL, and no ".wh." file beside it. */
static int up_is(struct fix *f, const char *rel, mode_t type)
{
	char p[PATH_MAX];
	struct stat st, wst;

	wh_path(f, rel, p);
	return up_stat(f, rel, &st) == 0 && (st.st_mode & S_IFMT) == type && lstat(p, &wst) < 0;
}

static int up_opaque(struct fix *f, const char *rel)
{
	char p[PATH_MAX], v[4];

	path_in(p, f->up, rel);
	return lgetxattr(p, f->w->up.opaque_xattr, v, sizeof(v)) == 1 && v[0] == 'y';
}

static const char *up_data(struct fix *f, const char *rel, char *buf, size_t size)
{
	char p[PATH_MAX];
	ssize_t r;
	int fd;

	path_in(p, f->up, rel);
	fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	assert_true(fd >= 0);
	r = read(fd, buf, size - 1);
	assert_true(r >= 0);
	buf[r] = '\0';
	close(fd);
	return buf;
}

/* Entries left in the work directory (a copy-up builds there, then renames). */
static int work_entries(struct fix *f)
{
	DIR *d = opendir(f->work);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* ---- copy-up ---- */

/* A write copies the lower file up whole: data, mode, owner, times, xattrs. */
static void test_copyup_file(void **state)
{
	struct fix *f = *state;
	struct lfs_node *n = at(f, "f");
	struct stat low, st, up;
	char buf[64], p[PATH_MAX];
	ssize_t r;
	int fd;

	assert_int_equal(lfs_cow_getattr(f->w, n, &low), 0);
	assert_int_equal(low.st_mode, S_IFREG | 0640);
	assert_true(up_absent(f, "f"));

	assert_int_equal(lfs_cow_open_file(f->w, n, O_RDWR, &fd), 0);
	assert_true(fd >= 0);
	assert_true(up_is(f, "f", S_IFREG));
	assert_int_equal(work_entries(f), 0);
	assert_int_equal(up_stat(f, "f", &up), 0);
	assert_string_equal(up_data(f, "f", buf, sizeof(buf)), "lower data\n");
	assert_int_equal(up.st_mode, S_IFREG | 0640);
	assert_int_equal(up.st_uid, low.st_uid);
	assert_int_equal(up.st_gid, low.st_gid);
	if (is_root()) {
		assert_int_equal(up.st_uid, LOWER_UID);
		assert_int_equal(up.st_gid, LOWER_GID);
	}
	assert_int_equal(up.st_mtim.tv_sec, F_MTIME_SEC);
	assert_int_equal(up.st_mtim.tv_nsec, F_MTIME_NSEC);
	assert_int_equal(up.st_atim.tv_sec, F_MTIME_SEC);
	assert_int_equal(up.st_atim.tv_nsec, F_MTIME_NSEC);
	path_in(p, f->up, "f");
	if (f->user_xattrs) {
		assert_int_equal(lgetxattr(p, "user.k", buf, sizeof(buf)), 1);
		assert_memory_equal(buf, "v", 1);
		assert_int_equal(lfs_cow_getxattr(f->w, n, "user.k", buf, sizeof(buf)), 1);
		assert_memory_equal(buf, "v", 1);
	}
	if (is_root()) {
		assert_int_equal(lgetxattr(p, "trusted.lfs", buf, sizeof(buf)), 1);
		assert_memory_equal(buf, "t", 1);
	}

	/* The same node, now answered by its copy. */
	assert_int_equal(lfs_cow_getattr(f->w, n, &st), 0);
	assert_int_equal(st.st_ino, low.st_ino);
	assert_int_equal(st.st_size, 11);
	assert_int_equal(st.st_mode, S_IFREG | 0640);
	assert_int_equal(pwrite(fd, "L", 1, 0), 1);
	lfs_cow_release(f->w, n, fd);
	assert_data(f, "f", "Lower data\n");
	r = lfs_cow_read(f->w, n, buf, sizeof(buf), 0);
	assert_int_equal(r, 11);
	assert_memory_equal(buf, "Lower data\n", 11);
	/* Read back by a later mount. */
	reopen(f);
	assert_data(f, "f", "Lower data\n");
	assert_int_equal(attr_of(f, "f").st_mode, S_IFREG | 0640);
}

/* A file deep in lower directories: they are copied up first, keeping their times. */
static void test_copyup_nested(void **state)
{
	struct fix *f = *state;
	struct names l;
	struct stat st;
	char buf[64];

	assert_true(up_absent(f, "d"));
	write_at(f, "d/a", "A", 0);
	assert_true(up_is(f, "d", S_IFDIR));
	assert_int_equal(up_stat(f, "d", &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	/* The copy-up is no change the user made: the parent keeps its times. */
	assert_int_equal(st.st_mtim.tv_sec, D_MTIME_SEC);
	assert_int_equal(st.st_mtim.tv_nsec, 0);
	assert_false(up_opaque(f, "d"));
	assert_string_equal(up_data(f, "d/a", buf, sizeof(buf)), "Aaa");
	/* Only what changed is copied: the rest stays in the lower layers. */
	assert_true(up_absent(f, "d/b"));
	assert_true(up_absent(f, "d/sub"));
	assert_string_equal(list(f, "d", &l), "./../a/b/h3/sub/");
	assert_data(f, "d/b", "bbb");
	assert_data(f, "d/sub/x", "x");
	/* Opened with O_TRUNC: copied without its data. */
	write_at(f, "d/b", NULL, O_TRUNC);
	assert_int_equal(up_stat(f, "d/b", &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_mode, S_IFREG | 0644);
	assert_int_equal(attr_of(f, "d/b").st_size, 0);
	assert_int_equal(work_entries(f), 0);
	/* The root is the upper directory itself: a copy-up there renames into it. */
	write_at(f, "g", "G", 0);
	assert_string_equal(up_data(f, "g", buf, sizeof(buf)), "Gee\n");
	/* A symlink is copied as a symlink (here for a change of its times). */
	{
		struct stat attr = {.st_mtim = {1300000000, 5}};
		char p[PATH_MAX];

		assert_int_equal(lfs_cow_setattr(f->w, at(f, "sym"), -1, &attr, LFS_SET_MTIME, &st),
				 0);
		assert_true(S_ISLNK(st.st_mode));
		assert_int_equal(st.st_mtim.tv_sec, 1300000000);
		assert_true(up_is(f, "sym", S_IFLNK));
		path_in(p, f->up, "sym");
		assert_int_equal(readlink(p, buf, sizeof(buf)), 1);
		assert_memory_equal(buf, "f", 1);
	}
	assert_int_equal(work_entries(f), 0);
}

/* A copy-up that fails leaves no half file, neither at the name nor in the work directory. */
static void test_copyup_failure(void **state)
{
	struct fix *f = *state;
	struct lfs_node *n = at(f, "d/a");
	char p[PATH_MAX];
	struct stat st;
	int fd = -1;

	/* The data goes from under the layer: reading it fails. */
	path_in(p, f->l1, "d/a");
	assert_int_equal(unlink(p), 0);
	assert_true(lfs_cow_open_file(f->w, n, O_WRONLY, &fd) < 0);
	assert_int_equal(fd, -1);
	assert_true(up_absent(f, "d/a"));
	assert_int_equal(work_entries(f), 0);
	/* Still the lower file, and its parent was copied up whole. */
	assert_int_equal(lfs_cow_getattr(f->w, n, &st), 0);
	assert_int_equal(st.st_size, 3);
	assert_true(up_is(f, "d", S_IFDIR));
	/* A later copy-up starts afresh. */
	mk_file(f->l1, "d/a", "new", 0644);
	write_at(f, "d/a", "N", 0);
	assert_data(f, "d/a", "New");
	assert_int_equal(work_entries(f), 0);
}

/* ---- hard links ---- */

/* A lower hard-link group is copied up once, linked under each name; one inode. */
static void test_hardlinks(void **state)
{
	struct fix *f = *state;
	struct stat a, b, c, st;
	uint64_t ino = ino_of(f, "h1");

	assert_int_equal(ino_of(f, "h2"), ino);
	assert_int_equal(ino_of(f, "d/h3"), ino);
	assert_int_equal(attr_of(f, "h2").st_nlink, 3);

	write_at(f, "h2", "L", 0);
	assert_int_equal(up_stat(f, "h1", &a), 0);
	assert_int_equal(up_stat(f, "h2", &b), 0);
	assert_int_equal(up_stat(f, "d/h3", &c), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_ino, c.st_ino);
	assert_int_equal(a.st_nlink, 3);
	assert_int_equal(work_entries(f), 0);
	/* Each name is still the same node, with the inode number it had. */
	assert_int_equal(ino_of(f, "h1"), ino);
	assert_int_equal(ino_of(f, "h2"), ino);
	assert_int_equal(ino_of(f, "d/h3"), ino);
	st = attr_of(f, "d/h3");
	assert_int_equal(st.st_ino, ino);
	assert_int_equal(st.st_nlink, 3);
	assert_data(f, "h1", "Linked\n");
	assert_data(f, "d/h3", "Linked\n");
	/* A write through one name is seen through the others. */
	write_at(f, "d/h3", "LI", 0);
	assert_data(f, "h1", "LInked\n");
	/* A name removed: one link less, the others stay. */
	assert_int_equal(do_unlink(f, "h1", 0), 0);
	assert_true(up_whiteout(f, "h1"));
	st = attr_of(f, "h2");
	assert_int_equal(st.st_ino, ino);
	assert_int_equal(st.st_nlink, 2);
	/* A later mount finds them one inode again. */
	reopen(f);
	assert_int_equal(ino_of(f, "h2"), ino_of(f, "d/h3"));
	assert_int_equal(attr_of(f, "h2").st_nlink, 2);
	assert_int_equal(lookup_rc(f, "h1"), -ENOENT);
}

/* A name of the group removed before the copy-up: the copy has the names left. */
static void test_hardlink_split(void **state)
{
	struct fix *f = *state;
	struct stat a, c, st;
	uint64_t ino = ino_of(f, "h1");

	assert_int_equal(do_unlink(f, "h2", 0), 0);
	assert_true(up_whiteout(f, "h2"));
	write_at(f, "h1", "S", 0);
	assert_int_equal(up_stat(f, "h1", &a), 0);
	assert_int_equal(up_stat(f, "d/h3", &c), 0);
	assert_int_equal(a.st_ino, c.st_ino);
	assert_int_equal(a.st_nlink, 2);
	assert_true(up_whiteout(f, "h2"));
	st = attr_of(f, "d/h3");
	assert_int_equal(st.st_ino, ino);
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(lookup_rc(f, "h2"), -ENOENT);
	assert_data(f, "d/h3", "Sinked\n");
	assert_int_equal(work_entries(f), 0);
}

/* ---- rename ---- */

/* The rules: EXDEV for directories with lower parts, the flags as the VFS checks them. */
static void test_rename_rules(void **state)
{
	struct fix *f = *state;
	uint64_t fi = ino_of(f, "f"), gi = ino_of(f, "g");

	/* Lower, merged from two layers, or copied up: it has lower parts. */
	assert_int_equal(do_rename(f, "d", "d2", 0), -EXDEV);
	assert_int_equal(do_rename(f, "e", "e2", 0), -EXDEV);
	assert_int_equal(do_rename(f, "d/sub", "sub", 0), -EXDEV);
	write_at(f, "d/a", "A", 0);
	assert_true(up_is(f, "d", S_IFDIR));
	assert_int_equal(do_rename(f, "d", "d2", 0), -EXDEV);
	assert_int_equal(lookup_rc(f, "d2"), -ENOENT);
	assert_true(up_absent(f, "d2"));
	/* A directory only the upper has moves. */
	do_create(f, "nd", S_IFDIR | 0755, NULL);
	do_create(f, "nd/in", S_IFREG | 0644, "in");
	assert_int_equal(do_rename(f, "nd", "nd2", 0), 0);
	assert_true(up_absent(f, "nd"));
	assert_true(up_is(f, "nd2", S_IFDIR));
	assert_data(f, "nd2/in", "in");
	/* ... into a merged directory too, where it is opaque (no lower names show). */
	assert_int_equal(do_rename(f, "nd2", "d/nd", 0), 0);
	assert_true(up_opaque(f, "d/nd"));
	assert_true(up_absent(f, "nd2"));
	/* But not into itself. */
	assert_int_equal(do_rename(f, "d/nd", "d/nd/x", 0), -EINVAL);

	/* RENAME_NOREPLACE */
	assert_int_equal(do_rename(f, "f", "g", RENAME_NOREPLACE), -EEXIST);
	assert_int_equal(ino_of(f, "f"), fi);
	assert_int_equal(ino_of(f, "g"), gi);
	assert_data(f, "g", "gee\n");
	assert_int_equal(do_rename(f, "g", "g2", RENAME_NOREPLACE), 0);
	assert_int_equal(ino_of(f, "g2"), gi);
	assert_int_equal(lookup_rc(f, "g"), -ENOENT);
	assert_int_equal(do_rename(f, "g2", "g", RENAME_NOREPLACE), 0);
	assert_int_equal(do_rename(f, "f", "g", RENAME_NOREPLACE | RENAME_EXCHANGE), -EINVAL);

	/* RENAME_EXCHANGE: both names stay, the nodes swap. */
	assert_int_equal(do_rename(f, "f", "nothere", RENAME_EXCHANGE), -ENOENT);
	assert_int_equal(do_rename(f, "f", "g", RENAME_EXCHANGE), 0);
	assert_int_equal(ino_of(f, "f"), gi);
	assert_int_equal(ino_of(f, "g"), fi);
	assert_data(f, "f", "gee\n");
	assert_data(f, "g", "lower data\n");
	assert_true(up_is(f, "f", S_IFREG));
	assert_true(up_is(f, "g", S_IFREG));
	assert_int_equal(attr_of(f, "g").st_mode, S_IFREG | 0640);
	/* A lower directory cannot be exchanged either (EXDEV), an upper one can. */
	assert_int_equal(do_rename(f, "f", "e", RENAME_EXCHANGE), -EXDEV);
	do_create(f, "nd", S_IFDIR | 0700, NULL);
	assert_int_equal(do_rename(f, "f", "nd", RENAME_EXCHANGE), 0);
	assert_true(up_is(f, "f", S_IFDIR));
	assert_true(up_is(f, "nd", S_IFREG));
	assert_int_equal(attr_of(f, "f").st_mode, S_IFDIR | 0700);
	assert_int_equal(work_entries(f), 0);
}

/* What a rename leaves where the source was: a whiteout when a lower layer shows that name. */
static void test_rename_whiteouts(void **state)
{
	struct fix *f = *state;
	uint64_t fi = ino_of(f, "f");
	struct names l;

	/* A lower file moved: copied up, and its old name whited out. */
	assert_int_equal(do_rename(f, "f", "f2", 0), 0);
	assert_int_equal(ino_of(f, "f2"), fi);
	assert_true(up_is(f, "f2", S_IFREG));
	assert_true(up_whiteout(f, "f"));
	assert_int_equal(lookup_rc(f, "f"), -ENOENT);
	assert_false(listed(f, "", "f"));
	assert_data(f, "f2", "lower data\n");
	/* Back over its whiteout: the name is a file again, the other leaves nothing. */
	assert_int_equal(do_rename(f, "f2", "f", 0), 0);
	assert_true(up_is(f, "f", S_IFREG));
	assert_true(up_absent(f, "f2"));
	assert_int_equal(ino_of(f, "f"), fi);
	/* A file only the upper has leaves nothing behind. */
	do_create(f, "n", S_IFREG | 0644, "new");
	assert_int_equal(do_rename(f, "n", "n2", 0), 0);
	assert_true(up_absent(f, "n"));
	assert_true(up_is(f, "n2", S_IFREG));
	/* Over a lower file: the target name holds the file, no whiteout anywhere. */
	assert_int_equal(do_rename(f, "n2", "g", 0), 0);
	assert_true(up_is(f, "g", S_IFREG));
	assert_true(up_absent(f, "n2"));
	assert_data(f, "g", "new");
	/* A lower file over a lower file (in a merged directory): a whiteout at the source. */
	assert_int_equal(do_rename(f, "d/a", "d/b", 0), 0);
	assert_true(up_whiteout(f, "d/a"));
	assert_true(up_is(f, "d/b", S_IFREG));
	assert_data(f, "d/b", "aaa");
	assert_string_equal(list(f, "d", &l), "./../b/h3/sub/");
	assert_int_equal(work_entries(f), 0);
	/* A later mount reads the same. */
	reopen(f);
	assert_int_equal(lookup_rc(f, "d/a"), -ENOENT);
	assert_data(f, "d/b", "aaa");
	assert_data(f, "g", "new");
	assert_data(f, "f", "lower data\n");
	assert_int_equal(lookup_rc(f, "n2"), -ENOENT);
	assert_int_equal(lookup_rc(f, "f2"), -ENOENT);
}

/* ---- whiteouts ---- */

/* Unlink: a whiteout where a lower layer shows the name, nothing where none does. */
static void test_whiteout_unlink(void **state)
{
	struct fix *f = *state;
	struct lfs_node *n;
	struct stat st;

	assert_int_equal(do_unlink(f, "d/a", 0), 0);
	assert_true(up_is(f, "d", S_IFDIR));
	assert_true(up_whiteout(f, "d/a"));
	assert_int_equal(lookup_rc(f, "d/a"), -ENOENT);
	assert_false(listed(f, "d", "a"));
	assert_true(listed(f, "d", "b"));
	/* Copied up first: the copy goes, the whiteout still hides the lower file. */
	write_at(f, "f", "F", 0);
	assert_int_equal(do_unlink(f, "f", 0), 0);
	assert_true(up_whiteout(f, "f"));
	assert_int_equal(lookup_rc(f, "f"), -ENOENT);
	/* A file only the upper has goes without a trace. */
	do_create(f, "new", S_IFREG | 0644, "x");
	assert_int_equal(do_unlink(f, "new", 0), 0);
	assert_true(up_absent(f, "new"));
	/* A file made over a whiteout replaces it (no whiteout left beside it). */
	n = do_create(f, "f", S_IFREG | 0600, "made");
	assert_true(up_is(f, "f", S_IFREG));
	assert_int_equal(lfs_cow_getattr(f->w, n, &st), 0);
	assert_int_equal(st.st_size, 4);
	assert_data(f, "f", "made");
	assert_int_equal(do_unlink(f, "d", 0), -EISDIR);
	assert_int_equal(do_unlink(f, "g", 1), -ENOTDIR);
	assert_int_equal(work_entries(f), 0);
	reopen(f);
	assert_int_equal(lookup_rc(f, "d/a"), -ENOENT);
	assert_data(f, "f", "made");
	assert_int_equal(lookup_rc(f, "new"), -ENOENT);
}

/* Rmdir of lower and merged directories leaves whiteouts; mkdir over one is opaque. */
static void test_whiteout_rmdir(void **state)
{
	struct fix *f = *state;
	struct names l;

	assert_int_equal(do_unlink(f, "e", 1), 0);
	assert_true(up_whiteout(f, "e"));
	assert_int_equal(lookup_rc(f, "e"), -ENOENT);
	assert_false(listed(f, "", "e"));
	/* A merged directory: removed once empty, by a whiteout over its upper part. */
	assert_int_equal(do_unlink(f, "d", 1), -ENOTEMPTY);
	assert_int_equal(do_unlink(f, "d/a", 0), 0);
	assert_int_equal(do_unlink(f, "d/b", 0), 0);
	assert_int_equal(do_unlink(f, "d/h3", 0), 0);
	assert_int_equal(do_unlink(f, "d/sub", 1), -ENOTEMPTY);
	assert_int_equal(do_unlink(f, "d/sub/x", 0), 0);
	assert_int_equal(do_unlink(f, "d/sub", 1), 0);
	assert_true(up_whiteout(f, "d/sub"));
	assert_string_equal(list(f, "d", &l), "./../");
	assert_int_equal(do_unlink(f, "d", 1), 0);
	assert_true(up_whiteout(f, "d"));
	assert_int_equal(lookup_rc(f, "d"), -ENOENT);
	assert_int_equal(work_entries(f), 0);
	/* Made again: an opaque directory, no lower name shows through. */
	do_create(f, "d", S_IFDIR | 0750, NULL);
	assert_true(up_is(f, "d", S_IFDIR));
	assert_true(up_opaque(f, "d"));
	assert_int_equal(lookup_rc(f, "d/a"), -ENOENT);
	assert_int_equal(lookup_rc(f, "d/b"), -ENOENT);
	assert_string_equal(list(f, "d", &l), "./../");
	assert_int_equal(attr_of(f, "d").st_mode, S_IFDIR | 0750);
	/* A directory where nothing lower was is not opaque, and goes without a trace. */
	do_create(f, "nd", S_IFDIR | 0755, NULL);
	assert_false(up_opaque(f, "nd"));
	assert_int_equal(do_unlink(f, "nd", 1), 0);
	assert_true(up_absent(f, "nd"));
	/* A file over a directory's whiteout is a plain file. */
	do_create(f, "e", S_IFREG | 0644, "e");
	assert_true(up_is(f, "e", S_IFREG));
	assert_int_equal(work_entries(f), 0);
	/* A later mount reads the same. */
	reopen(f);
	assert_string_equal(list(f, "d", &l), "./../");
	assert_int_equal(lookup_rc(f, "d/a"), -ENOENT);
	assert_data(f, "e", "e");
	assert_false(listed(f, "", "nd"));
	assert_true(listed(f, "", "h1"));
}

#define CASE(t)                                                                                    \
	{                                                                                          \
		.name = #t, .fn = t                                                                \
	}

static const struct {
	const char *name;
	CMUnitTestFunction fn;
} cases[] = {
    CASE(test_copyup_file),	 CASE(test_copyup_nested),   CASE(test_copyup_failure),
    CASE(test_hardlinks),	 CASE(test_hardlink_split),  CASE(test_rename_rules),
    CASE(test_rename_whiteouts), CASE(test_whiteout_unlink), CASE(test_whiteout_rmdir),
};

int main(void)
{
	/* Each test with the whiteouts the upper chose, and with ".wh." files. */
	static struct CMUnitTest tests[2 * LFS_ARRAY_SIZE(cases)];
	static char names[2 * LFS_ARRAY_SIZE(cases)][64];
	int ret;

	for (size_t i = 0; i < 2 * LFS_ARRAY_SIZE(cases); i++) {
		int wh = (int)(i % 2);

		snprintf(names[i], sizeof(names[i]), "%s (%s)", cases[i / 2].name,
			 wh ? ".wh. files" : "upper's whiteouts");
		tests[i] = (struct CMUnitTest){.name = names[i],
					       .test_func = cases[i / 2].fn,
					       .setup_func = setup,
					       .teardown_func = teardown,
					       .initial_state = wh ? &oci : &native};
	}
	printf("# running as uid %d\n", (int)geteuid());
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	tu_cleanup();
	return ret;
}
